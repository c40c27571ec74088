//! Where each value came from: built-in default, NATS CLI context, config
//! file, environment variable, or code.

use std::fmt;
use std::path::PathBuf;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// A configuration layer, lowest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// The built-in default (or unset).
    Default,
    /// A NATS CLI context file.
    Context,
    /// The config file (`NATS_CONFIG_FILE` or [`ConfigBuilder::file`](crate::ConfigBuilder::file)).
    File,
    /// An environment variable.
    Env,
    /// A value set in code through [`ConfigBuilder`](crate::ConfigBuilder).
    Code,
}

impl Layer {
    /// `default`, `context`, `file`, `env` or `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Default => "default",
            Layer::Context => "context",
            Layer::File => "file",
            Layer::Env => "env",
            Layer::Code => "code",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The layer that supplied the value.
    pub layer: Layer,
    /// The name the value had there: the environment variable (`NATS_TOKEN`),
    /// the file key (`auth.token`), the context field (`token`), or the key set
    /// in code.
    pub name: String,
    /// The file it was read from (config file or context file).
    pub path: Option<PathBuf>,
}

impl Origin {
    pub(crate) fn new(layer: Layer, name: impl Into<String>, path: Option<PathBuf>) -> Self {
        Self {
            layer,
            name: name.into(),
            path,
        }
    }
}

impl fmt::Display for Origin {
    /// How an error names the value: `NATS_TOKEN`, `` `auth.token` in /etc/nats.yaml ``,
    /// `` `token` in NATS CLI context /home/me/.config/nats/context/prod.json ``…
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.layer, &self.path) {
            (Layer::Env, _) => f.write_str(&self.name),
            (Layer::File, Some(path)) => write!(f, "`{}` in {}", self.name, path.display()),
            (Layer::Context, Some(path)) => {
                write!(f, "`{}` in NATS CLI context {}", self.name, path.display())
            }
            (Layer::Code, _) => write!(f, "`{}` set in code", self.name),
            (Layer::Default, _) => write!(f, "`{}` (default)", self.name),
            (_, None) => write!(f, "`{}`", self.name),
        }
    }
}

impl Serialize for Origin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("source", &self.layer)?;
        if self.layer != Layer::Default {
            map.serialize_entry("from", &self.name)?;
        }
        if let Some(path) = &self.path {
            map.serialize_entry("path", path)?;
        }
        map.end()
    }
}

/// The origin of every setting, by file key (`reconnect.wait`), in the order
/// of [`SETTINGS`](crate::SETTINGS). Serializes as a JSON object in that order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sources(Vec<(&'static str, Origin)>);

impl Sources {
    /// Sets the origin of `key`, replacing an earlier one.
    pub(crate) fn insert(&mut self, key: &'static str, origin: Origin) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = origin,
            None => self.0.push((key, origin)),
        }
    }

    /// Where the setting with this file key came from.
    pub fn get(&self, key: &str) -> Option<&Origin> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, o)| o)
    }

    /// The layer the setting with this file key came from.
    pub fn layer(&self, key: &str) -> Option<Layer> {
        self.get(key).map(|o| o.layer)
    }

    /// Every setting and its origin.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Origin)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }
}

impl Serialize for Sources {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, origin) in &self.0 {
            map.serialize_entry(key, origin)?;
        }
        map.end()
    }
}
