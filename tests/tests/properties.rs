//! Property tests: loading a configuration from arbitrary environment
//! values, arbitrary YAML/JSON/TOML files and arbitrary NATS CLI contexts never panics and
//! returns either a typed `ConfigError` or a `Config` that satisfies the model's invariants;
//! secrets never reach an error, a `Debug` or the serialized (`connect-nats config`) output;
//! envelope decoding of arbitrary bytes never panics and fails only as `EnvelopeError::Decode`;
//! subject and event-type validation never panics and accepts only what it documents.
//!
//! No server is needed. Case counts are modest ([`CASES`]) so the file runs in seconds on two
//! cores; every property is deterministic for a given proptest seed (failures are persisted by
//! proptest and printed with the minimal input).

// Test code reports failures by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use connect_nats_config::duration::format_duration;
use connect_nats_config::{
    parse_duration, Auth, Config, ConfigError, DurationError, Scheme, CONFIG_FILE_ENV, CONTEXT_ENV,
    MAX_DURATION, SETTINGS,
};
use connect_nats_core::backoff::Backoff;
use connect_nats_publisher::{
    validate_publish_subject, Envelope, EnvelopeError, Event, InMemoryPublisher, Meta, PublishError,
};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value};

/// Cases per property: enough to reach the error paths, small enough for seconds on 2 cores.
const CASES: u32 = 256;

fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Shrinking is bounded too, so a failure is reported quickly.
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

// ---- fixtures: real-looking files, so that valid configurations are reached too -------------

/// Files the generated values may point at: valid and invalid credentials/TLS material.
struct Fixtures {
    _dir: tempfile::TempDir,
    paths: Vec<String>,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let seed = nkeys::KeyPair::new_user().seed().expect("seed");
        let jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQSJ9.c2lnbmF0dXJl";
        let files: [(&str, String); 8] = [
            ("cert.pem", cert.pem()),
            ("key.pem", key.serialize_pem()),
            ("seed.nk", format!("{seed}\n")),
            (
                "user.creds",
                format!(
                    "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
                     -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
                ),
            ),
            ("empty.txt", String::new()),
            (
                "garbage.pem",
                "-----BEGIN CERTIFICATE-----\n@@@\n".to_owned(),
            ),
            ("not-utf8.bin", String::new()),
            ("hello.txt", "hello".to_owned()),
        ];
        let mut paths = Vec::new();
        for (name, content) in files {
            let path = d.join(name);
            if name == "not-utf8.bin" {
                std::fs::write(&path, [0xff, 0xfe, 0x00, 0xc3]).expect("write");
            } else {
                std::fs::write(&path, content).expect("write");
            }
            paths.push(path.display().to_string());
        }
        paths.push(d.display().to_string()); // a directory
        paths.push(d.join("missing.pem").display().to_string());
        Fixtures { _dir: dir, paths }
    })
}

// ---- strategies --------------------------------------------------------------------------------

/// Values an operator might write (or mistype) in a `NATS_*` variable, and arbitrary text.
fn env_value() -> impl Strategy<Value = String> {
    let interesting = prop::sample::select(vec![
        "",
        " ",
        "0",
        "1",
        "-1",
        "-2",
        "2",
        "true",
        "false",
        "yes",
        "off",
        "maybe",
        "2s",
        "500ms",
        "1m",
        "1h30m",
        "-3s",
        "0s",
        "0ms",
        "soon",
        "1.5",
        "1e9",
        "nan",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999h",
        "340282366920938463463374607431768211456",
        "nats://localhost:4222",
        "tls://localhost:4222",
        "ws://h:80/ws",
        "wss://h",
        "nats://u:p@h:1",
        "nats://tok@h",
        "nats://u:@h",
        "nats://:p@h",
        "nats://@h",
        "http://h",
        "nats://h:99999",
        "nats://h/path",
        "nats://h?q=1",
        "h:4222",
        ",",
        " , ",
        "a,b,,c",
        "nats://[::1]:4222",
        "nats://[::1",
        "nats://a:b@c@d",
        "%zz",
        "nats://%zz@h",
        "_INBOX",
        "_INBOX.*",
        "a b",
        ".x",
        "x.",
        "$JS.hub.API",
        "~/x",
        "\u{0}",
        "\u{feff}",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        3 => interesting,
        2 => any::<String>(),
        2 => "[ -~]{0,24}",
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => (any::<u64>(), prop::sample::select(vec!["", "ns", "us", "ms", "s", "m", "h", "d", "w", "y"]))
            .prop_map(|(n, unit)| format!("{n}{unit}")),
        1 => prop::sample::select(fixtures().paths.clone()),
    ]
}

/// Every variable of the settings table.
fn env_names() -> Vec<&'static str> {
    SETTINGS.iter().filter_map(|s| s.env).collect()
}

