//! Which hosted zone holds a record name: the one given, or the zone whose name is
//! the longest suffix of the record's name. Read-only.

use super::{Error, Result};
use crate::aws::{Api, Caller};
use crate::spec::route53::{bare_zone, fqdn};
use aws_sdk_route53::types::HostedZone;
use aws_sdk_route53::Client;
use serde::Serialize;

/// A hosted zone: its bare ID, its name (`example.com.`) and whether it is private.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub private: bool,
}

impl Zone {
    fn of(z: &HostedZone) -> Zone {
        Zone {
            id: bare_zone(z.id()),
            name: fqdn(z.name()),
            private: z.config().is_some_and(|c| c.private_zone()),
        }
    }
}

/// The zone of `name` (an fqdn): `zone_id` if given (a usage error if Route 53 has
/// no such zone, or `name` is not in it), else the zone named by `name`'s longest
/// suffix (a usage error if several zones have that name, such as a public and a
/// private one; not found if none). One `ListHostedZonesByName` call per suffix
/// tried, longest first.
pub async fn find(r53: &Client, caller: &Caller, name: &str, zone_id: Option<&str>) -> Result<Zone> {
    if let Some(id) = zone_id {
        return given(r53, caller, name, &bare_zone(id)).await;
    }
    let mut suffix = name;
    loop {
        let zones = named(r53, caller, suffix).await?;
        match zones.as_slice() {
            [] => {}
            [one] => return Ok(one.clone()),
            many => {
                let list: Vec<String> = many
                    .iter()
                    .map(|z| format!("{} ({})", z.id, if z.private { "private" } else { "public" }))
                    .collect();
                return Err(Error::Usage(format!(
                    "{} zones are named {suffix}: {}; choose one with --zone-id",
                    many.len(),
                    list.join(", ")
                )));
            }
        }
        match suffix.split_once('.') {
            Some((_, rest)) if !rest.is_empty() => suffix = rest,
            _ => {
                return Err(Error::NotFound(format!(
                    "no hosted zone in this account holds {}; give its zone with --zone-id",
                    name.trim_end_matches('.')
                )))
            }
        }
    }
}

/// The zone `id`, which must hold `name`.
async fn given(r53: &Client, caller: &Caller, name: &str, id: &str) -> Result<Zone> {
    let got = caller
        .call(Api::GetHostedZone, || r53.get_hosted_zone().id(id).send())
        .await;
    let out = match got {
        Ok(out) => out,
        Err(e) if e.is("NoSuchHostedZone") || e.is("InvalidInput") => {
            return Err(Error::Usage(format!(
                "--zone-id {id}: {}; give the ID of the hosted zone that holds the name, or leave --zone-id out",
                e.message
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let zone = out
        .hosted_zone()
        .map(Zone::of)
        .ok_or_else(|| Error::NotFound(format!("--zone-id {id}: Route 53 returned no zone")))?;
    if name != zone.name && !name.ends_with(&format!(".{}", zone.name)) {
        return Err(Error::Usage(format!(
            "--zone-id {id} is {}, which does not hold {}; give the zone that does, or leave --zone-id out",
            zone.name,
            name.trim_end_matches('.')
        )));
    }
    Ok(zone)
}

/// Every zone named exactly `suffix`.
async fn named(r53: &Client, caller: &Caller, suffix: &str) -> Result<Vec<Zone>> {
    let mut out = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let page = caller
            .call(Api::ListHostedZonesByName, || {
                r53.list_hosted_zones_by_name()
                    .dns_name(suffix)
                    .set_hosted_zone_id(from.clone())
                    .max_items(100)
                    .send()
            })
            .await?;
        let zones: Vec<Zone> = page.hosted_zones().iter().map(Zone::of).collect();
        // Zones come sorted by name from `suffix` on: past the last of that name, done.
        let past = zones.iter().any(|z| z.name != suffix);
        out.extend(zones.into_iter().filter(|z| z.name == suffix));
        let next = page.next_hosted_zone_id().map(str::to_owned);
        let more = page.is_truncated() && !past && page.next_dns_name().map(fqdn).as_deref() == Some(suffix);
        // A service that ignores the start zone would hand back the same page forever.
        if !more || next.is_none() || next == from {
            return Ok(out);
        }
        from = next;
    }
}
