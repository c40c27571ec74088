//! Every refusal: a typed error naming the variable or key, and what to do.

use std::time::Duration;

use connect_nats_config::{Config, ConfigErrorKind as K, MAX_DURATION};

use crate::support::{creds_content, fails, mentions, with_env, Fixture, JWT, SEED};

#[test]
fn two_auth_methods_name_both_variables() {
    let e = fails(
        with_env(&[("NATS_TOKEN", "a"), ("NATS_USER", "b")]),
        K::AuthConflict,
    );
    mentions(&e, &["NATS_TOKEN", "NATS_USER", "exactly one"]);
}

#[test]
fn every_pair_of_auth_methods_conflicts() {
    let fx = Fixture::new();
    let creds = fx.creds().display().to_string();
    let seed_file = fx.seed_file().display().to_string();
    let methods: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("NATS_TOKEN", vec![("NATS_TOKEN", "t".into())]),
        ("NATS_CREDS_FILE", vec![("NATS_CREDS_FILE", creds)]),
        (
            "NATS_USER",
            vec![("NATS_USER", "u".into()), ("NATS_PASSWORD", "p".into())],
        ),
        (
            "NATS_NKEY_SEED_FILE",
            vec![("NATS_NKEY_SEED_FILE", seed_file)],
        ),
        (
            "NATS_JWT",
            vec![("NATS_JWT", JWT.into()), ("NATS_NKEY_SEED", SEED.into())],
        ),
        ("NATS_URL", vec![("NATS_URL", "nats://tok@h:4222".into())]),
    ];
    for (i, (a, vars_a)) in methods.iter().enumerate() {
        for (b, vars_b) in &methods[i + 1..] {
            let vars: Vec<(String, String)> = vars_a
                .iter()
                .chain(vars_b)
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            let e = fails(Config::builder().env_vars(vars), K::AuthConflict);
            mentions(&e, &[a, b]);
        }
    }
}

#[test]
fn password_alone_is_not_a_method_of_its_own() {
    let e = fails(
        with_env(&[("NATS_TOKEN", "a"), ("NATS_PASSWORD", "b")]),
        K::AuthConflict,
    );
    mentions(&e, &["NATS_TOKEN", "NATS_PASSWORD"]);
}

#[test]
fn user_without_password_and_the_reverse() {
    let e = fails(with_env(&[("NATS_USER", "u")]), K::UserWithoutPassword);
    mentions(&e, &["NATS_USER", "NATS_PASSWORD"]);
    let e = fails(with_env(&[("NATS_PASSWORD", "p")]), K::PasswordWithoutUser);
    mentions(&e, &["NATS_PASSWORD", "NATS_USER"]);
    let e = fails(
        with_env(&[("NATS_URL", "nats://u:@h:4222")]),
        K::UserWithoutPassword,
    );
    mentions(&e, &["NATS_URL"]);
    let fx = Fixture::new();
    let file = fx.write("a.yaml", "auth:\n  user: u\n");
    let e = fails(
        Config::builder().without_process_env().file(&file),
        K::UserWithoutPassword,
    );
    mentions(&e, &["`auth.user` in", "`auth.password`"]);
}

#[test]
fn jwt_without_seed_and_the_reverse() {
    let e = fails(with_env(&[("NATS_JWT", JWT)]), K::JwtWithoutSeed);
    mentions(&e, &["NATS_JWT", "NATS_NKEY_SEED"]);
    let e = fails(with_env(&[("NATS_NKEY_SEED", SEED)]), K::SeedWithoutJwt);
    mentions(&e, &["NATS_NKEY_SEED", "NATS_JWT"]);
}

#[test]
fn malformed_inline_jwt_or_seed() {
    let e = fails(
        with_env(&[("NATS_JWT", "not-a-jwt"), ("NATS_NKEY_SEED", SEED)]),
        K::InvalidValue,
    );
    mentions(&e, &["NATS_JWT", "JWT"]);
    let e = fails(
        with_env(&[("NATS_JWT", JWT), ("NATS_NKEY_SEED", "SAxxx")]),
        K::InvalidValue,
    );
    mentions(&e, &["NATS_NKEY_SEED", "SU"]);
}

#[test]
fn cert_without_key_and_the_reverse() {
    let fx = Fixture::new();
    let cert = fx.cert().display().to_string();
    let key = fx.key().display().to_string();
    let e = fails(with_env(&[("NATS_TLS_CERT", &cert)]), K::CertWithoutKey);
    mentions(&e, &["NATS_TLS_CERT", "NATS_TLS_KEY"]);
    let e = fails(with_env(&[("NATS_TLS_KEY", &key)]), K::KeyWithoutCert);
    mentions(&e, &["NATS_TLS_KEY", "NATS_TLS_CERT"]);
}

