//! `connect-nats check`: can this service reach NATS with its configuration?
//!
//! Loads the configuration exactly as a service does ([`Config::load`]),
//! connects with connect-nats-core, and prints the server, the round-trip
//! time, JetStream availability and TLS details. This is what an operator
//! runs when a service says "NATS unavailable".

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use connect_nats_config::Config;
use connect_nats_core::{connect, ConnectError, Connection};
use serde_json::{json, Value};

use crate::exit::{connect_exit_code, EXIT_INVALID_CONFIG, EXIT_JETSTREAM};

/// Arguments of `connect-nats check`.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Check that this service's NATS configuration connects: server, RTT, JetStream, TLS",
    after_help = "Configuration is read exactly as a service reads it (NATS_* variables, \
NATS_CONFIG_FILE, NATS CLI context).\n\nExit status: 0 healthy; 2 invalid configuration; \
3 server unreachable or timed out; 4 authentication/authorization rejected; 5 TLS failure; \
6 JetStream expected (streams, domain or API prefix configured) but not available; 1 other."
)]
pub struct CheckArgs {
    /// Connect timeout for this check, e.g. `3s` (default: NATS_TIMEOUT from the configuration).
    #[arg(long, value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Print the result as one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    connect_nats_config::parse_duration(text).map_err(|e| e.to_string())
}

