//! The layers must be real in `cargo tree`, not only in names.

use super::{cargo, output};

/// The layers must be real in `cargo tree`, not only in names.
pub(super) fn check() -> Result<(), String> {
    let tree = |args: &[&str]| -> Result<String, String> {
        let mut cmd = cargo();
        cmd.args([
            "tree", "--edges", "normal", "--prefix", "none", "--format", "{p} {f}",
        ]);
        cmd.args(args);
        output("cargo tree", cmd)
    };
    let has = |text: &str, krate: &str| text.lines().any(|l| l.starts_with(&format!("{krate} v")));
    let features_of = |text: &str, krate: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("{krate} v")))
            .unwrap_or_default()
            .to_owned()
    };

    eprintln!("\nxtask: ── layering check (cargo tree)");
    let config = tree(&["-p", "connect-nats-config"])?;
    for forbidden in ["tokio", "async-nats"] {
        if has(&config, forbidden) {
            return Err(format!(
                "layering: connect-nats-config must not depend on {forbidden}"
            ));
        }
    }
    let publisher = tree(&["-p", "connect-nats-publisher"])?;
    if has(&publisher, "connect-nats-jetstream") {
        return Err(
            "layering: connect-nats-publisher without features pulls connect-nats-jetstream".into(),
        );
    }
    if features_of(&publisher, "async-nats").contains("jetstream") {
        return Err(
            "layering: connect-nats-publisher without features turns on async-nats/jetstream"
                .into(),
        );
    }
    for optional in ["opentelemetry", "metrics"] {
        if has(&publisher, optional) {
            return Err(format!(
                "layering: connect-nats-publisher without features pulls {optional}"
            ));
        }
    }
    let with_js = tree(&["-p", "connect-nats-publisher", "--features", "jetstream"])?;
    if !has(&with_js, "connect-nats-jetstream")
        || !features_of(&with_js, "async-nats").contains("jetstream")
    {
        return Err("layering: connect-nats-publisher --features jetstream should pull connect-nats-jetstream".into());
    }
    let core = tree(&["-p", "connect-nats-core"])?;
    if features_of(&core, "async-nats").contains("jetstream") {
        return Err("layering: connect-nats-core turns on async-nats/jetstream".into());
    }
    // The envelope lives in core: its readers (the consumer) need no publisher.
    let jetstream = tree(&["-p", "connect-nats-jetstream", "--all-features"])?;
    if has(&jetstream, "connect-nats-publisher") {
        return Err("layering: connect-nats-jetstream must not depend on connect-nats-publisher (the envelope is in connect-nats-core)".into());
    }
    eprintln!("xtask: ── layering check: ok (config without tokio/async-nats; publisher's JetStream only with its feature)");
    Ok(())
}
