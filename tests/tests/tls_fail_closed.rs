//! TLS is fail-closed: no combination of settings makes a connection fall
//! back to plain text when TLS was asked for.
//!
//! Against one plain-text server (client port, and a plain `ws://` WebSocket listener), every
//! combination of `NATS_TLS_REQUIRED` (unset/false/true), `NATS_TLS_FIRST`, `NATS_TLS_CA`,
//! `NATS_TLS_CERT` + `NATS_TLS_KEY` and the URL form (`nats://`, bare `host:port`, `tls://`,
//! `wss://` to the WebSocket port and to the client port, `ws://`) that asks for TLS is tried —
//! loaded through the real loader, and again as a `Config` built in code with `tls.required`
//! left false — with `connect`, `connect_or_degrade` and `connect_in_background`. Each must end
//! in a TLS error (or, for `ws://`, a configuration error), never a connection; and the
//! server's `/connz` (open and closed connections) must show that none of these clients ever
//! completed a CONNECT, while a plain control client does show up.

// Test code reports failures by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use connect_nats_config::{Config, ConfigErrorKind, Scheme};
use connect_nats_core::{
    connect, connect_in_background, connect_or_degrade, ConnectError, ConnectionState, TlsProblem,
};
use connect_nats_testkit::{bounded, NatsServer, ServerConfig};
use serde_json::Value;

/// Upper bound for the whole test, server included.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);
/// Prefix of every client id this file uses (how `/connz` entries are recognised).
const PREFIX: &str = "tlsfc-";

/// How the server is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlForm {
    /// `nats://127.0.0.1:PORT`
    Nats,
    /// `127.0.0.1:PORT` (means `nats://`)
    Bare,
    /// `tls://127.0.0.1:PORT`
    Tls,
    /// `wss://127.0.0.1:WS_PORT`: TLS WebSocket to a plain WebSocket listener.
    WssToWebSocket,
    /// `wss://127.0.0.1:PORT`: TLS WebSocket to the plain NATS port.
    WssToClientPort,
    /// `ws://127.0.0.1:WS_PORT`: plain WebSocket (TLS settings make it a config error).
    Ws,
}

const URL_FORMS: [UrlForm; 6] = [
    UrlForm::Nats,
    UrlForm::Bare,
    UrlForm::Tls,
    UrlForm::WssToWebSocket,
    UrlForm::WssToClientPort,
    UrlForm::Ws,
];

impl UrlForm {
    fn url(self, port: u16, ws_port: u16) -> String {
        match self {
            UrlForm::Nats => format!("nats://127.0.0.1:{port}"),
            UrlForm::Bare => format!("127.0.0.1:{port}"),
            UrlForm::Tls => format!("tls://127.0.0.1:{port}"),
            UrlForm::WssToWebSocket => format!("wss://127.0.0.1:{ws_port}"),
            UrlForm::WssToClientPort => format!("wss://127.0.0.1:{port}"),
            UrlForm::Ws => format!("ws://127.0.0.1:{ws_port}"),
        }
    }

    fn scheme(self) -> Scheme {
        match self {
            UrlForm::Nats | UrlForm::Bare => Scheme::Nats,
            UrlForm::Tls => Scheme::Tls,
            UrlForm::WssToWebSocket | UrlForm::WssToClientPort => Scheme::Wss,
            UrlForm::Ws => Scheme::Ws,
        }
    }
}

/// One combination of TLS settings.
#[derive(Debug, Clone, Copy)]
struct Combo {
    url: UrlForm,
    /// `NATS_TLS_REQUIRED`: unset, false or true.
    required: Option<bool>,
    first: bool,
    ca: bool,
    client_cert: bool,
}

impl Combo {
    /// Whether any setting asks for TLS.
    fn asks_for_tls(&self) -> bool {
        self.required == Some(true)
            || self.first
            || self.ca
            || self.client_cert
            || self.url.scheme().is_tls()
    }

