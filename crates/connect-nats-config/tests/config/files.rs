//! Config files: YAML, JSON and TOML by extension, nested keys mirroring the
//! environment names, streams, relative paths.

use std::time::Duration;

use connect_nats_config::{Auth, Config, Layer, RetentionKind, StorageKind, StreamSpec};

use crate::support::{resolved, Fixture};

fn from_file(fx: &Fixture, name: &str, content: &str) -> connect_nats_config::Resolved {
    let file = fx.write(name, content);
    resolved(Config::builder().without_process_env().file(file))
}

fn check_full(c: &Config) {
    assert_eq!(c.server_urls(), ["nats://a:4222", "nats://b:4222"]);
    assert_eq!(c.client_id(), "billing");
    assert_eq!(
        *c.auth(),
        Auth::UserPassword {
            user: "svc".into(),
            password: "pw".into()
        }
    );
    assert!(c.tls().required);
    assert!(!c.tls().first);
    assert_eq!(c.reconnect().wait, Duration::from_millis(500));
    assert_eq!(c.reconnect().max_wait, Duration::from_secs(60));
    assert_eq!(c.reconnect().max_reconnects, Some(10));
    assert_eq!(c.connect_timeout(), Duration::from_secs(5));
    assert_eq!(c.ping_interval(), Duration::from_secs(20));
    assert_eq!(c.request_timeout(), Some(Duration::from_secs(3)));
    assert_eq!(c.inbox_prefix(), Some("_INBOX_billing"));
    assert_eq!(c.jetstream().domain.as_deref(), Some("hub"));
    assert_eq!(c.jetstream().api_prefix, None);
    let mut events = StreamSpec::new("CONNECT_EVENTS", ["connect.>"]);
    events.max_age = Some(Duration::from_secs(7 * 24 * 3600));
    events.max_bytes = Some(1 << 30);
    events.description = Some("Main stream".into());
    let mut cache = StreamSpec::new("CACHE", ["cache.>"]);
    cache.max_age = Some(Duration::from_secs(300));
    cache.storage = StorageKind::Memory;
    cache.retention = RetentionKind::Workqueue;
    assert_eq!(c.jetstream().streams, vec![events, cache]);
}

#[test]
fn yaml_json_and_toml_read_the_same_settings() {
    let fx = Fixture::new();
    let yaml = r#"
url: [nats://a:4222, nats://b:4222]
client_id: billing
auth:
  user: svc
  password: pw
tls:
  required: true
  first: false
reconnect:
  wait: 500ms
  max_wait: 1m
  max_reconnects: 10
timeout: 5
ping_interval: 20s
request_timeout: 3s
inbox_prefix: _INBOX_billing
jetstream:
  domain: hub
  streams:
    - name: CONNECT_EVENTS
      subjects: ["connect.>"]
      description: Main stream
      max_age: 7d
      max_bytes: 1073741824
    - name: CACHE
      subjects: ["cache.>"]
      max_age: 5m
      storage: memory
      retention: workqueue
"#;
    let json = r#"{
  "url": "nats://a:4222,nats://b:4222",
  "client_id": "billing",
  "auth": {"user": "svc", "password": "pw"},
  "tls": {"required": true, "first": false},
  "reconnect": {"wait": "500ms", "max_wait": "1m", "max_reconnects": 10},
  "timeout": "5s", "ping_interval": 20, "request_timeout": "3s",
  "inbox_prefix": "_INBOX_billing",
  "jetstream": {"domain": "hub", "streams": [
    {"name": "CONNECT_EVENTS", "subjects": ["connect.>"], "description": "Main stream", "max_age": "7d", "max_bytes": 1073741824},
    {"name": "CACHE", "subjects": ["cache.>"], "max_age": "5m", "storage": "memory", "retention": "workqueue"}
  ]}
}"#;
    let toml = r#"
url = ["nats://a:4222", "nats://b:4222"]
client_id = "billing"
timeout = "5s"
ping_interval = "20s"
request_timeout = "3s"
inbox_prefix = "_INBOX_billing"

[auth]
user = "svc"
password = "pw"

[tls]
required = true
first = false

[reconnect]
wait = "500ms"
max_wait = "1m"
max_reconnects = 10

[jetstream]
domain = "hub"

[[jetstream.streams]]
name = "CONNECT_EVENTS"
subjects = ["connect.>"]
description = "Main stream"
max_age = "7d"
max_bytes = 1073741824

[[jetstream.streams]]
name = "CACHE"
subjects = ["cache.>"]
max_age = "5m"
storage = "memory"
retention = "workqueue"
"#;
    for (name, content) in [
        ("a.yaml", yaml),
        ("b.yml", yaml),
        ("c.json", json),
        ("d.toml", toml),
        ("E.YAML", yaml),
    ] {
        let r = from_file(&fx, name, content);
        check_full(&r.config);
        assert_eq!(
            r.sources.layer("jetstream.streams"),
            Some(Layer::File),
            "{name}"
        );
        assert_eq!(
            r.sources.layer("reconnect.wait"),
            Some(Layer::File),
            "{name}"
        );
        assert_eq!(
            r.sources.get("reconnect.wait").unwrap().name,
            "reconnect.wait"
        );
    }
}

#[test]
fn dotted_keys_are_accepted_too() {
    let fx = Fixture::new();
    let r = from_file(
        &fx,
        "d.yaml",
        "auth.token: t\nreconnect.wait: 3s\ntls:\n  first: true\n",
    );
    assert_eq!(*r.config.auth(), Auth::Token { token: "t".into() });
    assert_eq!(r.config.reconnect().wait, Duration::from_secs(3));
    assert!(r.config.tls().first);
}

#[test]
fn relative_paths_are_relative_to_the_file() {
    let fx = Fixture::new();
    fx.write(
        "conf/certs/ca.pem",
        &std::fs::read_to_string(fx.ca()).unwrap(),
    );
    let r = from_file(&fx, "conf/nats.yaml", "tls:\n  ca: certs/ca.pem\n");
    assert_eq!(r.config.tls().ca, Some(fx.path("conf/certs/ca.pem")));
    assert!(r.config.tls().required);
}

#[test]
fn an_empty_file_changes_nothing() {
    let fx = Fixture::new();
    for name in ["e.yaml", "e.json", "e.toml"] {
        assert_eq!(from_file(&fx, name, "\n").config, Config::default());
    }
    assert_eq!(
        from_file(&fx, "c.yaml", "# only a comment\n").config,
        Config::default()
    );
}

#[test]
fn numbers_are_accepted_as_text_where_text_goes() {
    let fx = Fixture::new();
    let r = from_file(&fx, "n.yaml", "auth:\n  token: 123456\nclient_id: 42\n");
    assert_eq!(
        *r.config.auth(),
        Auth::Token {
            token: "123456".into()
        }
    );
    assert_eq!(r.config.client_id(), "42");
}
