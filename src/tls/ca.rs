//! Verified TLS for probes (`probe.tls.verify`): CA certificates read from a PEM
//! file (or the system's roots), and the rule for where an in-cluster `caFile` may be.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a verifying TLS client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`: {source}; name a PEM file of the CA certificates that sign the app's certificates", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{}` holds no PEM certificate (BEGIN CERTIFICATE); name a PEM file of the CA certificates that sign the app's certificates", path.display())]
    NoCertificate { path: PathBuf },
    #[error("`{}`: {source}", path.display())]
    BadCertificate { path: PathBuf, source: rustls::Error },
    #[error("no system CA certificates were found; set probe.tls.caFile")]
    NoSystemRoots,
    #[error("`{0}` is not a DNS name or IP address")]
    ServerName(String),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The agent's probe CA directory in-cluster (the chart mounts its `probeCA`
/// ConfigMap here, beside the settings volume at /etc/failover-agent rather than in
/// it: a mount inside a read-only ConfigMap volume can fail to be made);
/// `FAILOVER_AGENT_PROBE_CA_DIR` sets another.
pub const PROBE_CA_DIR: &str = "/etc/failover-agent-probe-ca";

/// The probe CA directory of this agent: `FAILOVER_AGENT_PROBE_CA_DIR`, else [`PROBE_CA_DIR`].
pub fn probe_ca_dir() -> PathBuf {
    std::env::var_os("FAILOVER_AGENT_PROBE_CA_DIR").map_or_else(|| PROBE_CA_DIR.into(), PathBuf::from)
}

/// Whether `name` is a plain file name: not empty, no `/` or `\`, not `.` or `..`.
/// A tenant's `caFile` must be one, so it can only name a file of the CA directory.
pub fn plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The CA certificates in the PEM file at `path`, as a root store: read once,
/// every certificate parsed; a file with none is an error.
pub fn load_ca(path: &Path) -> Result<RootCertStore, Error> {
    let pem = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let Ok(cert) = cert else {
            return Err(Error::NoCertificate { path: path.to_owned() });
        };
        roots.add(cert).map_err(|source| Error::BadCertificate {
            path: path.to_owned(),
            source,
        })?;
    }
    if roots.is_empty() {
        return Err(Error::NoCertificate { path: path.to_owned() });
    }
    Ok(roots)
}

/// A client config that verifies the server's chain against the CA certificates
/// in `ca_file` (the system's roots when `None`) and its name, with the
/// process's provider. The name checked is the connector's server name.
pub fn verifying_config(ca_file: Option<&Path>) -> Result<ClientConfig, Error> {
    let roots = match ca_file {
        Some(path) => load_ca(path)?,
        None => {
            let mut roots = RootCertStore::empty();
            // Unreadable system certificates are skipped; none at all is an error.
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if roots.is_empty() {
                return Err(Error::NoSystemRoots);
            }
            roots
        }
    };
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