/// A set of `NATS_*` variables with arbitrary values (plus an unknown variable now and then).
fn env_vars() -> impl Strategy<Value = BTreeMap<String, String>> {
    let name = prop_oneof![
        10 => prop::sample::select(env_names()).prop_map(str::to_owned),
        1 => Just("NATS_TOKNE".to_owned()),
    ];
    prop::collection::btree_map(name, env_value(), 0..8)
}

/// Keys a file may hold, right, wrong and mistyped, at every level.
fn file_key() -> impl Strategy<Value = String> {
    let mut known: Vec<String> = Vec::new();
    for s in SETTINGS {
        known.push(s.key.to_owned());
        for part in s.key.split('.') {
            known.push(part.to_owned());
        }
    }
    for extra in [
        "auth",
        "tls",
        "reconnect",
        "jetstream",
        "streams",
        "tokn",
        "NATS_TOKEN",
        "name",
        "subjects",
        "max_age",
        "replicas",
        "storage",
        "retention",
        "discard",
        "duplicate_window",
        "max_bytes",
        "max_msgs",
        "max_msg_size",
        "description",
        "",
    ] {
        known.push(extra.to_owned());
    }
    known.sort();
    known.dedup();
    prop_oneof![
        6 => prop::sample::select(known),
        1 => "[a-z_.]{1,10}",
    ]
}

/// A JSON number, string, bool or null: the leaves of a generated document.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => (-1.0e12f64..1.0e12).prop_map(Value::from),
        4 => env_value().prop_map(Value::from),
    ]
}

/// An arbitrary document shaped roughly like a config file.
fn document() -> impl Strategy<Value = Value> {
    let value = leaf().prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(file_key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map(file_key(), value, 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

/// Emits a JSON value as TOML (inline tables and arrays; nulls are dropped: TOML has none).
/// The output need not be valid TOML for every input: invalid TOML is bad input too.
fn to_toml(doc: &Value) -> String {
    fn value(v: &Value) -> Option<String> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => serde_json::to_string(s).expect("string"),
            Value::Array(items) => {
                let items: Vec<String> = items.iter().filter_map(value).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Object(map) => {
                let items: Vec<String> = map
                    .iter()
                    .filter_map(|(k, v)| Some(format!("{} = {}", key(k), value(v)?)))
                    .collect();
                format!("{{ {} }}", items.join(", "))
            }
        })
    }
    fn key(k: &str) -> String {
        serde_json::to_string(k).expect("key")
    }
    let mut out = String::new();
    if let Value::Object(map) = doc {
        for (k, v) in map {
            if let Some(v) = value(v) {
                out.push_str(&format!("{} = {}\n", key(k), v));
            }
        }
    }
    out
}

/// A file format, by extension.
#[derive(Debug, Clone, Copy)]
enum Format {
    Yaml,
    Json,
    Toml,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Toml => "toml",
        }
    }

    fn render(self, doc: &Value) -> String {
        match self {
            // JSON is YAML (flow style); serde_yaml reads it.
            Format::Yaml | Format::Json => serde_json::to_string_pretty(doc).expect("json"),
            Format::Toml => to_toml(doc),
        }
    }
}

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::Yaml), Just(Format::Json), Just(Format::Toml)]
}

