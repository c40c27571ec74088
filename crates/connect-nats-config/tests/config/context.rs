//! NATS CLI contexts (ADR-21) as a layer: selection, fields, unknown fields.

use connect_nats_config::{Auth, Config, Layer};

use crate::support::{creds_auth, resolved, seed_file_auth, Fixture, JWT, SEED};

#[test]
fn the_context_selected_with_the_cli_is_ignored_unless_asked_for() {
    let fx = Fixture::new();
    fx.context("prod", r#"{"url": "nats://prod:4222", "token": "t"}"#);
    fx.select_context("prod\n");
    fx.write(
        ".config/nats/context/prod.json",
        r#"{"url": "nats://prod:4222"}"#,
    );
    fx.write(".config/nats/context.txt", "prod");
    let home = fx.dir.path().display().to_string();
    let vars = [("XDG_CONFIG_HOME", fx.xdg()), ("HOME", home)];
    let r = resolved(Config::builder().env_vars(vars.clone()));
    assert_eq!(r.context, None);
    assert_eq!(r.config, Config::default());
    assert_eq!(r.sources.layer("url"), Some(Layer::Default));

    let file = fx.write("svc.yaml", "client_id: svc\n");
    let r = resolved(Config::builder().env_vars(vars.clone()).file(&file));
    assert_eq!(r.context, None);
    assert_eq!(r.config.server_urls(), ["nats://localhost:4222"]);

    let r = resolved(Config::builder().env_vars(vars).context("prod"));
    assert_eq!(r.config.server_urls(), ["nats://prod:4222"]);
    let info = r.context.unwrap();
    assert_eq!(info.name, "prod");
    assert_eq!(info.selected_by, "ConfigBuilder::context");
}

#[test]
fn a_context_named_by_nats_context_is_read_from_xdg_config_home() {
    let fx = Fixture::new();
    let path = fx.context(
        "ops",
        r#"{"description": "Operations cluster", "url": "nats://a:4222,nats://b:4222", "token": "t",
            "color_scheme": "dark", "socks_proxy": "", "nsc": "nsc://x", "windows_cert_store": ""}"#,
    );
    let r = resolved(Config::builder().env_vars([
        ("XDG_CONFIG_HOME", fx.xdg()),
        ("NATS_CONTEXT", "ops".into()),
    ]));
    assert_eq!(r.config.server_urls(), ["nats://a:4222", "nats://b:4222"]);
    assert_eq!(*r.config.auth(), Auth::Token { token: "t".into() });
    let info = r.context.unwrap();
    assert_eq!(info.name, "ops");
    assert_eq!(info.path, path);
    assert_eq!(info.description.as_deref(), Some("Operations cluster"));
    assert_eq!(info.selected_by, "NATS_CONTEXT");
    assert_eq!(r.sources.layer("url"), Some(Layer::Context));
    assert_eq!(r.sources.get("auth.token").unwrap().name, "token");
}

#[test]
fn home_config_nats_is_the_default_directory() {
    let fx = Fixture::new();
    fx.write(
        ".config/nats/context/dev.json",
        r#"{"url": "nats://dev:4222"}"#,
    );
    let home = fx.dir.path().display().to_string();
    let r = resolved(Config::builder().env_vars([("HOME", home), ("NATS_CONTEXT", "dev".into())]));
    assert_eq!(r.config.server_urls(), ["nats://dev:4222"]);
}