#[test]
fn missing_files_name_the_variable_and_the_path() {
    let fx = Fixture::new();
    let missing = fx.path("nope.pem").display().to_string();
    let key = fx.key().display().to_string();
    let cert = fx.cert().display().to_string();
    for vars in [
        vec![("NATS_CREDS_FILE", missing.as_str())],
        vec![("NATS_NKEY_SEED_FILE", missing.as_str())],
        vec![("NATS_TLS_CA", missing.as_str())],
        vec![
            ("NATS_TLS_CERT", missing.as_str()),
            ("NATS_TLS_KEY", key.as_str()),
        ],
        vec![
            ("NATS_TLS_CERT", cert.as_str()),
            ("NATS_TLS_KEY", missing.as_str()),
        ],
    ] {
        let e = fails(with_env(&vars), K::FileMissing);
        mentions(
            &e,
            &[
                vars.iter().find(|(_, v)| *v == missing).unwrap().0,
                &missing,
                "does not exist",
            ],
        );
    }
    let e = fails(
        with_env(&[("NATS_CONFIG_FILE", &fx.path("x.yaml").display().to_string())]),
        K::FileMissing,
    );
    mentions(&e, &["NATS_CONFIG_FILE", "x.yaml"]);
}

#[test]
fn unreadable_files() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.path("dir.creds")).unwrap();
    let dir = fx.path("dir.creds").display().to_string();
    let e = fails(with_env(&[("NATS_CREDS_FILE", &dir)]), K::FileUnreadable);
    mentions(&e, &["NATS_CREDS_FILE", "cannot be read"]);
    std::fs::create_dir_all(fx.path("dir.yaml")).unwrap();
    let e = fails(
        Config::builder()
            .without_process_env()
            .file(fx.path("dir.yaml")),
        K::FileUnreadable,
    );
    mentions(&e, &["ConfigBuilder::file"]);
    let binary = fx.path("bin.pem");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    let e = fails(
        with_env(&[("NATS_TLS_CA", &binary.display().to_string())]),
        K::FileInvalid,
    );
    mentions(&e, &["NATS_TLS_CA", "not text"]);
}

#[test]
fn files_that_do_not_hold_what_they_must() {
    let fx = Fixture::new();
    let p = |name: &str, content: &str| fx.write(name, content).display().to_string();
    let cases: Vec<(Vec<(&str, String)>, &str, &str)> = vec![
        (
            vec![("NATS_CREDS_FILE", p("nojwt.creds", "just text\n"))],
            "NATS_CREDS_FILE",
            "no user JWT",
        ),
        (
            vec![(
                "NATS_CREDS_FILE",
                p(
                    "noseed.creds",
                    &format!(
                        "-----BEGIN NATS USER JWT-----\n{JWT}\n------END NATS USER JWT------\n"
                    ),
                ),
            )],
            "NATS_CREDS_FILE",
            "no nkey seed",
        ),
        (
            vec![(
                "NATS_CREDS_FILE",
                p("badseed.creds", &creds_content(JWT, "SAAAA")),
            )],
            "NATS_CREDS_FILE",
            "user seed",
        ),
        (
            vec![("NATS_NKEY_SEED_FILE", p("empty.nk", "\n"))],
            "NATS_NKEY_SEED_FILE",
            "no nkey user seed",
        ),
        (
            vec![("NATS_TLS_CA", p("noca.pem", "hello\n"))],
            "NATS_TLS_CA",
            "no certificate",
        ),
        (
            vec![
                ("NATS_TLS_CERT", p("nocert.pem", "hello\n")),
                ("NATS_TLS_KEY", fx.key().display().to_string()),
            ],
            "NATS_TLS_CERT",
            "no certificate",
        ),
        (
            vec![
                ("NATS_TLS_CERT", fx.cert().display().to_string()),
                (
                    "NATS_TLS_KEY",
                    p("nokey.pem", &std::fs::read_to_string(fx.cert()).unwrap()),
                ),
            ],
            "NATS_TLS_KEY",
            "no private key",
        ),
        (
            vec![(
                "NATS_TLS_CA",
                p("broken.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n"),
            )],
            "NATS_TLS_CA",
            "PEM",
        ),
    ];
    for (vars, name, what) in cases {
        let e = fails(Config::builder().env_vars(vars), K::FileInvalid);
        mentions(&e, &[name, what]);
    }
}

