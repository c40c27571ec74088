//! `connect-nats check` as an operator runs it, against a real token server.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use connect_nats_testkit::{bounded, NatsServer, ServerConfig};

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn within(elapsed: Duration, limit: Duration, what: &str) {
    assert!(
        elapsed <= limit,
        "{what} took {elapsed:?}, more than {limit:?}"
    );
}

// ---- connect-nats check -----------------------------------------------------------------------

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs `connect-nats check` as a new user would: only the given NATS_* variables, and a home
/// without any NATS CLI context.
fn run_check(bin: &Path, home: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("check");
    for (key, _) in std::env::vars() {
        if key.starts_with("NATS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"));
    cmd.envs(env.iter().copied());
    let started = Instant::now();
    let output = cmd.output().expect("run connect-nats check");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_command_against_a_token_server() {
    bounded(TEST_TIMEOUT, async {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_connect-nats"));
        let home = tempfile::tempdir().expect("temp home");
        let mut server = NatsServer::start(ServerConfig::token("check-T0KEN").jetstream());
        let url = server.url();
        let token = server.token().expect("token").to_owned();
        let no_leak = |run: &Run| {
            assert!(
                !run.stdout.contains(&token) && !run.stderr.contains(&token),
                "the token leaked:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        };

        let ok = run_check(
            &bin,
            home.path(),
            &[("NATS_URL", &url), ("NATS_TOKEN", &token)],
        );
        assert!(
            ok.code == Some(0) && ok.stdout.contains("OK: NATS is reachable"),
            "right token must pass (is `check` wired into main.rs?) exit {:?}\nstdout:\n{}\nstderr:\n{}",
            ok.code,
            ok.stdout,
            ok.stderr
        );
        assert!(ok.stdout.contains(server.server_name()), "{}", ok.stdout);
        assert!(
            ok.stdout.contains("2.10") || ok.stdout.contains("version"),
            "{}",
            ok.stdout
        );
        assert!(ok.stdout.contains("RTT"), "{}", ok.stdout);
        assert!(
            ok.stdout.contains("JetStream:   available"),
            "{}",
            ok.stdout
        );
        no_leak(&ok);

        let wrong = run_check(
            &bin,
            home.path(),
            &[("NATS_URL", &url), ("NATS_TOKEN", "wrong")],
        );
        assert_ne!(wrong.code, Some(0), "wrong token must fail");
        assert!(
            wrong.stderr.contains("authentication rejected"),
            "{}",
            wrong.stderr
        );
        assert!(wrong.stderr.contains("NATS_TOKEN"), "{}", wrong.stderr);
        no_leak(&wrong);

        tokio::task::block_in_place(|| server.stop());
        let timeout = Duration::from_secs(2);
        let down = run_check(
            &bin,
            home.path(),
            &[
                ("NATS_URL", &url),
                ("NATS_TOKEN", &token),
                ("NATS_TIMEOUT", "2s"),
            ],
        );
        assert_ne!(down.code, Some(0), "server down must fail");
        assert!(down.stderr.contains("unreachable"), "{}", down.stderr);
        within(
            down.elapsed,
            // the timeout, plus the process's own start and exit
            timeout + timeout / 10 + Duration::from_millis(500),
            "connect-nats check with the server down",
        );
        no_leak(&down);
    })
    .await;
}
