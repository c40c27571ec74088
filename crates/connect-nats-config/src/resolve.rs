//! From the merged layers to a validated [`Config`]: every value parsed,
//! every rule checked, every error naming where the value came from.
//!
//! [`Merged`] reads typed values key by key (stream declarations included);
//! [`resolve`] checks them by concern: [`auth`], [`tls`], [`timing`]
//! (reconnect, timeouts, PINGs) and [`names`] (client id, subject
//! prefixes and the header policy); [`values`] describes raw values for errors.

mod auth;
mod names;
mod timing;
mod tls;
mod values;

use std::path::PathBuf;
use std::time::Duration;

use figment::error::Kind;
use figment::value::Value;
use figment::Figment;

use crate::defaults::MAX_DURATION;
use crate::duration::{parse_duration, DurationError};
use crate::error::ConfigError;
use crate::layers::layer_of;
use crate::model::{Config, JetStreamSettings};
use crate::settings::{setting_by_key, SETTINGS};
use crate::source::{Layer, Origin, Sources};
use crate::streams::StreamSpec;
use crate::urls::parse_servers;

use auth::resolve_auth;
use names::{resolve_headers, resolve_names};
use timing::resolve_timing;
use tls::resolve_tls;
use values::{actual_kind, display_value, int_of, kind_of, num_text};

/// A value and where it came from.
struct Field<T> {
    value: T,
    origin: Origin,
}

/// The merged layers, read key by key.
pub(crate) struct Merged {
    figment: Figment,
}

impl Merged {
    pub(crate) fn new(figment: Figment) -> Self {
        Self { figment }
    }

    /// Where the value of `key` came from (`Default` when unset).
    pub(crate) fn origin(&self, key: &str) -> Origin {
        let setting = setting_by_key(key);
        match self.figment.find_metadata(key) {
            Some(metadata) => {
                let layer = layer_of(metadata);
                let name = match layer {
                    Layer::Env => setting.and_then(|s| s.env).unwrap_or(key),
                    Layer::Context => setting.and_then(|s| s.context).unwrap_or(key),
                    _ => key,
                };
                let path = metadata
                    .source
                    .as_ref()
                    .and_then(|s| s.file_path())
                    .map(PathBuf::from);
                Origin::new(layer, name, path)
            }
            None => Origin::new(Layer::Default, key, None),
        }
    }

    fn raw(&self, key: &str) -> Option<Value> {
        match self.figment.find_value(key) {
            Ok(Value::Empty(..)) | Err(_) => None,
            Ok(v) => Some(v),
        }
    }

    /// A text value; integers are accepted as text (a YAML `token: 1234`).
    fn text(&self, key: &str) -> Result<Option<Field<String>>, ConfigError> {
        let Some(raw) = self.raw(key) else {
            return Ok(None);
        };
        let origin = self.origin(key);
        let text = match raw {
            Value::String(_, s) => s,
            Value::Char(_, c) => c.to_string(),
            Value::Num(_, n) if n.to_f64().is_none() => num_text(n),
            other => {
                return Err(ConfigError::InvalidValue {
                    setting: origin.to_string(),
                    problem: format!("expected text, found {}; quote it", kind_of(&other)),
                })
            }
        };
        if text.trim().is_empty() {
            return Err(ConfigError::EmptyValue {
                setting: origin.to_string(),
            });
        }
        Ok(Some(Field {
            value: text,
            origin,
        }))
    }

    /// A file path; relative paths in a config file are relative to that file.
    fn path(&self, key: &str) -> Result<Option<Field<PathBuf>>, ConfigError> {
        Ok(self.text(key)?.map(|f| {
            let mut path = PathBuf::from(f.value);
            if f.origin.layer == Layer::File && path.is_relative() {
                if let Some(dir) = f.origin.path.as_ref().and_then(|p| p.parent()) {
                    path = dir.join(path);
                }
            }
            Field {
                value: path,
                origin: f.origin,
            }
        }))
    }

