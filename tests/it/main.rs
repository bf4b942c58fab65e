//! The integration tests: one binary (link time matters on 2 cores), one module per
//! area. Every test runs real agents against real HTTP servers on loopback.

mod alb;
mod assignment;
mod cli;
mod cluster;
mod cluster_aws;
mod cluster_changes;
mod cluster_grace;
mod cluster_limits;
mod cluster_r53;
mod cluster_targets;
mod dashboards;
mod demo;
mod deploy;
mod failover;
mod fairness;
mod fencing;
mod fuzz;
mod keepalive;
mod leader_series;
mod listener;
mod metrics;
mod moto;
mod overrides;
mod preflight;
mod preflight_tls;
mod probe;
mod public;
mod route53;
mod route53_answer;
mod route53_checks;
mod route53_faults;
mod series;
mod settings;
mod stall;
mod support;
