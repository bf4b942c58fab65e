//! The plan's last part: what nobody wants any more. Pure, like the plan.

use super::objects::{parse_app_tag, DesiredApp, RecordKey, TAG_APP};
use super::ownership::Ownership;
use super::plan::{Plan, Step};
use crate::model::AppKey;
use std::collections::{BTreeMap, HashSet};

/// Garbage: owned records their app no longer wants (the app is gone, or its
/// record moved), then owned checks nobody uses and checks cut short before
/// tagging that no app adopted. Checks come last, so no record ever points at a
/// deleted check.
pub(super) fn collect(
    p: &mut Plan,
    own: &Ownership,
    desired: &[&DesiredApp],
    kept: &HashSet<&str>,
    wanted: &HashSet<&RecordKey>,
) {
    for r in own
        .actual
        .records
        .iter()
        .filter(|r| own.ours(r) && !wanted.contains(&r.key))
    {
        let Some(app) = own.owner_of(r) else { continue };
        // A record being re-pointed by an upsert above is replaced, not deleted.
        let upserted = p
            .steps
            .iter()
            .any(|s| matches!(s, Step::UpsertRecord { before: Some(b), .. } if b.key == r.key));
        if !upserted {
            p.steps.push(Step::DeleteRecord { app, record: r.clone() });
        }
    }
    let mut gone: BTreeMap<String, Step> = BTreeMap::new();
    for c in own.owned().filter(|c| !kept.contains(c.id.as_str())) {
        let Some(app) = c.tag(TAG_APP).and_then(parse_app_tag) else {
            continue;
        };
        let why = if desired.iter().any(|d| d.key == app) {
            "replaced by a new check"
        } else {
            "the app is gone"
        };
        let id = c.id.clone();
        gone.insert(id.clone(), Step::DeleteCheck { app, id, why });
    }
    for c in own.actual.checks.iter().filter(|c| own.orphan(c, kept)) {
        let app = AppKey {
            namespace: "-".into(),
            name: c.caller_reference.clone(),
        };
        let (id, why) = (c.id.clone(), "created but never tagged, and no app wants it");
        gone.insert(id.clone(), Step::DeleteCheck { app, id, why });
    }
    p.steps.extend(gone.into_values());
}