    fn boolean(&self, key: &str) -> Result<Option<Field<bool>>, ConfigError> {
        let Some(raw) = self.raw(key) else {
            return Ok(None);
        };
        let origin = self.origin(key);
        let value = match &raw {
            Value::Bool(_, b) => Some(*b),
            Value::String(_, s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" => Some(false),
                _ => None,
            },
            Value::Num(_, n) => match int_of(*n) {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            _ => None,
        };
        match value {
            Some(value) => Ok(Some(Field { value, origin })),
            None => Err(ConfigError::NotABool {
                setting: origin.to_string(),
                value: display_value(&raw),
            }),
        }
    }

    fn duration(
        &self,
        key: &str,
        allow_zero: bool,
    ) -> Result<Option<Field<Duration>>, ConfigError> {
        let Some(raw) = self.raw(key) else {
            return Ok(None);
        };
        let origin = self.origin(key);
        let shown = display_value(&raw);
        let negative = || ConfigError::NegativeDuration {
            setting: origin.to_string(),
            value: shown.clone(),
        };
        let invalid = |problem: &str| ConfigError::InvalidDuration {
            setting: origin.to_string(),
            value: shown.clone(),
            problem: problem.to_owned(),
        };
        const NOT_A_DURATION: &str =
            "is not a duration; write 500ms, 2s, 1m or a whole number of seconds";
        let too_long = || ConfigError::DurationTooLong {
            setting: origin.to_string(),
            value: shown.clone(),
        };
        let duration = match &raw {
            Value::String(_, s) => parse_duration(s).map_err(|e| match e {
                DurationError::Negative(_) => negative(),
                DurationError::TooLong(_) => too_long(),
                DurationError::Invalid(_) => invalid(NOT_A_DURATION),
            })?,
            Value::Num(_, n) => match (int_of(*n), n.to_f64()) {
                (Some(i), _) if i < 0 => return Err(negative()),
                (Some(i), _) => Duration::from_secs(u64::try_from(i).map_err(|_| too_long())?),
                (None, Some(f)) if f < 0.0 => return Err(negative()),
                (None, Some(f)) if f.is_nan() => return Err(invalid(NOT_A_DURATION)),
                (None, Some(f)) => Duration::try_from_secs_f64(f).map_err(|_| too_long())?,
                (None, None) => return Err(invalid(NOT_A_DURATION)),
            },
            _ => return Err(invalid(NOT_A_DURATION)),
        };
        if duration > MAX_DURATION {
            return Err(too_long());
        }
        if !allow_zero && duration.is_zero() {
            return Err(invalid("must be greater than zero, like 2s or 500ms"));
        }
        Ok(Some(Field {
            value: duration,
            origin,
        }))
    }

    /// A whole number, as a number or as text; `expected` says what to write.
    fn integer(&self, key: &str, expected: &str) -> Result<Option<Field<i128>>, ConfigError> {
        let Some(raw) = self.raw(key) else {
            return Ok(None);
        };
        let origin = self.origin(key);
        let number = match &raw {
            Value::Num(_, n) => int_of(*n),
            Value::String(_, s) => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        match number {
            Some(value) => Ok(Some(Field { value, origin })),
            None => Err(ConfigError::NotANumber {
                setting: origin.to_string(),
                value: display_value(&raw),
                expected: expected.to_owned(),
            }),
        }
    }

    /// A whole number from `min` to `max`.
    fn count(&self, key: &str, min: u32, max: u32) -> Result<Option<Field<u32>>, ConfigError> {
        let expected = format!("write a whole number from {min} to {max}");
        let Some(field) = self.integer(key, &expected)? else {
            return Ok(None);
        };
        match u32::try_from(field.value) {
            Ok(value) if (min..=max).contains(&value) => Ok(Some(Field {
                value,
                origin: field.origin,
            })),
            _ => Err(ConfigError::InvalidValue {
                setting: field.origin.to_string(),
                problem: format!("`{}` is out of range; {expected}", field.value),
            }),
        }
    }

    /// `NATS_MAX_RECONNECTS`: `-1` forever (`None`), `N >= 0` at most N.
    fn max_reconnects(&self) -> Result<Option<Field<Option<u64>>>, ConfigError> {
        const EXPECTED: &str = "write -1 to reconnect forever, 0 for a single reconnect attempt, \
                                or a whole number of attempts";
        let Some(field) = self.integer("reconnect.max_reconnects", EXPECTED)? else {
            return Ok(None);
        };
        let value = match field.value {
            -1 => None,
            n => Some(u64::try_from(n).map_err(|_| ConfigError::InvalidValue {
                setting: field.origin.to_string(),
                problem: format!("`{n}` is out of range; {EXPECTED}"),
            })?),
        };
        Ok(Some(Field {
            value,
            origin: field.origin,
        }))
    }

    /// The URL list: a comma-separated string, or a list in files.
    fn urls(&self) -> Result<Option<Field<Vec<String>>>, ConfigError> {
        const KEY: &str = "url";
        let Some(raw) = self.raw(KEY) else {
            return Ok(None);
        };
        let origin = self.origin(KEY);
        let not_text = |what: &str| ConfigError::InvalidValue {
            setting: origin.to_string(),
            problem: format!(
                "expected a URL or a list of URLs, found {what}; write nats://host:4222"
            ),
        };
        let urls = match raw {
            Value::String(_, s) => vec![s],
            Value::Array(_, items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(_, s) => Ok(s),
                    other => Err(not_text(kind_of(&other))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            other => return Err(not_text(kind_of(&other))),
        };
        Ok(Some(Field {
            value: urls,
            origin,
        }))
    }

    fn streams(&self) -> Result<Option<Field<Vec<StreamSpec>>>, ConfigError> {
        const KEY: &str = "jetstream.streams";
        let Some(raw) = self.raw(KEY) else {
            return Ok(None);
        };
        let origin = self.origin(KEY);
        let place = |path: &[String]| {
            let mut place = KEY.to_owned();
            for (i, part) in path.iter().enumerate() {
                if i == 0 && part.bytes().all(|b| b.is_ascii_digit()) {
                    place.push_str(&format!("[{part}]"));
                } else {
                    place.push('.');
                    place.push_str(part);
                }
            }
            place
        };
        let located = |key: String| Origin {
            name: key,
            ..origin.clone()
        };
        let streams: Vec<StreamSpec> = raw.deserialize().map_err(|e: figment::Error| {
            let key = place(&e.path);
            match e.kind {
                Kind::UnknownField(field, expected) => ConfigError::UnknownKey {
                    hint: format!(
                        "{}valid stream keys are {}",
                        crate::text::closest(&field, expected)
                            .map(|c| format!("did you mean `{c}`? "))
                            .unwrap_or_default(),
                        expected.join(", ")
                    ),
                    key,
                    location: match &origin.path {
                        Some(p) => p.display().to_string(),
                        None => origin.to_string(),
                    },
                },
                Kind::MissingField(field) => ConfigError::InvalidStream {
                    setting: located(key).to_string(),
                    problem: format!(
                        "`{field}` is missing; every stream needs a name and subjects"
                    ),
                },
                Kind::InvalidType(actual, expected) => ConfigError::InvalidStream {
                    setting: located(key).to_string(),
                    problem: format!("expected {expected}, found {}", actual_kind(&actual)),
                },
                Kind::UnknownVariant(found, expected) => ConfigError::InvalidStream {
                    setting: located(key).to_string(),
                    problem: format!("`{found}` is not one of {}", expected.join(", ")),
                },
                other => ConfigError::InvalidStream {
                    setting: located(key).to_string(),
                    problem: match other {
                        Kind::Message(m) => m,
                        Kind::InvalidValue(actual, expected) => {
                            format!("expected {expected}, found {}", actual_kind(&actual))
                        }
                        Kind::InvalidLength(n, expected) => {
                            format!("{n} items, expected {expected}")
                        }
                        _ => "this value cannot be used; see docs/configuration.md".to_owned(),
                    },
                },
            }
        })?;
        if let Some((i, problem)) = crate::streams::streams_problem(&streams) {
            return Err(ConfigError::InvalidStream {
                setting: located(format!("{KEY}[{i}]")).to_string(),
                problem: problem.to_string(),
            });
        }
        Ok(Some(Field {
            value: streams,
            origin,
        }))
    }
}

/// The checked configuration and where each value came from.
pub(crate) fn resolve(merged: &Merged) -> Result<(Config, Sources), ConfigError> {
    let defaults = Config::default();
    let mut sources = Sources::default();
    for setting in SETTINGS {
        sources.insert(setting.key, merged.origin(setting.key));
    }

    let (servers, url_credentials, url_origin) = match merged.urls()? {
        Some(f) => {
            let parsed = parse_servers(&f.value, &f.origin.to_string())?;
            (parsed.servers, parsed.credentials, Some(f.origin))
        }
        None => (defaults.servers.clone(), None, None),
    };
    let auth = resolve_auth(merged, url_credentials, url_origin.as_ref(), &mut sources)?;
    let tls = resolve_tls(merged, &servers, url_origin.as_ref())?;
    let timing = resolve_timing(merged, &defaults)?;
    let names = resolve_names(merged, &defaults.client_id)?;
    let headers = resolve_headers(merged)?;
    let streams = merged.streams()?.map(|f| f.value).unwrap_or_default();

    let config = Config {
        servers,
        client_id: names.client_id,
        auth,
        tls,
        reconnect: timing.reconnect,
        connect_timeout: timing.connect_timeout,
        ping_interval: timing.ping_interval,
        max_pings_out: timing.max_pings_out,
        request_timeout: timing.request_timeout,
        inbox_prefix: names.inbox_prefix,
        headers,
        jetstream: JetStreamSettings {
            domain: names.domain,
            api_prefix: names.api_prefix,
            streams,
        },
        sources: sources.clone(),
    };
    Ok((config, sources))
}
