//! failover-agent: per-app Region failover for multi-Region EKS.
//!
//! Data flows one way, and every stage is a module with a narrow seam:
//!
//! ```text
//! sources ──► observations ──► policy (pure) ──► verdicts ──► publishers
//! config        probe           policy            state        serve::public  (/health/<app>)
//!                                                              serve::admin   (/metrics, /apps, /)
//! ```
//!
//! - [`config`]: the static YAML model, its defaults and its validation. Parsed once
//!   into a [`config::AgentConfig`] that the rest of the crate trusts.
//! - [`model`]: the shared vocabulary: apps, targets, probe results, verdicts.
//! - [`policy`]: the pure verdict function and its rise/fall hysteresis. No I/O.
//! - [`probe`]: one scheduler that drives HTTP and TCP probes with bounded concurrency,
//!   shared fairly between tenants and their apps.
//! - [`state`]: the in-memory store of apps and their published verdicts. Applies
//!   observations through [`policy`] and publishes the result.
//! - [`serve`]: the hardened public listener and the admin listener.
//! - [`telemetry`]: the Prometheus registry (passed in, never global) and tracing setup.
//!   Per-app verdict series come from the leader only, probe series from each node
//!   for the apps it probes.
//! - [`agent`]: wires the above together: `agent::run(config, listeners, shutdown)`.
//! - [`sources`]: in-cluster mode: the `AppHealth` resource, the Lease leader that
//!   alone watches EndpointSlices, hands each node its probes (`ProbeAssignment`)
//!   and folds the nodes' `ProbeReport`s into `AppHealth.status`, and every
//!   replica's lean view of the verdicts it serves.
//! - [`aws`]: AWS access (standard credential chain, token buckets, retries) and
//!   the ALB target-health signal, polled by one agent per cluster.
//! - [`route53`]: per-app Route 53 health checks and alias records: a pure `plan`
//!   and an `apply`.
//! - [`fence`]: the check every leader-only write passes first (the Lease term in the
//!   cluster, always open for a leader of one).
//! - [`tls`]: the rustls crypto provider, settled once at start-up.
//! - [`demo`]: two simulated Regions with demo pods, for a newcomer's first run.
//! - [`preflight`]: checks from the workstation what Route 53's checkers will see.
#![forbid(unsafe_code)]

pub mod agent;
pub mod aws;
pub mod cli;
pub mod config;
pub mod demo;
pub mod fence;
pub mod model;
pub mod policy;
pub mod preflight;
pub mod probe;
pub mod route53;
pub mod serve;
pub mod sources;
pub mod state;
pub mod telemetry;
pub mod tls;