#[test]
fn nats_context_chooses_by_name_or_path_and_code_wins() {
    let fx = Fixture::new();
    fx.context("a", r#"{"url": "nats://a:1"}"#);
    let b = fx.context("b", r#"{"url": "nats://b:2"}"#);
    fx.context("c", r#"{"url": "nats://c:3"}"#);
    fx.select_context("a");
    let env = |ctx: &str| {
        vec![
            ("XDG_CONFIG_HOME".to_string(), fx.xdg()),
            ("NATS_CONTEXT".to_string(), ctx.to_string()),
        ]
    };
    let r = resolved(Config::builder().env_vars(env("c")));
    assert_eq!(r.config.server_urls(), ["nats://c:3"]);
    assert_eq!(r.context.unwrap().selected_by, "NATS_CONTEXT");
    let r = resolved(Config::builder().env_vars(env(&b.display().to_string())));
    assert_eq!(r.config.server_urls(), ["nats://b:2"]);
    let r = resolved(Config::builder().env_vars(env("c")).context("b"));
    assert_eq!(r.config.server_urls(), ["nats://b:2"]);
    let c = Config::builder()
        .env_vars(env("c"))
        .without_context()
        .build()
        .unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn the_file_context_key_names_a_context_below_the_file() {
    let fx = Fixture::new();
    fx.context("a", r#"{"url": "nats://a:1", "inbox_prefix": "_INBOX_a"}"#);
    fx.context("b", r#"{"url": "nats://b:2"}"#);
    fx.write("local/c.json", r#"{"url": "nats://c:3"}"#);
    let file = fx.write("svc.yaml", "context: a\ninbox_prefix: _INBOX_file\n");
    let vars = |extra: &[(&str, &str)]| {
        let mut v = vec![("XDG_CONFIG_HOME".to_string(), fx.xdg())];
        v.extend(
            extra
                .iter()
                .map(|(k, val)| (k.to_string(), val.to_string())),
        );
        v
    };
    let r = resolved(Config::builder().env_vars(vars(&[])).file(&file));
    assert_eq!(r.config.server_urls(), ["nats://a:1"]);
    assert_eq!(r.config.inbox_prefix(), Some("_INBOX_file"));
    assert!(r.context.unwrap().selected_by.contains("svc.yaml"));
    let r = resolved(
        Config::builder()
            .env_vars(vars(&[("NATS_CONTEXT", "b")]))
            .file(&file),
    );
    assert_eq!(r.config.server_urls(), ["nats://b:2"]);
    let relative = fx.write("rel.yaml", "context: local/c.json\n");
    let r = resolved(Config::builder().env_vars(vars(&[])).file(&relative));
    assert_eq!(r.config.server_urls(), ["nats://c:3"]);
}

#[test]
fn every_adr21_field_maps_to_its_setting() {
    let fx = Fixture::new();
    let (ca, cert, key) = (fx.ca(), fx.cert(), fx.key());
    fx.context(
        "full",
        &serde_json::json!({
            "url": "tls://x:4222",
            "cert": cert, "key": key, "ca": ca,
            "tls_first": true,
            "jetstream_domain": "hub",
            "jetstream_api_prefix": "$JS.hub.API",
            "inbox_prefix": "_INBOX_ops",
            "user_jwt": JWT, "user_seed": SEED,
            "token": "", "user": "", "password": "", "creds": "", "nkey": "",
            "jetstream_event_prefix": "", "color_scheme": ""
        })
        .to_string(),
    );
    let r = resolved(
        Config::builder()
            .env_vars([("XDG_CONFIG_HOME", fx.xdg())])
            .context("full"),
    );
    let c = &r.config;
    assert_eq!(c.server_urls(), ["tls://x:4222"]);
    assert_eq!(
        (
            c.tls().ca.clone(),
            c.tls().cert.clone(),
            c.tls().key.clone()
        ),
        (Some(ca), Some(cert), Some(key))
    );
    assert!(c.tls().first && c.tls().required);
    assert_eq!(c.jetstream().domain.as_deref(), Some("hub"));
    assert_eq!(c.jetstream().api_prefix.as_deref(), Some("$JS.hub.API"));
    assert_eq!(c.inbox_prefix(), Some("_INBOX_ops"));
    assert_eq!(
        *c.auth(),
        Auth::Jwt {
            jwt: JWT.into(),
            seed: SEED.into()
        }
    );
    for key in [
        "tls.ca",
        "tls.first",
        "jetstream.domain",
        "auth.jwt",
        "auth.nkey_seed",
        "inbox_prefix",
    ] {
        assert_eq!(r.sources.layer(key), Some(Layer::Context), "{key}");
    }

    let creds = fx.creds();
    fx.context("creds", &serde_json::json!({"creds": creds}).to_string());
    let c = Config::builder()
        .env_vars([("XDG_CONFIG_HOME", fx.xdg())])
        .context("creds")
        .build()
        .unwrap();
    assert_eq!(*c.auth(), creds_auth(creds));

    let seed = fx.seed_file();
    fx.context("nkey", &serde_json::json!({"nkey": seed}).to_string());
    let c = Config::builder()
        .env_vars([("XDG_CONFIG_HOME", fx.xdg())])
        .context("nkey")
        .build()
        .unwrap();
    assert_eq!(*c.auth(), seed_file_auth(seed));

    fx.context("up", r#"{"user": "u", "password": "p"}"#);
    let c = Config::builder()
        .env_vars([("XDG_CONFIG_HOME", fx.xdg())])
        .context("up")
        .build()
        .unwrap();
    assert_eq!(
        *c.auth(),
        Auth::UserPassword {
            user: "u".into(),
            password: "p".into()
        }
    );
}

#[test]
fn tilde_paths_in_contexts_expand_to_home() {
    let fx = Fixture::new();
    fx.write(
        "home/creds/u.creds",
        &crate::support::creds_content(JWT, SEED),
    );
    fx.context("t", r#"{"creds": "~/creds/u.creds"}"#);
    let home = fx.path("home");
    let c = Config::builder()
        .env_vars([
            ("XDG_CONFIG_HOME", fx.xdg()),
            ("HOME", home.display().to_string()),
        ])
        .context("t")
        .build()
        .unwrap();
    assert_eq!(*c.auth(), creds_auth(home.join("creds/u.creds")));
}
