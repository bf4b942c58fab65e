//! The Kubernetes source: the `AppHealth` custom resource ([`crd`]).

pub mod agent_env;
pub mod assigner;
pub mod assignment;
pub mod aws;
pub mod caches;
pub mod client;
pub mod crd;
pub mod discovery;
pub mod finalizer;
pub mod fold;
pub mod ingress;
pub mod leader;
pub mod limits;
pub mod node;
pub mod probe_series;
pub mod report;
pub mod resolve;
pub mod run;
pub mod slices;
pub mod spec;
pub mod status;
pub mod term;
pub mod tgb;
pub mod view;
pub mod writer;
