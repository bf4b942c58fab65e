//! Sources say which apps exist and what to observe. The static file lives in
//! [`crate::config`]; the Kubernetes source (the `AppHealth` resource and the
//! EndpointSlices it points at) lives in [`kube`].

pub mod kube;
