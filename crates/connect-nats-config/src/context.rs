//! The NATS CLI context layer (NATS ADR-21).
//!
//! The `nats` CLI keeps contexts as `$XDG_CONFIG_HOME/nats/context/NAME.json`
//! (default `~/.config/nats/context/`). A context is read only when asked
//! for: by the builder ([`ConfigBuilder::context`](crate::ConfigBuilder::context)),
//! by `NATS_CONTEXT`, or by the config file's `context` key, in that order.
//! The context selected with `nats context select` (`context.txt`) is never
//! read on its own, so selecting one on a laptop cannot redirect a service.
//! Fields this library does not use are ignored (the CLI writes more);
//! empty fields count as unset (the CLI writes them all).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use figment::value::{Dict, Value};
use serde::Serialize;

use crate::env::EnvSource;
use crate::error::ConfigError;
use crate::layers::{insert_nested, LayerData};
use crate::settings::{CONTEXT_ENV, SETTINGS};
use crate::source::Layer;
use crate::text::redact_quoted;

/// The NATS CLI context that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextInfo {
    /// Its name (the file's stem).
    pub name: String,
    /// The context file.
    pub path: PathBuf,
    /// Its `description` field.
    pub description: Option<String>,
    /// What selected it: `NATS_CONTEXT`, the config file's `context` key, or code.
    pub selected_by: String,
}

/// How the context is chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum ContextChoice {
    /// `NATS_CONTEXT`, else the config file's `context` key, else none.
    #[default]
    AsAsked,
    /// This name or path.
    Named(String),
    /// No context.
    Off,
}

/// Setting keys whose values are file paths (`~/` is expanded in contexts).
pub(crate) const PATH_KEYS: &[&str] = &[
    "auth.creds_file",
    "auth.nkey_seed_file",
    "tls.ca",
    "tls.cert",
    "tls.key",
];

/// `$XDG_CONFIG_HOME/nats`, else `$HOME/.config/nats`.
fn nats_dir(env: &EnvSource) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(xdg) = env.get("XDG_CONFIG_HOME")? {
        return Ok(Some(PathBuf::from(xdg).join("nats")));
    }
    Ok(env
        .get("HOME")?
        .map(|home| PathBuf::from(home).join(".config").join("nats")))
}

fn expand_home(path: &str, env: &EnvSource) -> Result<String, ConfigError> {
    if let Some(rest) = path.strip_prefix("~/") {
        if let Some(home) = env.get("HOME")? {
            return Ok(Path::new(&home).join(rest).to_string_lossy().into_owned());
        }
    }
    Ok(path.to_owned())
}

/// Reads the chosen context, if any, as a layer. `file_context` is the
/// config file's `context` key and the file's path.
pub(crate) fn context_layer(
    choice: &ContextChoice,
    env: &EnvSource,
    file_context: Option<(&str, &Path)>,
) -> Result<Option<(LayerData, ContextInfo)>, ConfigError> {
    let dir = nats_dir(env)?;
    let (selection, selected_by) = match choice {
        ContextChoice::Off => return Ok(None),
        ContextChoice::Named(name) => (name.clone(), "ConfigBuilder::context".to_owned()),
        ContextChoice::AsAsked => match (env.get(CONTEXT_ENV)?, file_context) {
            (Some(name), _) => (name, CONTEXT_ENV.to_owned()),
            (None, Some((name, file))) => {
                (name.to_owned(), format!("`context` in {}", file.display()))
            }
            (None, None) => return Ok(None),
        },
    };

    let path = if selection.ends_with(".json") || selection.contains(std::path::MAIN_SEPARATOR) {
        PathBuf::from(expand_home(&selection, env)?)
    } else {
        match &dir {
            Some(dir) => dir.join("context").join(format!("{selection}.json")),
            None => PathBuf::from(format!(
                "$XDG_CONFIG_HOME/nats/context/{selection}.json (neither XDG_CONFIG_HOME nor HOME is set)"
            )),
        }
    };
    let content = match std::fs::read_to_string(&path) {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(ConfigError::ContextNotFound {
                setting: selected_by,
                name: selection,
                path,
            })
        }
        Err(e) => {
            return Err(ConfigError::ContextInvalid {
                path,
                reason: format!("it cannot be read ({e})"),
            })
        }
    };
    let json: serde_json::Value =
        serde_json::from_str(&content).map_err(|e| ConfigError::ContextInvalid {
            path: path.clone(),
            reason: format!("it is not valid JSON ({})", redact_quoted(&e.to_string())),
        })?;
    let serde_json::Value::Object(object) = json else {
        return Err(ConfigError::ContextInvalid {
            path,
            reason: "it is not a JSON object".to_owned(),
        });
    };

    let mut dict = Dict::new();
    for setting in SETTINGS {
        let Some(field) = setting.context else {
            continue;
        };
        let value = match object.get(field) {
            None | Some(serde_json::Value::Null) => continue,
            Some(serde_json::Value::String(s)) if s.is_empty() => continue,
            Some(serde_json::Value::String(s)) if PATH_KEYS.contains(&setting.key) => {
                Value::from(expand_home(s, env)?)
            }
            Some(serde_json::Value::String(s)) => Value::from(s.clone()),
            Some(serde_json::Value::Bool(b)) => Value::from(*b),
            Some(other) => Value::serialize(other).map_err(|_| ConfigError::ContextInvalid {
                path: path.clone(),
                reason: format!("field `{field}` has an unusable value"),
            })?,
        };
        insert_nested(&mut dict, setting.key, value);
    }

    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| selection.clone());
    let description = object
        .get("description")
        .and_then(|d| d.as_str())
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let info = ContextInfo {
        name,
        path: path.clone(),
        description,
        selected_by,
    };
    Ok(Some((
        LayerData::new(Layer::Context, Some(path), dict),
        info,
    )))
}