/// Random damage to a text: nothing, a truncation, a deleted range or an inserted character.
#[derive(Debug, Clone)]
enum Damage {
    None,
    Truncate(prop::sample::Index),
    Delete(prop::sample::Index, usize),
    Insert(prop::sample::Index, char),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => Just(Damage::None),
        1 => any::<prop::sample::Index>().prop_map(Damage::Truncate),
        1 => (any::<prop::sample::Index>(), 1usize..8).prop_map(|(i, n)| Damage::Delete(i, n)),
        1 => (
            any::<prop::sample::Index>(),
            prop::sample::select(vec!['"', '\'', ':', '{', '}', '[', ']', ',', '\n', '=', '#', '-', '\t', '&', '*', '!', '\\'])
        )
            .prop_map(|(i, c)| Damage::Insert(i, c)),
    ]
}

fn apply(text: &str, damage: &Damage) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return text.to_owned();
    }
    match damage {
        Damage::None => text.to_owned(),
        Damage::Truncate(i) => chars[..i.index(chars.len())].iter().collect(),
        Damage::Delete(i, n) => {
            let at = i.index(chars.len());
            let end = (at + n).min(chars.len());
            chars[..at].iter().chain(&chars[end..]).collect()
        }
        Damage::Insert(i, c) => {
            let at = i.index(chars.len());
            let mut out: String = chars[..at].iter().collect();
            out.push(*c);
            out.extend(&chars[at..]);
            out
        }
    }
}

/// A value no generated input contains by chance: used to plant secrets.
fn marker() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{20}".prop_map(|s| format!("Zq{s}"))
}

// ---- checks ------------------------------------------------------------------------------------

/// What every loaded configuration must satisfy (the model's documented invariants).
fn check_valid(config: &Config) -> Result<(), TestCaseError> {
    prop_assert!(!config.servers().is_empty(), "no servers: {config:?}");
    for server in config.servers() {
        prop_assert!(
            !server.url.contains('@'),
            "userinfo left in a server URL: {server:?}"
        );
        let prefix = match server.scheme {
            Scheme::Nats => "nats://",
            Scheme::Tls => "tls://",
            Scheme::Ws => "ws://",
            Scheme::Wss => "wss://",
        };
        prop_assert!(server.url.starts_with(prefix), "{server:?}");
    }
    prop_assert!(!config.connect_timeout().is_zero(), "zero connect timeout");
    prop_assert!(
        config.reconnect().wait <= config.reconnect().max_wait,
        "wait {:?} above max_wait {:?}",
        config.reconnect().wait,
        config.reconnect().max_wait
    );
    prop_assert!(!config.ping_interval().is_zero());
    prop_assert!((1..=100).contains(&config.max_pings_out()));
    prop_assert!(config.request_timeout().is_none_or(|d| !d.is_zero()));
    // Any TLS setting means TLS: `required` is exactly "TLS wanted".
    prop_assert_eq!(config.tls().required, config.tls_wanted());
    prop_assert_eq!(config.tls().cert.is_some(), config.tls().key.is_some());
    for prefix in [
        config.inbox_prefix(),
        config.jetstream().domain.as_deref(),
        config.jetstream().api_prefix.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        prop_assert!(
            !prefix.is_empty() && !prefix.contains([' ', '*', '>']),
            "{prefix:?}"
        );
    }
    match &config.auth() {
        Auth::Token { token } => prop_assert!(!token.expose().trim().is_empty()),
        Auth::UserPassword { user, password } => {
            prop_assert!(!user.is_empty());
            prop_assert!(!password.is_empty());
        }
        Auth::CredsFile { path, contents } => {
            prop_assert!(path.is_file());
            prop_assert!(!contents.is_empty());
        }
        Auth::NkeySeedFile { path, seed } => {
            prop_assert!(path.is_file());
            prop_assert!(seed.expose().starts_with("SU"));
        }
        Auth::Jwt { jwt, seed } => {
            prop_assert!(!jwt.is_empty());
            prop_assert!(seed.expose().starts_with("SU"));
        }
        Auth::None => {}
    }
    for path in [&config.tls().ca, &config.tls().cert, &config.tls().key]
        .into_iter()
        .flatten()
    {
        prop_assert!(path.is_file(), "TLS file accepted but not a file: {path:?}");
    }
    for stream in &config.jetstream().streams {
        prop_assert!(!stream.name.is_empty());
        prop_assert!(!stream.subjects.is_empty());
        prop_assert!((1..=5).contains(&stream.replicas));
    }
    // The reconnect backoff of any loaded configuration is usable (no overflow).
    let backoff = Backoff::from_settings(config.reconnect());
    for attempt in [1, 2, 3, 40, usize::MAX] {
        prop_assert!(backoff.delay(attempt) <= backoff.max_wait());
    }
    Ok(())
}

