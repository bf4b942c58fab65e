//! Per-namespace limits in the emulator: apps beyond a namespace's
//! `limits.appsPerNamespace` or `limits.endpointsPerNamespace` (oldest first) are held:
//! not served, not probed, and their status says why; another namespace is unaffected,
//! a held app is served once an older one goes, and a served app that grows past the
//! limit keeps its verdict (never a 404, which would fail it over) but is not probed.

use crate::cluster::{agent_with, app_health, slice, Emulator};
use crate::cluster_targets::{condition, Counter};
use crate::support::{get, wait_until};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_beyond_a_namespaces_limits_are_held_with_a_condition_and_never_probed() {
    let emu = Emulator::start();
    // One counting pod per app, all on one port.
    let ips: [(&str, [u8; 4]); 6] = [
        ("many/a", [127, 0, 0, 41]),
        ("many/b", [127, 0, 0, 42]),
        ("many/c", [127, 0, 0, 43]),
        ("wide/x", [127, 0, 0, 44]),
        ("wide/y", [127, 0, 0, 46]),
        ("calm/z", [127, 0, 0, 48]),
    ];
    let first = Counter::start(ips[0].1, 0).await;
    let port = first.addr.port();
    let mut pods = vec![first];
    for (_, ip) in &ips[1..] {
        pods.push(Counter::start(*ip, port).await);
    }
    let hits = |app: &str| pods[ips.iter().position(|(a, _)| *a == app).unwrap()].hits();
    let path = |ns: &str, kind: &str| match kind {
        "ah" => format!("/apis/failover-agent.io/v1alpha1/namespaces/{ns}/apphealths"),
        _ => format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
    };
    // Oldest first: the emulator stamps creation in this order (ties go by name).
    for (app, ip) in &ips {
        let (ns, name) = app.split_once('/').unwrap();
        let ip = format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]);
        // wide's apps have two endpoints each (the second never answers: not ready).
        let mut eps = vec![(ip.as_str(), "node-a", true)];
        let spare = format!("127.0.0.{}", ips.iter().find(|(a, _)| a == app).unwrap().1[3] + 1);
        if ns == "wide" {
            eps.push((spare.as_str(), "node-b", false));
        }
        emu.create(&path(ns, "ah"), app_health(ns, name, None, &[name], 1))
            .await;
        emu.create(&path(ns, "es"), slice(ns, &format!("{name}-x"), name, port, &eps))
            .await;
    }
    let settings = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        settings.path(),
        "probeTargets: { allowLoopback: true }\nlimits: { appsPerNamespace: 2, endpointsPerNamespace: 3 }\n",
    )
    .unwrap();
    let kc = emu.kubeconfig();
    let env = [("FAILOVER_AGENT_SETTINGS", settings.path().display().to_string())];
    let a = agent_with(kc.path(), "node-a", &env);
    let status = |app: &'static str| {
        let emu = &emu;
        let (ns, name) = app.split_once('/').unwrap();
        let p = format!("{}/{name}", path(ns, "ah"));
        async move { emu.get(&p).await["status"].clone() }
    };
    let held = |st: &Value| condition(st, "Held");
    let settled = wait_until(Duration::from_secs(30), || async {
        held(&status("many/c").await)["status"] == "True"
            && held(&status("wide/y").await)["status"] == "True"
            && status("calm/z").await["probedEndpoints"] == 1
            && status("many/a").await["probedEndpoints"] == 1
    })
    .await;
    assert!(
        settled.is_some(),
        "never settled: c {} y {}",
        status("many/c").await,
        status("wide/y").await
    );
    let c = held(&status("many/c").await);
    assert_eq!(c["reason"], "AppsPerNamespace", "{c}");
    assert!(
        c["message"].as_str().unwrap().contains("(limits.appsPerNamespace 2)"),
        "{c}"
    );
    let y = held(&status("wide/y").await);
    assert_eq!(y["reason"], "EndpointsPerNamespace", "{y}");
    assert!(
        y["message"]
            .as_str()
            .unwrap()
            .starts_with("this app's 2 endpoints and the 2 of older apps in namespace wide pass its limit (limits.endpointsPerNamespace 3)"),
        "{y}"
    );
    assert_eq!(
        status("many/c").await["verdict"],
        Value::Null,
        "a held app has no verdict"
    );
    for served in ["many/a", "many/b", "wide/x", "calm/z"] {
        let st = status(served).await;
        assert_eq!(held(&st)["status"], "False", "{served}: {st}");
        assert_eq!(held(&st)["reason"], "WithinLimits", "{served}: {st}");
        let name = served.split_once('/').unwrap().1;
        assert_eq!(get(a.health, &format!("/health/{name}")).await.0, 200, "{served}");
    }
    for name in ["c", "y"] {
        assert_eq!(
            get(a.health, &format!("/health/{name}")).await.0,
            404,
            "{name} is not served"
        );
    }
    // Four probe intervals more: held apps' pods get nothing, served ones keep being probed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!((hits("many/c"), hits("wide/y")), (0, 0), "a held app was probed");
    assert!(hits("many/a") > 0 && hits("calm/z") > 0);

    // An older app goes: the held one is served and probed.
    let (code, _) = emu
        .send(
            "DELETE",
            &format!("{}/a", path("many", "ah")),
            "application/json",
            &Value::Null,
        )
        .await;
    assert!((200..300).contains(&code));
    let served = wait_until(Duration::from_secs(20), || async {
        get(a.health, "/health/c").await.0 == 200 && hits("many/c") > 0
    })
    .await;
    assert!(
        served.is_some(),
        "c was not served after a went: {}",
        status("many/c").await
    );
    assert_eq!(held(&status("many/c").await)["status"], "False");

    // wide/x scales to four endpoints, past wide's limit of three on its own: it is
    // held, keeps the verdict it had, and is no longer probed.
    let x_ip = "127.0.0.44";
    let grown = [
        (x_ip, "node-a", true),
        ("127.0.0.51", "node-b", false),
        ("127.0.0.52", "node-b", false),
        ("127.0.0.53", "node-b", false),
    ];
    let (code, body) = emu
        .send(
            "PUT",
            &format!("{}/x-x", path("wide", "es")),
            "application/json",
            &slice("wide", "x-x", "x", port, &grown),
        )
        .await;
    assert!((200..300).contains(&code), "{code} {body}");
    let kept = wait_until(Duration::from_secs(20), || async {
        held(&status("wide/x").await)["status"] == "True"
    })
    .await;
    assert!(kept.is_some(), "x was never held: {}", status("wide/x").await);
    let x = status("wide/x").await;
    assert_eq!(x["verdict"], "healthy", "a served app keeps its verdict when held: {x}");
    assert!(
        x["reason"]
            .as_str()
            .unwrap()
            .starts_with("held by the namespace's limits, verdict kept"),
        "{x}"
    );
    assert_eq!(
        get(a.health, "/health/x").await.0,
        200,
        "a held app that was served is still served"
    );
    let before = hits("wide/x");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        hits("wide/x") <= before + 1,
        "a held app is not probed (at most one in flight ends)"
    );
}
