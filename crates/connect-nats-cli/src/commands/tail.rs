//! `connect-nats tail SUBJECT`: print events as they arrive, one line each.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use connect_nats_config::Config;
use connect_nats_core::async_nats;
use connect_nats_core::connect;
use connect_nats_core::envelope::{Envelope, HEADER_EVENT_TYPE};
use futures::StreamExt;

use crate::exit::{connect_exit_code, EXIT_INVALID_INPUT};

/// Arguments of `connect-nats tail`.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Print events on a subject as they arrive (decoded envelope, one line each)",
    after_help = "SUBJECT may use wildcards, e.g. `connect.>`. Each line:\n  \
<subject> <type> v<version> by=<service> ts=<unix ms> <data as JSON>\n\
Messages that are not standard envelopes are printed as `<subject> (raw) <payload>`.\n\
Stops on Ctrl-C, or after --count messages.\n\n\
Exit status: 0 stopped; 1 subscription failed; 2 invalid configuration or subject; 3 server \
unreachable; 4 authentication rejected; 5 TLS failure."
)]
pub struct TailArgs {
    /// Subject to listen on (wildcards allowed).
    pub subject: String,
    /// Exit after this many messages.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print each message's decoded envelope as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One output line for a message.
fn line(message: &async_nats::Message, json: bool) -> String {
    match Envelope::from_slice(&message.payload) {
        Ok(event) if json => serde_json::json!({
            "subject": message.subject.as_str(),
            "type": event.event_type,
            "version": event.version,
            "data": event.data,
            "meta": { "ts": event.meta.ts, "by": event.meta.by },
        })
        .to_string(),
        Ok(event) => format!(
            "{} {} v{} by={} ts={} {}",
            message.subject,
            event.event_type,
            event.version,
            event.meta.by,
            event.meta.ts,
            event.data
        ),
        Err(_) => {
            let header_type = message
                .headers
                .as_ref()
                .and_then(|h| h.get(HEADER_EVENT_TYPE))
                .map(|v| format!(" type={v}"))
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&message.payload);
            if json {
                serde_json::json!({ "subject": message.subject.as_str(), "raw": text }).to_string()
            } else {
                format!(
                    "{} (raw){header_type} {}",
                    message.subject,
                    text.escape_debug()
                )
            }
        }
    }
}

/// Tails the subject until Ctrl-C (or `--count`) and returns the exit status.
pub async fn run(args: TailArgs) -> ExitCode {
    let valid = !args.subject.is_empty()
        && !args
            .subject
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        && args.subject.split('.').all(|t| !t.is_empty());
    if !valid {
        eprintln!(
            "connect-nats tail: invalid subject {:?}; use dot-separated tokens, wildcards allowed (e.g. `connect.>`)",
            args.subject
        );
        return ExitCode::from(EXIT_INVALID_INPUT);
    }
    let config = match super::load_config(Config::builder()).await {
        Ok(config) => config,
        Err(e) => {
            eprintln!("connect-nats tail: invalid configuration: {e}");
            return ExitCode::from(EXIT_INVALID_INPUT);
        }
    };
    let connection = match connect(&config).await {
        Ok(connection) => connection,
        Err(e) => {
            eprintln!("connect-nats tail: cannot connect: {e}");
            return ExitCode::from(connect_exit_code(&e));
        }
    };
    let mut subscriber = match connection.subscribe(args.subject.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "connect-nats tail: cannot subscribe to {:?}: {e}",
                args.subject
            );
            return ExitCode::FAILURE;
        }
    };
    // A round trip after the SUB before saying we listen: the server handles
    // one connection's commands in order, so the reply means it holds the
    // subscription (a flush only writes the socket).
    let _ = connection.rtt(Duration::from_secs(5)).await;
    eprintln!(
        "connect-nats tail: listening on {} (Ctrl-C to stop)",
        args.subject
    );

    let mut seen = 0u64;
    let mut stdout = std::io::stdout().lock();
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        if args.count.is_some_and(|n| seen >= n) {
            break;
        }
        tokio::select! {
            message = subscriber.next() => {
                let Some(message) = message else {
                    eprintln!("connect-nats tail: the subscription ended (connection closed)");
                    break;
                };
                seen += 1;
                if writeln!(stdout, "{}", line(&message, args.json)).and_then(|()| stdout.flush()).is_err() {
                    break; // stdout closed (e.g. piped into `head`)
                }
            }
            _ = &mut stop => break,
        }
    }
    drop(stdout);
    let _ = connection.shutdown(Duration::from_secs(2)).await;
    ExitCode::SUCCESS
}
