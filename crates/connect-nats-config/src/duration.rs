//! Durations as the deployments write them: `500ms`, `2s`, `1m`, or a bare
//! integer meaning seconds (`NATS_RECONNECT_WAIT=2`).

use std::time::Duration;

/// Why a duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The value is negative.
    #[error("`{0}` is negative; a duration must be zero or more, like `2s` or `500ms`")]
    Negative(String),
    /// The value is too large to be represented as a duration.
    #[error("`{0}` is too long; a duration setting is at most 365 days (`8760h`)")]
    TooLong(String),
    /// The value is not a duration.
    #[error("`{0}` is not a duration; write `500ms`, `2s`, `1m` or a whole number of seconds")]
    Invalid(String),
}

/// Parses `500ms`, `2s`, `1m`, `1h30m`, or a bare integer meaning seconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(DurationError::Negative(trimmed.to_owned()));
    }
    if trimmed.is_empty() {
        return Err(DurationError::Invalid(trimmed.to_owned()));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| DurationError::TooLong(trimmed.to_owned()));
    }
    humantime::parse_duration(trimmed).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => DurationError::TooLong(trimmed.to_owned()),
        _ => DurationError::Invalid(trimmed.to_owned()),
    })
}

/// Formats a duration the way it is parsed (`2s`, `500ms`).
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Serde for `Duration` as a human string; accepts numbers as seconds.
pub(crate) mod serde_human {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::DurationInput;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    #[allow(dead_code)]
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        DurationInput::deserialize(d)?
            .into_duration()
            .map_err(serde::de::Error::custom)
    }
}

/// Serde for `Option<Duration>` as a human string; accepts numbers as seconds.
pub(crate) mod serde_human_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::DurationInput;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<DurationInput>::deserialize(d)?
            .map(|v| v.into_duration().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A duration as found in a file or the environment: text or a number of seconds.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum DurationInput {
    Int(i64),
    Float(f64),
    Text(String),
}

impl DurationInput {
    pub(crate) fn into_duration(self) -> Result<Duration, DurationError> {
        match self {
            DurationInput::Int(n) if n < 0 => Err(DurationError::Negative(n.to_string())),
            DurationInput::Int(n) => Ok(Duration::from_secs(n.unsigned_abs())),
            DurationInput::Float(f) if f < 0.0 => Err(DurationError::Negative(f.to_string())),
            DurationInput::Float(f) if !f.is_finite() => Err(DurationError::Invalid(f.to_string())),
            DurationInput::Float(f) => {
                Duration::try_from_secs_f64(f).map_err(|_| DurationError::TooLong(f.to_string()))
            }
            DurationInput::Text(t) => parse_duration(&t),
        }
    }
}
