//! Table-driven bad input: one row per input, across every layer —
//! configuration values, files and contexts (`ConfigErrorKind`), connection settings
//! (`ConnectError`), subjects, event types and payload sizes (`PublishError`), stream
//! declarations (`StreamOutcome::Failed` and its field), consumer and key-value specs
//! (`JetStreamError`) — each with the exact error kind expected.
//!
//! Each row's outcome is rendered as a label (`config::AuthConflict`,
//! `connect::InvalidConfig(NATS_TOKEN)`, `publish::PayloadTooLarge`, `stream::Failed(replicas)`,
//! `jetstream::InvalidSpec(concurrency)`…) and compared exactly; every row runs, and the test
//! fails listing each row whose label differs.

// Test code reports failures by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use connect_nats_config::{Config, ConfigError, ConfigErrorKind, StreamSpec};
use connect_nats_core::{connect, ConnectError, Connection, ConnectionState};
use connect_nats_jetstream::{
    consume, ensure_kv, ensure_streams, jetstream_context, ConsumerSpec, Delivery, HandlerError,
    JetStreamError, KvSpec, StartFrom, StreamOutcome,
};
use connect_nats_publisher::{PublishError, Publisher};
use connect_nats_testkit::{bounded, NatsServer, ServerConfig};

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The small max_payload of the server used for size rows.
const MAX_PAYLOAD: u64 = 4096;

// ---- labels: the exact kind of an outcome, as text ---------------------------------------------

fn config_label(result: Result<Config, ConfigError>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("config::{:?}", e.kind()),
    }
}

fn connect_label(e: &ConnectError) -> String {
    match e {
        ConnectError::InvalidConfig { setting, .. } => format!("connect::InvalidConfig({setting})"),
        ConnectError::Tls { problem, .. } => format!("connect::Tls({problem:?})"),
        ConnectError::Unreachable { .. } => "connect::Unreachable".to_owned(),
        ConnectError::Auth { .. } => "connect::Auth".to_owned(),
        ConnectError::Timeout { .. } => "connect::Timeout".to_owned(),
        ConnectError::Closed { .. } => "connect::Closed".to_owned(),
        other => format!("connect::{}", other.kind()),
    }
}

fn publish_label<T>(result: Result<T, PublishError>) -> String {
    let e = match result {
        Ok(_) => return "ok".to_owned(),
        Err(e) => e,
    };
    let name = match e {
        PublishError::InvalidSubject { .. } => "InvalidSubject",
        PublishError::InvalidEventType { .. } => "InvalidEventType",
        PublishError::PayloadTooLarge { .. } => "PayloadTooLarge",
        PublishError::Serialize(_) => "Serialize",
        PublishError::InvalidMsgId { .. } => "InvalidMsgId",
        PublishError::BufferFull { .. } => "BufferFull",
        PublishError::LargerThanBuffer { .. } => "LargerThanBuffer",
        PublishError::Timeout { .. } => "Timeout",
        PublishError::Closed => "Closed",
        PublishError::PublisherClosed => "PublisherClosed",
        PublishError::Send(_) => "Send",
        PublishError::StreamNotFound { .. } => "StreamNotFound",
        PublishError::Rejected { .. } => "Rejected",
        PublishError::NotAcknowledged { .. } => "NotAcknowledged",
        PublishError::Simulated(_) => "Simulated",
        _ => "unknown",
    };
    format!("publish::{name}")
}

fn jetstream_label(e: &JetStreamError) -> String {
    match e {
        JetStreamError::Connect(c) => format!("jetstream::Connect({})", connect_label(c)),
        JetStreamError::Unavailable { .. } => "jetstream::Unavailable".to_owned(),
        JetStreamError::InvalidSpec { field, .. } => format!("jetstream::InvalidSpec({field})"),
        JetStreamError::StreamNotFound { .. } => "jetstream::StreamNotFound".to_owned(),
        JetStreamError::ConsumerSetup { .. } => "jetstream::ConsumerSetup".to_owned(),
        JetStreamError::StopTimeout { .. } => "jetstream::StopTimeout".to_owned(),
        JetStreamError::Bucket { .. } => "jetstream::Bucket".to_owned(),
        JetStreamError::KvOperation { .. } => "jetstream::KvOperation".to_owned(),
        JetStreamError::KvDecode { .. } => "jetstream::KvDecode".to_owned(),
        JetStreamError::KvEncode { .. } => "jetstream::KvEncode".to_owned(),
    }
}

