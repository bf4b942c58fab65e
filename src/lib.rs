//! failover-agent: per-app Region failover for multi-Region EKS.
//!
//! Both modes are one pipeline, and every stage is a module with a narrow seam. Each
//! top-level module imports only modules drawn above it here, never one below:
//!
//! ```text
//! model, fence, tls   shared words and leaf helpers (import nothing of the crate)
//! aws                 AWS access: clients, call budgets, retries, the API metrics
//! spec                what the user asked for: the app model of both modes, validated once
//! telemetry           the Prometheus registry (passed in, never global) and tracing
//! observe             probes (HTTP, TCP) and the ALB target-health signal
//! verdict             the pure policy and the store of apps and their verdicts
//! publish             /health/<app> and the admin listener; Route 53 plan and apply
//! cluster             in-cluster coordination: the Kubernetes source, nodes, the leader
//! run                 the two composition roots: standalone (a file) and cluster
//! cli                 every subcommand (run, crd, route53 plan|apply, preflight, demo)
//! ```
//!
//! Where to add things:
//! - a new signal (something observed about an app's endpoints): a module in [`observe`],
//!   its counts in [`model`], its rule in [`verdict::policy`];
//! - a new probe kind: [`observe::probe`] (one file per kind, like `http` and `tcp`), and
//!   its settings in [`spec`];
//! - a new publisher (somewhere verdicts go): a module in [`publish`], started by both
//!   roots in [`run`].
#![forbid(unsafe_code)]

pub mod aws;
pub mod cli;
pub mod cluster;
pub mod fence;
pub mod model;
pub mod observe;
pub mod publish;
pub mod run;
pub mod spec;
pub mod telemetry;
pub mod tls;
pub mod verdict;
