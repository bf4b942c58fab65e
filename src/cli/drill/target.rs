//! Where a drill reads the app and sets its override: a static agent's admin API,
//! or the app's `AppHealth` in the current kube context.
//!
//! Guarantees: a read changes nothing; [`Target::fail`] sets only the app's
//! override; [`Target::restore`] puts back exactly the [`Prior`] a read returned
//! (static: the admin override's mode and its remaining TTL, or none; in-cluster:
//! `spec.override`'s value, removed if it was absent).

use super::phase::Snapshot;
use super::{Error, Result};
use crate::cluster::kube::crd::{AppHealth, AppHealthStatus};
use crate::publish::http::{CSRF_HEADER, TOKEN_FILE_ENV};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long one admin API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The app's override before the drill, to put back.
#[derive(Clone, Debug, PartialEq)]
pub enum Prior {
    /// Static: no admin override; the config's mode (named) applies.
    Config(String),
    /// Static: an admin override of `mode`, until `expires` if set.
    Admin { mode: String, expires: Option<SystemTime> },
    /// In-cluster: `spec.override` (`None` when the key was absent).
    Spec(Option<Value>),
}

impl std::fmt::Display for Prior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Prior::Config(m) => write!(f, "{m} (from the config, no admin override)"),
            Prior::Admin { mode, expires: None } => write!(f, "{mode} (admin override)"),
            Prior::Admin { mode, expires: Some(t) } => {
                write!(
                    f,
                    "{mode} (admin override until {})",
                    humantime::format_rfc3339_seconds(*t)
                )
            }
            Prior::Spec(None) => f.write_str("spec.override absent"),
            Prior::Spec(Some(v)) => write!(f, "spec.override {v}"),
        }
    }
}

/// A static agent's admin API, for one app.
#[derive(Debug)]
pub struct Admin {
    pub addr: SocketAddr,
    pub app: String,
    /// The bearer token, from the file [`TOKEN_FILE_ENV`] names, if set.
    pub token: Option<String>,
}

/// The app's `AppHealth`.
pub struct Cluster {
    pub api: Api<DynamicObject>,
    pub name: String,
    pub namespace: String,
}

/// Where the drill acts.
pub enum Target {
    Static(Admin),
    Cluster(Box<Cluster>),
}

/// Reads the admin token the way the agent does: the file [`TOKEN_FILE_ENV`] names.
pub fn admin_token() -> Result<Option<String>> {
    let Some(path) = std::env::var_os(TOKEN_FILE_ENV).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::Usage(format!("{TOKEN_FILE_ENV}={}: {e}", path.to_string_lossy())))?;
    Ok(Some(text.trim().to_owned()))
}

impl Admin {
    async fn call(&self, method: &str, path: &str) -> Result<(u16, Value)> {
        let fail = |e: String| Error::Agent(format!("{method} http://{}{path}: {e}", self.addr));
        let exchange = async {
            let tcp = TcpStream::connect(self.addr).await.map_err(|e| e.to_string())?;
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let mut req = http::Request::builder()
                .method(method)
                .uri(path)
                .header(http::header::HOST, self.addr.to_string())
                .header(CSRF_HEADER, "1");
            if let Some(t) = &self.token {
                req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
            }
            let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
            let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| fail("no answer in 5 s".into()))?
            .map_err(fail)?;
        let text = || Value::String(String::from_utf8_lossy(&body).trim().to_owned());
        let value = serde_json::from_slice(&body).unwrap_or_else(|_| text());
        Ok((status, value))
    }

    async fn read(&self) -> Result<(Snapshot, Prior)> {
        let (status, v) = self.call("GET", &format!("/apps/{}", self.app)).await?;
        match status {
            200 => {}
            404 => {
                return Err(Error::Usage(format!(
                    "the agent at {} has no app {}",
                    self.addr, self.app
                )))
            }
            s => return Err(Error::Agent(format!("GET /apps/{}: HTTP {s}: {v}", self.app))),
        }
        let snapshot = Snapshot {
            verdict_healthy: v["verdict"].as_str().map(|s| s == "healthy"),
            route53_healthy: v["route53"]["route53Healthy"].as_bool(),
            dns: serde_json::from_value(v["dns"].clone()).ok(),
        };
        let o = &v["override"];
        let mode = o["mode"].as_str().unwrap_or("none").to_owned();
        let prior = if o["source"] == "admin" {
            let expires = o["expiresAt"]
                .as_str()
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
            Prior::Admin { mode, expires }
        } else {
            Prior::Config(mode)
        };
        Ok((snapshot, prior))
    }

