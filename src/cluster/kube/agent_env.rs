//! The agents' settings as the cluster runs them: the literal environment of the
//! agent DaemonSet (what the chart set: `CLUSTER_ID`, `PUBLIC_HOSTNAME`,
//! `AWS_REGION`, `PUBLIC_PROTOCOL`, `PUBLIC_PORT`, `MATCH_VERDICT`) and the
//! operator's settings file it mounts from a ConfigMap (`--settings`, with the
//! Route 53 policy). The workstation commands read both, so that
//! `route53 plan --cluster` and `preflight --cluster` judge exactly what the
//! agents do, and nobody types the chart's values twice.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec};
use kube::api::Api;
use std::collections::BTreeMap;
use std::path::Path;

/// The container read: the chart's is named `agent`.
const CONTAINER: &str = "agent";

/// What the agent DaemonSet runs with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentEnv {
    /// Literal environment values (`value:`, not `valueFrom:`).
    pub env: BTreeMap<String, String>,
    /// The settings file's text, when `--settings` (or `FAILOVER_AGENT_SETTINGS`)
    /// names a file mounted from a ConfigMap.
    pub settings: Option<String>,
    /// False when the DaemonSet could not be read: its policy is then unknown.
    pub read: bool,
}

/// Reads DaemonSet `namespace/name` (its `agent` container, or its first) and the
/// ConfigMap its settings file comes from.
#[tracing::instrument(skip(client))]
pub async fn daemonset_env(client: &kube::Client, namespace: &str, name: &str) -> Result<AgentEnv, kube::Error> {
    let ds = Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .get(name)
        .await?;
    let empty = AgentEnv {
        read: true,
        ..Default::default()
    };
    let Some(pod) = ds.spec.and_then(|s| s.template.spec) else {
        return Ok(empty);
    };
    let Some(c) = pod
        .containers
        .iter()
        .find(|c| c.name == CONTAINER)
        .or(pod.containers.first())
    else {
        return Ok(empty);
    };
    let env: BTreeMap<String, String> = c
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| Some((e.name, e.value?)))
        .collect();
    let settings = match settings_source(&pod, c, &env) {
        Some((config_map, key)) => Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .get(&config_map)
            .await?
            .data
            .and_then(|mut d| d.remove(&key)),
        None => None,
    };
    Ok(AgentEnv {
        env,
        settings,
        read: true,
    })
}

/// The ConfigMap and key the container's settings file is mounted from: the path
/// after `--settings` (or in `FAILOVER_AGENT_SETTINGS`), found under a volume
/// mount of a ConfigMap volume.
fn settings_source(pod: &PodSpec, c: &Container, env: &BTreeMap<String, String>) -> Option<(String, String)> {
    let args = c.args.clone().unwrap_or_default();
    let path = args
        .iter()
        .position(|a| a == "--settings")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--settings=").map(str::to_owned))
        })
        .or_else(|| env.get("FAILOVER_AGENT_SETTINGS").cloned())?;
    let path = Path::new(&path);
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| path.parent() == Some(Path::new(&m.mount_path)))?;
    let volume = pod.volumes.iter().flatten().find(|v| v.name == mount.name)?;
    let key = path.file_name()?.to_str()?.to_owned();
    Some((volume.config_map.as_ref()?.name.clone(), key))
}

/// [`daemonset_env`] from the current kube context, for a report: what was read,
/// and where it came from or why nothing was (a missing DaemonSet or no permission
/// is not an error: the flags may be enough).
pub async fn read(namespace: &str, name: &str) -> (AgentEnv, String) {
    crate::tls::install_crypto_provider();
    let got = match super::client::connect().await {
        Ok(client) => daemonset_env(&client, namespace, name).await,
        Err(e) => Err(e),
    };
    match got {
        Ok(a) => {
            let file = if a.settings.is_some() {
                " and its settings file"
            } else {
                ""
            };
            (a, format!("flags, then DaemonSet {namespace}/{name}{file}"))
        }
        Err(e) => (
            AgentEnv::default(),
            format!("flags only, route53Policy not applied; DaemonSet {namespace}/{name} not read: {e}"),
        ),
    }
}
