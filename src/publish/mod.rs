//! (docs to write)
pub mod aws;
pub mod http;
pub mod route53;