fn stream_label(outcome: &StreamOutcome) -> String {
    match outcome {
        StreamOutcome::Failed { field, .. } => {
            format!("stream::Failed({})", field.as_deref().unwrap_or("-"))
        }
        other => format!("stream::{}", other.kind()),
    }
}

// ---- fixtures ----------------------------------------------------------------------------------

/// Files the rows point at, in one temp dir; `{dir}` in a row's values is replaced by its path.
struct Fixtures {
    dir: tempfile::TempDir,
}

impl Fixtures {
    fn new() -> Fixtures {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let seed = nkeys::KeyPair::new_user().seed().expect("seed");
        let files: &[(&str, String)] = &[
            ("cert.pem", cert.pem()),
            ("key.pem", key.serialize_pem()),
            ("no-cert.pem", "just text, no PEM block\n".to_owned()),
            ("no-key.pem", cert.pem()),
            ("no-jwt.creds", format!("-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n")),
            ("no-seed.nk", "# an nkey file without a seed\nUABCDEF\n".to_owned()),
            ("bad-seed.creds", format!(
                "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.eyJqdGkiOiJ4In0.c2ln\n------END NATS USER JWT------\n\n\
                 -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
                bad_checksum_seed()
            )),
            ("typo.yaml", "url: nats://localhost:4222\nauth:\n  tokn: abc\n".to_owned()),
            ("env-name.yaml", "NATS_TOKEN: abc\n".to_owned()),
            ("bad.yaml", "url: [nats://a\nclient_id: x\n".to_owned()),
            ("bad.json", "{\"url\": \"nats://a\",}".to_owned()),
            ("bad.toml", "url = \"nats://a\"\nclient_id = \n".to_owned()),
            ("list.yaml", "- url\n- client_id\n".to_owned()),
            ("tls-scalar.yaml", "tls: 5\n".to_owned()),
            ("url-number.toml", "url = 5\n".to_owned()),
            ("settings.ini", "url=nats://a\n".to_owned()),
            ("stream-no-subjects.yaml", "jetstream:\n  streams:\n    - name: ORDERS\n".to_owned()),
            ("stream-typo.yaml", "jetstream:\n  streams:\n    - name: ORDERS\n      subjects: [orders.>]\n      max_agee: 1h\n".to_owned()),
            ("stream-replicas.yaml", "jetstream:\n  streams:\n    - name: ORDERS\n      subjects: [orders.>]\n      replicas: 7\n".to_owned()),
            ("stream-storage.json", "{\"jetstream\": {\"streams\": [{\"name\": \"ORDERS\", \"subjects\": [\"orders.>\"], \"storage\": \"tape\"}]}}".to_owned()),
            ("stream-twice.toml", "[[jetstream.streams]]\nname = \"A\"\nsubjects = [\"a.>\"]\n[[jetstream.streams]]\nname = \"A\"\nsubjects = [\"b.>\"]\n".to_owned()),
            ("stream-age.yaml", "jetstream:\n  streams:\n    - name: ORDERS\n      subjects: [orders.>]\n      max_age: -1h\n".to_owned()),
            ("context-not-json.json", "url: nats://a\n".to_owned()),
            ("context-list.json", "[1, 2]".to_owned()),
        ];
        for (name, content) in files {
            std::fs::write(d.join(name), content).expect("write fixture");
        }
        std::fs::create_dir(d.join("a-directory")).expect("dir");
        Fixtures { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn expand(&self, value: &str) -> String {
        value.replace("{dir}", &self.path().display().to_string())
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

// ---- configuration rows (no server) -------------------------------------------------------------

/// How a configuration row is loaded.
enum Load {
    /// These environment variables (`{dir}` expanded), nothing else.
    Env(&'static [(&'static str, &'static str)]),
    /// This config file of the fixtures.
    File(&'static str),
    /// This NATS CLI context file of the fixtures.
    Context(&'static str),
}

struct ConfigRow {
    name: &'static str,
    load: Load,
    expect: ConfigErrorKind,
}

fn config_rows() -> Vec<ConfigRow> {
    use ConfigErrorKind as K;
    use Load::{Context, Env, File};
    let row = |name, load, expect| ConfigRow { name, load, expect };
    vec![
        row(
            "token and user at once",
            Env(&[
                ("NATS_TOKEN", "a"),
                ("NATS_USER", "b"),
                ("NATS_PASSWORD", "c"),
            ]),
            K::AuthConflict,
        ),
        row(
            "token and creds file at once",
            Env(&[
                ("NATS_TOKEN", "a"),
                ("NATS_CREDS_FILE", "{dir}/no-jwt.creds"),
            ]),
            K::AuthConflict,
        ),
        row(
            "token in URL and NATS_TOKEN",
            Env(&[("NATS_URL", "nats://tok@h:4222"), ("NATS_TOKEN", "a")]),
            K::AuthConflict,
        ),
        row(
            "user without password",
            Env(&[("NATS_USER", "svc")]),
            K::UserWithoutPassword,
        ),
        row(
            "user with empty password in URL",
            Env(&[("NATS_URL", "nats://svc:@h:4222")]),
            K::UserWithoutPassword,
        ),
        row(
            "password without user",
            Env(&[("NATS_PASSWORD", "p")]),
            K::PasswordWithoutUser,
        ),
        row(
            "JWT without seed",
            Env(&[("NATS_JWT", "eyJ.eyJ.sig")]),
            K::JwtWithoutSeed,
        ),
        row(
            "seed without JWT",
            Env(&[("NATS_NKEY_SEED", "SUAAAA")]),
            K::SeedWithoutJwt,
        ),
        row(
            "JWT that is not a JWT",
            Env(&[
                ("NATS_JWT", "not-a-jwt"),
                (
                    "NATS_NKEY_SEED",
                    "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU",
                ),
            ]),
            K::InvalidValue,
        ),
        row(
            "seed that is not a seed",
            Env(&[
                ("NATS_JWT", "eyJ.eyJ.sig"),
                ("NATS_NKEY_SEED", "not-a-seed"),
            ]),
            K::InvalidValue,
        ),
        row(
            "client cert without key",
            Env(&[("NATS_TLS_CERT", "{dir}/cert.pem")]),
            K::CertWithoutKey,
        ),
        row(
            "client key without cert",
            Env(&[("NATS_TLS_KEY", "{dir}/key.pem")]),
            K::KeyWithoutCert,
        ),
        row(
            "creds file missing",
            Env(&[("NATS_CREDS_FILE", "{dir}/missing.creds")]),
            K::FileMissing,
        ),
        row(
            "nkey seed file missing",
            Env(&[("NATS_NKEY_SEED_FILE", "{dir}/missing.nk")]),
            K::FileMissing,
        ),
        row(
            "CA file missing",
            Env(&[("NATS_TLS_CA", "{dir}/missing.pem")]),
            K::FileMissing,
        ),
        row(
            "CA is a directory",
            Env(&[("NATS_TLS_CA", "{dir}/a-directory")]),
            K::FileUnreadable,
        ),
        row(
            "creds file without a JWT",
            Env(&[("NATS_CREDS_FILE", "{dir}/no-jwt.creds")]),
            K::FileInvalid,
        ),
        row(
            "nkey seed file without a seed",
            Env(&[("NATS_NKEY_SEED_FILE", "{dir}/no-seed.nk")]),
            K::FileInvalid,
        ),
        row(
            "CA file without a certificate",
            Env(&[("NATS_TLS_CA", "{dir}/no-cert.pem")]),
            K::FileInvalid,
        ),
        row(
            "key file without a key",
            Env(&[
                ("NATS_TLS_CERT", "{dir}/cert.pem"),
                ("NATS_TLS_KEY", "{dir}/no-key.pem"),
            ]),
            K::FileInvalid,
        ),
        row(
            "URL with port out of range",
            Env(&[("NATS_URL", "nats://h:99999")]),
            K::InvalidUrl,
        ),
        row(
            "URL with a path",
            Env(&[("NATS_URL", "nats://h:4222/x")]),
            K::InvalidUrl,
        ),
        row(
            "URL list with different credentials",
            Env(&[("NATS_URL", "nats://a@h1,nats://b@h2")]),
            K::InvalidUrl,
        ),
        row(
            "URL with unknown scheme",
            Env(&[("NATS_URL", "http://h:80")]),
            K::UnknownScheme,
        ),
        row(
            "URL list of only commas",
            Env(&[("NATS_URL", " , ")]),
            K::EmptyValue,
        ),
        row(
            "ws:// with TLS required",
            Env(&[("NATS_URL", "ws://h:80"), ("NATS_TLS_REQUIRED", "true")]),
            K::TlsOverPlainWebSocket,
        ),
        row(
            "ws:// with TLS first",
            Env(&[("NATS_URL", "ws://h:80"), ("NATS_TLS_FIRST", "1")]),
            K::TlsOverPlainWebSocket,
        ),
        row(
            "negative reconnect wait",
            Env(&[("NATS_RECONNECT_WAIT", "-2s")]),
            K::NegativeDuration,
        ),
        row(
            "timeout not a duration",
            Env(&[("NATS_TIMEOUT", "soon")]),
            K::InvalidDuration,
        ),
        row(
            "zero timeout",
            Env(&[("NATS_TIMEOUT", "0")]),
            K::InvalidDuration,
        ),
        row(
            "zero ping interval",
            Env(&[("NATS_PING_INTERVAL", "0s")]),
            K::InvalidDuration,
        ),
        row(
            "max reconnects not a number",
            Env(&[("NATS_MAX_RECONNECTS", "many")]),
            K::NotANumber,
        ),
        row(
            "max reconnects below -1",
            Env(&[("NATS_MAX_RECONNECTS", "-5")]),
            K::InvalidValue,
        ),
        row(
            "TLS required not a boolean",
            Env(&[("NATS_TLS_REQUIRED", "maybe")]),
            K::NotABool,
        ),
        row(
            "wait longer than its cap",
            Env(&[
                ("NATS_RECONNECT_WAIT", "10s"),
                ("NATS_RECONNECT_MAX_WAIT", "1s"),
            ]),
            K::InvalidValue,
        ),
        row(
            "inbox prefix with wildcard",
            Env(&[("NATS_INBOX_PREFIX", "_INBOX.*")]),
            K::InvalidValue,
        ),
        row(
            "JetStream domain with space",
            Env(&[("NATS_JS_DOMAIN", "my hub")]),
            K::InvalidValue,
        ),
        row(
            "config file missing",
            Env(&[("NATS_CONFIG_FILE", "{dir}/missing.yaml")]),
            K::FileMissing,
        ),
        row(
            "config file of unknown format",
            Env(&[("NATS_CONFIG_FILE", "{dir}/settings.ini")]),
            K::UnsupportedFormat,
        ),
        row(
            "context not found",
            Env(&[("NATS_CONTEXT", "nope"), ("XDG_CONFIG_HOME", "{dir}")]),
            K::ContextNotFound,
        ),
        row("YAML with a typo'd key", File("typo.yaml"), K::UnknownKey),
        row(
            "YAML with an env name as key",
            File("env-name.yaml"),
            K::UnknownKey,
        ),
        row("YAML syntax error", File("bad.yaml"), K::FileSyntax),
        row("JSON syntax error", File("bad.json"), K::FileSyntax),
        row("TOML syntax error", File("bad.toml"), K::FileSyntax),
        row(
            "YAML whose top level is a list",
            File("list.yaml"),
            K::FileSyntax,
        ),
        row(
            "YAML group that is a scalar",
            File("tls-scalar.yaml"),
            K::InvalidValue,
        ),
        row(
            "TOML URL that is a number",
            File("url-number.toml"),
            K::InvalidValue,
        ),
        row(
            "stream without subjects",
            File("stream-no-subjects.yaml"),
            K::InvalidStream,
        ),
        row(
            "stream with a typo'd key",
            File("stream-typo.yaml"),
            K::UnknownKey,
        ),
        row(
            "stream with 7 replicas",
            File("stream-replicas.yaml"),
            K::InvalidStream,
        ),
        row(
            "stream with unknown storage",
            File("stream-storage.json"),
            K::InvalidStream,
        ),
        row(
            "stream declared twice",
            File("stream-twice.toml"),
            K::InvalidStream,
        ),
        row(
            "stream with negative max_age",
            File("stream-age.yaml"),
            K::InvalidStream,
        ),
        row(
            "context that is not JSON",
            Context("context-not-json.json"),
            K::ContextInvalid,
        ),
        row(
            "context that is a list",
            Context("context-list.json"),
            K::ContextInvalid,
        ),
    ]
}

fn load(fixtures: &Fixtures, load: &Load) -> Result<Config, ConfigError> {
    match load {
        Load::Env(vars) => Config::builder()
            .env_vars(vars.iter().map(|(k, v)| (*k, fixtures.expand(v))))
            .build(),
        Load::File(name) => Config::builder()
            .without_process_env()
            .without_context()
            .file(fixtures.file(name))
            .build(),
        Load::Context(name) => Config::builder()
            .without_process_env()
            .context(fixtures.file(name).display().to_string())
            .build(),
    }
}

/// Collects the rows whose outcome differs, and fails once with all of them.
#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    fn check(&mut self, row: &str, expected: &str, actual: &str, detail: &str) {
        if expected == actual {
            eprintln!("ok   {row}: {actual}");
        } else {
            eprintln!("FAIL {row}: expected {expected}, got {actual} ({detail})");
            self.0.push(format!(
                "row `{row}`: expected {expected}, got {actual} ({detail})"
            ));
        }
    }

    fn finish(self, rows: usize) {
        assert!(
            self.0.is_empty(),
            "{} of {rows} bad-input rows did not fail as expected:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

#[test]
fn bad_configuration_inputs_fail_with_their_exact_kind() {
    let fixtures = Fixtures::new();
    let rows = config_rows();
    assert!(rows.len() >= 30, "the table keeps at least 30 rows");
    let mut mismatches = Mismatches::default();
    for row in &rows {
        let result = load(&fixtures, &row.load);
        let detail = match &result {
            Ok(config) => format!("{config:?}"),
            Err(e) => e.to_string(),
        };
        mismatches.check(
            row.name,
            &format!("config::{:?}", row.expect),
            &config_label(result),
            &detail,
        );
    }
    mismatches.finish(rows.len());
}

// ---- connection rows ----------------------------------------------------------------------------

/// A config for `url` with short timeouts and this row's client id.
fn config_for(url: &str, client_id: &str) -> Config {
    common::client_config(
        &[url.to_owned()],
        client_id,
        Duration::from_secs(3),
        Some((Duration::from_millis(100), Duration::from_millis(500))),
    )
}

/// A user seed of the right shape whose checksum is wrong: only nkeys can tell.
fn bad_checksum_seed() -> String {
    let good = nkeys::KeyPair::new_user().seed().expect("seed");
    let mut bad = good[..good.len() - 2].to_owned();
    bad.push_str(if good.ends_with("AA") { "BB" } else { "AA" });
    bad
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// Configurations that load (a `Config` can only come from the loader, which refuses the
/// empty token, the wildcard inbox prefix, TLS over `ws://`, a certificate without its key…)
/// but that `connect` must still refuse.
fn connect_rows(fixtures: &Fixtures, url: &str) -> Vec<(&'static str, Config, &'static str)> {
    let builder = |id: &str| {
        common::client_builder(
            &[url.to_owned()],
            id,
            Duration::from_secs(3),
            Some((Duration::from_millis(100), Duration::from_millis(500))),
        )
    };
    let load = |builder: connect_nats_config::ConfigBuilder| {
        builder
            .build()
            .unwrap_or_else(|e| panic!("the row's config must load: {e}"))
    };
    vec![
        (
            "inline seed shaped like an nkey, wrong checksum",
            load(builder("bad-inline-seed").jwt("eyJ.eyJ.sig", bad_checksum_seed())),
            "connect::InvalidConfig(`auth.nkey_seed` set in code)",
        ),
        (
            "creds file whose seed has a wrong checksum",
            load(builder("bad-creds").creds_file(fixtures.file("bad-seed.creds"))),
            "connect::InvalidConfig(`auth.creds_file` set in code)",
        ),
        (
            "TLS required against a plain-text server",
            load(builder("bad-tls-plain").tls_required(true)),
            "connect::Tls(ServerWithoutTls)",
        ),
        (
            "nobody listening",
            config_for(
                &format!("nats://127.0.0.1:{}", closed_port()),
                "bad-closed-port",
            ),
            "connect::Unreachable",
        ),
    ]
}

// ---- server-side rows ---------------------------------------------------------------------------

/// A 6000-byte JSON string: over the server's 4096-byte max_payload.
fn oversize() -> String {
    "x".repeat(6000)
}

async fn connected(url: &str, id: &str) -> Connection {
    connect(&config_for(url, id))
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"))
}

async fn ensure_one(js: &async_nats::jetstream::Context, spec: StreamSpec) -> String {
    let report = ensure_streams(js, &[spec]).await;
    let outcome = &report.streams[0].outcome;
    stream_label(outcome)
}

async fn consume_label(js: &async_nats::jetstream::Context, spec: ConsumerSpec) -> String {
    match consume(js, spec, |_d: Delivery| async {
        Ok::<(), HandlerError>(())
    })
    .await
    {
        Ok(handle) => {
            handle.stop().await;
            "ok".to_owned()
        }
        Err(e) => jetstream_label(&e),
    }
}

fn stream(name: &str, subjects: &[&str]) -> StreamSpec {
    let mut spec = StreamSpec::new(name, subjects.iter().copied());
    spec.storage = connect_nats_config::StorageKind::Memory;
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_runtime_inputs_fail_with_their_exact_kind() {
    bounded(TEST_TIMEOUT, async {
        let fixtures = Fixtures::new();
        let server = NatsServer::start(ServerConfig::plain().jetstream().max_payload(MAX_PAYLOAD));
        let no_js = NatsServer::start(ServerConfig::plain());
        let url = server.url();
        let mut mismatches = Mismatches::default();
        let mut count = 0usize;
        let mut check = |row: &str, expected: &str, actual: String| {
            count += 1;
            mismatches.check(row, expected, &actual, "");
        };

        // Connection settings built in code.
        for (name, config, expected) in connect_rows(&fixtures, &url) {
            let actual = match connect(&config).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => connect_label(&e),
            };
            check(name, expected, actual);
        }

        // Subjects, event types and sizes, through the real publisher.
        let connection = connected(&url, "bad-publisher").await;
        let publisher = Publisher::new(connection.clone(), "bad-input");
        let data = serde_json::json!({ "k": 1 });
        for (name, subject) in [
            ("empty subject", ""),
            ("subject with a space", "connect.invite created"),
            ("subject with a tab", "connect.\tx"),
            ("subject with CR LF", "connect.x\r\nPUB y 1"),
            ("subject with * wildcard", "connect.*.created"),
            ("subject with > wildcard", "connect.>"),
            ("subject with a leading dot", ".connect.x"),
            ("subject with an empty token", "connect..x"),
            ("subject with a trailing dot", "connect.x."),
        ] {
            check(
                &format!("core: {name}"),
                "publish::InvalidSubject",
                publish_label(publisher.event(subject, "t.x", &data).core().await),
            );
        }
        check(
            "JetStream: subject with > wildcard",
            "publish::InvalidSubject",
            publish_label(publisher.event("connect.>", "t.x", &data).send().await),
        );
        check(
            "core: empty event type",
            "publish::InvalidEventType",
            publish_label(publisher.event("connect.x", "", &data).core().await),
        );
        check(
            "core: event type with CR LF",
            "publish::InvalidEventType",
            publish_label(
                publisher
                    .event("connect.x", "a\r\nNats-Msg-Id: 1", &data)
                    .core()
                    .await,
            ),
        );
        check(
            "core: payload over max_payload",
            "publish::PayloadTooLarge",
            publish_label(publisher.message("connect.big", &oversize()).core().await),
        );
        check(
            "core event: payload over max_payload",
            "publish::PayloadTooLarge",
            publish_label(
                publisher
                    .event("connect.big", "big.event", &oversize())
                    .core()
                    .await,
            ),
        );
        let js = jetstream_context(&connection);
        assert_eq!(
            ensure_one(&js, stream("BAD_EVENTS", &["bad.>"])).await,
            "stream::created"
        );
        check(
            "JetStream: payload over max_payload",
            "publish::PayloadTooLarge",
            publish_label(
                publisher
                    .event("bad.big", "big.event", &oversize())
                    .send()
                    .await,
            ),
        );
        check(
            "JetStream: subject no stream captures",
            "publish::StreamNotFound",
            publish_label(publisher.event("nostream.x", "t.x", &data).send().await),
        );
        let mut small = stream("BAD_SMALL", &["small.>"]);
        small.max_msg_size = Some(100);
        assert_eq!(ensure_one(&js, small).await, "stream::created");
        check(
            "JetStream: message over the stream's max_msg_size",
            "publish::Rejected",
            publish_label(
                publisher
                    .event("small.x", "t.x", &"y".repeat(500))
                    .send()
                    .await,
            ),
        );
        let mut one = stream("BAD_ONE", &["one.>"]);
        one.max_msgs = Some(1);
        one.discard = connect_nats_config::DiscardKind::New;
        assert_eq!(ensure_one(&js, one).await, "stream::created");
        check(
            "JetStream: first message into a full discard-new stream",
            "ok",
            publish_label(publisher.event("one.x", "t.x", &data).send().await),
        );
        check(
            "JetStream: message into a full discard-new stream",
            "publish::Rejected",
            publish_label(publisher.event("one.x", "t.x", &data).send().await),
        );

        // Stream declarations.
        let spec = |f: fn(&mut StreamSpec)| {
            let mut s = stream("BAD_DECL", &["decl.>"]);
            f(&mut s);
            s
        };
        for (name, s, expected) in [
            (
                "stream: empty name",
                spec(|s| s.name.clear()),
                "stream::Failed(name)",
            ),
            (
                "stream: name with a dot",
                spec(|s| s.name = "a.b".into()),
                "stream::Failed(name)",
            ),
            (
                "stream: no subjects",
                spec(|s| s.subjects.clear()),
                "stream::Failed(subjects)",
            ),
            (
                "stream: subject with an empty token",
                spec(|s| s.subjects = vec!["decl..x".into()]),
                "stream::Failed(subjects)",
            ),
            (
                "stream: zero replicas",
                spec(|s| s.replicas = 0),
                "stream::Failed(replicas)",
            ),
            (
                "stream: 3 replicas on one server",
                spec(|s| s.replicas = 3),
                "stream::Failed(replicas)",
            ),
            (
                "stream: zero max_bytes",
                spec(|s| s.max_bytes = Some(0)),
                "stream::Failed(max_bytes)",
            ),
            (
                "stream: negative max_msgs",
                spec(|s| s.max_msgs = Some(-5)),
                "stream::Failed(max_msgs)",
            ),
            (
                "stream: zero max_msg_size",
                spec(|s| s.max_msg_size = Some(0)),
                "stream::Failed(max_msg_size)",
            ),
            (
                "stream: duplicate window longer than max_age",
                spec(|s| {
                    s.max_age = Some(Duration::from_secs(60));
                    s.duplicate_window = Some(Duration::from_secs(600));
                }),
                "stream::Failed(duplicate_window)",
            ),
            (
                "stream: subjects overlapping another stream",
                spec(|s| {
                    s.name = "BAD_OVERLAP".into();
                    s.subjects = vec!["bad.x".into()];
                }),
                "stream::Failed(subjects)",
            ),
            (
                "stream: storage changed on an existing stream",
                {
                    let mut s = stream("BAD_EVENTS", &["bad.>"]);
                    s.storage = connect_nats_config::StorageKind::File;
                    s
                },
                "stream::Failed(storage)",
            ),
        ] {
            check(name, expected, ensure_one(&js, s).await);
        }

        // Consumer specs.
        let base = || ConsumerSpec::new("BAD_EVENTS", "bad-consumer");
        for (name, spec, expected) in [
            (
                "consumer: stream missing",
                ConsumerSpec::new("NO_SUCH_STREAM", "c"),
                "jetstream::StreamNotFound",
            ),
            (
                "consumer: empty stream name",
                ConsumerSpec::new("", "c"),
                "jetstream::InvalidSpec(stream)",
            ),
            (
                "consumer: durable name with a dot",
                ConsumerSpec::new("BAD_EVENTS", "a.b"),
                "jetstream::InvalidSpec(durable_name)",
            ),
            (
                "consumer: zero concurrency",
                base().concurrency(0),
                "jetstream::InvalidSpec(concurrency)",
            ),
            (
                "consumer: zero max_deliver",
                base().max_deliver(0),
                "jetstream::InvalidSpec(max_deliver)",
            ),
            (
                "consumer: 1 ms ack_wait",
                base().ack_wait(Duration::from_millis(1)),
                "jetstream::InvalidSpec(ack_wait)",
            ),
            (
                "consumer: filter with an empty token",
                base().filter_subject("bad..x"),
                "jetstream::InvalidSpec(filter_subjects)",
            ),
            (
                "consumer: wildcard dead-letter subject",
                base().dead_letter_subject("dlq.>"),
                "jetstream::InvalidSpec(dead_letter_subject)",
            ),
            (
                "consumer: progress interval not below ack_wait",
                ConsumerSpec {
                    progress_interval: Some(Duration::from_secs(60)),
                    ..base()
                },
                "jetstream::InvalidSpec(progress_interval)",
            ),
            (
                "consumer: zero max_ack_pending",
                ConsumerSpec {
                    max_ack_pending: Some(0),
                    ..base()
                },
                "jetstream::InvalidSpec(max_ack_pending)",
            ),
        ] {
            check(name, expected, consume_label(&js, spec).await);
        }
        check(
            "consumer: new durable",
            "ok",
            consume_label(&js, ConsumerSpec::new("BAD_EVENTS", "bad-setup")).await,
        );
        check(
            "consumer: same durable with a start policy the server cannot change",
            "jetstream::ConsumerSetup",
            consume_label(
                &js,
                ConsumerSpec::new("BAD_EVENTS", "bad-setup").start(StartFrom::New),
            )
            .await,
        );
        let no_js_connection = connected(&no_js.url(), "bad-no-js").await;
        check(
            "consumer: server without JetStream",
            "jetstream::Unavailable",
            consume_label(&jetstream_context(&no_js_connection), base()).await,
        );

        // Key-value specs.
        for (name, spec, expected) in [
            (
                "kv: bucket with a space",
                KvSpec::new("my bucket"),
                "jetstream::InvalidSpec(bucket)",
            ),
            (
                "kv: zero history",
                KvSpec {
                    history: 0,
                    ..KvSpec::new("kv_bad")
                },
                "jetstream::InvalidSpec(history)",
            ),
            (
                "kv: 65 history",
                KvSpec {
                    history: 65,
                    ..KvSpec::new("kv_bad")
                },
                "jetstream::InvalidSpec(history)",
            ),
            (
                "kv: zero replicas",
                KvSpec {
                    replicas: 0,
                    ..KvSpec::new("kv_bad")
                },
                "jetstream::InvalidSpec(replicas)",
            ),
            (
                "kv: negative max_bytes",
                KvSpec {
                    max_bytes: Some(-3),
                    ..KvSpec::new("kv_bad")
                },
                "jetstream::InvalidSpec(max_bytes)",
            ),
        ] {
            let actual = match ensure_kv(&js, spec).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => jetstream_label(&e),
            };
            check(name, expected, actual);
        }

        // A publish on a connection that was shut down.
        connection
            .shutdown(Duration::from_secs(5))
            .await
            .expect("shutdown");
        assert_eq!(connection.state(), ConnectionState::Closed);
        check(
            "core: publish after shutdown",
            "publish::PublisherClosed",
            publish_label(publisher.event("connect.x", "t.x", &data).core().await),
        );

        assert!(count >= 30, "the table keeps at least 30 rows");
        mismatches.finish(count);
    })
    .await;
}

/// Wire size of a received message as the server counted it: header block plus payload.
fn wire_size(message: &async_nats::Message) -> usize {
    let headers = message.headers.as_ref().map_or(0, |h| {
        let lines: usize = h
            .iter()
            .map(|(name, values)| {
                values
                    .iter()
                    .map(|v| name.to_string().len() + 2 + v.as_str().len() + 2)
                    .sum::<usize>()
            })
            .sum();
        "NATS/1.0\r\n".len() + lines + 2
    });
    headers + message.payload.len()
}

/// Payloads around the server's max_payload: each publish is either sent or refused as
/// `PayloadTooLarge` before sending — never sent over the limit, which would make the server
/// close the connection — every one that was sent arrives, and the size the publisher computes
/// is the exact wire size (so nothing that fits is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_sizes_around_max_payload_never_break_the_connection() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream().max_payload(MAX_PAYLOAD));
        let connection = connected(&server.url(), "bad-size-sweep").await;
        let publisher = Publisher::new(connection.clone(), "size-sweep");
        let mut subscriber = connection.subscribe("size.>").await.expect("subscribe");
        let limit = usize::try_from(MAX_PAYLOAD).expect("fits");
        // Per kind (plain, event): sizes refused, as the publisher computed them.
        let mut refused: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        let mut sent = 0usize;
        for len in (limit - 300)..(limit + 8) {
            let data = "z".repeat(len);
            let kind = len % 2;
            let result = if kind == 0 {
                publisher
                    .message("size.plain", &data)
                    .core()
                    .await
                    .map(|_| ())
            } else {
                publisher
                    .event("size.event", "size.checked", &data)
                    .core()
                    .await
                    .map(|_| ())
            };
            match result {
                Ok(()) => sent += 1,
                Err(PublishError::PayloadTooLarge { size, max_payload }) => {
                    assert_eq!(max_payload, limit);
                    assert!(size > max_payload, "refused {size} <= {max_payload}");
                    refused[kind].push(size);
                }
                Err(other) => panic!("data of {len} bytes: unexpected {other:?}"),
            }
        }
        connection.flush().await.expect("flush");
        // The largest message that arrived, per kind, by the server's count.
        let mut largest = [0usize; 2];
        let mut received = 0usize;
        while received < sent {
            let next = tokio::time::timeout(
                Duration::from_secs(5),
                futures::StreamExt::next(&mut subscriber),
            )
            .await;
            let Ok(Some(message)) = next else { break };
            received += 1;
            let size = wire_size(&message);
            assert!(
                size <= limit,
                "a {size}-byte message was sent over max_payload"
            );
            let kind = usize::from(message.subject.as_str() == "size.event");
            largest[kind] = largest[kind].max(size);
        }
        assert_eq!(received, sent, "every accepted publish arrives");
        for (kind, name) in ["plain", "event"].into_iter().enumerate() {
            let first_refused = refused[kind].iter().min().copied();
            assert_eq!(
                first_refused,
                Some(largest[kind] + 2),
                "{name}: the smallest refused size should be the largest accepted wire size \
                 ({}) plus the 2 bytes of the next data length: the size check is off",
                largest[kind]
            );
        }
        let health = connection.health().await;
        assert_eq!(health.state, ConnectionState::Connected);
        assert_eq!(
            health.reconnects, 0,
            "a publish made the server drop the connection: {health:?}"
        );
    })
    .await;
}
