//! (docs to write)
pub mod aws;
pub mod cluster;
pub mod standalone;

/// Why an agent (a static one or a replica) stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("an agent task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Error {
    /// A fixed label for this kind of error, for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Task(_) => "task",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
