//! In-cluster AWS duties against kmock's emulator and moto: the leader folds the
//! ALB view into status, keeps the app's Route 53 objects with a finalizer, and
//! deletes them when the AppHealth is deleted.

use crate::cluster::{agent_with, app_health, slice, Emulator};
use crate::moto::Moto;
use crate::support::{get, wait_until};
use aws_sdk_route53::types::RrType;
use failover_agent::cli::demo::pod::Pod;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_folds_alb_health_keeps_route53_and_cleans_up_on_delete() {
    let mut moto = Moto::start();
    let alb = moto
        .cmd(json!({"cmd": "create_alb", "targets": ["10.0.1.10", "10.0.1.11"], "zone": "example.com", "tg_count": 2, "ip_address_type": "dualstack"}));
    let tg = alb["tg_arn"].as_str().unwrap().to_owned();
    let zone = alb["zone_id"].as_str().unwrap().to_owned();
    let emu = Emulator::start();
    let pod = Pod::start_at("127.0.0.2:0".parse().unwrap()).await.unwrap();
    let ah = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";
    let mut obj = app_health("team", "app1", None, &["app1"], 1);
    obj["spec"]["targetGroupArns"] = json!([tg]);
    obj["spec"]["route53"] = json!({
        "hostedZoneId": zone, "recordName": "app1.example.com", "routing": { "latency": {} },
        "aliasTarget": { "dnsName": alb["alb_dns"], "hostedZoneId": alb["alb_zone_id"] },
    });
    emu.create(ah, obj).await;
    let es = "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices";
    emu.create(
        es,
        slice(
            "team",
            "app1-x",
            "app1",
            pod.addr.port(),
            &[("127.0.0.2", "node-a", true)],
        ),
    )
    .await;
    // app2 spells out neither: its target group comes from a TargetGroupBinding and
    // its ALB from the status of the Ingress that routes to its Service. The ALB is
    // dual stack, so app2 gets an AAAA record beside its A record (app1, whose
    // aliasTarget is spelled out and recordTypes not, keeps the default A).
    let mut app2 = app_health("team", "app2", None, &["app2"], 1);
    app2["spec"]["route53"] =
        json!({ "hostedZoneId": zone, "recordName": "app2.example.com", "routing": { "weighted": { "weight": 100 } } });
    emu.create(ah, app2).await;
    emu.create(
        es,
        slice(
            "team",
            "app2-x",
            "app2",
            pod.addr.port(),
            &[("127.0.0.2", "node-a", true)],
        ),
    )
    .await;
    let tg2 = alb["tg_arns"][1].as_str().unwrap().to_owned();
    emu.create(
        "/apis/elbv2.k8s.aws/v1beta1/namespaces/team/targetgroupbindings",
        json!({ "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding", "metadata": { "name": "app2", "namespace": "team" },
                "spec": { "serviceRef": { "name": "app2", "port": 80 }, "targetGroupARN": tg2 } }),
    )
    .await;
    let ing = "/apis/networking.k8s.io/v1/namespaces/team/ingresses";
    emu.create(ing, json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": { "name": "shared", "namespace": "team" },
        "spec": { "rules": [{ "http": { "paths": [{ "path": "/", "pathType": "Prefix", "backend": { "service": { "name": "app2", "port": { "number": 80 } } } }] } }] } })).await;
    emu.merge(
        &format!("{ing}/shared/status"),
        json!({ "status": { "loadBalancer": { "ingress": [{ "hostname": alb["alb_dns"] }] } } }),
    )
    .await;

    let kc = emu.kubeconfig();
    let mut env = moto.env();
    env.push(("CLUSTER_ID", "prod-eu".into()));
    env.push(("PUBLIC_HOSTNAME", "health.eu-west-1.example.com".into()));
    env.push(("AWS_REGION", "eu-west-1".into()));
    // The operator allows this team's names in the zone (default: no zone at all).
    let settings = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        settings.path(),
        format!("probeTargets: {{ allowLoopback: true }}\nroute53Policy:\n  zones:\n    - {{ id: {zone}, names: [\"*.example.com\"], namespaces: [team] }}\n"),
    )
    .unwrap();
    env.push(("FAILOVER_AGENT_SETTINGS", settings.path().display().to_string()));
    // Preview what the leader will do, from the same objects.
    let plan = std::process::Command::new(env!("CARGO_BIN_EXE_failover-agent"))
        .args(["route53", "plan", "--cluster"])
        .env("KUBECONFIG", kc.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}{}", String::from_utf8_lossy(&plan.stderr));
    assert!(
        text.contains("+ health check  team/app1") && text.contains("+ record        team/app2"),
        "{text}"
    );
    assert!(
        text.contains("app2.example.com. A [eu-west-1]") && text.contains("app2.example.com. AAAA [eu-west-1]"),
        "{text}"
    );
    assert!(!text.contains("app1.example.com. AAAA"), "{text}");
    assert!(text.contains("Plan: 5 to create"), "{text}");
    assert_eq!(moto.count("CreateHealthCheck"), 0, "plan --cluster changes nothing");
    let usage = std::process::Command::new(env!("CARGO_BIN_EXE_failover-agent"))
        .args(["route53", "plan", "--cluster"])
        .env_remove("CLUSTER_ID")
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(64), "missing --cluster-id is a usage error");

    let a = agent_with(kc.path(), "node-a", &env);
    let status = || async { emu.get(&format!("{ah}/app1")).await };
    let long = Duration::from_secs(30);

    // The ALB counts, the check ID and the finalizer land on the object.
    let synced = wait_until(long, || async {
        let o = status().await;
        o["status"]["totalTargets"] == 2 && o["status"]["healthCheckId"].is_string()
    })
    .await;
    let o = status().await;
    assert!(synced.is_some(), "never synced: {}", o["status"]);
    assert_eq!(o["metadata"]["finalizers"], json!(["failover-agent.io/route53"]), "{o}");
    let conds = o["status"]["conditions"].as_array().unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Route53Synced" && c["status"] == "True"),
        "{conds:?}"
    );
    let hc = o["status"]["healthCheckId"].as_str().unwrap().to_owned();
    let r53 = moto.route53();
    let rec = record(&r53, &zone, "app1.example.com.").await.expect("app1 record");
    assert_eq!(rec.health_check_id(), Some(hc.as_str()));
    assert_eq!(
        rec.set_identifier(),
        Some("eu-west-1"),
        "setIdentifier defaults to the Region"
    );
    let check = r53.get_health_check().health_check_id(&hc).send().await.unwrap();
    assert_eq!(
        check
            .health_check()
            .unwrap()
            .health_check_config()
            .unwrap()
            .resource_path(),
        Some("/health/app1")
    );

    // app2: target group and ALB discovered.
    let app2_synced = wait_until(long, || async {
        let o = emu.get(&format!("{ah}/app2")).await;
        o["status"]["totalTargets"] == 2 && o["status"]["healthCheckId"].is_string()
    })
    .await;
    assert!(
        app2_synced.is_some(),
        "app2 never synced: {}",
        emu.get(&format!("{ah}/app2")).await
    );
    let rec2 = record(&r53, &zone, "app2.example.com.").await.expect("app2 record");
    let alias2 = rec2.alias_target().unwrap();
    assert_eq!(
        alias2.dns_name().trim_end_matches('.').to_ascii_lowercase(),
        alb["alb_dns"].as_str().unwrap().to_ascii_lowercase()
    );
    assert_eq!(
        alias2.hosted_zone_id(),
        alb["alb_zone_id"].as_str().unwrap(),
        "canonical zone from DescribeLoadBalancers"
    );
    assert_eq!(rec2.weight(), Some(100));
    let all = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .send()
        .await
        .unwrap();
    let typed = |name: &str, t: RrType| {
        all.resource_record_sets()
            .iter()
            .find(|r| r.name() == name && *r.r#type() == t)
            .cloned()
    };
    let aaaa = typed("app2.example.com.", RrType::Aaaa).expect("app2's AAAA record: its ALB is dual stack");
    assert_eq!(
        aaaa.health_check_id(),
        rec2.health_check_id(),
        "A and AAAA share the app's check"
    );
    assert_eq!(aaaa.alias_target(), rec2.alias_target());
    assert!(
        typed("app1.example.com.", RrType::Aaaa).is_none(),
        "app1 keeps the default [A]"
    );

    // The ALB turns against the app: every replica serves 503 with both views.
    assert!(
        wait_until(long, || async { get(a.health, "/health/app1").await.0 == 200 })
            .await
            .is_some()
    );
    moto.cmd(
        json!({"cmd": "target_health", "arn": tg, "targets": {"10.0.1.10": "unhealthy", "10.0.1.11": "unhealthy"}}),
    );
    assert!(
        wait_until(long, || async { get(a.health, "/health/app1").await.0 == 503 })
            .await
            .is_some()
    );
    let (_, body) = get(a.health, "/health/app1").await;
    assert!(body.contains("but ALB healthy targets 0/2, need 1"), "{body}");
    let metrics = get(a.admin, "/metrics").await.1;
    assert!(
        metrics.contains("failover_agent_app_targets{app=\"app1\",namespace=\"team\",state=\"healthy\"} 0"),
        "{metrics}"
    );

    // Deleting the object deletes its record and check, then lets it go.
    // An invalid spec holds the app's Route 53 objects (a typo never deletes DNS)...
    emu.merge(
        &format!("{ah}/app1"),
        json!({ "spec": { "probe": { "timeoutSeconds": 2.0 } } }),
    )
    .await;
    assert!(
        wait_until(long, || async {
            status().await["status"]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("invalid spec"))
        })
        .await
        .is_some(),
        "{}",
        status().await["status"]
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        r53.list_health_checks().send().await.unwrap().health_checks().len(),
        2,
        "held, not collected"
    );
    // ...but deleting the object deletes them, invalid spec or not.
    let (code, body) = emu
        .send("DELETE", &format!("{ah}/app1"), "application/json", &Value::Null)
        .await;
    assert!((200..300).contains(&code), "{code} {body}");
    let gone = wait_until(long, || async { status().await["kind"] != "AppHealth" }).await;
    assert!(gone.is_some(), "finalizer never removed: {}", status().await);
    let checks = r53.list_health_checks().send().await.unwrap();
    let left: Vec<&str> = checks.health_checks().iter().map(|c| c.id()).collect();
    let app2_hc = emu.get(&format!("{ah}/app2")).await["status"]["healthCheckId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(left, [app2_hc.as_str()], "app1's check deleted, app2's kept");
    assert!(
        record(&r53, &zone, "app1.example.com.").await.is_none(),
        "record deleted"
    );
    assert!(
        record(&r53, &zone, "app2.example.com.").await.is_some(),
        "app2's record kept"
    );
}

/// The record named `name` in `zone`, if any.
async fn record(
    r53: &aws_sdk_route53::Client,
    zone: &str,
    name: &str,
) -> Option<aws_sdk_route53::types::ResourceRecordSet> {
    let out = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .unwrap();
    out.resource_record_sets()
        .iter()
        .find(|r| r.name() == name && *r.r#type() == RrType::A)
        .cloned()
}
