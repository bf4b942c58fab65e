//! One zone's record changes, sent in `ChangeResourceRecordSets` batches under
//! Route 53's limit, each batch only while the apply's fence is open.

use super::apply::Gate;
use super::plan::{DesiredRecord, Step};
use crate::aws::{Api, CallError, Caller};
use crate::spec::route53::FailoverRole;
use crate::spec::route53::RecordType;
use crate::spec::route53::Routing;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, ResourceRecordSetFailover,
    ResourceRecordSetRegion, RrType,
};
use aws_sdk_route53::Client;

/// Route 53 counts an UPSERT twice against the 1,000-record limit of one change batch.
const BATCH_WEIGHT: usize = 1000;

pub(super) fn change(action: ChangeAction, rrs: Result<ResourceRecordSet, String>) -> Result<Change, String> {
    Change::builder()
        .action(action)
        .resource_record_set(rrs?)
        .build()
        .map_err(|e| e.to_string())
}

/// Sends one zone's changes in batches under the record limit. A rejected batch
/// (one bad change fails the whole batch) is split into single changes, so one
/// conflict cannot hold back the other apps. Each send first asks `gate`; once it
/// is closed, the changes not sent have no result.
pub(super) async fn change_zone<'a>(
    r53: &Client,
    caller: &Caller,
    zone: &str,
    changes: Vec<(&'a Step, Change)>,
    gate: &mut Gate<'_>,
) -> Vec<(&'a Step, Result<(), CallError>)> {
    let mut results = Vec::new();
    let mut batch: Vec<(&Step, Change)> = Vec::new();
    let mut weight = 0;
    let mut batches = Vec::new();
    for (s, c) in changes {
        let w = if *c.action() == ChangeAction::Upsert { 2 } else { 1 };
        if weight + w > BATCH_WEIGHT {
            batches.push(std::mem::take(&mut batch));
            weight = 0;
        }
        weight += w;
        batch.push((s, c));
    }
    batches.push(batch);
    for batch in batches.into_iter().filter(|b| !b.is_empty()) {
        if !gate.open() {
            break;
        }
        match send(r53, caller, zone, batch.iter().map(|(_, c)| c.clone()).collect()).await {
            Ok(()) => results.extend(batch.into_iter().map(|(s, _)| (s, Ok(())))),
            Err(e) if batch.len() == 1 || e.kind != crate::aws::Kind::Fatal => {
                results.extend(batch.into_iter().map(|(s, _)| (s, Err(e.clone()))))
            }
            Err(_) => {
                for (s, c) in batch {
                    if !gate.open() {
                        break;
                    }
                    let r = send(r53, caller, zone, vec![c]).await;
                    results.push((s, r));
                }
            }
        }
    }
    results
}

async fn send(r53: &Client, caller: &Caller, zone: &str, changes: Vec<Change>) -> Result<(), CallError> {
    let batch = ChangeBatch::builder()
        .comment("failover-agent")
        .set_changes(Some(changes))
        .build()
        .map_err(|e| build_error(Api::ChangeResourceRecordSets, e))?;
    caller
        .call(Api::ChangeResourceRecordSets, || {
            r53.change_resource_record_sets()
                .hosted_zone_id(zone)
                .change_batch(batch.clone())
                .send()
        })
        .await
        .map(|_| ())
}

/// The SDK's type for `t`.
pub(super) fn rr_type(t: RecordType) -> RrType {
    match t {
        RecordType::A => RrType::A,
        RecordType::Aaaa => RrType::Aaaa,
    }
}

pub(super) fn desired_record(r: &DesiredRecord, check_id: &str) -> Result<ResourceRecordSet, String> {
    let alias = AliasTarget::builder()
        .dns_name(&r.alias.dns_name)
        .hosted_zone_id(&r.alias.zone_id)
        .evaluate_target_health(false)
        .build()
        .map_err(|e| e.to_string())?;
    let b = ResourceRecordSet::builder()
        .name(&r.key.name)
        .r#type(rr_type(r.key.rr_type))
        .set_identifier(&r.key.set_identifier)
        .alias_target(alias)
        .health_check_id(check_id);
    let b = match &r.routing {
        Routing::Latency(region) => b.region(ResourceRecordSetRegion::from(region.as_str())),
        Routing::Failover(FailoverRole::Primary) => b.failover(ResourceRecordSetFailover::Primary),
        Routing::Failover(FailoverRole::Secondary) => b.failover(ResourceRecordSetFailover::Secondary),
        Routing::Weighted(w) => b.weight(i64::from(*w)),
    };
    b.build().map_err(|e| e.to_string())
}

pub(super) fn build_error(api: Api, e: impl std::fmt::Display) -> CallError {
    CallError {
        api,
        kind: crate::aws::Kind::Fatal,
        code: None,
        message: e.to_string(),
        attempts: 0,
    }
}
