//! Endpoint strings: `http://IP:PORT[/path]`, `https://IP:PORT[/path]` (TLS, any
//! certificate, as the kubelet probes) and `tcp://IP:PORT`.

use crate::model::Target;
use crate::spec::guard;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Parses one endpoint. Hosts must be IP literals (or `localhost`) so that the
/// address rules in [`guard`] apply to exactly what is probed; no DNS is involved.
pub(super) fn parse(text: &str, default_path: Option<&str>) -> std::result::Result<Target, String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|_| "is not a URL; write http://IP:PORT/path, https://IP:PORT/path or tcp://IP:PORT".to_string())?;
    let scheme = uri.scheme_str().unwrap_or("");
    let host = uri
        .host()
        .ok_or("has no host; write http://IP:PORT/path, https://IP:PORT/path or tcp://IP:PORT")?;
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
        "tcp" => {
            let port = uri.port_u16().ok_or("has no port; write tcp://IP:PORT")?;
            if uri.path() != "/" && !uri.path().is_empty() {
                return Err("has a path, which TCP probes cannot use; drop the path or use http://".into());
            }
            Ok(Target::Tcp {
                addr: SocketAddr::new(ip, port),
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
        _ => Err("has no supported scheme; write http://IP:PORT/path, https://IP:PORT/path or tcp://IP:PORT".into()),
    }
}
