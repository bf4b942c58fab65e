//! Endpoint strings: `http://IP:PORT[/path]`, `https://IP:PORT[/path]` (TLS, any
//! certificate, as the kubelet probes), `tcp://IP:PORT` and `grpc://IP:PORT`
//! (`grpc.health.v1.Health/Check` over plaintext HTTP/2, as the kubelet probes).

use crate::model::Target;
use crate::spec::guard;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The forms an endpoint may take, for error messages.
pub(crate) const FORMS: &str = "http://IP:PORT/path, https://IP:PORT/path, tcp://IP:PORT or grpc://IP:PORT";

/// Parses one endpoint. Hosts must be IP literals (or `localhost`) so that the
/// address rules in [`guard`] apply to exactly what is probed; no DNS is involved.
pub(super) fn parse(text: &str, default_path: Option<&str>) -> std::result::Result<Target, String> {
    let uri: http::Uri = text.parse().map_err(|_| format!("is not a URL; write {FORMS}"))?;
    let scheme = uri.scheme_str().unwrap_or("");
    let host = uri.host().ok_or_else(|| format!("has no host; write {FORMS}"))?;
    let ip: IpAddr = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        h => h.parse().map_err(|_| {
            format!("uses host name `{h}`; static endpoints must be IP addresses (or localhost) so no DNS answer can redirect probes")
        })?,
    };
    if let Some(why) = guard::forbidden(ip) {
        return Err(format!("points at {ip}, {why}; probes go only to the app's own pods"));
    }
    match scheme {
        "tcp" | "grpc" => {
            let port = uri
                .port_u16()
                .ok_or_else(|| format!("has no port; write {scheme}://IP:PORT"))?;
            if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
                let fix = if scheme == "grpc" {
                    "drop the path (set probe.grpcService to name the service to check)"
                } else {
                    "drop the path or use http://"
                };
                return Err(format!(
                    "has a path, which {} probes cannot use; {fix}",
                    scheme.to_uppercase()
                ));
            }
            let addr = SocketAddr::new(ip, port);
            Ok(if scheme == "grpc" {
                Target::Grpc { addr }
            } else {
                Target::Tcp { addr }
            })
        }
        "http" | "https" => {
            let default_port = if scheme == "https" { 443 } else { 80 };
            let addr = SocketAddr::new(ip, uri.port_u16().unwrap_or(default_port));
            let pq = uri.path_and_query().map(|p| p.as_str()).filter(|p| *p != "/");
            let pq = pq.or(default_path).unwrap_or("/");
            let uri = http::Uri::builder()
                .scheme(scheme)
                .authority(uri.authority().map(|a| a.as_str()).unwrap_or_default())
                .path_and_query(pq)
                .build()
                .map_err(|e| format!("cannot be used as a probe URL: {e}"))?;
            Ok(Target::Http { uri, addr })
        }
        _ => Err(format!("has no supported scheme; write {FORMS}")),
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