#[test]
fn invalid_urls_and_unknown_schemes() {
    let e = fails(with_env(&[("NATS_URL", "http://h:4222")]), K::UnknownScheme);
    mentions(&e, &["NATS_URL", "`http`", "nats://"]);
    for bad in [
        "nats://h:99999",
        "nats://:4222",
        "nats://h:4222/x",
        "nats://h:4222?a=b",
        "nats://h:port",
    ] {
        let e = fails(with_env(&[("NATS_URL", bad)]), K::InvalidUrl);
        mentions(&e, &["NATS_URL"]);
    }
    let e = fails(with_env(&[("NATS_URL", " , ")]), K::EmptyValue);
    mentions(&e, &["NATS_URL"]);
    let e = fails(
        with_env(&[("NATS_URL", "nats://a@h:1,nats://b@h:2")]),
        K::InvalidUrl,
    );
    mentions(&e, &["different credentials"]);
}

#[test]
fn tls_settings_with_plain_websocket_are_refused() {
    let e = fails(
        with_env(&[("NATS_URL", "ws://h:8080"), ("NATS_TLS_REQUIRED", "true")]),
        K::TlsOverPlainWebSocket,
    );
    mentions(&e, &["NATS_URL", "NATS_TLS_REQUIRED", "wss://"]);
}

#[test]
fn negative_durations() {
    for value in ["-5s", "-1", "-500ms"] {
        let e = fails(
            with_env(&[("NATS_RECONNECT_WAIT", value)]),
            K::NegativeDuration,
        );
        mentions(&e, &["NATS_RECONNECT_WAIT", value, "negative"]);
    }
    let fx = Fixture::new();
    let file = fx.write("n.yaml", "timeout: -3\n");
    let e = fails(
        Config::builder().without_process_env().file(&file),
        K::NegativeDuration,
    );
    mentions(&e, &["`timeout` in", "-3"]);
}

#[test]
fn invalid_and_zero_durations() {
    let e = fails(with_env(&[("NATS_TIMEOUT", "soon")]), K::InvalidDuration);
    mentions(&e, &["NATS_TIMEOUT", "soon", "500ms"]);
    for var in [
        "NATS_TIMEOUT",
        "NATS_PING_INTERVAL",
        "NATS_REQUEST_TIMEOUT",
        "NATS_RECONNECT_MAX_WAIT",
    ] {
        let e = fails(with_env(&[(var, "0")]), K::InvalidDuration);
        mentions(&e, &[var, "greater than zero"]);
    }
    let fx = Fixture::new();
    let file = fx.write("d.yaml", "reconnect:\n  wait: [1]\n");
    let e = fails(
        Config::builder().without_process_env().file(&file),
        K::InvalidDuration,
    );
    mentions(&e, &["`reconnect.wait` in"]);
}

#[test]
fn reconnect_wait_longer_than_its_cap() {
    let e = fails(
        with_env(&[
            ("NATS_RECONNECT_WAIT", "1m"),
            ("NATS_RECONNECT_MAX_WAIT", "30s"),
        ]),
        K::InvalidValue,
    );
    mentions(
        &e,
        &[
            "NATS_RECONNECT_WAIT",
            "NATS_RECONNECT_MAX_WAIT",
            "30s",
            "1m",
        ],
    );
}

#[test]
fn non_numbers_where_a_number_goes() {
    let e = fails(
        with_env(&[("NATS_MAX_RECONNECTS", "forever")]),
        K::NotANumber,
    );
    mentions(&e, &["NATS_MAX_RECONNECTS", "forever", "-1"]);
    let e = fails(with_env(&[("NATS_MAX_RECONNECTS", "1.5")]), K::NotANumber);
    mentions(&e, &["NATS_MAX_RECONNECTS"]);
    let e = fails(with_env(&[("NATS_MAX_RECONNECTS", "-2")]), K::InvalidValue);
    mentions(&e, &["NATS_MAX_RECONNECTS", "-1"]);
}

#[test]
fn non_booleans() {
    let e = fails(with_env(&[("NATS_TLS_REQUIRED", "maybe")]), K::NotABool);
    mentions(&e, &["NATS_TLS_REQUIRED", "maybe", "true or false"]);
    let e = fails(with_env(&[("NATS_TLS_FIRST", "2")]), K::NotABool);
    mentions(&e, &["NATS_TLS_FIRST"]);
}

