//! (docs to write)
pub mod assignment;
pub mod probe_series;
pub mod prober;
pub mod report;
