//! NATS CLI contexts (ADR-21) as a layer: selection, fields, unknown fields.

use std::path::PathBuf;

use connect_nats_config::{Auth, Config, Layer};

use crate::support::{resolved, Fixture, JWT, SEED};

#[test]
fn the_selected_context_is_read_from_xdg_config_home() {
    let fx = Fixture::new();
    let path = fx.context(
        "ops",
        r#"{"description": "Operations cluster", "url": "nats://a:4222,nats://b:4222", "token": "t",
            "color_scheme": "dark", "socks_proxy": "", "nsc": "nsc://x", "windows_cert_store": ""}"#,
    );
    fx.select_context("ops\n");
    let r = resolved(Config::builder().env_vars([("XDG_CONFIG_HOME", fx.xdg())]));
    assert_eq!(r.config.server_urls(), ["nats://a:4222", "nats://b:4222"]);
    assert_eq!(r.config.auth, Auth::Token { token: "t".into() });
    let info = r.context.unwrap();
    assert_eq!(info.name, "ops");
    assert_eq!(info.path, path);
    assert_eq!(info.description.as_deref(), Some("Operations cluster"));
    assert!(
        info.selected_by.ends_with("context.txt"),
        "{}",
        info.selected_by
    );
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
    fx.write(".config/nats/context.txt", "dev");
    let home = fx.dir.path().display().to_string();
    let r = resolved(Config::builder().env_vars([("HOME", home)]));
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
}

#[test]
fn from_env_reads_nats_context_but_not_the_cli_selection() {
    let fx = Fixture::new();
    fx.context("a", r#"{"url": "nats://a:1"}"#);
    fx.select_context("a");
    let vars = [("XDG_CONFIG_HOME", fx.xdg())];
    let c = Config::builder()
        .env_vars(vars.clone())
        .without_selected_context()
        .build()
        .unwrap();
    assert_eq!(c, Config::default());
    let c = Config::builder()
        .env_vars([("XDG_CONFIG_HOME", fx.xdg()), ("NATS_CONTEXT", "a".into())])
        .without_selected_context()
        .build()
        .unwrap();
    assert_eq!(c.server_urls(), ["nats://a:1"]);
    let c = Config::builder()
        .env_vars(vars)
        .without_context()
        .build()
        .unwrap();
    assert_eq!(c, Config::default());
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
        (c.tls.ca.clone(), c.tls.cert.clone(), c.tls.key.clone()),
        (Some(ca), Some(cert), Some(key))
    );
    assert!(c.tls.first && c.tls.required);
    assert_eq!(c.jetstream.domain.as_deref(), Some("hub"));
    assert_eq!(c.jetstream.api_prefix.as_deref(), Some("$JS.hub.API"));
    assert_eq!(c.inbox_prefix.as_deref(), Some("_INBOX_ops"));
    assert_eq!(
        c.auth,
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
    assert_eq!(c.auth, Auth::CredsFile { path: creds });

    let seed = fx.seed_file();
    fx.context("nkey", &serde_json::json!({"nkey": seed}).to_string());
    let c = Config::builder()
        .env_vars([("XDG_CONFIG_HOME", fx.xdg())])
        .context("nkey")
        .build()
        .unwrap();
    assert_eq!(c.auth, Auth::NkeySeedFile { path: seed });

    fx.context("up", r#"{"user": "u", "password": "p"}"#);
    let c = Config::builder()
        .env_vars([("XDG_CONFIG_HOME", fx.xdg())])
        .context("up")
        .build()
        .unwrap();
    assert_eq!(
        c.auth,
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
    assert_eq!(
        c.auth,
        Auth::CredsFile {
            path: home.join("creds/u.creds")
        }
    );
}

#[test]
fn an_empty_selection_means_no_context() {
    let fx = Fixture::new();
    fx.select_context("  \n");
    let r = resolved(Config::builder().env_vars([("XDG_CONFIG_HOME", fx.xdg())]));
    assert_eq!(r.context, None);
    let _ = PathBuf::new();
}
