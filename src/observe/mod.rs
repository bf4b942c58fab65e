//! (docs to write)
pub mod probe;
pub mod targets;
