//! The Kubernetes source: the `AppHealth` custom resource ([`crd`]).

pub mod crd;
