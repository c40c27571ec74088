//! Command-line options.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Publishes JetStream events at a steady rate and consumes them with a durable consumer while the
/// server is restarted periodically (alternately SIGKILL and graceful), then checks that every
/// acknowledged event was stored and consumed, and prints a summary.
///
/// The server comes from the test harness (`NATS_SERVER_BIN`, `PATH`, or
/// `CONNECT_NATS_TEST_BACKEND=docker`); `cargo xtask soak` provisions one.
#[derive(Debug, Clone, Parser)]
#[command(name = "connect-nats-soak")]
pub struct Args {
    /// How long to publish, in minutes (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// JetStream events published per second, over all publishers.
    #[arg(long, default_value_t = 400)]
    pub rate: u32,
    /// Number of publishing tasks.
    #[arg(long, default_value_t = 2)]
    pub publishers: u32,
    /// Seconds between server restarts.
    #[arg(long, default_value_t = 20)]
    pub restart_every: u64,
    /// Core (fire-and-forget) events per second, published and received alongside.
    #[arg(long, default_value_t = 20)]
    pub core_rate: u32,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 30)]
    pub report_every: u64,
    /// Where the run's JSON report is written (its directory is created).
    #[arg(long, default_value = "target/soak/report.json")]
    pub report: PathBuf,
}

impl Args {
    /// The publishing phase's length.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64((self.minutes * 60.0).max(1.0))
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.minutes.is_finite() && self.minutes > 0.0) {
            return Err(format!(
                "--minutes must be a positive number, not {}",
                self.minutes
            ));
        }
        if self.rate == 0 || self.publishers == 0 {
            return Err("--rate and --publishers must be at least 1".into());
        }
        if self.restart_every == 0 {
            return Err("--restart-every must be at least 1 second".into());
        }
        Ok(())
    }
}
