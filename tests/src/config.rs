//! What kind of server to start ([`ServerConfig`]) and how it becomes a `nats-server` config file.

use std::fmt;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::material::Material;

/// Describes a test server: its auth variant, TLS, JetStream and limits.
///
/// Start from one constructor (`plain`, `token`, `user_password`, `nkey`, `operator`, `tls`,
/// `mtls`) and add modifiers (`jetstream`, `tls_first`, `max_payload`, …). Keys, certificates and
/// JWTs a variant needs are generated when the server starts; read them back from the
/// [`NatsServer`](crate::NatsServer) accessors.
#[derive(Clone)]
pub struct ServerConfig {
    pub(crate) auth: Auth,
    pub(crate) tls: TlsMode,
    pub(crate) tls_first: bool,
    pub(crate) jetstream: bool,
    pub(crate) max_payload: Option<u64>,
    pub(crate) lame_duck_duration: Option<Duration>,
    pub(crate) lame_duck_grace_period: Option<Duration>,
    pub(crate) server_name: Option<String>,
    pub(crate) extra: Vec<String>,
}

/// Client authentication the server requires.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    None,
    Token(String),
    UserPassword(String, String),
    Nkey,
    Operator,
}

// Secrets stay out of Debug output, even in tests.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Token(_) => f.write_str("Token(<redacted>)"),
            Auth::UserPassword(user, _) => write!(f, "UserPassword({user:?}, <redacted>)"),
            Auth::Nkey => f.write_str("Nkey"),
            Auth::Operator => f.write_str("Operator"),
        }
    }
}

/// TLS on the client port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    Off,
    /// Server certificate only.
    Server,
    /// Server certificate and `verify: true` (clients must present a cert signed by the CA).
    Mutual,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("auth", &self.auth)
            .field("tls", &self.tls)
            .field("tls_first", &self.tls_first)
            .field("jetstream", &self.jetstream)
            .field("max_payload", &self.max_payload)
            .field("lame_duck_duration", &self.lame_duck_duration)
            .field("server_name", &self.server_name)
            .field("extra", &self.extra.len())
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::plain()
    }
}

impl ServerConfig {
    fn with_auth(auth: Auth) -> Self {
        ServerConfig {
            auth,
            tls: TlsMode::Off,
            tls_first: false,
            jetstream: false,
            max_payload: None,
            lame_duck_duration: None,
            lame_duck_grace_period: None,
            server_name: None,
            extra: Vec::new(),
        }
    }

    /// No authentication, no TLS.
    pub fn plain() -> Self {
        Self::with_auth(Auth::None)
    }

    /// Clients must send this token (`authorization { token }`); read it back with
    /// [`NatsServer::token`](crate::NatsServer::token).
    pub fn token(token: impl Into<String>) -> Self {
        Self::with_auth(Auth::Token(token.into()))
    }

    /// Clients must log in as this user with this password; read them back with
    /// [`NatsServer::user_password`](crate::NatsServer::user_password).
    pub fn user_password(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::with_auth(Auth::UserPassword(user.into(), password.into()))
    }

    /// Clients must sign the server's nonce with a user nkey generated at start; its seed is in
    /// [`NatsServer::nkey_seed`](crate::NatsServer::nkey_seed) and
    /// [`NatsServer::nkey_seed_path`](crate::NatsServer::nkey_seed_path).
    pub fn nkey() -> Self {
        Self::with_auth(Auth::Nkey)
    }

    /// Decentralised auth: an operator, a system account, an account and a user are generated at
    /// start (nkeys and signed JWTs, `resolver: MEMORY`); the user's credentials are in
    /// [`NatsServer::creds_path`](crate::NatsServer::creds_path) (standard `.creds` file),
    /// [`NatsServer::user_jwt`](crate::NatsServer::user_jwt) and
    /// [`NatsServer::user_seed`](crate::NatsServer::user_seed). The account has JetStream limits,
    /// so `.jetstream()` works with it.
    pub fn operator() -> Self {
        Self::with_auth(Auth::Operator)
    }

