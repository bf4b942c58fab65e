//! (docs to write)
pub mod aws;
pub mod cloudwatch;
pub mod http;
pub mod route53;
