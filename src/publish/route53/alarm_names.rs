//! The names, tags and wanted settings of an app's alarm and of the
//! `CLOUDWATCH_METRIC` check on it ([`super::alarms`]). Pure.

use super::alarms::{AlarmConfig, AlarmRef, NAME_MAX, NAME_PREFIX};
use super::objects::{app_tag, fnv, CheckConfig, DesiredApp, Owner};
use super::objects::{TAG_APP, TAG_CLUSTER, TAG_INCARNATION};
use crate::model::AppKey;
use crate::spec::route53::metric::MetricCheck;

/// `failover-agent-<8 hex of the cluster ID>-`: this cluster's alarms (a hash, so
/// that no cluster's prefix is another's, and names stay short).
pub fn alarm_prefix(cluster_id: &str) -> String {
    format!("{NAME_PREFIX}{:08x}-", fnv(&[cluster_id]) as u32)
}

/// The alarm name of `key` in `cluster_id`: the prefix, then `namespace-app`, at
/// most 255 characters (a longer one ends in a hash of the whole).
pub fn alarm_name(cluster_id: &str, key: &AppKey) -> String {
    let name = format!("{}{}-{}", alarm_prefix(cluster_id), key.namespace, key.name);
    if name.len() <= NAME_MAX {
        return name;
    }
    let hash = format!("-{:016x}", fnv(&[&name]));
    let mut cut = NAME_MAX - hash.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{hash}", &name[..cut])
}

/// The alarm `app` wants.
pub fn desired_alarm(owner: &Owner, app: &DesiredApp, m: &MetricCheck) -> AlarmConfig {
    AlarmConfig {
        name: alarm_name(&owner.cluster_id, &app.key),
        cluster: owner.cluster_id.clone(),
        app: app_tag(&app.key),
        evaluation_periods: m.evaluation_periods,
        standard: true,
    }
}

/// The `CLOUDWATCH_METRIC` check `app` wants: on its alarm, no endpoint.
pub(super) fn metric_check(owner: &Owner, app: &DesiredApp, m: &MetricCheck) -> CheckConfig {
    CheckConfig::on_alarm(AlarmRef {
        region: m.region.clone(),
        name: alarm_name(&owner.cluster_id, &app.key),
        insufficient_data: m.insufficient_data,
    })
}

/// The tags of `app`'s alarm: the checks' ownership tags, and a readable `Name`.
pub fn alarm_tags(owner: &Owner, app: &DesiredApp) -> Vec<(String, String)> {
    vec![
        (TAG_CLUSTER.into(), owner.cluster_id.clone()),
        (TAG_APP.into(), app_tag(&app.key)),
        (TAG_INCARNATION.into(), app.incarnation.clone()),
        (
            "Name".into(),
            format!("failover-agent {} {}", owner.cluster_id, app.key.name),
        ),
    ]
}
