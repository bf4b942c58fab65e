//! One app of the static file ([`FileApp`]) validated into an [`AppConfig`].

use super::super::FileApp;
use super::{valid_app_name, AppConfig};
use crate::model::{AppKey, Target};
use crate::spec::policy::MinHealthy;
use std::sync::Arc;

/// Validates the app at `at` (`apps[i]`); `None` when it has any problem, each in
/// `errs` with its field path.
pub(super) fn validate(at: &str, app: FileApp, region: &str, errs: &mut Vec<String>) -> Option<AppConfig> {
    let before = errs.len();
    let target_groups = super::super::aws::target_groups(at, &app.target_group_arns, errs);
    let route53 = super::super::aws::route53(at, app.route53.as_ref(), region, errs);
    let namespace = names(at, &app, errs);
    let (probe, policy, grace) = super::probe_and_policy(at, &app.probe, &app.policy, errs);
    if let MinHealthy::Count(n) = policy.min_healthy {
        if n as usize > app.endpoints.len() && !app.endpoints.is_empty() {
            errs.push(format!(
                "{at}.policy.minHealthyEndpoints: {n} is more than the {} endpoints listed, so the app could never be healthy; lower it or add endpoints",
                app.endpoints.len()
            ));
        }
    }
    let targets = endpoints(at, &app, errs);
    tls(at, &app, &probe, &targets, errs);
    if errs.len() > before {
        return None;
    }
    Some(AppConfig {
        key: AppKey {
            namespace,
            name: app.name,
        },
        targets,
        probe: Arc::new(probe),
        policy,
        startup_grace: grace,
        override_mode: app.policy.override_mode.unwrap_or_default(),
        target_groups,
        route53,
    })
}

/// `probe.tls`: only for `https://` endpoints, and its `caFile` (any path: the
/// operator's own file) is read now, so a missing or bad file stops the agent at
/// start-up naming the key.
fn tls(at: &str, app: &FileApp, probe: &super::ProbeSpec, targets: &[Target], errs: &mut Vec<String>) {
    if app.probe.tls.is_none() {
        return;
    }
    let https = targets
        .iter()
        .any(|t| matches!(t, Target::Http { uri, .. } if uri.scheme_str() == Some("https")));
    if !https {
        errs.push(format!(
            "{at}.probe.tls: is for https:// endpoints and the app has none; remove it or list the endpoints as https://IP:PORT/path"
        ));
    }
    if let Some(path) = probe.tls.as_ref().and_then(|t| t.ca_file.as_deref()) {
        if let Err(e) = crate::tls::load_ca(path) {
            errs.push(format!("{at}.probe.tls.caFile: {e}"));
        }
    }
}

/// Checks `name` and `namespace`; returns the namespace (default `static`).
fn names(at: &str, app: &FileApp, errs: &mut Vec<String>) -> String {
    if !valid_app_name(&app.name) {
        errs.push(format!(
            "{at}.name: `{}` is not a valid app name; use 1-63 lowercase letters, digits, `-` or `.`, starting and ending with a letter or digit",
            app.name.escape_debug()
        ));
    }
    let namespace = app.namespace.clone().unwrap_or_else(|| "static".into());
    if !valid_app_name(&namespace) {
        errs.push(format!(
            "{at}.namespace: `{}` is not valid; use a Kubernetes-style name such as `payments`",
            namespace.escape_debug()
        ));
    }
    namespace
}

/// The app's endpoints, parsed, each once (`probe.path` for those without a path).
fn endpoints(at: &str, app: &FileApp, errs: &mut Vec<String>) -> Vec<Target> {
    if app.endpoints.is_empty() {
        errs.push(format!(
            "{at}.endpoints: is empty; list the app's pods as {}",
            super::super::endpoint::FORMS
        ));
    }
    let mut targets = Vec::with_capacity(app.endpoints.len());
    for (j, ep) in app.endpoints.iter().enumerate() {
        match super::super::endpoint::parse(ep, app.probe.path.as_deref()) {
            Ok(t) if targets.contains(&t) => errs.push(format!(
                "{at}.endpoints[{j}]: `{ep}` is listed twice; remove the duplicate"
            )),
            Ok(t) => targets.push(t),
            Err(why) => errs.push(format!("{at}.endpoints[{j}]: `{}` {why}", ep.escape_debug())),
        }
    }
    if app.probe.grpc_service.is_some() && !targets.iter().any(|t| matches!(t, Target::Grpc { .. })) {
        errs.push(format!(
            "{at}.probe.grpcService: is for grpc://IP:PORT endpoints and the app has none; remove it or list the endpoints as grpc://IP:PORT"
        ));
    }
    targets
}
