//! (docs to write)
pub mod resolve;
pub mod served;
