//! Loading: built-in defaults < NATS CLI context < config file < environment
//! variables < values set in code, merged with figment and validated.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use figment::value::{Dict, Value};
use figment::Figment;
use serde::Serialize;

use crate::context::{context_layer, ContextChoice, ContextInfo};
use crate::duration::format_duration;
use crate::env::{env_layer, EnvSource};
use crate::error::ConfigError;
use crate::file::file_layer;
use crate::headers::HeaderPolicy;
use crate::layers::{insert_nested, LayerData};
use crate::model::Config;
use crate::resolve::{resolve, Merged};
use crate::secret::Secret;
use crate::settings::{keys_in_group, setting_by_key, CONFIG_FILE_ENV, SETTINGS};
use crate::source::{Layer, Sources};
use crate::streams::StreamSpec;
use crate::text::closest;

/// A loaded configuration with where each value came from: what
/// `connect-nats config` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    /// The validated configuration (secrets serialize as `***`).
    pub config: Config,
    /// Where each setting came from, by file key.
    pub sources: Sources,
    /// The NATS CLI context read, if any.
    pub context: Option<ContextInfo>,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// Set `NATS_*` variables that no setting reads (typos?), by name.
    pub ignored_env: Vec<String>,
}

/// Builds a [`Config`] from the layers, lowest precedence first: built-in
/// defaults, a NATS CLI context, a config file, environment variables, and
/// the values set on the builder.
///
/// ```
/// use std::time::Duration;
/// use connect_nats_config::Config;
///
/// let config = Config::builder()
///     .env_vars([("NATS_URL", "nats://a:4222,nats://b:4222"), ("NATS_RECONNECT_WAIT", "2")])
///     .client_id("billing")
///     .build()
///     .unwrap();
/// assert_eq!(config.servers().len(), 2);
/// assert_eq!(config.reconnect().wait, Duration::from_secs(2));
/// assert_eq!(config.client_id(), "billing");
/// ```
#[derive(Clone, Default)]
pub struct ConfigBuilder {
    env: EnvSource,
    file: Option<PathBuf>,
    context: ContextChoice,
    code: Dict,
    unknown_code_keys: Vec<String>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values set in code may be secrets: show which keys are set only.
        let mut keys = Vec::new();
        collect_keys(&self.code, "", &mut keys);
        f.debug_struct("ConfigBuilder")
            .field("env", &self.env)
            .field("file", &self.file)
            .field("context", &self.context)
            .field("code_keys", &keys)
            .finish()
    }
}

fn collect_keys(dict: &Dict, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in dict {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Dict(_, inner) if setting_by_key(&key).is_none() => {
                collect_keys(inner, &key, out)
            }
            _ => out.push(key),
        }
    }
}

impl ConfigBuilder {
    /// A builder reading the process environment, `NATS_CONFIG_FILE`, and a
    /// NATS CLI context only when one is asked for (`NATS_CONTEXT`, or the
    /// file's `context` key); the context selected with `nats context select`
    /// is not read.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads this config file (YAML, JSON or TOML by extension) instead of
    /// `NATS_CONFIG_FILE`.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Reads this NATS CLI context (a name, or a path to its JSON file)
    /// instead of `NATS_CONTEXT` or the file's `context` key.
    pub fn context(mut self, name_or_path: impl Into<String>) -> Self {
        self.context = ContextChoice::Named(name_or_path.into());
        self
    }

    /// Reads no NATS CLI context at all.
    pub fn without_context(mut self) -> Self {
        self.context = ContextChoice::Off;
        self
    }

