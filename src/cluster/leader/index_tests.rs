//! Tests of `cluster/leader/index.rs`.

use super::*;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;

fn slice(name: &str, svc: &str, ips: &[&str]) -> EndpointSlice {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": name, "namespace": "shop",
                      "labels": { "kubernetes.io/service-name": svc } },
        "addressType": "IPv4",
        "endpoints": ips.iter().map(|ip| serde_json::json!({ "addresses": [ip] })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

fn report(node: &str, apps: serde_json::Value) -> ProbeReport {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": node, "namespace": "agents" },
        "spec": { "node": node, "pod": format!("agent-{node}"), "apps": apps },
    }))
    .unwrap()
}

fn key(ns: &str, name: &str) -> ObjKey {
    (ns.to_owned(), name.to_owned())
}

fn apply<K: kube::Resource + Clone>(w: &mut Writer<K>, o: K)
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    w.apply_watcher_event(&Event::Apply(o));
}

#[test]
fn a_changed_slice_names_its_services_old_and_new_and_a_deleted_one_leaves() {
    let (store, mut w) = reflector::store::<EndpointSlice>();
    apply(&mut w, slice("web-1", "web", &["10.0.0.1"]));
    apply(&mut w, slice("api-1", "api", &["10.0.0.2"]));
    let mut ix = Indexes::default();
    ix.load_slices(store.state());
    assert_eq!(ix.slices_of("shop", "web").len(), 1);
    assert_eq!(
        ix.endpoints("shop", &["web".into(), "api".into()], ProbeTargets::default())
            .len(),
        2
    );

    // web-1 moves to the api Service: both Services changed.
    apply(&mut w, slice("web-1", "api", &["10.0.0.1", "10.0.0.3"]));
    let changed = ix.update_slices([key("shop", "web-1")], &store);
    let want: HashSet<ServiceKey> = [key("shop", "web"), key("shop", "api")].into();
    assert_eq!(changed, want);
    assert!(ix.slices_of("shop", "web").is_empty());
    assert_eq!(ix.endpoints("shop", &["api".into()], ProbeTargets::default()).len(), 3);

    // api-1 is deleted.
    w.apply_watcher_event(&Event::Delete(slice("api-1", "api", &[])));
    let changed = ix.update_slices([key("shop", "api-1")], &store);
    assert_eq!(changed, [key("shop", "api")].into());
    assert_eq!(ix.slices_of("shop", "api").len(), 1);
    let borrowed = ix.borrowed(Some("shop"));
    assert_eq!(borrowed.get(&("shop", "api")).map(Vec::len), Some(1));
    assert!(ix.borrowed(Some("other")).is_empty());
}

#[test]
fn a_changed_report_names_only_the_apps_whose_states_changed() {
    let (store, mut w) = reflector::store::<ProbeReport>();
    apply(
        &mut w,
        report(
            "n1",
            serde_json::json!({ "shop/web": { "10.0.0.1": "up" }, "shop/api": { "10.0.0.2": "up" } }),
        ),
    );
    apply(
        &mut w,
        report("n2", serde_json::json!({ "shop/web": { "10.0.0.3": "down" } })),
    );
    let mut ix = Indexes::default();
    ix.load_reports(store.state());
    let web = ix.probes_of("shop/web").unwrap();
    assert_eq!(web.len(), 2, "merged from both nodes: {web:?}");
    assert!(ix.probes_of("shop/none").is_none());

    // On n1, api goes down and a new app appears; web is as it was.
    apply(
        &mut w,
        report(
            "n1",
            serde_json::json!({ "shop/web": { "10.0.0.1": "up" }, "shop/api": { "10.0.0.2": "down" }, "shop/new": { "10.0.0.4": "up" } }),
        ),
    );
    let changed = ix.update_reports([key("agents", "n1")], &store);
    assert_eq!(changed, ["shop/api".to_owned(), "shop/new".to_owned()].into());
    let api_ip: IpAddr = "10.0.0.2".parse().unwrap();
    assert_eq!(ix.probes_of("shop/api").unwrap()[&api_ip], EndpointState::Down);

    // n2's report goes: web loses its state there, and only web changed.
    w.apply_watcher_event(&Event::Delete(report("n2", serde_json::json!({}))));
    let changed = ix.update_reports([key("agents", "n2")], &store);
    assert_eq!(changed, ["shop/web".to_owned()].into());
    assert_eq!(ix.probes_of("shop/web").unwrap().len(), 1);
}
