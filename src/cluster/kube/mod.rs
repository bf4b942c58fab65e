//! (docs to write)
pub mod agent_env;
pub mod caches;
pub mod client;
pub mod crd;
pub mod dirty;
pub mod discovery;
pub mod ingress;
pub mod slices;
pub mod spec;
pub mod tgb;
pub mod view;