#[test]
fn wrong_types_and_empty_values_in_files() {
    let fx = Fixture::new();
    let load = |content: &str, kind| {
        let file = fx.write("t.yaml", content);
        fails(Config::builder().without_process_env().file(file), kind)
    };
    let e = load("client_id: \"\"\n", K::EmptyValue);
    mentions(&e, &["`client_id` in", "empty"]);
    let e = load("client_id: [a, b]\n", K::InvalidValue);
    mentions(&e, &["`client_id` in", "a list"]);
    let e = load("auth: token\n", K::InvalidValue);
    mentions(&e, &["`auth` in", "auth.token"]);
    let e = load("url: {host: x}\n", K::InvalidValue);
    mentions(&e, &["`url` in"]);
    let e = load("inbox_prefix: \"_IN.*\"\n", K::InvalidValue);
    mentions(&e, &["`inbox_prefix` in", "wildcards"]);
}

#[test]
fn unknown_keys_in_files_are_refused_naming_the_key() {
    let fx = Fixture::new();
    let cases = [
        ("typo.yaml", "reconect:\n  wait: 2s\n", "reconect", "`reconnect`"),
        ("typo2.yaml", "auth:\n  tokn: x\n", "auth.tokn", "`auth.token`"),
        ("typo.toml", "[tls]\nrequierd = true\n", "tls.requierd", "`tls.required`"),
        ("typo.json", r#"{"colour": "x"}"#, "colour", "valid keys"),
        ("env.yaml", "NATS_URL: nats://h:4222\n", "NATS_URL", "write `url`"),
        ("dotted.yml", "reconnect.wiat: 2s\n", "reconnect.wiat", "`reconnect.wait`"),
        (
            "stream.yaml",
            "jetstream:\n  streams:\n    - name: EVENTS\n      subjects: [\"events.>\"]\n      maxage: 1h\n",
            "jetstream.streams[0].maxage",
            "`max_age`",
        ),
    ];
    for (name, content, key, hint) in cases {
        let file = fx.write(name, content);
        let e = fails(
            Config::builder().without_process_env().file(&file),
            K::UnknownKey,
        );
        mentions(&e, &[&format!("`{key}`"), name, hint]);
    }
    // A secret that lost its `: ` in a damaged file became part of the key:
    // the error names the key only up to where it stops matching one.
    let seed = "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY";
    let file = fx.write(
        "merged.yaml",
        &format!(
            "auth:
  nkey_seed{seed}: x
"
        ),
    );
    let e = fails(
        Config::builder().without_process_env().file(&file),
        K::UnknownKey,
    );
    mentions(&e, &["`auth.nkey_seed…", "58 more characters not shown"]);
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(&seed[..8]), "the seed was shown: {shown}");
    let e = fails(
        Config::builder()
            .without_process_env()
            .set("reconnect.wiat", "2s"),
        K::UnknownKey,
    );
    mentions(
        &e,
        &["reconnect.wiat", "ConfigBuilder::set", "reconnect.wait"],
    );
}

#[test]
fn unsupported_file_formats_and_syntax_errors() {
    let fx = Fixture::new();
    let ini = fx.write("nats.ini", "url=x\n");
    let e = fails(
        with_env(&[("NATS_CONFIG_FILE", &ini.display().to_string())]),
        K::UnsupportedFormat,
    );
    mentions(&e, &["NATS_CONFIG_FILE", ".yaml", ".toml"]);
    for (name, content, format) in [
        ("bad.yaml", "url: [\n", "YAML"),
        ("bad.json", "{\"url\": ", "JSON"),
        ("bad.toml", "url = \n", "TOML"),
        ("scalar.yaml", "just a string\n", "YAML"),
    ] {
        let file = fx.write(name, content);
        let e = fails(
            Config::builder().without_process_env().file(&file),
            K::FileSyntax,
        );
        mentions(&e, &[name, format]);
    }
}

#[test]
fn contexts_that_cannot_be_found_or_read() {
    let fx = Fixture::new();
    let e = fails(
        with_env(&[("NATS_CONTEXT", "prod"), ("XDG_CONFIG_HOME", &fx.xdg())]),
        K::ContextNotFound,
    );
    mentions(
        &e,
        &["NATS_CONTEXT", "`prod`", "prod.json", "nats context save"],
    );
    let file = fx.write("svc.yaml", "context: gone\n");
    let e = fails(
        with_env(&[("XDG_CONFIG_HOME", &fx.xdg())]).file(&file),
        K::ContextNotFound,
    );
    mentions(&e, &["`context` in", "svc.yaml", "`gone`"]);
    fx.context("broken", "{not json");
    let e = fails(
        with_env(&[("NATS_CONTEXT", "broken"), ("XDG_CONFIG_HOME", &fx.xdg())]),
        K::ContextInvalid,
    );
    mentions(&e, &["broken.json", "not valid JSON"]);
    fx.context("array", "[1]");
    let e = fails(
        with_env(&[("NATS_CONTEXT", "array"), ("XDG_CONFIG_HOME", &fx.xdg())]),
        K::ContextInvalid,
    );
    mentions(&e, &["not a JSON object"]);
}

