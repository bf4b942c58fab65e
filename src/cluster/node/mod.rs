//! (docs to write)
pub mod assignment;
pub mod node;
pub mod probe_series;
pub mod report;
