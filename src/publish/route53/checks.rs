//! The health-check calls of `apply`: create (idempotent by CallerReference),
//! tag, and update in place.

use super::batch::build_error;
use super::objects::CheckConfig;
use crate::aws::{Api, CallError, Caller};
use crate::spec::route53::Protocol;
use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType, Tag, TagResourceType};
use aws_sdk_route53::Client;

fn check_type(c: &CheckConfig) -> HealthCheckType {
    HealthCheckType::from(c.type_name())
}

/// The configuration of an HTTP(S) check.
fn http_config(c: &CheckConfig) -> Result<HealthCheckConfig, CallError> {
    HealthCheckConfig::builder()
        .r#type(check_type(c))
        .fully_qualified_domain_name(&c.fqdn)
        .port(i32::from(c.port))
        .resource_path(&c.path)
        .set_search_string(c.search_string.clone())
        .request_interval(c.interval as i32)
        .failure_threshold(c.failure_threshold as i32)
        .set_enable_sni((c.protocol == Protocol::Https).then_some(true))
        .build()
        .map_err(|e| build_error(Api::CreateHealthCheck, e))
}

/// Creates the check. If AWS says the CallerReference was used by a check that
/// has since been deleted, a timestamped reference (same prefix, so still
/// recognised as ours) is used instead.
pub(super) async fn create_check(
    r53: &Client,
    caller: &Caller,
    reference: &str,
    c: &CheckConfig,
) -> Result<String, CallError> {
    let cfg = match &c.alarm {
        Some(a) => {
            let (id, insufficient) = super::alarms_io::alarm_identifier(a)?;
            HealthCheckConfig::builder()
                .r#type(check_type(c))
                .alarm_identifier(id)
                .insufficient_data_health_status(insufficient)
                .build()
                .map_err(|e| build_error(Api::CreateHealthCheck, e))?
        }
        None => http_config(c)?,
    };
    let mut reference = reference.to_owned();
    for _ in 0..2 {
        let r = caller
            .call(Api::CreateHealthCheck, || {
                r53.create_health_check()
                    .caller_reference(&reference)
                    .health_check_config(cfg.clone())
                    .send()
            })
            .await;
        match r {
            Ok(o) => {
                return o
                    .health_check()
                    .map(|h| h.id().to_owned())
                    .ok_or_else(|| build_error(Api::CreateHealthCheck, "no health check in the answer"))
            }
            Err(e) if e.is("HealthCheckAlreadyExists") => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                reference = format!("{}-{now}", &reference[..reference.len().min(20)]);
            }
            Err(e) => return Err(e),
        }
    }
    Err(build_error(
        Api::CreateHealthCheck,
        "CallerReference already used twice",
    ))
}

pub(super) async fn tag_check(
    r53: &Client,
    caller: &Caller,
    id: &str,
    tags: &[(String, String)],
) -> Result<(), CallError> {
    // A finished move drops the tag that named the record it moved from.
    let moving = super::objects::TAG_MOVING_FROM;
    let remove = (!tags.iter().any(|(k, _)| k == moving)).then(|| vec![moving.to_owned()]);
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    caller
        .call(Api::ChangeTagsForResource, || {
            r53.change_tags_for_resource()
                .resource_type(TagResourceType::Healthcheck)
                .resource_id(id)
                .set_add_tags(Some(tags.clone()))
                .set_remove_tag_keys(remove.clone())
                .send()
        })
        .await
        .map(|_| ())
}

/// Updates the mutable settings in place. `version` makes it fail, rather than
/// overwrite, if someone else changed the check since it was read.
pub(super) async fn update_check(
    r53: &Client,
    caller: &Caller,
    id: &str,
    version: i64,
    c: &CheckConfig,
) -> Result<(), CallError> {
    if let Some(a) = &c.alarm {
        let (alarm, insufficient) = super::alarms_io::alarm_identifier(a)?;
        return caller
            .call(Api::UpdateHealthCheck, || {
                r53.update_health_check()
                    .health_check_id(id)
                    .health_check_version(version)
                    .alarm_identifier(alarm.clone())
                    .insufficient_data_health_status(insufficient.clone())
                    .send()
            })
            .await
            .map(|_| ());
    }
    caller
        .call(Api::UpdateHealthCheck, || {
            r53.update_health_check()
                .health_check_id(id)
                .health_check_version(version)
                .fully_qualified_domain_name(&c.fqdn)
                .port(i32::from(c.port))
                .resource_path(&c.path)
                .set_search_string(c.search_string.clone())
                .failure_threshold(c.failure_threshold as i32)
                .send()
        })
        .await
        .map(|_| ())
}
