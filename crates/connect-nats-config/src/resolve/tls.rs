//! TLS: the one decision (any setting means TLS), and the files checked to
//! hold what they must.

use crate::credentials::{check_pem_file, PemKind};
use crate::error::ConfigError;
use crate::model::{Scheme, ServerUrl, TlsSettings};
use crate::source::Origin;

use super::auth::companion;
use super::Merged;

/// The TLS settings of the layers, for these `servers` (from `url_origin`).
/// TLS with a plain `ws://` URL is refused: async-nats never upgrades it.
pub(super) fn resolve_tls(
    merged: &Merged,
    servers: &[ServerUrl],
    url_origin: Option<&Origin>,
) -> Result<TlsSettings, ConfigError> {
    let ca = merged.path("tls.ca")?;
    let cert = merged.path("tls.cert")?;
    let key = merged.path("tls.key")?;
    let required = merged.boolean("tls.required")?;
    let first = merged.boolean("tls.first")?;
    match (&cert, &key) {
        (Some(cert), None) => {
            return Err(ConfigError::CertWithoutKey {
                key: companion(&cert.origin, "tls.key"),
                cert: cert.origin.to_string(),
            })
        }
        (None, Some(key)) => {
            return Err(ConfigError::KeyWithoutCert {
                cert: companion(&key.origin, "tls.cert"),
                key: key.origin.to_string(),
            })
        }
        _ => {}
    }
    if let Some(ca) = &ca {
        check_pem_file(&ca.value, &ca.origin.to_string(), PemKind::Certificates)?;
    }
    if let Some(cert) = &cert {
        check_pem_file(&cert.value, &cert.origin.to_string(), PemKind::Certificates)?;
    }
    if let Some(key) = &key {
        check_pem_file(&key.value, &key.origin.to_string(), PemKind::PrivateKey)?;
    }
    let mut tls_reasons: Vec<String> = Vec::new();
    if let Some(f) = required.as_ref().filter(|f| f.value) {
        tls_reasons.push(format!("{} is true", f.origin));
    }
    if let Some(f) = first.as_ref().filter(|f| f.value) {
        tls_reasons.push(format!("{} is true", f.origin));
    }
    for f in [&ca, &cert].into_iter().flatten() {
        tls_reasons.push(format!("{} is set", f.origin));
    }
    if let (Some(reason), Some(ws)) = (
        tls_reasons.first(),
        servers.iter().find(|s| s.scheme == Scheme::Ws),
    ) {
        return Err(ConfigError::TlsOverPlainWebSocket {
            setting: url_origin
                .map(|o| o.to_string())
                .unwrap_or_else(|| "NATS_URL".to_owned()),
            url: ws.url.clone(),
            reason: reason.clone(),
        });
    }
    let tls_wanted = !tls_reasons.is_empty() || servers.iter().any(|s| s.scheme.is_tls());
    Ok(TlsSettings {
        ca: ca.map(|f| f.value),
        cert: cert.map(|f| f.value),
        key: key.map(|f| f.value),
        required: tls_wanted,
        first: first.is_some_and(|f| f.value),
    })
}
