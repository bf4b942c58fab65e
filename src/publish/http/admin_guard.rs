//! The admin listener's guard against cross-site requests: an operator with a
//! `kubectl port-forward` open who visits a hostile page must not have their apps
//! failed over. [`Guard::check`] refuses, before routing:
//! - a request that is not `GET` or `HEAD` without `X-Failover-Agent: 1` (a browser
//!   sends a custom header cross-site only after a CORS preflight, never approved);
//! - any request whose `Origin` is not the listener's own (`http://<Host>`);
//! - with `FAILOVER_AGENT_ADMIN_TOKEN_FILE` set, a change without
//!   `Authorization: Bearer <token>`.

use super::{text, Body};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The header every state-changing admin request must carry, with the value `1`.
pub const CSRF_HEADER: &str = "x-failover-agent";

/// The environment variable naming the file that holds the admin bearer token.
pub const TOKEN_FILE_ENV: &str = "FAILOVER_AGENT_ADMIN_TOKEN_FILE";

/// The admin token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{TOKEN_FILE_ENV}={}: cannot read the admin token file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{TOKEN_FILE_ENV}={}: the admin token file is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{TOKEN_FILE_ENV} is set but empty: unset it, or name the admin token file")]
    EmptyVar,
}

impl TokenError {
    /// A fixed label for this kind of error, for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            TokenError::Read { .. } => "token_read",
            TokenError::Empty { .. } => "token_empty",
            TokenError::EmptyVar => "token_var_empty",
        }
    }
}

/// The rules state-changing admin requests must pass: the CSRF header, a
/// same-origin `Origin` if any, and the bearer token if one is configured.
#[derive(Default)]
pub struct Guard {
    token: Option<Box<[u8]>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Guard").field("token", &self.token.is_some()).finish()
    }
}

impl Guard {
    /// Reads [`TOKEN_FILE_ENV`]: unset means no token; set means the file must
    /// be readable and non-empty.
    pub fn from_env() -> Result<Guard, TokenError> {
        match std::env::var_os(TOKEN_FILE_ENV) {
            None => Ok(Guard::default()),
            Some(p) if p.is_empty() => Err(TokenError::EmptyVar),
            Some(p) => Guard::from_file(Path::new(&p)),
        }
    }

    /// A guard whose token is the content of `path`, surrounding whitespace trimmed.
    pub fn from_file(path: &Path) -> Result<Guard, TokenError> {
        let raw = std::fs::read(path).map_err(|source| TokenError::Read {
            path: path.to_owned(),
            source,
        })?;
        let token = raw.trim_ascii();
        if token.is_empty() {
            return Err(TokenError::Empty { path: path.to_owned() });
        }
        Ok(Guard {
            token: Some(token.into()),
        })
    }

    /// A guard with `token` (tests, and callers that hold the token already).
    pub fn with_token(token: Option<&str>) -> Guard {
        Guard {
            token: token.map(|t| t.as_bytes().into()),
        }
    }

    /// Whether state-changing requests need a bearer token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `None` if `req` may go on, else the refusal to send.
    pub(super) fn check<B>(&self, req: &Request<B>) -> Option<Response<Body>> {
        let h = req.headers();
        if let Some(origin) = h.get(header::ORIGIN) {
            let own = h.get(header::HOST).map(|host| [b"http://", host.as_bytes()].concat());
            if own.as_deref() != Some(origin.as_bytes()) {
                return Some(text(
                    StatusCode::FORBIDDEN,
                    "cross-origin request refused: Origin must be this listener's own (http://<Host>)\n",
                ));
            }
        }
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            return None;
        }
        if h.get(CSRF_HEADER).map(HeaderValue::as_bytes) != Some(b"1") {
            return Some(text(
                StatusCode::FORBIDDEN,
                "state-changing admin requests need the header X-Failover-Agent: 1\n",
            ));
        }
        if let Some(want) = &self.token {
            let given = h
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes)
                // The scheme is case-insensitive (RFC 9110 section 11.1).
                .and_then(|v| v.split_at_checked(7))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
                .map_or(&b""[..], |(_, token)| token);
            if !constant_time_eq(given, want) {
                let mut r = text(
                    StatusCode::UNAUTHORIZED,
                    "state-changing admin requests need Authorization: Bearer <token>\n",
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return Some(r);
            }
        }
        None
    }
}

/// Compares `given` with `want` in time that depends only on `given`'s length.
fn constant_time_eq(given: &[u8], want: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != want.len());
    for (i, g) in given.iter().enumerate() {
        // Past `want`'s end, compare against a byte that cannot repair the length mismatch.
        diff |= g ^ want.get(i).copied().unwrap_or(!*g);
    }
    std::hint::black_box(diff) == 0
}

static GUARD: OnceLock<Result<Guard, String>> = OnceLock::new();

/// Reads [`TOKEN_FILE_ENV`] once for this process. Call it at start-up so a
/// missing or unreadable token file stops the agent before it serves; if it was
/// never called, the first admin request reads the variable, and a bad file then
/// makes every state-changing request fail (closed) with 500.
pub fn init() -> Result<(), TokenError> {
    if GUARD.get().is_some() {
        return Ok(());
    }
    let guard = Guard::from_env()?;
    let _ = GUARD.set(Ok(guard));
    Ok(())
}

pub(super) fn guard() -> &'static Result<Guard, String> {
    GUARD.get_or_init(|| Guard::from_env().map_err(|e| e.to_string()))
}

#[cfg(test)]
#[path = "admin_guard_tests.rs"]
mod tests;