    /// TLS with a CA and a server certificate (for `localhost` and `127.0.0.1`) generated at start;
    /// the URL becomes `tls://localhost:PORT` and clients must trust
    /// [`NatsServer::ca_path`](crate::NatsServer::ca_path).
    pub fn tls() -> Self {
        Self::plain().with_tls()
    }

    /// Mutual TLS: like [`tls`](Self::tls) and the server requires a client certificate signed by
    /// the CA (`verify: true`); one is generated at
    /// [`NatsServer::client_cert_path`](crate::NatsServer::client_cert_path) /
    /// [`NatsServer::client_key_path`](crate::NatsServer::client_key_path).
    pub fn mtls() -> Self {
        Self::plain().with_mtls()
    }

    /// Adds server TLS to any variant (e.g. token over TLS). Keeps mutual TLS if already set.
    pub fn with_tls(mut self) -> Self {
        if self.tls == TlsMode::Off {
            self.tls = TlsMode::Server;
        }
        self
    }

    /// Adds mutual TLS to any variant.
    pub fn with_mtls(mut self) -> Self {
        self.tls = TlsMode::Mutual;
        self
    }

    /// Enables JetStream with a store dir inside the server's temp dir (kept across
    /// [`restart`](crate::NatsServer::restart)).
    pub fn jetstream(mut self) -> Self {
        self.jetstream = true;
        self
    }

    /// TLS before the NATS `INFO` (`handshake_first: true`); turns TLS on if it was off. Clients
    /// must use their "TLS first" option.
    pub fn tls_first(mut self) -> Self {
        self.tls_first = true;
        self.with_tls()
    }

    /// Sets the server's `max_payload` in bytes.
    pub fn max_payload(mut self, bytes: u64) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// Sets `lame_duck_duration` (how long lame-duck mode takes to close all clients) and a
    /// `lame_duck_grace_period` of a quarter of it. The server's defaults are 2 min / 10 s and it
    /// refuses durations under 30 s. Lame-duck clients are told at once (async-nats emits
    /// `Event::LameDuckMode`); the duration only paces closing them.
    pub fn lame_duck_duration(mut self, duration: Duration) -> Self {
        self.lame_duck_duration = Some(duration);
        self.lame_duck_grace_period = Some(duration / 4);
        self
    }

    /// Sets the `server_name` (default: a unique `testkit-…` name).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Appends raw `nats-server` config text (for options this builder does not cover).
    pub fn extra_config(mut self, text: impl Into<String>) -> Self {
        self.extra.push(text.into());
        self
    }

    /// Whether clients connect with `tls://`.
    pub(crate) fn uses_tls(&self) -> bool {
        self.tls != TlsMode::Off
    }
}

/// Cluster membership of one node.
#[derive(Debug, Clone)]
pub(crate) struct ClusterSpec {
    pub(crate) name: String,
    /// This node's route port (reserved up front, see [`Cluster`](crate::Cluster)).
    pub(crate) port: u16,
    /// Route URLs of the peers (`nats-route://127.0.0.1:PORT`).
    pub(crate) routes: Vec<String>,
}

/// Everything needed to write one launch's config file.
pub(crate) struct Render<'a> {
    pub(crate) config: &'a ServerConfig,
    pub(crate) server_name: &'a str,
    pub(crate) dir: &'a Path,
    pub(crate) material: &'a Material,
    /// Ports learned from an earlier launch (pinned on restart); `None` means `-1` (random).
    pub(crate) port: Option<u16>,
    pub(crate) monitor_port: Option<u16>,
    pub(crate) cluster_port: Option<u16>,
    pub(crate) cluster: Option<&'a ClusterSpec>,
}

/// A double-quoted config string (JSON escaping is accepted by the nats config parser).
pub(crate) fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn path_str(p: &Path) -> String {
    quote(&p.display().to_string())
}

fn port_str(port: Option<u16>) -> String {
    port.map_or_else(|| "-1".to_string(), |p| p.to_string())
}

