//! (docs to write)
pub mod policy;
pub mod store;