    /// Reads environment variables from `vars` instead of the process
    /// environment (also `HOME` and `XDG_CONFIG_HOME`, used to find contexts).
    pub fn env_vars<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = EnvSource::Vars(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect::<BTreeMap<_, _>>(),
        );
        self
    }

    /// Reads no environment variables at all.
    pub fn without_process_env(mut self) -> Self {
        self.env = EnvSource::Vars(BTreeMap::new());
        self
    }

    fn put(mut self, key: &str, value: Value) -> Self {
        insert_nested(&mut self.code, key, value);
        self
    }

    /// Sets any setting by its file key, as text written the way a file or
    /// variable would (`set("reconnect.wait", "5s")`). An unknown key fails
    /// [`build`](Self::build) with [`ConfigError::UnknownKey`].
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        if setting_by_key(key).is_none() || key == "jetstream.streams" {
            self.unknown_code_keys.push(key.to_owned());
            return self;
        }
        self.put(key, Value::from(value.into()))
    }

    /// Server URL, or a comma-separated list of URLs.
    pub fn url(self, url: impl Into<String>) -> Self {
        self.put("url", Value::from(url.into()))
    }

    /// Server URLs.
    pub fn servers<I, S>(self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let urls: Vec<Value> = urls.into_iter().map(|u| Value::from(u.into())).collect();
        self.put("url", Value::from(urls))
    }

    /// Connection name shown by the server's monitoring.
    pub fn client_id(self, id: impl Into<String>) -> Self {
        self.put("client_id", Value::from(id.into()))
    }

    /// Token authentication.
    pub fn token(self, token: impl Into<Secret>) -> Self {
        self.put("auth.token", Value::from(token.into().expose().to_owned()))
    }

    /// User and password authentication.
    pub fn user_password(self, user: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.put("auth.user", Value::from(user.into())).put(
            "auth.password",
            Value::from(password.into().expose().to_owned()),
        )
    }

    /// `.creds` file authentication.
    pub fn creds_file(self, path: impl Into<PathBuf>) -> Self {
        self.put("auth.creds_file", path_value(path.into()))
    }

    /// nkey seed file authentication.
    pub fn nkey_seed_file(self, path: impl Into<PathBuf>) -> Self {
        self.put("auth.nkey_seed_file", path_value(path.into()))
    }

    /// Inline user JWT and nkey seed authentication.
    pub fn jwt(self, jwt: impl Into<Secret>, seed: impl Into<Secret>) -> Self {
        self.put("auth.jwt", Value::from(jwt.into().expose().to_owned()))
            .put(
                "auth.nkey_seed",
                Value::from(seed.into().expose().to_owned()),
            )
    }

    /// CA bundle (PEM) to trust; means TLS.
    pub fn tls_ca(self, path: impl Into<PathBuf>) -> Self {
        self.put("tls.ca", path_value(path.into()))
    }

    /// Client certificate and key (PEM) for mutual TLS; means TLS.
    pub fn tls_client_cert(self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.put("tls.cert", path_value(cert.into()))
            .put("tls.key", path_value(key.into()))
    }

    /// Requires TLS (`false` never turns off TLS that other settings ask for).
    pub fn tls_required(self, required: bool) -> Self {
        self.put("tls.required", Value::from(required))
    }

    /// TLS before the server's INFO (`handshake_first` servers); means TLS.
    pub fn tls_first(self, first: bool) -> Self {
        self.put("tls.first", Value::from(first))
    }

    /// Starting ceiling of the jittered reconnect backoff (the first attempt after a loss is immediate).
    pub fn reconnect_wait(self, wait: Duration) -> Self {
        self.put("reconnect.wait", Value::from(format_duration(wait)))
    }

    /// Cap of the reconnect backoff.
    pub fn reconnect_max_wait(self, max_wait: Duration) -> Self {
        self.put("reconnect.max_wait", Value::from(format_duration(max_wait)))
    }

    /// Reconnect attempts before giving up: `None` forever, `Some(0)` a single attempt.
    pub fn max_reconnects(self, max: Option<u64>) -> Self {
        let value = match max {
            None => Value::from(-1i64),
            Some(n) => Value::from(n),
        };
        self.put("reconnect.max_reconnects", value)
    }

    /// Connect timeout.
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.put("timeout", Value::from(format_duration(timeout)))
    }

    /// Interval between client PINGs (`NATS_PING_INTERVAL`, default 60s).
    pub fn ping_interval(self, interval: Duration) -> Self {
        self.put("ping_interval", Value::from(format_duration(interval)))
    }

    /// Unanswered PINGs after which the connection is stale
    /// (`NATS_MAX_PINGS_OUT`, 1 to 100, default 2).
    pub fn max_pings_out(self, max: u32) -> Self {
        self.put("max_pings_out", Value::from(max))
    }

    /// Timeout of a request/reply.
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.put("request_timeout", Value::from(format_duration(timeout)))
    }

    /// Custom inbox prefix.
    pub fn inbox_prefix(self, prefix: impl Into<String>) -> Self {
        self.put("inbox_prefix", Value::from(prefix.into()))
    }

    /// Which headers published messages carry (`NATS_HEADERS`, default `minimal`).
    pub fn headers(self, policy: HeaderPolicy) -> Self {
        self.put("headers", Value::from(policy.name()))
    }

    /// JetStream domain.
    pub fn jetstream_domain(self, domain: impl Into<String>) -> Self {
        self.put("jetstream.domain", Value::from(domain.into()))
    }

    /// JetStream API prefix.
    pub fn jetstream_api_prefix(self, prefix: impl Into<String>) -> Self {
        self.put("jetstream.api_prefix", Value::from(prefix.into()))
    }

    /// Declared streams (replaces any declared in the file).
    pub fn streams(self, streams: impl IntoIterator<Item = StreamSpec>) -> Self {
        let streams: Vec<StreamSpec> = streams.into_iter().collect();
        match Value::serialize(&streams) {
            Ok(value) => self.put("jetstream.streams", value),
            // StreamSpec always serializes; keep the builder usable regardless.
            Err(_) => self,
        }
    }

    /// Loads and validates the configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.build_with_sources().map(|r| r.config)
    }

    /// Loads and validates the configuration, keeping where each value came from.
    pub fn build_with_sources(self) -> Result<Resolved, ConfigError> {
        if let Some(key) = self.unknown_code_keys.first() {
            let group = key.split_once('.').map_or("", |(g, _)| g);
            let last = key.rsplit('.').next().unwrap_or(key);
            let candidates = keys_in_group(group);
            return Err(ConfigError::UnknownKey {
                key: key.clone(),
                location: "ConfigBuilder::set".to_owned(),
                hint: match closest(last, &candidates) {
                    Some(c) if !group.is_empty() => format!("did you mean `{group}.{c}`?"),
                    Some(c) => format!("did you mean `{c}`?"),
                    None => {
                        "see docs/configuration.md for the keys (streams: ConfigBuilder::streams)"
                            .to_owned()
                    }
                },
            });
        }

        let (file, file_setting) = match &self.file {
            Some(path) => (Some(path.clone()), "ConfigBuilder::file"),
            None => (
                self.env.get(CONFIG_FILE_ENV)?.map(PathBuf::from),
                CONFIG_FILE_ENV,
            ),
        };
        let file_data = match &file {
            Some(path) => Some(file_layer(path, file_setting)?),
            None => None,
        };
        let context = context_layer(
            &self.context,
            &self.env,
            file.as_deref().and_then(|path| {
                let name = file_data.as_ref()?.context.as_deref()?;
                Some((name, path))
            }),
        )?;
        let env_data = env_layer(&self.env)?;

        let mut defaults = Dict::new();
        for setting in SETTINGS {
            if let Some(default) = setting.default {
                insert_nested(&mut defaults, setting.key, default.to_value());
            }
        }

        let mut figment = Figment::new().merge(LayerData::new(Layer::Default, None, defaults));
        let context_info = match context {
            Some((data, info)) => {
                figment = figment.merge(data);
                Some(info)
            }
            None => None,
        };
        if let Some(data) = file_data {
            figment = figment.merge(data.layer);
        }
        figment = figment
            .merge(env_data)
            .merge(LayerData::new(Layer::Code, None, self.code));

        let (config, sources) = resolve(&Merged::new(figment))?;
        Ok(Resolved {
            config,
            sources,
            context: context_info,
            file,
            ignored_env: self.env.unrecognized(),
        })
    }
}

fn path_value(path: PathBuf) -> Value {
    Value::from(path.to_string_lossy().into_owned())
}

impl Config {
    /// Loads the configuration from the environment: the `NATS_*` variables,
    /// plus the config file `NATS_CONFIG_FILE` names and the NATS CLI context
    /// `NATS_CONTEXT` (or the file's `context` key) names, over the built-in
    /// defaults. The same as [`Config::load`].
    pub fn from_env() -> Result<Config, ConfigError> {
        ConfigBuilder::new().build()
    }

    /// Loads every layer: defaults < NATS CLI context (only when asked for:
    /// `NATS_CONTEXT` or the file's `context` key; never the one selected
    /// with `nats context select`) < config file (`NATS_CONFIG_FILE`) <
    /// environment variables. The same as [`Config::from_env`].
    pub fn load() -> Result<Config, ConfigError> {
        ConfigBuilder::new().build()
    }

    /// A builder for the layered case (a file, a context, values set in code).
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }
}
