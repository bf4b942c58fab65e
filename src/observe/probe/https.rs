//! The TLS clients of HTTPS probes: the shared one that accepts any certificate
//! (the kubelet's way), and one per distinct `probe.tls` setting; and which
//! failures are the certificate's (`tls_error`).

use super::http::{connector, pooled};
use crate::spec::ProbeTls;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use rustls::pki_types::ServerName;

/// A pooled HTTPS client of probes.
pub(super) type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The HTTPS client: TLS with any certificate accepted, pooled like HTTP's.
pub(super) fn https_client() -> HttpsClient {
    crate::tls::install_crypto_provider();
    let tls = crate::tls::any_certificate_config();
    // The provider's safe defaults always build; without them HTTPS probes fail
    // (as an error outcome), and plain HTTP is unaffected.
    let tls = tls.unwrap_or_else(|_| {
        rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    });
    tls_client(tls, None)
}

fn tls_client(config: rustls::ClientConfig, name: Option<ServerName<'static>>) -> HttpsClient {
    let mut conn = connector();
    conn.enforce_http(false);
    let b = HttpsConnectorBuilder::new().with_tls_config(config).https_only();
    let b = match name {
        Some(name) => b.with_server_name_resolver(FixedServerNameResolver::new(name)),
        None => b,
    };
    pooled().build(b.enable_http1().wrap_connector(conn))
}

/// The client of `probe.tls` setting `tls`: its CA file read, its name parsed.
pub(super) fn client_for(tls: &ProbeTls) -> Result<HttpsClient, crate::tls::Error> {
    crate::tls::install_crypto_provider();
    let config = if tls.verify {
        crate::tls::verifying_config(tls.ca_file.as_deref())?
    } else {
        crate::tls::any_certificate_config()?
    };
    let name = match &tls.server_name {
        Some(n) => Some(ServerName::try_from(n.clone()).map_err(|_| crate::tls::Error::ServerName(n.clone()))?),
        None => None,
    };
    Ok(tls_client(config, name))
}

/// Whether the server's certificate failed verification (not any TLS failure:
/// a port that does not speak TLS stays a connect error).
pub(super) fn bad_certificate(e: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return matches!(
            r,
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
        );
    }
    // io::Error's source() skips the error it wraps: look at that one.
    if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
        return bad_certificate(inner);
    }
    e.source().is_some_and(bad_certificate)
}
