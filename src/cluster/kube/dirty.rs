//! Which objects of a watched cache changed since a loop last looked, so the loop
//! can work on those alone instead of walking the whole cache.
//!
//! The reflector loop ([`super::caches::reflect`]) notes the object of every
//! watch event ([`Dirty::note`]), after the store holds it; the loop that uses the
//! cache takes what was noted ([`Dirty::take`]) and looks the objects up in the
//! store (a deleted one is no longer there).
//!
//! Guarantees:
//! - every event's object is in the next [`Changed`] taken after the event, or that
//!   `Changed` says [`Changed::all`];
//! - a relist (the watch restarted: objects may have come and gone unseen) and more
//!   than [`Dirty::KEPT`] pending objects both turn into `all`, so memory stays
//!   bounded when nobody takes.

use kube::runtime::watcher;
use kube::Resource;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;

/// An object's namespace (empty for cluster-scoped objects) and name.
pub type ObjKey = (String, String);

/// What changed since the last take.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changed {
    /// Anything may have changed: look at every object.
    pub all: bool,
    /// The objects named in watch events (empty when `all`).
    pub objects: HashSet<ObjKey>,
}

impl Changed {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.all && self.objects.is_empty()
    }
}

/// The changes of one cache, shared by its reflector and the loop that uses it.
#[derive(Clone, Debug, Default)]
pub struct Dirty(Arc<Mutex<Changed>>);

impl Dirty {
    /// Past this many pending objects, the pending set collapses into `all`.
    pub const KEPT: usize = 10_000;

    /// Notes what the watch event `ev` changed.
    pub fn note<K: Resource>(&self, ev: &watcher::Event<K>) {
        let mut c = self.0.lock();
        match ev {
            watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
                if c.all {
                    return;
                }
                if c.objects.len() >= Self::KEPT {
                    c.all = true;
                    c.objects = HashSet::new();
                    return;
                }
                c.objects.insert(key_of(o));
            }
            watcher::Event::Init | watcher::Event::InitApply(_) | watcher::Event::InitDone => {
                c.all = true;
                c.objects = HashSet::new();
            }
        }
    }

    /// Marks everything changed.
    pub fn mark_all(&self) {
        let mut c = self.0.lock();
        c.all = true;
        c.objects = HashSet::new();
    }

    /// What changed since the last take, leaving nothing pending.
    pub fn take(&self) -> Changed {
        std::mem::take(&mut *self.0.lock())
    }
}

/// The namespace and name of `o`.
pub fn key_of<K: Resource>(o: &K) -> ObjKey {
    let m = o.meta();
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(ns: &str, name: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.namespace = Some(ns.into());
        c.metadata.name = Some(name.into());
        c
    }

    #[test]
    fn events_name_their_objects_until_taken_and_a_relist_means_all() {
        let d = Dirty::default();
        assert!(d.take().is_empty());
        d.note(&watcher::Event::Apply(cm("a", "x")));
        d.note(&watcher::Event::Delete(cm("b", "y")));
        d.note(&watcher::Event::Apply(cm("a", "x")));
        let c = d.take();
        assert!(!c.all);
        let want: HashSet<ObjKey> = [("a".into(), "x".into()), ("b".into(), "y".into())].into();
        assert_eq!(c.objects, want);
        assert!(d.take().is_empty(), "a take leaves nothing pending");

        d.note(&watcher::Event::<ConfigMap>::Init);
        d.note(&watcher::Event::Apply(cm("a", "x")));
        let c = d.take();
        assert!(c.all && c.objects.is_empty(), "{c:?}");
    }

    #[test]
    fn too_many_pending_objects_collapse_into_all() {
        let d = Dirty::default();
        for i in 0..=Dirty::KEPT {
            d.note(&watcher::Event::Apply(cm("a", &i.to_string())));
        }
        let c = d.take();
        assert!(c.all && c.objects.is_empty());
    }
}
