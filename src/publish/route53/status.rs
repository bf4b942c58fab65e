//! Route 53's own view of the checks the agent owns, read with
//! `GetHealthCheckStatus` within its budget, so that users can compare what
//! Route 53 sees with what the agent says.

use crate::aws::{Api, CallError, Caller};
use crate::model::AppKey;
use aws_sdk_route53::Client;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Route 53 calls an endpoint healthy when more than this share of its checkers do.
pub const HEALTHY_SHARE: f64 = 0.18;

/// Judges a check from its checkers' latest reports (`Success: ...` or `Failure: ...`).
/// `None` when no checker has reported yet.
pub fn judge<'a>(reports: impl IntoIterator<Item = &'a str>) -> Option<bool> {
    let (mut ok, mut all) = (0u32, 0u32);
    for r in reports {
        all += 1;
        ok += u32::from(r.starts_with("Success"));
    }
    (all > 0).then(|| f64::from(ok) / f64::from(all) > HEALTHY_SHARE)
}

/// Reads one check's status.
pub async fn read(r53: &Client, caller: &Caller, id: &str) -> Result<Option<bool>, CallError> {
    let out = caller
        .call(Api::GetHealthCheckStatus, || {
            r53.get_health_check_status().health_check_id(id).send()
        })
        .await?;
    Ok(judge(
        out.health_check_observations()
            .iter()
            .filter_map(|o| o.status_report().and_then(|s| s.status())),
    ))
}

/// Reads every check in `checks` (app → check ID) in turn, at least `every` apart
/// per check and within the `GetHealthCheckStatus` bucket, and reports each view.
pub async fn watch(
    r53: Client,
    caller: Arc<Caller>,
    mut checks: watch::Receiver<BTreeMap<AppKey, String>>,
    every: Duration,
    on_status: impl Fn(&AppKey, Option<bool>),
    shutdown: CancellationToken,
) {
    loop {
        let round = tokio::time::Instant::now();
        let set = checks.borrow_and_update().clone();
        for (app, id) in &set {
            let r = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = read(&r53, &caller, id) => r,
            };
            match r {
                Ok(v) => on_status(app, v),
                Err(e) => tracing::debug!(app = %app.name, error = %e, "Route 53 check status unavailable"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(round + every) => {}
            r = checks.changed() => if r.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn healthy_when_more_than_18_percent_of_checkers_succeed() {
        let s = |ok: usize, n: usize| {
            let v: Vec<&str> = (0..n)
                .map(|i| {
                    if i < ok {
                        "Success: HTTP Status Code 200"
                    } else {
                        "Failure: HTTP Status Code 503"
                    }
                })
                .collect();
            judge(v)
        };
        assert_eq!(s(3, 16), Some(true), "3/16 = 18.75%");
        assert_eq!(s(2, 16), Some(false), "2/16 = 12.5%");
        assert_eq!(s(0, 0), None);
        assert_eq!(s(16, 16), Some(true));
    }
}
