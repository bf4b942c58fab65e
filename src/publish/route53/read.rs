//! Reads what Route 53 holds: the health checks with our CallerReference prefix
//! and their tags, and the A and AAAA records at the names the plan looks at.

use super::objects::{
    Actual, ActualCheck, ActualRecord, CheckConfig, DesiredApp, RecordKey, REF_PREFIX, TAG_MOVING_FROM, TAG_RECORD,
    TAG_ZONE,
};
use crate::aws::{Api, CallError, Caller};
use crate::spec::route53::bare_zone;
use crate::spec::route53::fqdn;
use crate::spec::route53::Alias;
use crate::spec::route53::FailoverRole;
use crate::spec::route53::Protocol;
use crate::spec::route53::RecordType;
use crate::spec::route53::Routing;
use aws_sdk_route53::types::{
    HealthCheck, HealthCheckType, ResourceRecordSet, ResourceRecordSetFailover, RrType, TagResourceType,
};
use aws_sdk_route53::Client;
use std::collections::{BTreeMap, BTreeSet};
use tracing::instrument;

/// Reads the checks and the records that `desired`, or our checks' tags, name.
#[instrument(skip_all)]
pub async fn read(r53: &Client, caller: &Caller, desired: &[DesiredApp]) -> Result<Actual, CallError> {
    let mut checks = list_checks(r53, caller).await?;
    tag_checks(r53, caller, &mut checks).await?;
    let mut names: BTreeSet<(String, String)> = desired
        .iter()
        .map(|d| (d.settings.zone_id.clone(), d.settings.record_name.clone()))
        .collect();
    for c in &checks {
        if let (Some(z), Some(n)) = (c.tag(TAG_ZONE), c.tag(TAG_RECORD)) {
            names.insert((bare_zone(z), fqdn(n)));
        }
        if let Some((z, n)) = c.tag(TAG_MOVING_FROM).and_then(|v| v.split_once('/')) {
            names.insert((bare_zone(z), fqdn(n)));
        }
    }
    // A few names are cheapest one by one; more are cheapest by listing the zone
    // (300 records a call), so a reconcile costs about the same for 5 or 500 apps.
    let mut by_zone: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (zone, name) in names {
        by_zone.entry(zone).or_default().insert(name);
    }
    // One zone that cannot be read (AccessDenied, NoSuchHostedZone, throttled past
    // the retries) holds only its own apps: the plan sees it in `unreadable`.
    let mut records = Vec::new();
    let mut unreadable = BTreeMap::new();
    for (zone, names) in by_zone {
        match zone_records(r53, caller, &zone, &names).await {
            Ok(found) => records.extend(found),
            Err(e) => {
                tracing::warn!(zone = %zone, error = %e, "cannot read the zone's records; its apps are held");
                unreadable.insert(zone, e.to_string());
            }
        }
    }
    Ok(Actual {
        checks,
        records,
        unreadable,
        alarms: Vec::new(),
        // Filled in by `alarms_io::read_with`, which has the CloudWatch client.
        alarms_unreadable: Some("not read (no CloudWatch client)".into()),
    })
}

/// The A and AAAA records at `names` in `zone`: one by one for a few names, else by listing the zone.
async fn zone_records(
    r53: &Client,
    caller: &Caller,
    zone: &str,
    names: &BTreeSet<String>,
) -> Result<Vec<ActualRecord>, CallError> {
    if names.len() > PER_NAME_UP_TO {
        return records_in_zone(r53, caller, zone, names).await;
    }
    let mut out = Vec::new();
    for name in names {
        out.extend(records_named(r53, caller, zone, name).await?);
    }
    Ok(out)
}

/// Up to this many names in a zone are read one by one; more, by listing the zone.
const PER_NAME_UP_TO: usize = 3;

/// Every A and AAAA record in `zone` whose name is in `names`.
async fn records_in_zone(
    r53: &Client,
    caller: &Caller,
    zone: &str,
    names: &BTreeSet<String>,
) -> Result<Vec<ActualRecord>, CallError> {
    let mut out = Vec::new();
    let mut next: Option<(String, Option<RrType>, Option<String>)> = None;
    loop {
        let (n, t, i) = next.clone().map(|(n, t, i)| (Some(n), t, i)).unwrap_or_default();
        let page = caller
            .call(Api::ListResourceRecordSets, || {
                r53.list_resource_record_sets()
                    .hosted_zone_id(zone)
                    .set_start_record_name(n.clone())
                    .set_start_record_type(t.clone())
                    .set_start_record_identifier(i.clone())
                    .max_items(300)
                    .send()
            })
            .await?;
        out.extend(
            page.resource_record_sets()
                .iter()
                .filter(|r| names.contains(&fqdn(r.name())))
                .filter_map(|r| to_record(zone, r)),
        );
        let token = page.next_record_name().map(|n| {
            (
                n.to_owned(),
                page.next_record_type().cloned(),
                page.next_record_identifier().map(str::to_owned),
            )
        });
        if !page.is_truncated() || token.is_none() || token == next {
            return Ok(out);
        }
        next = token;
    }
}

