//! `probe.tls` ([`ProbeTlsKeys`]) validated into a [`ProbeTls`].

use super::super::keys::ProbeTlsKeys;

/// `probe.tls`, validated: HTTPS probes with a TLS client of their own (one per
/// distinct value, shared by every probe with it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeTls {
    /// Verify the chain and the name; false: any certificate, `server_name` as SNI.
    pub verify: bool,
    /// The CA certificates' PEM file (only with `verify`); `None`: the system's roots.
    /// In-cluster, a bare file name until the node resolves it in its CA directory.
    pub ca_file: Option<std::path::PathBuf>,
    /// The name checked and sent as SNI; `None`: the endpoint's IP address.
    pub server_name: Option<String>,
}

/// `tls`: a server name rustls accepts (DNS name or IP address), and a `caFile`
/// only with `verify: true`. `None` when it changes nothing (no verify, no name).
pub(super) fn validate(at: &str, t: &ProbeTlsKeys, errs: &mut Vec<String>) -> Option<ProbeTls> {
    let verify = t.verify.unwrap_or(false);
    if let Some(name) = &t.server_name {
        if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
            errs.push(format!(
                "{at}.probe.tls.serverName: `{}` is not a DNS name or IP address; write the name the certificate is for, such as payments.internal",
                name.escape_debug()
            ));
        }
    }
    match &t.ca_file {
        Some(f) if f.is_empty() => errs.push(format!(
            "{at}.probe.tls.caFile: is empty; name the CA certificates' PEM file, or remove it to verify against the system's roots"
        )),
        Some(_) if !verify => errs.push(format!(
            "{at}.probe.tls.caFile: is used only to verify certificates; set probe.tls.verify: true or remove caFile"
        )),
        _ => {}
    }
    (verify || t.server_name.is_some()).then(|| ProbeTls {
        verify,
        ca_file: t.ca_file.as_ref().map(Into::into),
        server_name: t.server_name.clone(),
    })
}
