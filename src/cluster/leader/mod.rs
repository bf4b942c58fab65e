//! (docs to write)
pub mod app_step;
pub mod assigner;
pub mod aws;
pub mod election;
pub mod finalizer;
pub mod fold;
pub mod grace;
pub mod index;
pub mod last;
pub mod limits;
pub mod memo;
pub mod pass;
pub mod probe_plan;
pub mod status;
pub mod term;
pub mod writer;
