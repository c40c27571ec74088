//! Secrets (token, password, JWT, seed, URL userinfo) never appear in Debug,
//! Display, errors or the JSON output: they print as `***`.

use connect_nats_config::{Config, ConfigBuilder, Secret};

use crate::support::{creds_content, Fixture, JWT, SEED};

const TOKEN: &str = "tok-9f8e7d6c5b4a";
const PASSWORD: &str = "pw-0a1b2c3d4e5f";

fn assert_hidden(text: &str, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} leaks a secret: {text}");
    }
}

/// Every way a loaded configuration can be printed.
fn all_output(builder: ConfigBuilder) -> String {
    let debug_builder = format!("{builder:?}");
    let r = builder.build_with_sources().unwrap();
    let mut out = vec![
        debug_builder,
        format!("{r:?}"),
        format!("{:?}", r.config),
        format!("{:#?}", r.config.auth()),
        serde_json::to_string_pretty(&r).unwrap(),
        serde_json::to_string(&r.config).unwrap(),
    ];
    out.extend(r.sources.iter().map(|(_, o)| o.to_string()));
    out.join("\n")
}

#[test]
fn secret_prints_as_stars() {
    let s = Secret::new(TOKEN);
    assert_eq!(format!("{s}"), "***");
    assert_eq!(format!("{s:?}"), "***");
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
    assert_eq!(s.expose(), TOKEN);
}

#[test]
fn every_secret_field_from_the_environment_is_hidden() {
    let cases: Vec<(Vec<(&str, &str)>, Vec<&str>)> = vec![
        (vec![("NATS_TOKEN", TOKEN)], vec![TOKEN]),
        (
            vec![("NATS_USER", "svc"), ("NATS_PASSWORD", PASSWORD)],
            vec![PASSWORD],
        ),
        (
            vec![("NATS_JWT", JWT), ("NATS_NKEY_SEED", SEED)],
            vec![JWT, SEED, "SUAIO3"],
        ),
        (
            vec![("NATS_URL", "nats://svc:pw-0a1b2c3d4e5f@h:4222")],
            vec![PASSWORD],
        ),
        (
            vec![(
                "NATS_URL",
                "nats://tok-9f8e7d6c5b4a@h:4222,nats://tok-9f8e7d6c5b4a@h2:4222",
            )],
            vec![TOKEN],
        ),
    ];
    for (vars, secrets) in cases {
        let out = all_output(Config::builder().env_vars(vars.iter().copied()));
        assert_hidden(&out, &secrets, &format!("{vars:?}"));
        assert!(out.contains("***"), "{out}");
    }
}

