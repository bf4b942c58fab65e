//! The leadership fence: the check every leader-only write passes first.
//!
//! The writes only a leader may make (`AppHealth` status and its Route 53
//! finalizer, Events, every Route 53 change) take a [`Fence`] and ask it right
//! before each request. In the cluster the fence is the Lease term
//! (`sources::kube::leader::Term`): it closes before another replica can take the
//! Lease over. The static agent and `route53 apply` lead alone and pass [`Always`].
//!
//! A fence that has said [`Lost`] never opens again: the term is over, and its
//! holder stops writing.

/// Whether the caller may still write as the leader.
pub trait Fence: Send + Sync {
    /// `Ok` while the caller leads with time to spare for one more write; once it
    /// returns [`Lost`], every later call does too.
    fn check(&self) -> Result<(), Lost>;
}

/// The caller no longer leads (or will not for long enough to write): why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not the leader any more: {0}")]
pub struct Lost(pub String);

impl Lost {
    /// A fixed name, for metric labels and log fields.
    pub fn metric_label(&self) -> &'static str {
        "not_leader"
    }
}

/// The fence of a leader of one: always open.
#[derive(Clone, Copy, Debug, Default)]
pub struct Always;

impl Fence for Always {
    fn check(&self) -> Result<(), Lost> {
        Ok(())
    }
}
