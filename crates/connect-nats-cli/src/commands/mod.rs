//! One module per subcommand. Each exposes a clap `Args` struct and a `run`
//! function returning the process's [`ExitCode`] (`async` for commands that
//! talk to a server; `main` runs those with [`block_on`]). The statuses live
//! in [`crate::exit`].

use std::future::Future;
use std::process::ExitCode;

use connect_nats_config::{Config, ConfigBuilder};

pub mod check;
pub mod config;
pub mod publish;
pub mod streams;
pub mod tail;

/// Runs an async command on a multi-threaded tokio runtime.
pub fn block_on<F: Future<Output = ExitCode>>(command: F) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(e) => {
            eprintln!("connect-nats: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the configuration on a blocking thread: the loader reads files (a
/// config file, a NATS CLI context, `.creds`, nkey seed and TLS PEM files),
/// which must not stall the async runtime. The error is the loader's message.
pub async fn load_config(builder: ConfigBuilder) -> Result<Config, String> {
    match tokio::task::spawn_blocking(move || builder.build()).await {
        Ok(loaded) => loaded.map_err(|e| e.to_string()),
        Err(e) => Err(format!(
            "the configuration loader stopped ({e}); run `connect-nats config` to see the failing setting"
        )),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`), so stdout stays
/// clean for JSON output.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "warn,{}",
            connect_nats_core::RECOMMENDED_LOG_DIRECTIVES
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
