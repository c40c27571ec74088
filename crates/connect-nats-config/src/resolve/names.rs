//! Names and subject prefixes: client id, inbox prefix, JetStream domain
//! and API prefix; and the header policy, chosen by name.

use crate::error::ConfigError;
use crate::headers::HeaderPolicy;

use super::{Field, Merged};

/// Names and prefixes, validated.
pub(super) struct Names {
    pub(super) client_id: String,
    pub(super) inbox_prefix: Option<String>,
    pub(super) domain: Option<String>,
    pub(super) api_prefix: Option<String>,
}

/// The names and subject prefixes of the layers; an unset client id is
/// `default_client_id`.
pub(super) fn resolve_names(
    merged: &Merged,
    default_client_id: &str,
) -> Result<Names, ConfigError> {
    let client_id = merged
        .text("client_id")?
        .map_or_else(|| default_client_id.to_owned(), |f| f.value);
    let inbox_prefix = subject_part(
        merged.text("inbox_prefix")?,
        "an inbox prefix like `_INBOX_svc`",
    )?;
    let domain = subject_part(merged.text("jetstream.domain")?, "a domain name like `hub`")?;
    let api_prefix = subject_part(
        merged.text("jetstream.api_prefix")?,
        "an API prefix like `$JS.hub.API`",
    )?;
    Ok(Names {
        client_id,
        inbox_prefix,
        domain,
        api_prefix,
    })
}

/// A subject prefix or domain: no spaces, no wildcards.
fn subject_part(
    field: Option<Field<String>>,
    example: &str,
) -> Result<Option<String>, ConfigError> {
    let Some(field) = field else { return Ok(None) };
    let value = field.value.trim();
    if value
        .chars()
        .any(|c| c.is_whitespace() || c == '*' || c == '>')
        || value.starts_with('.')
        || value.ends_with('.')
    {
        return Err(ConfigError::InvalidValue {
            setting: field.origin.to_string(),
            problem: format!(
                "`{value}` holds spaces or wildcards (`*`, `>`) or starts or ends with `.`; write {example}"
            ),
        });
    }
    Ok(Some(value.to_owned()))
}

/// The header policy (`NATS_HEADERS`): `minimal` (the default) or `full`.
pub(super) fn resolve_headers(merged: &Merged) -> Result<HeaderPolicy, ConfigError> {
    let Some(field) = merged.text("headers")? else {
        return Ok(HeaderPolicy::default());
    };
    field.value.parse().map_err(|_| ConfigError::InvalidValue {
        setting: field.origin.to_string(),
        problem: format!(
            "`{}` is not a header policy; write `minimal` or `full`",
            field.value.trim()
        ),
    })
}