impl Render<'_> {
    /// The config file text.
    pub(crate) fn text(&self) -> String {
        let c = self.config;
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(w, "# generated by connect-nats-testkit");
        let _ = writeln!(w, "server_name: {}", quote(self.server_name));
        let _ = writeln!(w, "host: \"127.0.0.1\"");
        let _ = writeln!(w, "port: {}", port_str(self.port));
        let _ = writeln!(w, "http_port: {}", port_str(self.monitor_port));
        let _ = writeln!(w, "ports_file_dir: {}", path_str(&ports_dir(self.dir)));
        if let Some(max) = c.max_payload {
            let _ = writeln!(w, "max_payload: {max}");
        }
        if let Some(d) = c.lame_duck_duration {
            let _ = writeln!(w, "lame_duck_duration: \"{}ms\"", d.as_millis());
        }
        if let Some(d) = c.lame_duck_grace_period {
            let _ = writeln!(w, "lame_duck_grace_period: \"{}ms\"", d.as_millis());
        }
        if c.jetstream {
            let _ = writeln!(
                w,
                "jetstream {{\n  store_dir: {}\n  max_memory_store: 256MB\n  max_file_store: 8GB\n}}",
                path_str(&store_dir(self.dir))
            );
        }
        self.write_auth(w);
        self.write_tls(w);
        if let Some(cluster) = self.cluster {
            let routes: Vec<String> = cluster.routes.iter().map(|r| quote(r)).collect();
            let _ = writeln!(
                w,
                "cluster {{\n  name: {}\n  listen: \"127.0.0.1:{}\"\n  routes: [{}]\n}}",
                quote(&cluster.name),
                port_str(self.cluster_port),
                routes.join(", ")
            );
        }
        for extra in &c.extra {
            let _ = writeln!(w, "{extra}");
        }
        out
    }

    fn write_auth(&self, w: &mut String) {
        match &self.config.auth {
            Auth::None => {}
            Auth::Token(token) => {
                let _ = writeln!(w, "authorization {{\n  token: {}\n}}", quote(token));
            }
            Auth::UserPassword(user, password) => {
                let _ = writeln!(
                    w,
                    "authorization {{\n  users = [ {{ user: {}, password: {} }} ]\n}}",
                    quote(user),
                    quote(password)
                );
            }
            Auth::Nkey => {
                let nkey = self.material.nkey();
                let _ = writeln!(
                    w,
                    "authorization {{\n  users = [ {{ nkey: {} }} ]\n}}",
                    quote(&nkey.public)
                );
            }
            Auth::Operator => {
                let op = self.material.operator();
                let _ = writeln!(w, "operator: {}", path_str(&op.operator_jwt_path));
                let _ = writeln!(w, "system_account: {}", quote(&op.system_account));
                let _ = writeln!(w, "resolver: MEMORY");
                let _ = writeln!(w, "resolver_preload: {{");
                for (public, jwt) in &op.account_jwts {
                    let _ = writeln!(w, "  {public}: {}", quote(jwt));
                }
                let _ = writeln!(w, "}}");
            }
        }
    }

    fn write_tls(&self, w: &mut String) {
        let c = self.config;
        if c.tls == TlsMode::Off {
            return;
        }
        let tls = self.material.tls();
        let _ = writeln!(w, "tls {{");
        let _ = writeln!(w, "  cert_file: {}", path_str(&tls.server_cert_path));
        let _ = writeln!(w, "  key_file: {}", path_str(&tls.server_key_path));
        let _ = writeln!(w, "  ca_file: {}", path_str(&tls.ca_path));
        if c.tls == TlsMode::Mutual {
            let _ = writeln!(w, "  verify: true");
        }
        if c.tls_first {
            let _ = writeln!(w, "  handshake_first: true");
        }
        let _ = writeln!(w, "  timeout: 5");
        let _ = writeln!(w, "}}");
    }
}

/// Where the server writes its ports file (one fresh dir per launch).
pub(crate) fn ports_dir(dir: &Path) -> std::path::PathBuf {
    dir.join("ports")
}

/// The JetStream store dir (kept across restarts).
pub(crate) fn store_dir(dir: &Path) -> std::path::PathBuf {
    dir.join("jetstream")
}
