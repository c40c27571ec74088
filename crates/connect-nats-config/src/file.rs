//! The config file layer: YAML, JSON or TOML by extension, keys mirroring
//! the environment names, unknown keys refused.

use std::io::ErrorKind;
use std::path::Path;

use figment::providers::{Format, Json, Toml, Yaml};
use figment::value::{Dict, Value};

use crate::error::ConfigError;
use crate::layers::{expand_dotted, LayerData};
use crate::settings::{is_group, keys_in_group, setting_by_key, SETTINGS};
use crate::source::Layer;
use crate::text::{closest, redact_quoted};

/// A supported file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    Yaml,
    Json,
    Toml,
}

impl FileFormat {
    fn of(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yaml" | "yml" => Some(FileFormat::Yaml),
            "json" => Some(FileFormat::Json),
            "toml" => Some(FileFormat::Toml),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FileFormat::Yaml => "YAML",
            FileFormat::Json => "JSON",
            FileFormat::Toml => "TOML",
        }
    }
}

/// The file key naming a NATS CLI context to read (a name, or a path
/// relative to the file's directory).
pub(crate) const CONTEXT_KEY: &str = "context";

/// A parsed config file: its layer, and the NATS CLI context it names.
pub(crate) struct FileData {
    /// The settings it holds.
    pub(crate) layer: LayerData,
    /// Its `context` key, if set.
    pub(crate) context: Option<String>,
}

/// Reads, parses and checks the config file named by `setting`.
pub(crate) fn file_layer(path: &Path, setting: &str) -> Result<FileData, ConfigError> {
    let format = FileFormat::of(path).ok_or_else(|| ConfigError::UnsupportedFormat {
        setting: setting.to_owned(),
        path: path.to_owned(),
    })?;
    let content = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => ConfigError::FileMissing {
            setting: setting.to_owned(),
            path: path.to_owned(),
        },
        _ => ConfigError::FileUnreadable {
            setting: setting.to_owned(),
            path: path.to_owned(),
            reason: e.to_string(),
        },
    })?;
    let syntax = |reason: String| ConfigError::FileSyntax {
        path: path.to_owned(),
        format: format.name(),
        reason,
    };
    let value: Value = if content.trim().is_empty() {
        Value::from(Dict::new())
    } else {
        match format {
            FileFormat::Yaml => {
                Yaml::from_str(&content).map_err(|e| syntax(redact_quoted(&e.to_string())))?
            }
            FileFormat::Json => {
                Json::from_str(&content).map_err(|e| syntax(redact_quoted(&e.to_string())))?
            }
            FileFormat::Toml => Toml::from_str(&content).map_err(|e| {
                // The TOML error's Display quotes the offending line, which may
                // hold a secret: keep only the message and the line number.
                let line = e.span().map(|span| {
                    content[..span.start.min(content.len())]
                        .matches('\n')
                        .count()
                        + 1
                });
                let message = redact_quoted(e.message().trim());
                syntax(match line {
                    Some(line) => format!("line {line}: {message}"),
                    None => message,
                })
            })?,
        }
    };
    let dict = match value {
        Value::Dict(_, dict) => dict,
        Value::Empty(..) => Dict::new(),
        _ => {
            return Err(syntax(
                "the top level must be a map of keys such as `url`".to_owned(),
            ))
        }
    };
    let mut dict = expand_dotted(dict);
    let context = match dict.remove(CONTEXT_KEY) {
        None | Some(Value::Empty(..)) => None,
        Some(Value::String(_, name)) if !name.trim().is_empty() => Some(context_in(path, &name)),
        Some(_) => {
            return Err(ConfigError::InvalidValue {
                setting: format!("`{CONTEXT_KEY}` in {}", path.display()),
                problem:
                    "must name a NATS CLI context, like `context: prod` or a path to its JSON file"
                        .to_owned(),
            })
        }
    };
    check_keys(&dict, "", path)?;
    Ok(FileData {
        layer: LayerData::new(Layer::File, Some(path.to_owned()), dict),
        context,
    })
}

/// A context named in a file: a bare name as it is, a relative path relative
/// to the file's directory.
fn context_in(file: &Path, name: &str) -> String {
    let name = name.trim();
    let is_path = name.ends_with(".json") || name.contains(std::path::MAIN_SEPARATOR);
    match file.parent() {
        Some(dir) if is_path && Path::new(name).is_relative() && !name.starts_with("~/") => {
            dir.join(name).to_string_lossy().into_owned()
        }
        _ => name.to_owned(),
    }
}

/// Refuses any key the settings table does not know.
fn check_keys(dict: &Dict, group: &str, path: &Path) -> Result<(), ConfigError> {
    for (key, value) in dict {
        let full = if group.is_empty() {
            key.clone()
        } else {
            format!("{group}.{key}")
        };
        if setting_by_key(&full).is_some() {
            continue;
        }
        if group.is_empty() && is_group(key) {
            match value {
                Value::Dict(_, inner) => check_keys(inner, key, path)?,
                Value::Empty(..) => {}
                _ => {
                    return Err(ConfigError::InvalidValue {
                        setting: format!("`{key}` in {}", path.display()),
                        problem: format!(
                            "must be a map of keys such as `{}`; see docs/configuration.md",
                            keys_in_group(key)
                                .first()
                                .map(|k| format!("{key}.{k}"))
                                .unwrap_or_default()
                        ),
                    })
                }
            }
            continue;
        }
        return Err(ConfigError::UnknownKey {
            hint: unknown_key_hint(&full, key, group),
            key: shown_key(&full, key, group),
            location: path.display().to_string(),
        });
    }
    Ok(())
}

/// An unknown key as an error shows it. In a damaged file a secret can lose
/// the `: ` after its key and become part of the key (`auth.nkey_see` followed
/// by the seed). So an unknown `auth` key longer than any valid one by more
/// than a typo's worth is shown only up to where it stops matching a valid
/// key, with the rest counted, not shown.
fn shown_key(full: &str, key: &str, group: &str) -> String {
    const TYPO_SLACK: usize = 2;
    if group != "auth" {
        return full.to_owned();
    }
    let candidates = keys_in_group(group);
    let longest = candidates.iter().map(|c| c.len()).max().unwrap_or(0);
    if key.len() <= longest + TYPO_SLACK {
        return full.to_owned();
    }
    // Valid keys are ASCII, so the shared prefix ends on a character boundary.
    let known = candidates
        .iter()
        .map(|c| {
            key.bytes()
                .zip(c.bytes())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0);
    let hidden = key.get(known..).map_or(0, |rest| rest.chars().count());
    format!(
        "{group}.{}… ({hidden} more characters not shown: an `auth` key may hold a secret)",
        key.get(..known).unwrap_or_default()
    )
}

fn unknown_key_hint(full: &str, key: &str, group: &str) -> String {
    if let Some(setting) = SETTINGS
        .iter()
        .find(|s| s.env.is_some_and(|env| env.eq_ignore_ascii_case(full)))
    {
        return format!(
            "that is the environment variable of the setting; in a file write `{}`",
            setting.key
        );
    }
    let candidates = keys_in_group(group);
    let prefix = if group.is_empty() {
        String::new()
    } else {
        format!("{group}.")
    };
    match closest(key, &candidates) {
        Some(best) => format!("did you mean `{prefix}{best}`? (see docs/configuration.md)"),
        None => format!(
            "valid keys here are {} (see docs/configuration.md)",
            candidates
                .iter()
                .map(|c| format!("`{prefix}{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