/// An error must describe itself: a non-empty message and a kind.
fn check_error(error: &ConfigError) -> Result<(), TestCaseError> {
    let text = error.to_string();
    prop_assert!(!text.trim().is_empty(), "empty message for {error:?}");
    let _ = error.kind();
    Ok(())
}

fn check_result(result: &Result<Config, ConfigError>) -> Result<(), TestCaseError> {
    match result {
        Ok(config) => check_valid(config),
        Err(error) => check_error(error),
    }
}

/// Neither the error (Display, Debug), the config's Debug nor its serialized form holds `secret`.
fn check_no_secret(
    result: &Result<connect_nats_config::Resolved, ConfigError>,
    secret: &str,
) -> Result<(), TestCaseError> {
    let shown = match result {
        Ok(resolved) => format!(
            "{:?}\n{:?}\n{}",
            resolved.config,
            resolved,
            serde_json::to_string(resolved).expect("a resolved config serializes")
        ),
        Err(error) => format!("{error}\n{error:?}"),
    };
    prop_assert!(
        !shown.contains(secret),
        "secret shown in output: {}",
        shown.replace(secret, "<<SECRET>>")
    );
    Ok(())
}

fn load_env(vars: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    Config::builder()
        .env_vars(vars.clone())
        .without_context()
        .build()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write");
    path
}

// ---- configuration from the environment ------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config())]

    /// Any values of any of the table's variables: a valid Config or a typed error, never a panic.
    #[test]
    fn config_from_arbitrary_env_values(vars in env_vars()) {
        check_result(&load_env(&vars))?;
    }

    /// The same with a config file and a context named by variables (missing, or the fixtures).
    #[test]
    fn config_from_arbitrary_env_with_file_and_context(
        mut vars in env_vars(),
        file in prop::sample::select(vec!["missing.yaml", "x.ini", "", "dir"]),
        context in prop::option::of(env_value()),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = match file {
            "dir" => dir.path().display().to_string(),
            "" => String::new(),
            name => dir.path().join(name).display().to_string(),
        };
        vars.insert(CONFIG_FILE_ENV.to_owned(), file);
        if let Some(context) = context {
            vars.insert(CONTEXT_ENV.to_owned(), context);
        }
        vars.insert("XDG_CONFIG_HOME".to_owned(), dir.path().display().to_string());
        let result = Config::builder()
            .env_vars(vars)
            .build();
        check_result(&result)?;
    }

    /// Every secret variable, set with other arbitrary variables: the secret is never shown,
    /// whatever the outcome.
    #[test]
    fn env_secrets_never_shown(
        mut vars in env_vars(),
        secret in marker(),
        which in prop::sample::select(vec!["NATS_TOKEN", "NATS_PASSWORD", "NATS_JWT", "NATS_NKEY_SEED", "NATS_URL"]),
        user in prop::option::of("[a-z]{1,8}"),
    ) {
        let value = if which == "NATS_URL" {
            // Userinfo, percent-encoded the way a URL must carry it.
            match &user {
                Some(user) => format!("nats://{user}:{secret}@localhost:4222"),
                None => format!("nats://{secret}@localhost:4222"),
            }
        } else {
            secret.clone()
        };
        vars.insert(which.to_owned(), value);
        if which == "NATS_PASSWORD" {
            if let Some(user) = user {
                vars.insert("NATS_USER".to_owned(), user);
            }
        }
        let result = Config::builder().env_vars(vars).without_context().build_with_sources();
        check_no_secret(&result, &secret)?;
    }
}

