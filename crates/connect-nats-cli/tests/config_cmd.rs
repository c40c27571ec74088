//! `connect-nats config`, run as an operator would from the shell.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const TOKEN: &str = "tok-5ecret-7f3a9c";

/// Runs `connect-nats config ARGS` with only these variables (and an empty home).
fn run(home: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_connect-nats"))
        .arg("config")
        .args(args)
        .env_clear()
        .env("HOME", home)
        .envs(vars.iter().copied())
        .output()
        .expect("run connect-nats")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(out));
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

#[test]
fn two_auth_methods_exit_2_naming_both_variables() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &[("NATS_TOKEN", "a"), ("NATS_USER", "b")], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("NATS_TOKEN") && err.contains("NATS_USER"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_bare_integer_reconnect_wait_shows_as_seconds() {
    let home = tempfile::tempdir().unwrap();
    let v = json(&run(home.path(), &[("NATS_RECONNECT_WAIT", "2")], &[]));
    assert_eq!(v["config"]["reconnect"]["wait"], "2s");
    assert_eq!(v["sources"]["reconnect.wait"]["source"], "env");
    assert_eq!(
        v["sources"]["reconnect.wait"]["from"],
        "NATS_RECONNECT_WAIT"
    );
    assert_eq!(v["sources"]["timeout"]["source"], "default");
    assert_eq!(v["config"]["reconnect"]["max_reconnects"], -1);
}

#[test]
fn a_yaml_file_with_a_typo_is_refused_naming_the_key() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("svc.yaml");
    std::fs::write(&file, "url: nats://h:4222\nreconnect:\n  wiat: 2s\n").unwrap();
    let by_env = run(
        home.path(),
        &[("NATS_CONFIG_FILE", file.to_str().unwrap())],
        &[],
    );
    let by_flag = run(home.path(), &[], &["--file", file.to_str().unwrap()]);
    for out in [by_env, by_flag] {
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.contains("`reconnect.wiat`") && err.contains("svc.yaml"),
            "{err}"
        );
        assert!(err.contains("reconnect.wait"), "a hint: {err}");
    }
}

#[test]
fn a_token_never_appears_in_any_output() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("svc.toml");
    std::fs::write(&file, format!("[auth]\ntoken = \"{TOKEN}\"\n")).unwrap();
    let bad_toml = home.path().join("bad.toml");
    std::fs::write(&bad_toml, format!("[auth]\ntoken = {TOKEN}\n")).unwrap();
    let url = format!("nats://{TOKEN}@h:4222");
    let runs = [
        run(home.path(), &[("NATS_TOKEN", TOKEN)], &[]),
        run(home.path(), &[("NATS_URL", &url)], &[]),
        run(home.path(), &[], &["--file", file.to_str().unwrap()]),
        run(
            home.path(),
            &[("NATS_TOKEN", TOKEN), ("NATS_USER", "u")],
            &[],
        ),
        run(
            home.path(),
            &[("NATS_TOKEN", TOKEN), ("NATS_TIMEOUT", "-1s")],
            &[],
        ),
        run(home.path(), &[("NATS_URL", &format!("{url}/x"))], &[]),
        run(home.path(), &[], &["--file", bad_toml.to_str().unwrap()]),
    ];
    let mut successes = 0;
    for out in &runs {
        let all = format!("{}{}", stdout(out), stderr(out));
        assert!(!all.contains(TOKEN), "the token leaked: {all}");
        if out.status.success() {
            successes += 1;
            let v = json(out);
            assert_eq!(v["config"]["auth"]["token"], "***");
        } else {
            assert_eq!(out.status.code(), Some(2));
        }
    }
    assert_eq!(successes, 3);
}

#[test]
fn the_context_and_file_are_shown_with_their_values_sources() {
    let home = tempfile::tempdir().unwrap();
    let ctx_dir = home.path().join(".config/nats/context");
    std::fs::create_dir_all(&ctx_dir).unwrap();
    std::fs::write(
        ctx_dir.join("ops.json"),
        r#"{"description": "Ops cluster", "url": "nats://ops:4222", "color_scheme": "dark"}"#,
    )
    .unwrap();
    std::fs::write(home.path().join(".config/nats/context.txt"), "ops").unwrap();
    let file = home.path().join("svc.json");
    std::fs::write(&file, r#"{"client_id": "billing"}"#).unwrap();

    // The context selected with `nats context select` is not read unless asked for.
    let v = json(&run(
        home.path(),
        &[("NATS_CONFIG_FILE", file.to_str().unwrap())],
        &[],
    ));
    assert_eq!(v["context"], serde_json::Value::Null);
    assert_eq!(v["config"]["servers"][0]["url"], "nats://localhost:4222");

    let v = json(&run(
        home.path(),
        &[("NATS_CONFIG_FILE", file.to_str().unwrap())],
        &["--context", "ops"],
    ));
    assert_eq!(v["context"]["name"], "ops");
    assert_eq!(v["context"]["description"], "Ops cluster");
    assert_eq!(v["config"]["servers"][0]["url"], "nats://ops:4222");
    assert_eq!(v["sources"]["url"]["source"], "context");
    assert_eq!(v["sources"]["url"]["from"], "url");
    assert_eq!(v["sources"]["client_id"]["source"], "file");
    assert_eq!(v["sources"]["client_id"]["path"], file.to_str().unwrap());
    assert_eq!(v["file"], file.to_str().unwrap());

    let out = run(home.path(), &[], &["--context", "missing"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`missing`"), "{}", stderr(&out));
}

#[test]
fn unknown_nats_variables_are_listed() {
    let home = tempfile::tempdir().unwrap();
    let v = json(&run(home.path(), &[("NATS_RECONECT_WAIT", "5")], &[]));
    assert_eq!(v["ignored_env"], serde_json::json!(["NATS_RECONECT_WAIT"]));
}
