//! defaults < NATS CLI context < file < environment < code, key by key.

use std::time::Duration;

use connect_nats_config::{
    setting_by_key, Auth, Config, ConfigBuilder, ConfigErrorKind, Layer, Secret, StreamSpec,
};
use serde_json::Value;

use crate::support::{creds_auth, fails, mentions, resolved, Fixture};

/// For a key: four distinct values (context, file, env, code) and where the
/// resolved value shows in the config's JSON.
struct Case {
    key: &'static str,
    values: [&'static str; 4],
    pointer: &'static str,
    shown: [&'static str; 4],
}

fn cases() -> Vec<Case> {
    let case = |key, values: [&'static str; 4], pointer, shown| Case {
        key,
        values,
        pointer,
        shown,
    };
    vec![
        case(
            "url",
            [
                "nats://ctx:1",
                "nats://file:2",
                "nats://env:3",
                "nats://code:4",
            ],
            "/servers/0/url",
            [
                "nats://ctx:1",
                "nats://file:2",
                "nats://env:3",
                "nats://code:4",
            ],
        ),
        case(
            "client_id",
            ["c1", "c2", "c3", "c4"],
            "/client_id",
            ["c1", "c2", "c3", "c4"],
        ),
        case(
            "tls.first",
            ["true", "false", "true", "false"],
            "/tls/first",
            ["true", "false", "true", "false"],
        ),
        case(
            "tls.required",
            ["true", "false", "true", "false"],
            "/tls/required",
            ["true", "false", "true", "false"],
        ),
        case(
            "reconnect.wait",
            ["1", "2", "3", "4"],
            "/reconnect/wait",
            ["1s", "2s", "3s", "4s"],
        ),
        case(
            "reconnect.max_wait",
            ["31", "32", "33", "34"],
            "/reconnect/max_wait",
            ["31s", "32s", "33s", "34s"],
        ),
        case(
            "reconnect.max_reconnects",
            ["1", "2", "3", "4"],
            "/reconnect/max_reconnects",
            ["1", "2", "3", "4"],
        ),
        case(
            "timeout",
            ["1", "2", "3", "4"],
            "/connect_timeout",
            ["1s", "2s", "3s", "4s"],
        ),
        case(
            "ping_interval",
            ["1", "2", "3", "4"],
            "/ping_interval",
            ["1s", "2s", "3s", "4s"],
        ),
        case(
            "request_timeout",
            ["1", "2", "3", "4"],
            "/request_timeout",
            ["1s", "2s", "3s", "4s"],
        ),
        case(
            "inbox_prefix",
            ["_I1", "_I2", "_I3", "_I4"],
            "/inbox_prefix",
            ["_I1", "_I2", "_I3", "_I4"],
        ),
        case(
            "jetstream.domain",
            ["d1", "d2", "d3", "d4"],
            "/jetstream/domain",
            ["d1", "d2", "d3", "d4"],
        ),
        case(
            "jetstream.api_prefix",
            ["p1", "p2", "p3", "p4"],
            "/jetstream/api_prefix",
            ["p1", "p2", "p3", "p4"],
        ),
    ]
}

fn shown(config: &Config, pointer: &str) -> String {
    let json = serde_json::to_value(config).unwrap();
    match json.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => panic!("no {pointer} in {json}"),
    }
}

/// A context JSON value: booleans stay JSON booleans, as the nats CLI writes them.
fn json_value(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text.to_owned()),
    }
}

/// Builds with the first `layers` layers (1 = context … 4 = code) set for `case`.
fn build(fx: &Fixture, case: &Case, layers: usize) -> connect_nats_config::Resolved {
    let setting = setting_by_key(case.key).unwrap();
    let mut env: Vec<(String, String)> = vec![("XDG_CONFIG_HOME".into(), fx.xdg())];
    let mut builder = Config::builder();
    if layers >= 1 {
        if let Some(field) = setting.context {
            let mut ctx = serde_json::Map::new();
            ctx.insert(field.to_owned(), json_value(case.values[0]));
            ctx.insert("description".into(), Value::String("test".into()));
            fx.context("prec", &Value::Object(ctx).to_string());
            builder = builder.context("prec");
        }
    }
    if layers >= 2 {
        let file = fx.write(
            "prec.yaml",
            &format!(
                "{}: {}\n",
                case.key,
                serde_json::to_string(case.values[1]).unwrap()
            ),
        );
        builder = builder.file(file);
    }
    if layers >= 3 {
        env.push((setting.env.unwrap().into(), case.values[2].into()));
    }
    if layers >= 4 {
        builder = builder.set(case.key, case.values[3]);
    }
    resolved(builder.env_vars(env))
}