// ---- configuration from files ---------------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config())]

    /// Arbitrary text as a YAML, JSON or TOML config file.
    #[test]
    fn config_from_arbitrary_file_text(format in format(), text in any::<String>()) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write(dir.path(), &format!("nats.{}", format.ext()), &text);
        let result = Config::builder().without_process_env().without_context().file(&path).build();
        check_result(&result)?;
    }

    /// Arbitrary documents built from the real keys (nested, dotted, mistyped, wrong types),
    /// rendered as YAML, JSON or TOML and sometimes damaged.
    #[test]
    fn config_from_arbitrary_structured_file(
        format in format(),
        doc in document(),
        damage in damage(),
        env in prop::option::of(env_vars()),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = apply(&format.render(&doc), &damage);
        let path = write(dir.path(), &format!("nats.{}", format.ext()), &text);
        let builder = Config::builder().without_context().file(&path);
        let builder = match env {
            Some(vars) => builder.env_vars(vars),
            None => builder.without_process_env(),
        };
        check_result(&builder.build())?;
    }

    /// Stream declarations with arbitrary fields and values.
    #[test]
    fn config_from_arbitrary_stream_declarations(
        format in format(),
        streams in prop::collection::vec(
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "name", "subjects", "description", "max_age", "max_bytes", "max_msgs",
                    "max_msg_size", "replicas", "storage", "retention", "discard",
                    "duplicate_window", "nmae",
                ]).prop_map(str::to_owned),
                prop_oneof![
                    leaf(),
                    prop::collection::vec(leaf(), 0..3).prop_map(Value::Array),
                    prop::sample::select(vec!["file", "memory", "limits", "interest", "workqueue", "work_queue", "old", "new", "tape", "7d", "1h", "connect.>", "ORDERS"]).prop_map(Value::from),
                ],
                0..8,
            ),
            0..4,
        ),
    ) {
        let streams: Vec<Value> = streams
            .into_iter()
            .map(|m| Value::Object(m.into_iter().collect()))
            .collect();
        let doc = serde_json::json!({ "jetstream": { "streams": streams } });
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write(dir.path(), &format!("nats.{}", format.ext()), &format.render(&doc));
        let result = Config::builder().without_process_env().without_context().file(&path).build();
        check_result(&result)?;
    }

    /// Arbitrary NATS CLI context files (JSON objects with the ADR-21 fields, or any text).
    #[test]
    fn config_from_arbitrary_context(
        fields in prop::collection::btree_map(
            prop::sample::select(vec![
                "url", "token", "user", "password", "creds", "nkey", "user_jwt", "user_seed",
                "cert", "key", "ca", "tls_first", "jetstream_domain", "jetstream_api_prefix",
                "inbox_prefix", "description", "unknown_field",
            ]).prop_map(str::to_owned),
            leaf(),
            0..6,
        ),
        raw in prop::option::of(any::<String>()),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = match raw {
            Some(raw) => raw,
            None => serde_json::to_string(&fields).expect("json"),
        };
        let path = write(dir.path(), "ctx.json", &text);
        let result = Config::builder()
            .without_process_env()
            .context(path.display().to_string())
            .build();
        check_result(&result)?;
    }

    /// A secret planted in a file (nested or dotted key), with random damage and arbitrary
    /// other keys: never shown in the error, the Debug or the serialized config.
    #[test]
    fn file_secrets_never_shown(
        format in format(),
        mut doc in document(),
        secret in marker(),
        key in prop::sample::select(vec!["token", "password", "jwt", "nkey_seed"]),
        dotted in any::<bool>(),
        damage in damage(),
    ) {
        let map = doc.as_object_mut().expect("object");
        if dotted {
            map.insert(format!("auth.{key}"), Value::from(secret.clone()));
        } else {
            map.insert("auth".to_owned(), serde_json::json!({ key: secret }));
        }
        let text = apply(&format.render(&doc), &damage);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write(dir.path(), &format!("nats.{}", format.ext()), &text);
        let result = Config::builder()
            .without_process_env()
            .without_context()
            .file(&path)
            .build_with_sources();
        check_no_secret(&result, &secret)?;
    }
}

