//! In-cluster mode: the coordination between the agent's replicas.
//!
//! - [`kube`]: the Kubernetes source: the client, the `AppHealth` resource and its lean
//!   view, the reflectors (caches) and the EndpointSlices, TargetGroupBindings and
//!   Ingresses an app points at.
//! - [`node`]: what every replica does for its own node: probe the endpoints its
//!   `ProbeAssignment` lists and report them in a `ProbeReport`.
//! - [`leader`]: what the Lease holder alone does: hand out assignments, fold the reports
//!   and readiness into each app's verdict, write `AppHealth.status`, run the AWS duties.
//! - [`serving`]: how every replica turns the statuses into the verdicts it serves.

pub mod kube;
pub mod leader;
pub mod node;
pub mod serving;
