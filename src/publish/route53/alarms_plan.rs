//! The alarm steps of the pure plan ([`super::alarms`] states the rules).

use super::alarms::{alarm_prefix, alarm_tags, desired_alarm, AlarmStep};
use super::objects::{parse_app_tag, DesiredApp};
use super::ownership::Ownership;
use super::plan::{Conflict, Plan, Step};
use std::collections::BTreeSet;

/// Adds the alarm steps to `p`, after its check and record steps: each planned
/// app with a metric check gets its alarm put (created or brought in line), and
/// this cluster's alarms nobody wants any more are deleted.
pub(super) fn plan_alarms(p: &mut Plan, own: &Ownership, desired: &[&DesiredApp]) {
    let owner = own.owner;
    let actual = own.actual;
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut steps = Vec::new();
    for d in desired {
        let Some(m) = &d.settings.metric else { continue };
        let want = desired_alarm(owner, d, m);
        wanted.insert(want.name.clone());
        let have = actual.alarms.iter().find(|a| a.name == want.name);
        let arn = have.and_then(|a| a.arn.clone());
        match have.map(|a| a.config.as_ref()) {
            Some(Some(c)) if *c == want => {}
            Some(Some(c)) if c.cluster == owner.cluster_id && c.app == want.app => steps.push(AlarmStep::Put {
                app: d.key.clone(),
                alarm: want,
                tags: alarm_tags(owner, d),
                before: Some(c.clone()),
                arn,
            }),
            Some(_) => p.conflicts.push(Conflict {
                app: d.key.clone(),
                message: format!(
                    "alarm {} exists and is not this app's (another metric or dimensions); delete it by hand",
                    want.name
                ),
            }),
            None => steps.push(AlarmStep::Put {
                app: d.key.clone(),
                alarm: want,
                tags: alarm_tags(owner, d),
                before: None,
                arn: None,
            }),
        }
    }
    if actual.alarms_unreadable.is_none() {
        steps.extend(collect_alarms(p, own, &wanted));
    }
    p.steps.extend(steps.into_iter().map(Step::Alarm));
}

/// This cluster's alarms that no desired app wants, whose app is not held, and
/// that no check left standing by `p` still names.
fn collect_alarms(p: &Plan, own: &Ownership, wanted: &BTreeSet<String>) -> Vec<AlarmStep> {
    let prefix = alarm_prefix(&own.owner.cluster_id);
    let deleted: BTreeSet<&str> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::DeleteCheck { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let named: BTreeSet<&str> = own
        .actual
        .checks
        .iter()
        .filter(|c| !deleted.contains(c.id.as_str()))
        .filter_map(|c| c.config.as_ref()?.alarm.as_ref().map(|a| a.name.as_str()))
        .collect();
    let mut out = Vec::new();
    for a in &own.actual.alarms {
        let Some(c) = &a.config else { continue };
        let Some(app) = parse_app_tag(&c.app) else { continue };
        let ours = a.name.starts_with(&prefix) && c.cluster == own.owner.cluster_id;
        if !ours || wanted.contains(&a.name) || named.contains(a.name.as_str()) || own.app_held(&app) {
            continue;
        }
        out.push(AlarmStep::Delete {
            app,
            name: a.name.clone(),
            why: "no CLOUDWATCH_METRIC check uses it",
        });
    }
    out
}
