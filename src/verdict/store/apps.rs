//! The set of apps one agent serves: swapped whole when the source changes, read
//! lock-free by every request.

use super::App;
use crate::spec::AppConfig;
use crate::telemetry::Metrics;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;

/// Every app this agent serves, by `/health/<app>` key.
#[derive(Default)]
pub struct Apps {
    pub(super) by_name: ArcSwap<HashMap<String, Arc<App>>>,
    /// True while the source that defines the apps cannot be read (see [`Apps::set_stale`]).
    stale: std::sync::atomic::AtomicBool,
}

impl Apps {
    /// Builds the store from validated app configs, all starting now.
    pub fn from_config(apps: &[AppConfig], metrics: &Metrics) -> Apps {
        let now = Instant::now();
        let map = apps
            .iter()
            .map(|c| (c.key.name.clone(), Arc::new(App::new(c, metrics.for_app(&c.key), now))))
            .collect();
        Apps {
            by_name: ArcSwap::from_pointee(map),
            stale: Default::default(),
        }
    }

    /// Replaces the whole app set (dynamic sources). An app that leaves the set
    /// leaves the leader's per-app series with it (they are rendered from this
    /// store), so a deleted app's `failover_agent_app_healthy 0` stops firing alerts
    /// and churn cannot grow the registry.
    pub fn replace(&self, apps: HashMap<String, Arc<App>>) {
        self.by_name.store(Arc::new(apps));
    }

    /// Marks the verdicts as stale: kept from the last data the source gave.
    pub fn set_stale(&self, stale: bool) {
        self.stale.store(stale, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many apps are served.
    pub fn len(&self) -> usize {
        self.by_name.load().len()
    }

    /// True when no app is served.
    pub fn is_empty(&self) -> bool {
        self.by_name.load().is_empty()
    }

    pub fn get(&self, name: &str) -> Option<Arc<App>> {
        self.by_name.load().get(name).cloned()
    }

    /// All apps, sorted by namespace and name.
    pub fn list(&self) -> Vec<Arc<App>> {
        let mut v: Vec<_> = self.by_name.load().values().cloned().collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Re-evaluates every app at `now`: ends start-up grace and expired overrides.
    pub fn tick(&self, now: Instant) {
        for app in self.by_name.load().values() {
            app.tick(now);
        }
    }
}