async fn list_checks(r53: &Client, caller: &Caller) -> Result<Vec<ActualCheck>, CallError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = caller
            .call(Api::ListHealthChecks, || {
                r53.list_health_checks()
                    .set_marker(marker.clone())
                    .max_items(1000)
                    .send()
            })
            .await?;
        out.extend(
            page.health_checks()
                .iter()
                .filter(|c| c.caller_reference().starts_with(REF_PREFIX))
                .map(to_check),
        );
        match (page.is_truncated(), page.next_marker()) {
            (true, Some(m)) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

fn to_check(c: &HealthCheck) -> ActualCheck {
    ActualCheck {
        id: c.id().to_owned(),
        caller_reference: c.caller_reference().to_owned(),
        version: c.health_check_version(),
        config: c.health_check_config().and_then(|h| {
            let (protocol, matches) = match h.r#type() {
                HealthCheckType::Http => (Protocol::Http, false),
                HealthCheckType::Https => (Protocol::Https, false),
                HealthCheckType::HttpStrMatch => (Protocol::Http, true),
                HealthCheckType::HttpsStrMatch => (Protocol::Https, true),
                HealthCheckType::CloudwatchMetric => return super::alarms_read::metric_config(h),
                _ => return None,
            };
            Some(CheckConfig {
                protocol,
                fqdn: h
                    .fully_qualified_domain_name()
                    .unwrap_or("")
                    .trim_end_matches('.')
                    .to_ascii_lowercase(),
                port: h.port().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                path: h.resource_path().unwrap_or("").to_owned(),
                search_string: if matches {
                    h.search_string().map(str::to_owned)
                } else {
                    None
                },
                interval: h.request_interval().unwrap_or(30) as u32,
                failure_threshold: h.failure_threshold().unwrap_or(3) as u32,
                alarm: None,
            })
        }),
        tags: Vec::new(),
    }
}

/// Fills in the tags, ten checks per call (the API's limit).
async fn tag_checks(r53: &Client, caller: &Caller, checks: &mut [ActualCheck]) -> Result<(), CallError> {
    for chunk in checks.chunks_mut(10) {
        let ids: Vec<String> = chunk.iter().map(|c| c.id.clone()).collect();
        let out = caller
            .call(Api::ListTagsForResources, || {
                r53.list_tags_for_resources()
                    .resource_type(TagResourceType::Healthcheck)
                    .set_resource_ids(Some(ids.clone()))
                    .send()
            })
            .await?;
        for set in out.resource_tag_sets() {
            let Some(c) = chunk.iter_mut().find(|c| Some(c.id.as_str()) == set.resource_id()) else {
                continue;
            };
            c.tags = set
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
                .collect();
            c.tags.sort();
        }
    }
    Ok(())
}

/// Every A and AAAA record named `name` in `zone`.
pub async fn records_named(
    r53: &Client,
    caller: &Caller,
    zone: &str,
    name: &str,
) -> Result<Vec<ActualRecord>, CallError> {
    let mut out = Vec::new();
    let mut next: Option<(String, Option<String>)> = None;
    loop {
        let (start, ident) = next.clone().unwrap_or_else(|| (name.to_owned(), None));
        let page = caller
            .call(Api::ListResourceRecordSets, || {
                r53.list_resource_record_sets()
                    .hosted_zone_id(zone)
                    .start_record_name(&start)
                    .start_record_type(RrType::A)
                    .set_start_record_identifier(ident.clone())
                    .max_items(100)
                    .send()
            })
            .await?;
        let mut past = false;
        for r in page.resource_record_sets() {
            if fqdn(r.name()) != name {
                past = true;
                continue;
            }
            out.extend(to_record(zone, r));
        }
        match (page.is_truncated(), page.next_record_name()) {
            (true, Some(n)) if !past && fqdn(n) == name => {
                let token = Some((n.to_owned(), page.next_record_identifier().map(str::to_owned)));
                // A service that ignores the identifier would hand back the same page forever.
                if token == next {
                    return Ok(out);
                }
                next = token;
            }
            _ => return Ok(out),
        }
    }
}

/// The record as the plan sees it; `None` for a type the agent never makes.
fn to_record(zone: &str, r: &ResourceRecordSet) -> Option<ActualRecord> {
    let rr_type = match r.r#type() {
        RrType::A => RecordType::A,
        RrType::Aaaa => RecordType::Aaaa,
        _ => return None,
    };
    let routing = if let Some(region) = r.region() {
        Some(Routing::Latency(region.as_str().to_owned()))
    } else if let Some(f) = r.failover() {
        match f {
            ResourceRecordSetFailover::Primary => Some(Routing::Failover(FailoverRole::Primary)),
            ResourceRecordSetFailover::Secondary => Some(Routing::Failover(FailoverRole::Secondary)),
            _ => None,
        }
    } else {
        r.weight().map(|w| Routing::Weighted(w as u32))
    };
    Some(ActualRecord {
        key: RecordKey {
            zone: zone.to_owned(),
            name: fqdn(r.name()),
            set_identifier: r.set_identifier().unwrap_or("").to_owned(),
            rr_type,
        },
        routing,
        alias: r.alias_target().map(|a| Alias::new(a.dns_name(), a.hosted_zone_id())),
        health_check_id: r.health_check_id().map(str::to_owned),
        evaluate_target_health: r.alias_target().is_some_and(|a| a.evaluate_target_health()),
        raw: Some(r.clone()),
    })
}
