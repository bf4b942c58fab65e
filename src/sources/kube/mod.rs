//! The Kubernetes source: the `AppHealth` custom resource ([`crd`]).

pub mod caches;
pub mod crd;
pub mod fold;
pub mod leader;
pub mod node;
pub mod report;
pub mod resolve;
pub mod run;
pub mod slices;
pub mod spec;
pub mod status;
