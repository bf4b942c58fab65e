//! (docs to write)
pub mod http;
pub mod route53;