#[test]
fn each_layer_overrides_the_ones_below_it_for_every_key() {
    for case in cases() {
        let fx = Fixture::new();
        let has_context = setting_by_key(case.key).unwrap().context.is_some();
        let expected_layers = [Layer::Context, Layer::File, Layer::Env, Layer::Code];
        for layers in 1..=4 {
            if layers == 1 && !has_context {
                continue;
            }
            let r = build(&fx, &case, layers);
            assert_eq!(
                r.sources.layer(case.key),
                Some(expected_layers[layers - 1]),
                "{} with {layers} layers",
                case.key
            );
            assert_eq!(
                shown(&r.config, case.pointer),
                case.shown[layers - 1],
                "{} with {layers} layers",
                case.key
            );
        }
    }
}

#[test]
fn a_layer_that_does_not_set_a_key_leaves_the_lower_value() {
    let fx = Fixture::new();
    fx.context(
        "ops",
        r#"{"url": "nats://ctx:4222", "inbox_prefix": "_CTX"}"#,
    );
    let file = fx.write(
        "svc.toml",
        "client_id = \"svc\"\n[reconnect]\nwait = \"5s\"\n",
    );
    let r = resolved(
        Config::builder()
            .env_vars([("XDG_CONFIG_HOME", fx.xdg()), ("NATS_TIMEOUT", "7".into())])
            .context("ops")
            .file(&file)
            .ping_interval(Duration::from_secs(9)),
    );
    let c = &r.config;
    assert_eq!(c.server_urls(), ["nats://ctx:4222"]);
    assert_eq!(c.inbox_prefix(), Some("_CTX"));
    assert_eq!(c.client_id(), "svc");
    assert_eq!(c.reconnect().wait, Duration::from_secs(5));
    assert_eq!(c.connect_timeout(), Duration::from_secs(7));
    assert_eq!(c.ping_interval(), Duration::from_secs(9));
    assert_eq!(c.reconnect().max_wait, Duration::from_secs(30));
    assert_eq!(r.sources.layer("url"), Some(Layer::Context));
    assert_eq!(r.sources.layer("client_id"), Some(Layer::File));
    assert_eq!(r.sources.layer("timeout"), Some(Layer::Env));
    assert_eq!(r.sources.layer("ping_interval"), Some(Layer::Code));
    assert_eq!(r.sources.layer("reconnect.max_wait"), Some(Layer::Default));
    let origin = r.sources.get("client_id").unwrap();
    assert_eq!(origin.path.as_deref(), Some(file.as_path()));
}

