//! Every environment variable, read as the deployments write it.

use std::path::PathBuf;
use std::time::Duration;

use connect_nats_config::{Auth, Config, Layer, Scheme, Secret, SETTINGS};

use crate::support::{creds_auth, load, resolved, seed_file_auth, with_env, Fixture, JWT, SEED};

#[test]
fn nothing_set_gives_the_documented_defaults() {
    let r = resolved(with_env(&[]));
    assert_eq!(r.config, Config::default());
    assert_eq!(r.config.servers()[0].url, "nats://localhost:4222");
    assert_eq!(r.config.client_id(), "connect-service");
    assert_eq!(r.config.reconnect().wait, Duration::from_secs(2));
    assert_eq!(r.config.reconnect().max_wait, Duration::from_secs(30));
    assert_eq!(r.config.reconnect().max_reconnects, None);
    assert_eq!(r.config.connect_timeout(), Duration::from_secs(10));
    assert!(!r.config.tls().required);
    for setting in SETTINGS {
        assert_eq!(
            r.sources.layer(setting.key),
            Some(Layer::Default),
            "{}",
            setting.key
        );
    }
    assert_eq!(r.context, None);
    assert_eq!(r.file, None);
}

#[test]
fn nats_url_single_list_and_schemes() {
    let c = load(&[("NATS_URL", "nats://nats-shared:4222")]);
    assert_eq!(c.server_urls(), ["nats://nats-shared:4222"]);
    let c = load(&[("NATS_URL", "nats://a:4222, nats://b:4222,tls://c:4443")]);
    assert_eq!(
        c.server_urls(),
        ["nats://a:4222", "nats://b:4222", "tls://c:4443"]
    );
    assert!(c.tls().required, "a tls:// seed means TLS");
    let c = load(&[("NATS_URL", "ws://a:8080,wss://b:8443/ws")]);
    assert_eq!(c.servers()[0].scheme, Scheme::Ws);
    assert_eq!(c.servers()[1].scheme, Scheme::Wss);
    assert_eq!(c.servers()[1].url, "wss://b:8443/ws");
    let c = load(&[("NATS_URL", "localhost:4333")]);
    assert_eq!(c.server_urls(), ["nats://localhost:4333"]);
}

#[test]
fn nats_url_userinfo_moves_into_auth() {
    let c = load(&[("NATS_URL", "nats://svc:pa%24s@h:4222")]);
    assert_eq!(c.server_urls(), ["nats://h:4222"]);
    assert_eq!(
        *c.auth(),
        Auth::UserPassword {
            user: "svc".into(),
            password: Secret::new("pa$s")
        }
    );
    let r = resolved(with_env(&[("NATS_URL", "nats://tok3n@h:4222")]));
    assert_eq!(
        *r.config.auth(),
        Auth::Token {
            token: Secret::new("tok3n")
        }
    );
    assert_eq!(r.config.server_urls(), ["nats://h:4222"]);
    assert_eq!(r.sources.layer("auth.token"), Some(Layer::Env));
    assert!(r
        .sources
        .get("auth.token")
        .unwrap()
        .name
        .contains("NATS_URL"));
}

#[test]
fn nats_client_id() {
    assert_eq!(
        load(&[("NATS_CLIENT_ID", "connect-auth-dev")]).client_id(),
        "connect-auth-dev"
    );
}

#[test]
fn nats_token() {
    assert_eq!(
        *load(&[("NATS_TOKEN", "t0k")]).auth(),
        Auth::Token {
            token: "t0k".into()
        }
    );
}

#[test]
fn nats_creds_file() {
    let fx = Fixture::new();
    let creds = fx.creds();
    let c = load(&[("NATS_CREDS_FILE", creds.to_str().unwrap())]);
    assert_eq!(*c.auth(), creds_auth(creds));
}

#[test]
fn nats_user_and_password() {
    let c = load(&[("NATS_USER", "svc"), ("NATS_PASSWORD", "pw")]);
    assert_eq!(
        *c.auth(),
        Auth::UserPassword {
            user: "svc".into(),
            password: "pw".into()
        }
    );
}

#[test]
fn nats_nkey_seed_file() {
    let fx = Fixture::new();
    let seed = fx.seed_file();
    let c = load(&[("NATS_NKEY_SEED_FILE", seed.to_str().unwrap())]);
    assert_eq!(*c.auth(), seed_file_auth(seed.clone()));
    let read = connect_nats_config::credentials::read_nkey_seed_file(&seed, "NATS_NKEY_SEED_FILE")
        .unwrap();
    assert_eq!(read.expose(), SEED);
}

#[test]
fn nats_jwt_and_nkey_seed() {
    let c = load(&[("NATS_JWT", JWT), ("NATS_NKEY_SEED", SEED)]);
    assert_eq!(
        *c.auth(),
        Auth::Jwt {
            jwt: JWT.into(),
            seed: SEED.into()
        }
    );
    assert_eq!(c.auth().kind(), "jwt");
}