// ---- durations ------------------------------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config())]

    /// `parse_duration` never panics (overflowing numbers and units included), and a bare
    /// integer is seconds.
    #[test]
    fn durations_never_panic(text in prop_oneof![any::<String>(), "[0-9]{1,30}[a-z]{0,3}", "-?[0-9 .]{0,12}(ns|us|ms|s|m|h|d)?"]) {
        match parse_duration(&text) {
            Ok(d) => {
                let t = text.trim();
                if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                    prop_assert_eq!(d, Duration::from_secs(t.parse::<u64>().expect("digits")));
                }
            }
            Err(DurationError::Negative(_)) => prop_assert!(text.trim().starts_with('-')),
            Err(DurationError::Invalid(_) | DurationError::TooLong(_)) => {}
        }
    }

    /// No duration setting, of any value (`Duration::MAX` included), set in code, from the
    /// environment or from a file, panics when loading the configuration or building the
    /// client's options; a loaded duration can be added to any instant.
    #[test]
    fn duration_settings_of_any_value_never_panic(
        key in prop::sample::select(DURATION_KEYS.to_vec()),
        secs in prop_oneof![Just(u64::MAX), any::<u64>(), 0u64..=400 * 86_400],
        nanos in 0u32..1_000_000_000,
        as_text in any::<bool>(),
    ) {
        let duration = Duration::new(secs, nanos);
        let text = if as_text { format_duration(duration) } else { secs.to_string() };
        let env_name = SETTINGS.iter().find(|s| s.key == key).and_then(|s| s.env).expect("env name");
        let dir = tempfile::tempdir().expect("temp dir");
        let file = write(dir.path(), "durations.yaml", &format!("{key}: \"{text}\"\n"));
        for result in [
            Config::builder().without_process_env().without_context().set(key, text.clone()).build(),
            Config::builder().env_vars([(env_name, text.clone())]).without_context().build(),
            Config::builder().without_process_env().without_context().file(&file).build(),
            typed_duration(key, duration),
        ] {
            check_result(&result)?;
            if let Ok(config) = result {
                let now = std::time::Instant::now();
                for d in [
                    config.connect_timeout(),
                    config.ping_interval(),
                    config.reconnect().wait,
                    config.reconnect().max_wait,
                    config.request_timeout().unwrap_or_default(),
                ] {
                    prop_assert!(d <= MAX_DURATION, "{key}: {d:?} above the maximum");
                    prop_assert!(now.checked_add(d).is_some());
                }
                prop_assert!(connect_nats_core::connect_options(&config).is_ok());
            }
        }
    }
}

/// The file keys of every duration setting.
const DURATION_KEYS: &[&str] = &[
    "timeout",
    "ping_interval",
    "request_timeout",
    "reconnect.wait",
    "reconnect.max_wait",
];

/// `duration` set through the builder's typed method for `key`.
fn typed_duration(key: &str, duration: Duration) -> Result<Config, ConfigError> {
    let builder = Config::builder().without_process_env().without_context();
    match key {
        "timeout" => builder.connect_timeout(duration),
        "ping_interval" => builder.ping_interval(duration),
        "request_timeout" => builder.request_timeout(duration),
        "reconnect.wait" => builder.reconnect_wait(duration),
        _ => builder.reconnect_max_wait(duration),
    }
    .build()
}

// ---- envelope decoding --------------------------------------------------------------------

/// A typed payload, as a service would decode it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Invite {
    invite_id: String,
    seats: u32,
}

fn assert_decode_error<T: std::fmt::Debug>(
    result: Result<T, EnvelopeError>,
) -> Result<(), TestCaseError> {
    if let Err(error) = result {
        prop_assert!(
            matches!(error, EnvelopeError::Decode(_)),
            "decoding failed as {error:?}, not Decode"
        );
        prop_assert!(!error.to_string().is_empty());
    }
    Ok(())
}

const VALID_ENVELOPE: &str = r#"{"type":"invite.created","version":1,"data":{"invite_id":"inv_1","seats":4},"meta":{"ts":1767225600000,"by":"connect-auth"}}"#;