#[test]
fn the_same_auth_key_is_overridden_layer_by_layer() {
    let fx = Fixture::new();
    fx.context("ops", r#"{"token": "ctx-token"}"#);
    let file = fx.write("a.json", r#"{"auth": {"token": "file-token"}}"#);
    let base = || Config::builder().context("ops").file(&file);
    let with = |b: ConfigBuilder, env: &[(&str, &str)]| {
        let mut vars = vec![("XDG_CONFIG_HOME".to_string(), fx.xdg())];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        resolved(b.env_vars(vars))
    };
    let r = with(base(), &[]);
    assert_eq!(
        *r.config.auth(),
        Auth::Token {
            token: Secret::new("file-token")
        }
    );
    let r = with(base(), &[("NATS_TOKEN", "env-token")]);
    assert_eq!(
        *r.config.auth(),
        Auth::Token {
            token: Secret::new("env-token")
        }
    );
    let r = with(base().token("code-token"), &[("NATS_TOKEN", "env-token")]);
    assert_eq!(
        *r.config.auth(),
        Auth::Token {
            token: Secret::new("code-token")
        }
    );
    assert_eq!(r.sources.layer("auth.token"), Some(Layer::Code));
}

#[test]
fn a_pair_may_be_split_across_layers() {
    // The user in the file, the password injected as a secret variable.
    let fx = Fixture::new();
    let file = fx.write("svc.yaml", "auth:\n  user: billing\n");
    let r = resolved(
        Config::builder()
            .file(&file)
            .env_vars([("NATS_PASSWORD", "from-secret")]),
    );
    assert_eq!(
        *r.config.auth(),
        Auth::UserPassword {
            user: "billing".into(),
            password: "from-secret".into()
        }
    );
}

#[test]
fn two_methods_from_different_layers_conflict_naming_both() {
    let fx = Fixture::new();
    fx.context("ops", r#"{"token": "ctx-token"}"#);
    let creds = fx.creds();
    let e = fails(
        Config::builder().context("ops").env_vars([
            ("XDG_CONFIG_HOME", fx.xdg()),
            ("NATS_CREDS_FILE", creds.display().to_string()),
        ]),
        ConfigErrorKind::AuthConflict,
    );
    mentions(&e, &["`token` in NATS CLI context", "NATS_CREDS_FILE"]);
}

#[test]
fn a_null_in_a_higher_layer_unsets_the_value() {
    let fx = Fixture::new();
    fx.context("ops", r#"{"token": "ctx-token"}"#);
    let file = fx.write("svc.yaml", "auth:\n  token: ~\n");
    let r = resolved(
        Config::builder()
            .context("ops")
            .file(&file)
            .env_vars([("XDG_CONFIG_HOME", fx.xdg())]),
    );
    assert_eq!(*r.config.auth(), Auth::None);
}

#[test]
fn code_setters_cover_every_setting() {
    let fx = Fixture::new();
    let c = resolved(
        Config::builder()
            .without_process_env()
            .servers(["nats://a:1", "tls://b:2"])
            .client_id("svc")
            .tls_ca(fx.ca())
            .tls_client_cert(fx.cert(), fx.key())
            .tls_required(true)
            .tls_first(true)
            .reconnect_wait(Duration::from_millis(1500))
            .reconnect_max_wait(Duration::from_secs(40))
            .max_reconnects(Some(0))
            .connect_timeout(Duration::from_secs(3))
            .ping_interval(Duration::from_secs(4))
            .request_timeout(Duration::from_secs(5))
            .inbox_prefix("_IN")
            .jetstream_domain("hub")
            .jetstream_api_prefix("$JS.x.API")
            .streams([StreamSpec::new("EVENTS", ["events.>"])])
            .user_password("u", "p"),
    );
    let cfg = &c.config;
    assert_eq!(cfg.server_urls(), ["nats://a:1", "tls://b:2"]);
    assert_eq!(cfg.client_id(), "svc");
    assert!(cfg.tls().required && cfg.tls().first);
    assert_eq!(cfg.tls().ca, Some(fx.ca()));
    assert_eq!(cfg.reconnect().wait, Duration::from_millis(1500));
    assert_eq!(cfg.reconnect().max_wait, Duration::from_secs(40));
    assert_eq!(cfg.reconnect().max_reconnects, Some(0));
    assert_eq!(cfg.connect_timeout(), Duration::from_secs(3));
    assert_eq!(cfg.ping_interval(), Duration::from_secs(4));
    assert_eq!(cfg.request_timeout(), Some(Duration::from_secs(5)));
    assert_eq!(cfg.inbox_prefix(), Some("_IN"));
    assert_eq!(cfg.jetstream().domain.as_deref(), Some("hub"));
    assert_eq!(cfg.jetstream().api_prefix.as_deref(), Some("$JS.x.API"));
    assert_eq!(
        cfg.jetstream().streams,
        vec![StreamSpec::new("EVENTS", ["events.>"])]
    );
    assert_eq!(
        *cfg.auth(),
        Auth::UserPassword {
            user: "u".into(),
            password: "p".into()
        }
    );
    for key in [
        "url",
        "client_id",
        "tls.ca",
        "jetstream.streams",
        "auth.password",
    ] {
        assert_eq!(c.sources.layer(key), Some(Layer::Code), "{key}");
    }

    let c = Config::builder()
        .without_process_env()
        .creds_file(fx.creds())
        .max_reconnects(None)
        .build()
        .unwrap();
    assert_eq!(*c.auth(), creds_auth(fx.creds()));
    assert_eq!(c.reconnect().max_reconnects, None);
    let c = Config::builder()
        .without_process_env()
        .nkey_seed_file(fx.seed_file())
        .build()
        .unwrap();
    assert_eq!(c.auth().kind(), "nkey_seed_file");
    let c = Config::builder()
        .without_process_env()
        .jwt(crate::support::JWT, crate::support::SEED)
        .url("nats://x:1")
        .build()
        .unwrap();
    assert_eq!(c.auth().kind(), "jwt");
}
