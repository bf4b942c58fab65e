//! The agents' own settings as flags, for the commands that act as the cluster's
//! agents do (`route53 plan|apply --cluster`, `preflight --cluster`): the flags
//! first, then the agent DaemonSet's environment and settings file, validated as
//! the agent validates them.

use crate::spec::route53::Protocol;
use crate::spec::route53::PublicListener;
use clap::Args;

/// The agents' own settings, for the commands that act as the cluster's agents do
/// (`route53 plan|apply --cluster`, `preflight --cluster`). With --cluster, each
/// one the flags (or the same variables in your shell) leave out is read from the
/// agent DaemonSet's environment, so nothing the chart set is typed twice.
#[derive(Clone, Debug, Default, Args)]
pub struct AgentFlags {
    /// The cluster's ID (the DaemonSet's CLUSTER_ID).
    #[arg(long, env = "CLUSTER_ID")]
    pub cluster_id: Option<String>,
    /// The public agent hostname Route 53 checks (PUBLIC_HOSTNAME).
    #[arg(long, env = "PUBLIC_HOSTNAME")]
    pub public_hostname: Option<String>,
    /// The cluster's AWS Region (AWS_REGION).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    #[command(flatten)]
    pub listener: ListenerArgs,
    /// With --cluster: the namespace of the agent DaemonSet whose environment fills
    /// in what the flags leave out.
    #[arg(long, default_value = "failover-agent")]
    pub agent_namespace: String,
    /// With --cluster: the agent DaemonSet's name.
    #[arg(long, default_value = "failover-agent")]
    pub agent_daemonset: String,
}

/// The agents' settings after [`AgentFlags::resolve`].
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSettings {
    /// `None` when Route 53 is not managed (neither CLUSTER_ID nor PUBLIC_HOSTNAME).
    pub owner: Option<crate::spec::route53::Owner>,
    pub region: Option<String>,
    /// The operator's Route 53 policy, from the agents' settings file (empty: deny
    /// all, as an agent without one); `None` when the DaemonSet could not be read.
    pub policy: Option<crate::spec::route53_policy::Route53Policy>,
    /// The agents' per-namespace limits, from the same file; `None` when the
    /// DaemonSet could not be read.
    pub limits: Option<crate::spec::Limits>,
    /// The variables that came from the DaemonSet, for the report.
    pub from_daemonset: Vec<&'static str>,
}

/// The variables [`AgentFlags`] stand for, as the DaemonSet names them.
const AGENT_VARS: [&str; 6] = [
    "CLUSTER_ID",
    "PUBLIC_HOSTNAME",
    "AWS_REGION",
    "PUBLIC_PROTOCOL",
    "PUBLIC_PORT",
    "MATCH_VERDICT",
];

impl AgentFlags {
    /// The value given for the DaemonSet variable `name`, if any.
    fn flag(&self, name: &str) -> Option<String> {
        let l = &self.listener;
        match name {
            "CLUSTER_ID" => self.cluster_id.clone(),
            "PUBLIC_HOSTNAME" => self.public_hostname.clone(),
            "AWS_REGION" => self.region.clone(),
            "PUBLIC_PROTOCOL" => l.public_protocol.map(|p| format!("{p:?}").to_ascii_uppercase()),
            "PUBLIC_PORT" => l.public_port.map(|p| p.to_string()),
            "MATCH_VERDICT" => l.match_verdict.map(|m| m.to_string()),
            _ => None,
        }
    }

    /// Merges the flags with `agent` (the agent DaemonSet's environment and settings
    /// file; empty when they could not be read), flags first, and validates the
    /// result as the agent does, so a value the agent would refuse is refused here too.
    pub fn resolve(&self, agent: &crate::cluster::kube::agent_env::AgentEnv) -> Result<AgentSettings, String> {
        let daemonset = &agent.env;
        let var = |name: &str| {
            self.flag(name)
                .or_else(|| daemonset.get(name).cloned())
                .filter(|v| !v.is_empty())
        };
        let from_daemonset = AGENT_VARS
            .into_iter()
            .filter(|n| self.flag(n).is_none() && daemonset.get(*n).is_some_and(|v| !v.is_empty()))
            .collect();
        let file = match &agent.settings {
            Some(text) => crate::spec::parse_settings(text).map_err(|e| format!("the agents' settings file: {e}"))?,
            None => crate::spec::OperatorSettings::default(),
        };
        let s = file.in_cluster(var).map_err(|e| e.join("; "))?;
        Ok(AgentSettings {
            owner: s.aws.owner,
            region: s.region,
            policy: agent.read.then(|| s.aws.route53_policy.unwrap_or_default()),
            limits: agent.read.then_some(s.limits),
            from_daemonset,
        })
    }
}

/// The public listener, as the DaemonSet has it (the chart sets these from the
/// Service or the Ingress): the default port, protocol and string matching of
/// every check. Ignored with --config, which has its own keys.
#[derive(Clone, Debug, Default, Args)]
pub struct ListenerArgs {
    /// The load balancer's listener port at the public hostname. Default 80 for HTTP, 443 for HTTPS.
    #[arg(long, env = "PUBLIC_PORT")]
    pub public_port: Option<u16>,
    /// The load balancer's listener protocol: HTTP or HTTPS. Default HTTP.
    #[arg(long, env = "PUBLIC_PROTOCOL", value_enum, ignore_case = true)]
    pub public_protocol: Option<ListenerProtocol>,
    /// Checks also require `HEALTHY <app>` in the body (true with the chart's Ingress option).
    #[arg(long, env = "MATCH_VERDICT")]
    pub match_verdict: Option<bool>,
}

/// `--public-protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum ListenerProtocol {
    Http,
    Https,
}

impl ListenerArgs {
    /// The listener these flags describe, with the agent's defaults.
    pub fn listener(&self) -> PublicListener {
        let protocol = match self.public_protocol {
            Some(ListenerProtocol::Https) => Protocol::Https,
            _ => Protocol::Http,
        };
        PublicListener {
            protocol,
            port: self
                .public_port
                .unwrap_or_else(|| PublicListener::default().port_for(protocol)),
            match_verdict: self.match_verdict.unwrap_or(false),
        }
    }
}

#[cfg(test)]
#[path = "agent_flags_tests.rs"]
mod tests;