/// Runs the check and returns the process exit status.
pub async fn run(args: CheckArgs) -> ExitCode {
    let mut builder = Config::builder();
    if let Some(timeout) = args.timeout {
        builder = builder.connect_timeout(timeout);
    }
    let config = match super::load_config(builder).await {
        Ok(config) => config,
        Err(e) => {
            eprintln!("connect-nats check: invalid configuration: {e}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    let servers = config.server_urls().join(",");
    if !args.json {
        println!(
            "checking NATS at {servers} as {:?} (auth: {}, TLS: {}, timeout: {:?})",
            config.client_id(),
            config.auth().kind(),
            if config.tls_wanted() {
                "required"
            } else {
                "if the server asks"
            },
            config.connect_timeout(),
        );
    }

    let connection = match connect(&config).await {
        Ok(connection) => connection,
        Err(e) => return report_failure(&args, &config, &e),
    };

    let report = inspect(&connection, &config).await;
    // The check is over; leave cleanly (bounded).
    let _ = connection.shutdown(Duration::from_secs(2)).await;

    let jetstream_expected = !config.jetstream().streams.is_empty()
        || config.jetstream().domain.is_some()
        || config.jetstream().api_prefix.is_some();
    let jetstream_ok = report["jetstream"]["available"].as_bool().unwrap_or(false);
    let healthy = !jetstream_expected || jetstream_ok;

    if args.json {
        let mut report = report;
        report["ok"] = json!(healthy);
        println!("{report}");
    } else {
        print_report(&report);
        if healthy {
            println!("OK: NATS is reachable with this configuration");
        }
    }
    if healthy {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "connect-nats check: JetStream is not available but the configuration expects it; \
             enable it for this account, or fix NATS_JS_DOMAIN / NATS_JS_API_PREFIX"
        );
        ExitCode::from(EXIT_JETSTREAM)
    }
}

fn report_failure(args: &CheckArgs, config: &Config, error: &ConnectError) -> ExitCode {
    let headline = match error {
        ConnectError::Unreachable { .. } => "unreachable",
        ConnectError::Timeout { .. } => "unreachable (timed out)",
        ConnectError::Auth { .. } => "authentication rejected",
        ConnectError::Tls { .. } => "TLS failed",
        ConnectError::InvalidConfig { .. } => "invalid configuration",
        _ => "cannot connect",
    };
    if args.json {
        println!(
            "{}",
            json!({
                "ok": false,
                "servers": config.server_urls(),
                "client_id": config.client_id(),
                "error": { "kind": error.kind(), "headline": headline, "message": error.to_string() },
            })
        );
    }
    eprintln!("connect-nats check: FAILED ({headline}): {error}");
    ExitCode::from(connect_exit_code(error))
}

/// Everything the check shows, as JSON (also the source of the text output).
async fn inspect(connection: &Connection, config: &Config) -> Value {
    let health = connection.health().await;
    let server = health.server.as_ref().map(|s| {
        json!({
            "name": s.name,
            "id": s.id,
            "version": s.version,
            "cluster": s.cluster,
            "address": format!("{}:{}", s.host, s.port),
            "max_payload": s.max_payload,
            "jetstream_announced": s.jetstream,
            "tls_required": s.tls_required,
            "client_ip": s.client_ip,
        })
    });
    let server_tls = health.server.as_ref().is_some_and(|s| s.tls_required);
    let tls_on = config.tls_wanted() || server_tls;
    let tls = json!({
        "in_use": tls_on,
        "required_by_client": config.tls_wanted(),
        "required_by_server": server_tls,
        "scheme": config.servers().first().map(|s| s.scheme.as_str()),
        "tls_first": config.tls().first,
        "ca": config.tls().ca.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| {
            if tls_on { "system roots".to_owned() } else { "-".to_owned() }
        }),
        "client_certificate": config.tls().cert.as_ref().map(|p| p.display().to_string()),
        "verified": tls_on, // the handshake verified the chain and host name, or we would not be here
    });
    json!({
        "servers": config.server_urls(),
        "client_id": config.client_id(),
        "auth": config.auth().kind(),
        "state": health.state.as_str(),
        "server": server,
        "rtt_ms": health.rtt.map(|d| d.as_secs_f64() * 1000.0),
        "jetstream": jetstream(connection, config).await,
        "tls": tls,
    })
}

/// Asks the JetStream API for account info (`$JS.API.INFO`, or the
/// domain's/prefix's equivalent) with a core request.
async fn jetstream(connection: &Connection, config: &Config) -> Value {
    let subject = format!(
        "{}.INFO",
        connect_nats_jetstream::api_prefix(config.jetstream())
    );
    let request = connect_nats_core::async_nats::Request::new()
        .payload(Vec::<u8>::new().into())
        .timeout(Some(Duration::from_secs(3)));
    let reply = connection.send_request(subject.clone(), request).await;
    match reply {
        Ok(msg) => match serde_json::from_slice::<Value>(&msg.payload) {
            Ok(info) if info.get("error").is_some() => json!({
                "available": false,
                "api": subject,
                "reason": info["error"]["description"].as_str().unwrap_or("error reply"),
            }),
            Ok(info) => json!({
                "available": true,
                "api": subject,
                "domain": info.get("domain").and_then(Value::as_str),
                "streams": info.get("streams"),
                "consumers": info.get("consumers"),
                "memory_bytes": info.get("memory"),
                "storage_bytes": info.get("storage"),
            }),
            Err(e) => {
                json!({ "available": false, "api": subject, "reason": format!("unreadable reply: {e}") })
            }
        },
        Err(e) => {
            let reason = match e.kind() {
                connect_nats_core::async_nats::RequestErrorKind::NoResponders => {
                    "no responders: JetStream is not enabled on the server (or not for this account/domain)".to_owned()
                }
                connect_nats_core::async_nats::RequestErrorKind::TimedOut => "the JetStream API did not answer within 3s".to_owned(),
                _ => e.to_string(),
            };
            json!({ "available": false, "api": subject, "reason": reason })
        }
    }
}

fn print_report(report: &Value) {
    let text = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let server = &report["server"];
    println!(
        "  server:      {} (id {})",
        text(&server["name"]),
        text(&server["id"])
    );
    println!("  version:     {}", text(&server["version"]));
    println!("  cluster:     {}", text(&server["cluster"]));
    println!(
        "  address:     {} (client seen as {})",
        text(&server["address"]),
        text(&server["client_ip"])
    );
    println!("  max payload: {} bytes", text(&server["max_payload"]));
    match report["rtt_ms"].as_f64() {
        Some(ms) => println!("  RTT:         {ms:.3} ms"),
        None => println!("  RTT:         not measured (no round trip within 2s)"),
    }
    let js = &report["jetstream"];
    if js["available"].as_bool().unwrap_or(false) {
        println!(
            "  JetStream:   available (domain: {}, streams: {}, consumers: {}) via {}",
            text(&js["domain"]),
            text(&js["streams"]),
            text(&js["consumers"]),
            text(&js["api"])
        );
    } else {
        println!(
            "  JetStream:   not available ({}) via {}",
            text(&js["reason"]),
            text(&js["api"])
        );
    }
    let tls = &report["tls"];
    if tls["in_use"].as_bool().unwrap_or(false) {
        println!(
            "  TLS:         on (required by client: {}, by server: {}, TLS-first: {}), CA: {}, client certificate: {}; server certificate and host name verified",
            text(&tls["required_by_client"]),
            text(&tls["required_by_server"]),
            text(&tls["tls_first"]),
            text(&tls["ca"]),
            text(&tls["client_certificate"]),
        );
    } else {
        println!("  TLS:         off (plain text; the server does not require TLS and none is configured)");
    }
}