#[test]
fn invalid_stream_declarations() {
    let fx = Fixture::new();
    let cases = [
        (
            "- name: \"A B\"\n  subjects: [a]\n",
            "jetstream.streams[0]",
            "A B",
        ),
        (
            "- name: A\n  subjects: []\n",
            "jetstream.streams[0]",
            "subject",
        ),
        (
            "- name: A\n  subjects: [a]\n  replicas: 7\n",
            "jetstream.streams[0]",
            "1 to 5",
        ),
        (
            "- name: A\n  subjects: [a]\n- name: A\n  subjects: [b]\n",
            "jetstream.streams[1]",
            "twice",
        ),
        (
            "- subjects: [a]\n",
            "jetstream.streams[0]",
            "`name` is missing",
        ),
        (
            "- name: A\n  subjects: [a]\n  storage: disk\n",
            "jetstream.streams[0].storage",
            "`disk`",
        ),
        (
            "- name: A\n  subjects: [a]\n  max_age: -1s\n",
            "jetstream.streams[0].max_age",
            "negative",
        ),
        (
            "- name: A\n  subjects: a\n",
            "jetstream.streams[0].subjects",
            "expected",
        ),
    ];
    for (streams, place, what) in cases {
        let indented: String = streams.lines().map(|l| format!("    {l}\n")).collect();
        let file = fx.write("s.yaml", &format!("jetstream:\n  streams:\n{indented}"));
        let e = fails(
            Config::builder().without_process_env().file(&file),
            K::InvalidStream,
        );
        mentions(&e, &[place, what]);
    }
}

#[test]
fn durations_above_365_days_are_refused_from_every_layer() {
    let fx = Fixture::new();
    for var in [
        "NATS_TIMEOUT",
        "NATS_PING_INTERVAL",
        "NATS_REQUEST_TIMEOUT",
        "NATS_RECONNECT_WAIT",
        "NATS_RECONNECT_MAX_WAIT",
    ] {
        for value in [
            "366d",
            "8761h",
            "31622400",
            "99999999999999999999",
            "600000000years",
        ] {
            let e = fails(with_env(&[(var, value)]), K::DurationTooLong);
            mentions(&e, &[var, value, "365 days"]);
        }
        let loaded = with_env(&[(var, "365d")]).build();
        assert!(
            loaded.is_ok(),
            "365 days must be accepted for {var}: {loaded:?}"
        );
    }
    let file = fx.write(
        "long.yaml",
        "ping_interval: 1e300\nrequest_timeout: 40000000\n",
    );
    let e = fails(with_env(&[]).file(&file), K::DurationTooLong);
    mentions(&e, &["`ping_interval` in", "long.yaml"]);
    for build in [
        with_env(&[]).connect_timeout(Duration::MAX),
        with_env(&[]).ping_interval(Duration::MAX),
        with_env(&[]).request_timeout(Duration::MAX),
        with_env(&[]).reconnect_wait(Duration::MAX),
        with_env(&[]).reconnect_max_wait(Duration::MAX),
        with_env(&[]).connect_timeout(MAX_DURATION + Duration::from_nanos(1)),
    ] {
        fails(build, K::DurationTooLong);
    }
    let c = with_env(&[]).ping_interval(MAX_DURATION).build().unwrap();
    assert_eq!(c.ping_interval(), MAX_DURATION);
}

#[test]
fn max_pings_out_is_a_count_from_1_to_100() {
    for value in ["0", "101", "-1", "4294967296"] {
        let e = fails(with_env(&[("NATS_MAX_PINGS_OUT", value)]), K::InvalidValue);
        mentions(&e, &["NATS_MAX_PINGS_OUT", value, "1 to 100"]);
    }
    let e = fails(with_env(&[("NATS_MAX_PINGS_OUT", "two")]), K::NotANumber);
    mentions(&e, &["NATS_MAX_PINGS_OUT", "1 to 100"]);
    fails(with_env(&[]).max_pings_out(0), K::InvalidValue);
}
