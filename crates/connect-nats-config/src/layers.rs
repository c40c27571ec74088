//! One figment provider per layer, and the helpers that build their data.

use std::path::PathBuf;

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use crate::source::Layer;

/// Metadata names, used to tell the layers apart in figment's provenance.
const DEFAULT_NAME: &str = "connect-nats defaults";
const CONTEXT_NAME: &str = "NATS CLI context";
const FILE_NAME: &str = "connect-nats config file";
const ENV_NAME: &str = "NATS_* environment variables";
const CODE_NAME: &str = "values set in code";

/// The data of one layer, ready to merge.
pub(crate) struct LayerData {
    pub layer: Layer,
    pub path: Option<PathBuf>,
    pub dict: Dict,
}

impl LayerData {
    pub(crate) fn new(layer: Layer, path: Option<PathBuf>, dict: Dict) -> Self {
        Self { layer, path, dict }
    }
}

impl Provider for LayerData {
    fn metadata(&self) -> Metadata {
        let metadata = Metadata::named(layer_name(self.layer));
        match &self.path {
            Some(path) => metadata.source(figment::Source::File(path.clone())),
            None => metadata,
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut map = Map::new();
        map.insert(Profile::Default, self.dict.clone());
        Ok(map)
    }
}

fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Default => DEFAULT_NAME,
        Layer::Context => CONTEXT_NAME,
        Layer::File => FILE_NAME,
        Layer::Env => ENV_NAME,
        Layer::Code => CODE_NAME,
    }
}

/// The layer a figment metadata belongs to.
pub(crate) fn layer_of(metadata: &Metadata) -> Layer {
    match metadata.name.as_ref() {
        CONTEXT_NAME => Layer::Context,
        FILE_NAME => Layer::File,
        ENV_NAME => Layer::Env,
        CODE_NAME => Layer::Code,
        _ => Layer::Default,
    }
}

/// Inserts `value` at the dotted `key`, creating the nested dictionaries.
pub(crate) fn insert_nested(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_nested(inner, rest, value);
            }
        }
    }
}

/// Rewrites dotted keys (`auth.token: x`) into nested ones (`auth: {token: x}`),
/// recursively, so files may use either form.
pub(crate) fn expand_dotted(dict: Dict) -> Dict {
    let mut out = Dict::new();
    for (key, value) in dict {
        let value = match value {
            Value::Dict(tag, inner) => Value::Dict(tag, expand_dotted(inner)),
            other => other,
        };
        if key.contains('.') {
            merge_into(&mut out, &key, value);
        } else {
            match (out.get_mut(&key), value) {
                (Some(Value::Dict(_, existing)), Value::Dict(_, inner)) => {
                    for (k, v) in inner {
                        existing.insert(k, v);
                    }
                }
                (_, value) => {
                    out.insert(key, value);
                }
            }
        }
    }
    out
}

fn merge_into(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => match (dict.get_mut(key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, inner)) => {
                for (k, v) in inner {
                    existing.insert(k, v);
                }
            }
            (_, value) => {
                dict.insert(key.to_owned(), value);
            }
        },
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                merge_into(inner, rest, value);
            } else {
                // `auth: x` and `auth.token: y` together: keep the dotted key
                // literally so the unknown-key check reports it.
                dict.insert(key.to_owned(), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_expand_and_merge() {
        let mut dict = Dict::new();
        dict.insert("auth.token".into(), Value::from("t"));
        let mut tls = Dict::new();
        tls.insert("ca".into(), Value::from("ca.pem"));
        dict.insert("tls".into(), Value::from(tls));
        dict.insert("tls.first".into(), Value::from(true));
        let out = Value::from(expand_dotted(dict));
        assert_eq!(
            out.find_ref("auth.token").and_then(|v| v.as_str()),
            Some("t")
        );
        assert_eq!(
            out.find_ref("tls.ca").and_then(|v| v.as_str()),
            Some("ca.pem")
        );
        assert_eq!(
            out.find_ref("tls.first").and_then(|v| v.to_bool()),
            Some(true)
        );
    }

    #[test]
    fn insert_nested_builds_dicts() {
        let mut dict = Dict::new();
        insert_nested(&mut dict, "reconnect.wait", Value::from("2s"));
        insert_nested(&mut dict, "reconnect.max_wait", Value::from("3s"));
        let out = Value::from(dict);
        assert_eq!(
            out.find_ref("reconnect.max_wait").and_then(|v| v.as_str()),
            Some("3s")
        );
        assert_eq!(
            out.find_ref("reconnect.wait").and_then(|v| v.as_str()),
            Some("2s")
        );
    }
}
