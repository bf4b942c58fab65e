//! The agents' settings as the cluster runs them: the literal environment of the
//! agent DaemonSet (what the chart set: `CLUSTER_ID`, `PUBLIC_HOSTNAME`,
//! `AWS_REGION`, `PUBLIC_PROTOCOL`, `PUBLIC_PORT`, `MATCH_VERDICT`). The workstation
//! commands read it so that `route53 plan --cluster` and `preflight --cluster` judge
//! exactly what the agents do, and nobody types the chart's values twice.

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::api::Api;
use std::collections::BTreeMap;

/// The container whose environment is read: the chart's is named `agent`.
const CONTAINER: &str = "agent";

/// Reads the environment of DaemonSet `namespace/name` (its `agent` container, or
/// its first), keeping only literal values (`value:`, not `valueFrom:`).
#[tracing::instrument(skip(client))]
pub async fn daemonset_env(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, String>, kube::Error> {
    let ds = Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .get(name)
        .await?;
    let containers = ds
        .spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers)
        .unwrap_or_default();
    let env = containers
        .iter()
        .find(|c| c.name == CONTAINER)
        .or(containers.first())
        .and_then(|c| c.env.clone())
        .unwrap_or_default();
    Ok(env.into_iter().filter_map(|e| Some((e.name, e.value?))).collect())
}

/// [`daemonset_env`] from the current kube context, for a report: the variables,
/// and where they came from or why none did (a missing DaemonSet or no permission
/// is not an error: the flags may be enough).
pub async fn read(namespace: &str, name: &str) -> (BTreeMap<String, String>, String) {
    crate::tls::install_crypto_provider();
    let got = match kube::Client::try_default().await {
        Ok(client) => daemonset_env(&client, namespace, name).await,
        Err(e) => Err(e),
    };
    match got {
        Ok(env) => (env, format!("flags, then DaemonSet {namespace}/{name}")),
        Err(e) => (
            BTreeMap::new(),
            format!("flags only, DaemonSet {namespace}/{name} not read: {e}"),
        ),
    }
}
