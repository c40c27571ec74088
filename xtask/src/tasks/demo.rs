//! `cargo xtask demo`: a server and the example service.

use super::{cargo, start_server};
use crate::flags;

/// `cargo xtask demo`.
pub fn run(flags: &flags::Demo) -> Result<(), String> {
    let mut demo = cargo();
    demo.args(["run", "--quiet", "--package", "connect-nats-demo", "--"]);
    if let Some(events) = flags.events {
        demo.args(["--events", &events.to_string()]);
    }
    demo.args(&flags.rest);
    if let Ok(url) = std::env::var("NATS_URL") {
        eprintln!("xtask: NATS_URL is set ({url}); the demo runs against that server");
        return super::run("demo service", demo);
    }
    let mut build = cargo();
    build.args(["build", "--quiet", "--package", "connect-nats-demo"]);
    super::run("build the demo service", build)?;
    let (_backend, server) = start_server(&flags.server, "demo")?;
    demo.env("NATS_URL", &server.url);
    demo.env("NATS_CLIENT_ID", "connect-demo");
    super::run("demo service", demo)
}
