//! The TLS question, settled once at start-up. kube (and, later, the AWS SDK) use
//! rustls; a process with more than one rustls crypto provider compiled in panics
//! unless one is installed as the default. We build with aws-lc-rs only, and
//! install it explicitly so that adding a dependency can never change that.

/// Installs aws-lc-rs as the process-wide rustls provider. Idempotent.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