    async fn post(&self, query: &str) -> Result<()> {
        let path = format!("/apps/{}/override?{query}", self.app);
        match self.call("POST", &path).await? {
            (200, _) => Ok(()),
            (s, v) => {
                let why = v["error"]
                    .as_str()
                    .or(v.as_str())
                    .map_or_else(|| v.to_string(), str::to_owned);
                Err(Error::Agent(format!("POST {path}: HTTP {s}: {why}")))
            }
        }
    }
}

impl Cluster {
    /// The `AppHealth` API of `namespace` (the context's default if `None`).
    pub fn new(client: kube::Client, name: &str, namespace: Option<&str>) -> Cluster {
        let ns = namespace.map_or_else(|| client.default_namespace().to_owned(), str::to_owned);
        let ar = ApiResource::erase::<AppHealth>(&());
        Cluster {
            api: Api::namespaced_with(client, &ns, &ar),
            name: name.to_owned(),
            namespace: ns,
        }
    }

    async fn read(&self) -> Result<(Snapshot, Prior)> {
        let obj = match self.api.get(&self.name).await {
            Ok(o) => o,
            Err(kube::Error::Api(e)) if e.code == 404 => {
                return Err(Error::Usage(format!(
                    "no AppHealth {} in namespace {}: list them with kubectl get apphealths -A, and pass -n NAMESPACE",
                    self.name, self.namespace
                )))
            }
            Err(e) => return Err(Error::Kube(e)),
        };
        let status: AppHealthStatus = serde_json::from_value(obj.data["status"].clone()).unwrap_or_default();
        let snapshot = Snapshot {
            verdict_healthy: status.verdict.map(|h| h.is_healthy()),
            route53_healthy: status.route53_healthy,
            dns: status.dns,
        };
        let prior = Prior::Spec(obj.data["spec"].get("override").cloned());
        Ok((snapshot, prior))
    }

    async fn patch(&self, value: Value) -> Result<()> {
        let patch = json!({ "spec": { "override": value } });
        self.api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }
}

impl Target {
    /// The app as it is now, and its override.
    pub async fn read(&self) -> Result<(Snapshot, Prior)> {
        match self {
            Target::Static(a) => a.read().await,
            Target::Cluster(c) => c.read().await,
        }
    }

    /// Turns the override to `fail`. Static, with a TTL of `ttl` as a safety net
    /// should the drill itself die; in-cluster there is none (see the report's hint).
    pub async fn fail(&self, ttl: Duration) -> Result<()> {
        match self {
            Target::Static(a) => a.post(&format!("mode=fail&ttlSeconds={}", ttl.as_secs().max(1))).await,
            Target::Cluster(c) => c.patch(json!("fail")).await,
        }
    }

    /// Puts `prior` back.
    pub async fn restore(&self, prior: &Prior) -> Result<()> {
        match (self, prior) {
            (Target::Static(a), Prior::Admin { mode, expires }) => {
                let left = expires.map(|t| t.duration_since(SystemTime::now()).unwrap_or_default());
                match left {
                    None => a.post(&format!("mode={mode}")).await,
                    // An admin override that would have expired by now: expired it is.
                    Some(d) if d < Duration::from_secs(1) => a.post("mode=clear").await,
                    Some(d) => a.post(&format!("mode={mode}&ttlSeconds={}", d.as_secs())).await,
                }
            }
            (Target::Static(a), _) => a.post("mode=clear").await,
            (Target::Cluster(c), Prior::Spec(v)) => c.patch(v.clone().unwrap_or(Value::Null)).await,
            (Target::Cluster(c), _) => c.patch(Value::Null).await,
        }
    }

    /// How to put the override back by hand, should the drill fail to.
    pub fn undo_hint(&self, prior: &Prior) -> String {
        match (self, prior) {
            (Target::Cluster(c), Prior::Spec(v)) => format!(
                "kubectl patch apphealth {} -n {} --type merge -p '{{\"spec\":{{\"override\":{}}}}}'",
                c.name,
                c.namespace,
                v.clone().unwrap_or(Value::Null)
            ),
            (Target::Static(a), _) => format!(
                "curl -X POST -H '{CSRF_HEADER}: 1' 'http://{}/apps/{}/override?mode=clear' (then set {prior} again if it was an admin override)",
                a.addr, a.app
            ),
            (Target::Cluster(c), _) => format!("kubectl edit apphealth {} -n {}", c.name, c.namespace),
        }
    }
}
