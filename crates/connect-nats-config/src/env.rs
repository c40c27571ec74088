//! The environment layer: the fixed `NATS_*` variable names of the settings
//! table, mapped to their nested keys.
//!
//! An empty variable counts as unset, as in the original library (and as
//! docker-compose's `NATS_TOKEN=${NATS_TOKEN}` produces when the host has none).

use std::collections::BTreeMap;
use std::fmt;

use figment::value::{Dict, Value};

use crate::error::ConfigError;
use crate::layers::{insert_nested, LayerData};
use crate::settings::{CONFIG_FILE_ENV, CONTEXT_ENV, SETTINGS};
use crate::source::Layer;

/// Where environment variables are read from.
#[derive(Clone, Default)]
pub(crate) enum EnvSource {
    /// The process environment.
    #[default]
    Process,
    /// A fixed set of variables (tests, embedding).
    Vars(BTreeMap<String, String>),
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvSource::Process => f.write_str("Process"),
            // Values may be secrets: names only.
            EnvSource::Vars(vars) => f.debug_set().entries(vars.keys()).finish(),
        }
    }
}

impl EnvSource {
    /// The variable's value; `None` when unset or empty.
    pub(crate) fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        let value = match self {
            EnvSource::Process => match std::env::var(name) {
                Ok(v) => Some(v),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(ConfigError::InvalidValue {
                        setting: name.to_owned(),
                        problem: "the value is not valid UTF-8; set it to UTF-8 text".to_owned(),
                    })
                }
            },
            EnvSource::Vars(vars) => vars.get(name).cloned(),
        };
        Ok(value.filter(|v| !v.is_empty()))
    }

    /// Names of set `NATS_*` variables that no setting reads (probably typos).
    pub(crate) fn unrecognized(&self) -> Vec<String> {
        let names: Vec<String> = match self {
            EnvSource::Process => std::env::vars_os()
                .filter_map(|(k, _)| k.into_string().ok())
                .collect(),
            EnvSource::Vars(vars) => vars.keys().cloned().collect(),
        };
        let mut unknown: Vec<String> = names
            .into_iter()
            .filter(|n| n.starts_with("NATS_"))
            .filter(|n| n != CONFIG_FILE_ENV && n != CONTEXT_ENV)
            .filter(|n| !SETTINGS.iter().any(|s| s.env == Some(n.as_str())))
            .collect();
        unknown.sort();
        unknown
    }
}

/// The environment layer: every set variable of the table, as text.
pub(crate) fn env_layer(env: &EnvSource) -> Result<LayerData, ConfigError> {
    let mut dict = Dict::new();
    for setting in SETTINGS {
        let Some(name) = setting.env else { continue };
        if let Some(value) = env.get(name)? {
            insert_nested(&mut dict, setting.key, Value::from(value));
        }
    }
    Ok(LayerData::new(Layer::Env, None, dict))
}
