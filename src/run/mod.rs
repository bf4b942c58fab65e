//! (docs to write)
pub mod aws;
pub mod cluster;
pub mod standalone;