    fn all() -> Vec<Combo> {
        let mut out = Vec::new();
        for url in URL_FORMS {
            for required in [None, Some(false), Some(true)] {
                for first in [false, true] {
                    for ca in [false, true] {
                        for client_cert in [false, true] {
                            let combo = Combo {
                                url,
                                required,
                                first,
                                ca,
                                client_cert,
                            };
                            if combo.asks_for_tls() {
                                out.push(combo);
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// A CA, and a client certificate and key it signed (valid PEM; the server never sees them).
struct Pem {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pem {
    fn generate() -> Pem {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let dir = tempfile::tempdir().expect("temp dir");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec!["client".to_owned()])
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("cert");
        let pem = Pem {
            ca: dir.path().join("ca.pem"),
            cert: dir.path().join("client.pem"),
            key: dir.path().join("client-key.pem"),
            _dir: dir,
        };
        std::fs::write(&pem.ca, ca_cert.pem()).expect("write");
        std::fs::write(&pem.cert, cert.pem()).expect("write");
        std::fs::write(&pem.key, key.serialize_pem()).expect("write");
        pem
    }
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

/// The combination as environment variables, loaded by the real loader.
fn load(combo: &Combo, url: &str, client_id: &str, pem: &Pem) -> Result<Config, ConfigErrorKind> {
    let mut vars: BTreeMap<&str, String> = BTreeMap::new();
    vars.insert("NATS_URL", url.to_owned());
    vars.insert("NATS_CLIENT_ID", client_id.to_owned());
    vars.insert("NATS_TIMEOUT", "3s".to_owned());
    vars.insert("NATS_RECONNECT_WAIT", "100ms".to_owned());
    vars.insert("NATS_RECONNECT_MAX_WAIT", "200ms".to_owned());
    if let Some(required) = combo.required {
        vars.insert("NATS_TLS_REQUIRED", required.to_string());
    }
    if combo.first {
        vars.insert("NATS_TLS_FIRST", "true".to_owned());
    }
    if combo.ca {
        vars.insert("NATS_TLS_CA", path_str(&pem.ca));
    }
    if combo.client_cert {
        vars.insert("NATS_TLS_CERT", path_str(&pem.cert));
        vars.insert("NATS_TLS_KEY", path_str(&pem.key));
    }
    Config::builder()
        .env_vars(vars)
        .without_context()
        .build()
        .map_err(|e| e.kind())
}

/// The same combination set through the builder's typed methods: the one TLS decision is
/// made by the loader whichever way the settings arrive.
fn built(combo: &Combo, url: &str, client_id: &str, pem: &Pem) -> Result<Config, ConfigErrorKind> {
    let mut builder = Config::builder()
        .without_process_env()
        .without_context()
        .url(url)
        .client_id(client_id)
        .connect_timeout(Duration::from_secs(3))
        .reconnect_wait(Duration::from_millis(100))
        .reconnect_max_wait(Duration::from_millis(200))
        .tls_first(combo.first);
    if let Some(required) = combo.required {
        builder = builder.tls_required(required);
    }
    if combo.ca {
        builder = builder.tls_ca(&pem.ca);
    }
    if combo.client_cert {
        builder = builder.tls_client_cert(&pem.cert, &pem.key);
    }
    builder.build().map_err(|e| e.kind())
}

/// The plain WebSocket port, from the server's ports file.
fn websocket_port(server: &NatsServer) -> u16 {
    let dir = server.dir().join("ports");
    for entry in std::fs::read_dir(&dir).expect("ports dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "ports") {
            let ports: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
            let url = ports["websocket"][0]
                .as_str()
                .unwrap_or_else(|| panic!("no websocket port in {ports}"));
            return url
                .rsplit(':')
                .next()
                .and_then(|p| p.trim_end_matches('/').parse().ok())
                .unwrap_or_else(|| panic!("bad websocket URL {url}"));
        }
    }
    panic!("no ports file in {}", dir.display());
}

/// Every connection the server knows, open and closed.
fn all_connections(server: &NatsServer) -> Vec<Value> {
    let connz = server.monitor("/connz?state=all&limit=100000");
    connz["connections"].as_array().cloned().unwrap_or_default()
}

/// Names of our clients that completed a CONNECT (the name travels in CONNECT).
fn our_names(server: &NatsServer) -> Vec<String> {
    all_connections(server)
        .iter()
        .filter_map(|c| c["name"].as_str())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_owned)
        .collect()
}

/// What one attempt ended in, as text (`tls(ServerWithoutTls)`, `config(TlsOverPlainWebSocket)`…).
fn outcome_of(result: Result<connect_nats_core::Connection, ConnectError>) -> String {
    match result {
        Ok(_) => "CONNECTED".to_owned(),
        Err(ConnectError::Tls { problem, .. }) => format!("tls({problem:?})"),
        Err(ConnectError::InvalidConfig { setting, .. }) => format!("invalid_config({setting})"),
        Err(other) => format!("{}: {other}", other.kind()),
    }
}

/// Accepted outcomes for a combination.
fn acceptable(combo: &Combo, outcome: &str) -> bool {
    match combo.url {
        UrlForm::Ws => {
            outcome == "invalid_config(NATS_URL)" || outcome == "config(TlsOverPlainWebSocket)"
        }
        _ => outcome == format!("tls({:?})", TlsProblem::ServerWithoutTls),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_asked_for_never_falls_back_to_plain_text() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(
            ServerConfig::plain().extra_config("websocket {\n  port: -1\n  no_tls: true\n}"),
        );
        let port = server.port();
        let ws_port = websocket_port(&server);
        let pem = Pem::generate();
        let combos = Combo::all();
        assert!(combos.len() >= 100, "{} combinations", combos.len());

        // Control: a plain client does appear in /connz, so the check below is not vacuous.
        let control_id = format!("{PREFIX}control");
        let control = connect(
            &built(
                &Combo {
                    url: UrlForm::Nats,
                    required: None,
                    first: false,
                    ca: false,
                    client_cert: false,
                },
                &UrlForm::Nats.url(port, ws_port),
                &control_id,
                &pem,
            )
            .expect("the control config loads"),
        )
        .await
        .expect("plain control client connects");
        server.wait_for_client_named(&control_id);
        control
            .shutdown(Duration::from_secs(5))
            .await
            .expect("shutdown");

        let mut failures: Vec<String> = Vec::new();
        let mut tally: BTreeMap<String, usize> = BTreeMap::new();
        let mut later = Vec::new();
        for (i, combo) in combos.iter().enumerate() {
            let url = combo.url.url(port, ws_port);
            for (how, config) in [
                ("loaded", load(combo, &url, &format!("{PREFIX}l{i}"), &pem)),
                ("built", built(combo, &url, &format!("{PREFIX}b{i}"), &pem)),
            ] {
                let outcome = match config {
                    Err(kind) => format!("config({kind:?})"),
                    Ok(config) => {
                        if !config.tls_wanted() {
                            failures.push(format!("{how} {combo:?}: tls_wanted() is false"));
                        }
                        let outcome = outcome_of(connect(&config).await);
                        if connect_or_degrade(&config).await.is_some() {
                            failures.push(format!("{how} {combo:?}: connect_or_degrade connected"));
                        }
                        later.push((format!("{how} {combo:?}"), *combo, config));
                        outcome
                    }
                };
                *tally.entry(outcome.clone()).or_default() += 1;
                if !acceptable(combo, &outcome) {
                    failures.push(format!("{how} {combo:?}: {outcome}"));
                }
            }
        }

        // connect_in_background never connects either: started in batches (each keeps retrying
        // with backoff), given several attempts, then dropped.
        for batch in later.chunks(24) {
            let mut background = Vec::new();
            for (what, combo, config) in batch {
                match connect_in_background(config).await {
                    Ok(connection) => background.push((what, connection)),
                    Err(e) => {
                        let outcome = outcome_of(Err(e));
                        if !acceptable(combo, &outcome) {
                            failures.push(format!("{what}: connect_in_background: {outcome}"));
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(800)).await;
            for (what, connection) in &background {
                if connection.state() == ConnectionState::Connected {
                    failures.push(format!("{what}: connect_in_background connected"));
                }
            }
        }

        eprintln!("{} combinations x 2; outcomes: {tally:?}", combos.len());
        let names: Vec<String> = our_names(&server)
            .into_iter()
            .filter(|n| *n != control_id)
            .collect();
        if !names.is_empty() {
            failures.push(format!(
                "/connz shows plain-text connections that completed CONNECT: {names:?}"
            ));
        }
        // Every attempt reached the server (so the TLS errors are real handshake failures, not
        // refused sockets): the server saw far more connections than our one control client.
        let seen = all_connections(&server).len();
        assert!(
            seen > combos.len(),
            "the server saw only {seen} connections"
        );
        assert!(
            failures.is_empty(),
            "TLS fell back or failed unexpectedly in {} case(s):\n{}",
            failures.len(),
            failures.join("\n")
        );
    })
    .await;
}
