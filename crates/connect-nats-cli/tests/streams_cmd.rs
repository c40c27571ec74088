//! `connect-nats streams ensure` as an operator runs it, against a real server: destructive
//! changes are held back (and said so) unless `--allow-destructive` or `allow_destructive: true`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use connect_nats_core::async_nats;
use connect_nats_core::async_nats::jetstream::{self, stream::Config as ServerStream};
use connect_nats_testkit::{bounded, NatsServer, ServerConfig};

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const GIB: i64 = 1024 * 1024 * 1024;
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn show(&self) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `connect-nats streams ensure ARGS` against `url`, with no other NATS_* variable and a
/// home without any NATS CLI context.
fn ensure(url: &str, home: &Path, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(PathBuf::from(env!("CARGO_BIN_EXE_connect-nats")));
    cmd.args(["streams", "ensure"]).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("NATS_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("NO_COLOR", "1")
        .env("NATS_URL", url);
    let output = cmd.output().expect("run connect-nats streams ensure");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A JetStream server with room for a 10 GiB stream (a reservation, not disk use).
fn roomy_server(store: &tempfile::TempDir) -> NatsServer {
    NatsServer::start(ServerConfig::plain().extra_config(format!(
        "jetstream {{\n  store_dir: \"{}\"\n  max_file_store: 16GB\n  max_memory_store: 64MB\n}}",
        store.path().display()
    )))
}

async fn stream(js: &jetstream::Context, name: &str) -> (ServerStream, u64) {
    let mut stream = js.get_stream(name).await.expect("stream exists");
    let info = stream.info().await.expect("stream info");
    (info.config.clone(), info.state.messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_grown_default_stream_is_kept_unless_allow_destructive() {
    bounded(TEST_TIMEOUT, async {
        let home = tempfile::tempdir().expect("temp home");
        let store = tempfile::tempdir().expect("store");
        let server = roomy_server(&store);
        let url = server.url();
        let created = ensure(&url, home.path(), &[]);
        assert_eq!(created.code, Some(0), "{}", created.show());

        let client = async_nats::connect(&url).await.expect("connects");
        let js = jetstream::new(client);
        let (mut grown, _) = stream(&js, "CONNECT_EVENTS").await;
        grown.max_bytes = 10 * GIB;
        grown.max_age = 30 * DAY;
        grown.subjects.push("audit.>".to_owned());
        js.update_stream(&grown).await.expect("operator edit");
        for subject in ["connect.user.created", "audit.login"] {
            js.publish(subject, "{}".into())
                .await
                .expect("publish")
                .await
                .expect("acknowledged");
        }

        let kept = ensure(&url, home.path(), &[]);
        assert_eq!(
            kept.code,
            Some(0),
            "above the defaults is no failure: {}",
            kept.show()
        );
        assert!(
            kept.stdout.contains("above the defaults, kept"),
            "{}",
            kept.show()
        );
        let warning = kept
            .stderr
            .lines()
            .find(|l| l.contains("WARN") && l.contains("CONNECT_EVENTS"))
            .unwrap_or_else(|| panic!("no WARN naming the stream: {}", kept.show()));
        for field in ["max_bytes", "max_age", "subjects"] {
            assert!(warning.contains(field), "{field} not named: {warning}");
        }
        let (after, messages) = stream(&js, "CONNECT_EVENTS").await;
        assert_eq!((after.max_bytes, after.max_age), (10 * GIB, 30 * DAY));
        assert_eq!(after.subjects, ["connect.>", "audit.>"]);
        assert_eq!(messages, 2);

        let dry = ensure(&url, home.path(), &["--dry-run", "--allow-destructive"]);
        assert_eq!(dry.code, Some(0), "{}", dry.show());
        assert!(dry.stdout.contains("would be updated"), "{}", dry.show());
        assert_eq!(stream(&js, "CONNECT_EVENTS").await.0.max_bytes, 10 * GIB);

        let applied = ensure(&url, home.path(), &["--allow-destructive"]);
        assert_eq!(applied.code, Some(0), "{}", applied.show());
        let (after, _) = stream(&js, "CONNECT_EVENTS").await;
        assert_eq!((after.max_bytes, after.max_age), (GIB, 7 * DAY));
        assert_eq!(after.subjects, ["connect.>"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destructive_declaration_exits_non_zero_saying_how_to_apply_it() {
    bounded(TEST_TIMEOUT, async {
        let home = tempfile::tempdir().expect("temp home");
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let url = server.url();
        let declare = |max_msgs: u32, opt_in: bool| {
            let path = home
                .path()
                .join(format!("streams-{max_msgs}-{opt_in}.yaml"));
            let text = format!(
                "jetstream:\n  streams:\n    - name: ORDERS\n      subjects: [\"orders.>\"]\n      \
                 max_msgs: {max_msgs}\n      allow_destructive: {opt_in}\n"
            );
            std::fs::write(&path, text).expect("write the streams file");
            path.display().to_string()
        };
        let wide = declare(1000, false);
        let created = ensure(&url, home.path(), &[&wide]);
        assert_eq!(created.code, Some(0), "{}", created.show());

        let narrow = declare(10, false);
        let kept = ensure(&url, home.path(), &[&narrow]);
        assert_eq!(kept.code, Some(1), "{}", kept.show());
        assert!(kept.stdout.contains("KEPT"), "{}", kept.show());
        assert!(
            kept.stdout.contains("max_msgs 1000 -> 10"),
            "{}",
            kept.show()
        );
        for how in ["allow_destructive: true", "--allow-destructive"] {
            assert!(kept.stderr.contains(how), "{how} not said: {}", kept.show());
        }
        let js = jetstream::new(async_nats::connect(&url).await.expect("connects"));
        assert_eq!(stream(&js, "ORDERS").await.0.max_messages, 1000);

        let opted_in = declare(10, true);
        let applied = ensure(&url, home.path(), &[&opted_in]);
        assert_eq!(applied.code, Some(0), "{}", applied.show());
        assert_eq!(stream(&js, "ORDERS").await.0.max_messages, 10);
    })
    .await;
}