#[test]
fn nats_tls_ca_means_tls() {
    let fx = Fixture::new();
    let ca = fx.ca();
    let c = load(&[("NATS_TLS_CA", ca.to_str().unwrap())]);
    assert_eq!(c.tls().ca, Some(ca));
    assert!(
        c.tls().required,
        "a CA with a nats:// URL must still mean TLS"
    );
    assert!(c.tls_wanted());
}

#[test]
fn nats_tls_cert_and_key() {
    let fx = Fixture::new();
    let (cert, key) = (fx.cert(), fx.key());
    let c = load(&[
        ("NATS_TLS_CERT", cert.to_str().unwrap()),
        ("NATS_TLS_KEY", key.to_str().unwrap()),
    ]);
    assert_eq!(c.tls().cert, Some(cert));
    assert_eq!(c.tls().key, Some(key));
    assert!(c.tls().required);
}

#[test]
fn nats_tls_required() {
    for (text, expected) in [
        ("true", true),
        ("1", true),
        ("yes", true),
        ("TRUE", true),
        ("false", false),
        ("0", false),
        ("off", false),
    ] {
        assert_eq!(
            load(&[("NATS_TLS_REQUIRED", text)]).tls().required,
            expected,
            "{text}"
        );
    }
}

#[test]
fn nats_tls_required_false_never_turns_tls_off() {
    let fx = Fixture::new();
    let ca = fx.ca();
    let c = load(&[
        ("NATS_TLS_CA", ca.to_str().unwrap()),
        ("NATS_TLS_REQUIRED", "false"),
    ]);
    assert!(c.tls().required);
    let c = load(&[("NATS_URL", "tls://h:4222"), ("NATS_TLS_REQUIRED", "false")]);
    assert!(c.tls().required);
}

#[test]
fn nats_tls_first() {
    let c = load(&[("NATS_TLS_FIRST", "true")]);
    assert!(c.tls().first);
    assert!(c.tls().required, "TLS first means TLS");
    assert!(!load(&[("NATS_TLS_FIRST", "false")]).tls().first);
}

#[test]
fn nats_reconnect_wait_accepts_every_duration_form() {
    for (text, expected) in [
        ("2", Duration::from_secs(2)),
        ("500ms", Duration::from_millis(500)),
        ("2s", Duration::from_secs(2)),
        ("1m", Duration::from_secs(60)),
        ("0", Duration::ZERO),
    ] {
        assert_eq!(
            load(&[("NATS_RECONNECT_WAIT", text)]).reconnect().wait,
            expected,
            "{text}"
        );
    }
}

#[test]
fn a_wait_longer_than_the_default_cap_raises_the_cap() {
    // Deployments of the original library set only the wait.
    let c = load(&[("NATS_RECONNECT_WAIT", "60")]);
    assert_eq!(c.reconnect().wait, Duration::from_secs(60));
    assert_eq!(c.reconnect().max_wait, Duration::from_secs(60));
}

#[test]
fn nats_reconnect_max_wait() {
    assert_eq!(
        load(&[("NATS_RECONNECT_MAX_WAIT", "1m")])
            .reconnect()
            .max_wait,
        Duration::from_secs(60)
    );
}

#[test]
fn nats_max_reconnects() {
    assert_eq!(
        load(&[("NATS_MAX_RECONNECTS", "-1")])
            .reconnect()
            .max_reconnects,
        None
    );
    assert_eq!(
        load(&[("NATS_MAX_RECONNECTS", "0")])
            .reconnect()
            .max_reconnects,
        Some(0)
    );
    assert_eq!(
        load(&[("NATS_MAX_RECONNECTS", "60")])
            .reconnect()
            .max_reconnects,
        Some(60)
    );
}

#[test]
fn nats_timeouts_and_ping() {
    let c = load(&[
        ("NATS_TIMEOUT", "5s"),
        ("NATS_PING_INTERVAL", "20"),
        ("NATS_REQUEST_TIMEOUT", "750ms"),
    ]);
    assert_eq!(c.connect_timeout(), Duration::from_secs(5));
    assert_eq!(c.ping_interval(), Duration::from_secs(20));
    assert_eq!(c.request_timeout(), Some(Duration::from_millis(750)));
}

#[test]
fn nats_jetstream_and_inbox() {
    let c = load(&[
        ("NATS_JS_DOMAIN", "hub"),
        ("NATS_JS_API_PREFIX", "$JS.hub.API"),
        ("NATS_INBOX_PREFIX", "_INBOX_billing"),
    ]);
    assert_eq!(c.jetstream().domain.as_deref(), Some("hub"));
    assert_eq!(c.jetstream().api_prefix.as_deref(), Some("$JS.hub.API"));
    assert_eq!(c.inbox_prefix(), Some("_INBOX_billing"));
}