/// JSON data without floats (whose text form does not round-trip exactly).
fn json_data() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(proptest_config())]

    /// Arbitrary bytes: decoding never panics and fails only as `Decode`.
    #[test]
    fn envelope_from_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        assert_decode_error(Envelope::from_slice(&bytes))?;
        assert_decode_error(Event::<Invite>::from_slice(&bytes))?;
        assert_decode_error(Event::<Vec<u8>>::from_slice(&bytes))?;
    }

    /// A valid envelope damaged in one place (near-valid input reaches the deeper paths).
    #[test]
    fn envelope_from_damaged_envelope(damage in damage(), flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = apply(VALID_ENVELOPE, &damage).into_bytes();
        if !bytes.is_empty() {
            let at = flip.index(bytes.len());
            bytes[at] = byte;
        }
        assert_decode_error(Envelope::from_slice(&bytes))?;
        assert_decode_error(Event::<Invite>::from_slice(&bytes))?;
    }

    /// Any event encodes, and decodes back to itself.
    #[test]
    fn envelope_round_trip(
        event_type in any::<String>(),
        version in any::<u32>(),
        data in json_data(),
        ts in any::<i64>(),
        by in any::<String>(),
    ) {
        let event = Event { event_type, version, data, meta: Meta { ts, by } };
        let bytes = event.to_vec().expect("any JSON value encodes");
        let back = Envelope::from_slice(&bytes).expect("what we encode decodes");
        prop_assert_eq!(back, event);
    }

    /// Subject validation never panics and accepts only concrete subjects.
    #[test]
    fn publish_subject_validation(subject in prop_oneof![any::<String>(), "[a-z*>. \t]{0,12}"]) {
        match validate_publish_subject(&subject) {
            Ok(()) => {
                prop_assert!(!subject.is_empty());
                prop_assert!(!subject.chars().any(|c| c.is_whitespace() || c.is_control()));
                prop_assert!(subject.split('.').all(|t| !t.is_empty() && t != "*" && t != ">"));
            }
            Err(error) => prop_assert!(
                matches!(error, PublishError::InvalidSubject { .. }),
                "{error:?}"
            ),
        }
    }

    /// The test double validates like the real publisher: arbitrary subjects and event types
    /// never panic; an accepted event decodes back as the standard envelope.
    #[test]
    fn in_memory_publisher_arbitrary_subject_and_type(
        subject in prop_oneof![any::<String>(), "[a-z.]{1,12}"],
        event_type in prop_oneof![any::<String>(), "[a-z.]{1,12}"],
        service in any::<String>(),
    ) {
        let publisher = InMemoryPublisher::new(service);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let result = runtime.block_on(publisher.event(&subject, &event_type, &serde_json::json!({ "k": 1 })).core());
        match result {
            Ok(_) => {
                let recorded = publisher.events();
                prop_assert_eq!(recorded.len(), 1);
                let envelope = recorded[0].envelope().expect("recorded event decodes");
                prop_assert_eq!(&envelope.event_type, &event_type);
            }
            Err(error) => prop_assert!(
                matches!(
                    error,
                    PublishError::InvalidSubject { .. } | PublishError::InvalidEventType { .. }
                ),
                "{error:?}"
            ),
        }
    }
}

/// Nesting far beyond serde_json's recursion limit is an error, not a stack overflow.
#[test]
fn deeply_nested_envelope_is_a_decode_error() {
    for depth in [200usize, 10_000, 100_000] {
        let mut text = String::from(r#"{"type":"t","data":"#);
        text.push_str(&"[".repeat(depth));
        text.push_str(&"]".repeat(depth));
        text.push_str(r#","meta":{"ts":1,"by":"x"}}"#);
        match Envelope::from_slice(text.as_bytes()) {
            Err(EnvelopeError::Decode(reason)) => {
                assert!(reason.contains("recursion"), "depth {depth}: {reason}")
            }
            other => panic!("depth {depth}: expected a Decode error, got {other:?}"),
        }
    }
}

/// Deep nesting in a config file is an error (or a value), not a stack overflow.
#[test]
fn deeply_nested_config_file_does_not_overflow_the_stack() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (ext, open, close) in [("json", "[", "]"), ("yaml", "[", "]"), ("toml", "", "")] {
        let text = if ext == "toml" {
            format!("url = {}1{}\n", "[".repeat(5_000), "]".repeat(5_000))
        } else {
            format!(
                "{{\"url\": {}1{}}}",
                open.repeat(5_000),
                close.repeat(5_000)
            )
        };
        let path = write(dir.path(), &format!("deep.{ext}"), &text);
        let result = Config::builder()
            .without_process_env()
            .without_context()
            .file(&path)
            .build();
        match result {
            Err(error) => eprintln!("deep {ext}: {:?}", error.kind()),
            Ok(config) => panic!("deep {ext}: a nested list is not a URL, got {config:?}"),
        }
    }
}