#[test]
fn every_secret_field_from_a_file_context_or_code_is_hidden() {
    let fx = Fixture::new();
    let file = fx.write(
        "s.yaml",
        &format!("auth:\n  jwt: {JWT}\n  nkey_seed: {SEED}\n"),
    );
    let out = all_output(Config::builder().without_process_env().file(&file));
    assert_hidden(&out, &[JWT, SEED], "file");

    fx.context(
        "ops",
        &format!(r#"{{"user": "svc", "password": "{PASSWORD}"}}"#),
    );
    let out = all_output(
        Config::builder()
            .env_vars([("XDG_CONFIG_HOME", fx.xdg())])
            .context("ops"),
    );
    assert_hidden(&out, &[PASSWORD], "context");

    let out = all_output(Config::builder().without_process_env().token(TOKEN));
    assert_hidden(&out, &[TOKEN], "code");
}

#[test]
fn errors_never_hold_a_secret() {
    let fx = Fixture::new();
    let mut errors = Vec::new();
    let mut fail = |builder: ConfigBuilder| {
        let e = builder.build().unwrap_err();
        errors.push(format!("{e}\n{e:?}"));
    };
    // Conflicts and pairs while secrets are set.
    fail(Config::builder().env_vars([
        ("NATS_TOKEN", TOKEN),
        ("NATS_USER", "u"),
        ("NATS_PASSWORD", PASSWORD),
    ]));
    fail(Config::builder().env_vars([("NATS_PASSWORD", PASSWORD)]));
    fail(Config::builder().env_vars([("NATS_JWT", JWT)]));
    fail(Config::builder().env_vars([("NATS_NKEY_SEED", SEED)]));
    fail(Config::builder().env_vars([
        ("NATS_URL", "nats://tok-9f8e7d6c5b4a@h:4222"),
        ("NATS_USER", "u"),
    ]));
    // Malformed secrets.
    fail(Config::builder().env_vars([("NATS_JWT", TOKEN), ("NATS_NKEY_SEED", SEED)]));
    fail(Config::builder().env_vars([("NATS_JWT", JWT), ("NATS_NKEY_SEED", TOKEN)]));
    // URLs with userinfo that are otherwise wrong.
    fail(Config::builder().env_vars([("NATS_URL", "nats://svc:pw-0a1b2c3d4e5f@h:notaport")]));
    fail(Config::builder().env_vars([("NATS_URL", "http://tok-9f8e7d6c5b4a@h:4222")]));
    fail(Config::builder().env_vars([("NATS_URL", "nats://tok-9f8e7d6c5b4a@h:4222/path")]));
    fail(
        Config::builder().env_vars([("NATS_URL", "nats://tok-9f8e7d6c5b4a@h:1,nats://other@h:2")]),
    );
    fail(Config::builder().env_vars([
        ("NATS_URL", "ws://svc:pw-0a1b2c3d4e5f@h:1"),
        ("NATS_TLS_FIRST", "true"),
    ]));
    // Secrets in files that fail to parse.
    for (name, content) in [
        ("t.toml", "[auth]\ntoken = tok-9f8e7d6c5b4a\n"),
        ("t.yaml", "auth: tok-9f8e7d6c5b4a\n"),
        ("t2.yaml", "tok-9f8e7d6c5b4a\n"),
        ("t3.yaml", "auth:\n  token: [tok-9f8e7d6c5b4a]\n"),
        ("t.json", "{\"auth\": {\"token\": \"tok-9f8e7d6c5b4a\"}, }"),
        ("t2.json", "\"tok-9f8e7d6c5b4a\""),
    ] {
        let file = fx.write(name, content);
        fail(Config::builder().without_process_env().file(file));
    }
    // A creds file whose seed is invalid, and a seed file with a bad seed.
    let creds = fx.write(
        "bad.creds",
        &creds_content(JWT, "SAAAA-not-a-seed-pw-0a1b2c3d4e5f"),
    );
    fail(Config::builder().without_process_env().creds_file(creds));
    let seed = fx.write("bad.nk", "pw-0a1b2c3d4e5f\n");
    fail(Config::builder().without_process_env().nkey_seed_file(seed));
    // A context file that is not JSON, holding a secret.
    fx.context("leaky", "{\"token\": \"tok-9f8e7d6c5b4a\" oops}");
    fail(
        Config::builder()
            .env_vars([("XDG_CONFIG_HOME", fx.xdg())])
            .context("leaky"),
    );

    for text in &errors {
        assert_hidden(text, &[TOKEN, PASSWORD, JWT, SEED], "error");
    }
    assert_eq!(errors.len(), 21);
}

/// A scheme-less URL whose password holds `://`: the text before it is not a
/// scheme, and no part of the password may be quoted in the error.
#[test]
fn a_password_holding_a_scheme_separator_is_never_shown() {
    for url in [
        "svc:pw-0a1b2c3d4e5f://tail-9a8b7c@nats:4222",
        "svc:pw-0a1b2c3d4e5f://tail-9a8b7c@nats:4222,nats://h:4222",
    ] {
        let e = Config::builder()
            .without_process_env()
            .env_vars([("NATS_URL", url)])
            .build()
            .unwrap_err();
        let shown = format!("{e}\n{e:?}");
        assert_hidden(&shown, &[PASSWORD, "svc:pw", "tail-9a8b7c"], url);
        assert!(shown.contains("***@nats:4222"), "{shown}");
    }
}