#[test]
fn nats_config_file_is_read() {
    let fx = Fixture::new();
    let file = fx.write("nats.yaml", "client_id: from-file\n");
    let r = resolved(with_env(&[("NATS_CONFIG_FILE", file.to_str().unwrap())]));
    assert_eq!(r.config.client_id(), "from-file");
    assert_eq!(r.file, Some(file));
    assert_eq!(r.sources.layer("client_id"), Some(Layer::File));
}

#[test]
fn empty_variables_count_as_unset() {
    // docker-compose's `NATS_TOKEN=${NATS_TOKEN}` with nothing on the host.
    let c = load(&[
        ("NATS_TOKEN", ""),
        ("NATS_USER", ""),
        ("NATS_URL", ""),
        ("NATS_TLS_CA", ""),
    ]);
    assert_eq!(c, Config::default());
}

#[test]
fn every_variable_in_the_table_is_read_from_the_environment() {
    let fx = Fixture::new();
    let paths: Vec<(&str, PathBuf)> = vec![
        ("NATS_CREDS_FILE", fx.creds()),
        ("NATS_NKEY_SEED_FILE", fx.seed_file()),
        ("NATS_TLS_CA", fx.ca()),
        ("NATS_TLS_CERT", fx.cert()),
        ("NATS_TLS_KEY", fx.key()),
    ];
    for setting in SETTINGS {
        let Some(env) = setting.env else { continue };
        let value: String = match env {
            "NATS_URL" => "nats://h:4222".into(),
            "NATS_TLS_REQUIRED" | "NATS_TLS_FIRST" => "true".into(),
            "NATS_RECONNECT_WAIT"
            | "NATS_RECONNECT_MAX_WAIT"
            | "NATS_TIMEOUT"
            | "NATS_PING_INTERVAL"
            | "NATS_REQUEST_TIMEOUT" => "3".into(),
            "NATS_MAX_RECONNECTS" | "NATS_MAX_PINGS_OUT" => "3".into(),
            "NATS_HEADERS" => "full".into(),
            "NATS_JWT" => JWT.into(),
            "NATS_NKEY_SEED" => SEED.into(),
            other => match paths.iter().find(|(n, _)| *n == other) {
                Some((_, p)) => p.display().to_string(),
                None => "value".into(),
            },
        };
        // Pairs need their other half.
        let mut vars = vec![(env, value.clone())];
        let companion = match env {
            "NATS_USER" => Some(("NATS_PASSWORD", "pw".to_string())),
            "NATS_PASSWORD" => Some(("NATS_USER", "u".to_string())),
            "NATS_JWT" => Some(("NATS_NKEY_SEED", SEED.to_string())),
            "NATS_NKEY_SEED" => Some(("NATS_JWT", JWT.to_string())),
            "NATS_TLS_CERT" => Some(("NATS_TLS_KEY", fx.key().display().to_string())),
            "NATS_TLS_KEY" => Some(("NATS_TLS_CERT", fx.cert().display().to_string())),
            _ => None,
        };
        vars.extend(companion);
        let builder = connect_nats_config::Config::builder()
            .env_vars(vars.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let r = resolved(builder);
        assert_eq!(r.sources.layer(setting.key), Some(Layer::Env), "{env}");
        assert_eq!(r.sources.get(setting.key).unwrap().name, env);
        assert!(r.ignored_env.is_empty(), "{env}: {:?}", r.ignored_env);
    }
}

#[test]
fn unknown_nats_variables_are_reported_not_used() {
    let r = resolved(with_env(&[
        ("NATS_RECONECT_WAIT", "9"),
        ("NATS_CONTEXT", ""),
    ]));
    assert_eq!(r.ignored_env, ["NATS_RECONECT_WAIT"]);
    assert_eq!(r.config.reconnect().wait, Duration::from_secs(2));
}

#[test]
fn ping_settings_default_to_the_clients_and_are_read() {
    let c = load(&[]);
    assert_eq!(c.ping_interval(), Duration::from_secs(60));
    assert_eq!(c.max_pings_out(), 2);
    let c = load(&[("NATS_PING_INTERVAL", "5s"), ("NATS_MAX_PINGS_OUT", "3")]);
    assert_eq!(c.ping_interval(), Duration::from_secs(5));
    assert_eq!(c.max_pings_out(), 3);
    let r = resolved(with_env(&[("NATS_MAX_PINGS_OUT", "4")]));
    assert_eq!(r.sources.layer("max_pings_out"), Some(Layer::Env));
    let c = with_env(&[]).max_pings_out(7).build().unwrap();
    assert_eq!(c.max_pings_out(), 7);
}
