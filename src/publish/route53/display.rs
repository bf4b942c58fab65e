//! How a plan prints: one line per change, `+` create, `~` change, `-` delete,
//! `!` conflict left alone, then a summary, in the manner of `terraform plan`.

use super::alarms::AlarmStep;
use super::plan::{CheckRef, Plan, Step};
use crate::model::AppKey;
use crate::spec::route53::FailoverRole;
use crate::spec::route53::Routing;
use std::fmt;

impl fmt::Display for CheckRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckRef::Id(id) => write!(f, "health check {id}"),
            CheckRef::NewFor(_) => write!(f, "the new health check"),
        }
    }
}

fn routing_text(r: &Routing) -> String {
    match r {
        Routing::Latency(region) => format!("latency {region}"),
        Routing::Failover(role) => format!(
            "failover {}",
            if *role == FailoverRole::Primary {
                "PRIMARY"
            } else {
                "SECONDARY"
            }
        ),
        Routing::Weighted(w) => format!("weighted {w}"),
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = |k: &AppKey| format!("{}/{}", k.namespace, k.name);
        match self {
            Step::CreateCheck {
                app,
                config,
                caller_reference,
                ..
            } => {
                write!(f, "+ health check  {:<20} {config} (ref {caller_reference})", who(app))
            }
            Step::AdoptCheck { app, id, .. } => write!(f, "~ health check  {:<20} {id}: tag as owned", who(app)),
            Step::MarkMove { app, id, .. } => {
                write!(f, "~ health check  {:<20} {id}: mark its record's move", who(app))
            }
            Step::RetagCheck { app, id, .. } => {
                write!(f, "~ health check  {:<20} {id}: re-tag with its record", who(app))
            }
            Step::UpdateCheck { app, id, from, to, .. } => {
                write!(f, "~ health check  {:<20} {id}: {from}  ->  {to}", who(app))
            }
            Step::UpsertRecord {
                app,
                record,
                check,
                before,
            } => write!(
                f,
                "{} record        {:<20} {} {} -> alias {} ({}), {check}",
                if before.is_some() { "~" } else { "+" },
                who(app),
                record.key,
                routing_text(&record.routing),
                record.alias.dns_name,
                record.alias.zone_id,
            ),
            Step::DeleteRecord { app, record } => write!(f, "- record        {:<20} {}", who(app), record.key),
            Step::DeleteCheck { app, id, why } => write!(f, "- health check  {:<20} {id} ({why})", who(app)),
            Step::Alarm(a) => write!(f, "{a}"),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            writeln!(f, "{s}")?;
        }
        for c in &self.conflicts {
            writeln!(
                f,
                "! conflict      {:<20} {}",
                format!("{}/{}", c.app.namespace, c.app.name),
                c.message
            )?;
        }
        for c in &self.errors {
            writeln!(
                f,
                "! error         {:<20} {}",
                format!("{}/{}", c.app.namespace, c.app.name),
                c.message
            )?;
        }
        let n = |pred: fn(&Step) -> bool| self.steps.iter().filter(|s| pred(s)).count();
        writeln!(
            f,
            "Plan: {} to create, {} to change, {} to delete; {} conflict(s) left alone{}.",
            n(|s| matches!(
                s,
                Step::CreateCheck { .. }
                    | Step::UpsertRecord { before: None, .. }
                    | Step::Alarm(AlarmStep::Put { before: None, .. })
            )),
            n(|s| matches!(
                s,
                Step::AdoptCheck { .. }
                    | Step::MarkMove { .. }
                    | Step::RetagCheck { .. }
                    | Step::UpdateCheck { .. }
                    | Step::UpsertRecord { before: Some(_), .. }
                    | Step::Alarm(AlarmStep::Put { before: Some(_), .. })
            )),
            n(|s| matches!(
                s,
                Step::DeleteRecord { .. } | Step::DeleteCheck { .. } | Step::Alarm(AlarmStep::Delete { .. })
            )),
            self.conflicts.len(),
            match self.errors.len() {
                0 => String::new(),
                n => format!("; {n} app(s) held by errors"),
            }
        )
    }
}
