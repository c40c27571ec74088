//! A [`NatsServer`]'s files and the secrets its variant generated, for tests to read back.

use std::path::{Path, PathBuf};

use super::NatsServer;
use crate::config::{store_dir, Auth};

impl NatsServer {
    /// The server's temp dir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The generated config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("nats.conf")
    }

    /// The server's log file (stdout and stderr of every launch).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The JetStream store dir, when JetStream is on.
    pub fn store_dir(&self) -> Option<PathBuf> {
        self.config.jetstream.then(|| store_dir(self.dir.path()))
    }

    /// The token, for [`ServerConfig::token`] servers.
    pub fn token(&self) -> Option<&str> {
        match &self.config.auth {
            Auth::Token(t) => Some(t),
            _ => None,
        }
    }

    /// `(user, password)`, for [`ServerConfig::user_password`] servers.
    pub fn user_password(&self) -> Option<(&str, &str)> {
        match &self.config.auth {
            Auth::UserPassword(u, p) => Some((u, p)),
            _ => None,
        }
    }

    /// The user nkey seed (`SU…`), for [`ServerConfig::nkey`] servers.
    pub fn nkey_seed(&self) -> Option<&str> {
        self.material.nkey.as_ref().map(|n| n.seed.as_str())
    }

    /// A file holding the user nkey seed, for [`ServerConfig::nkey`] servers.
    pub fn nkey_seed_path(&self) -> Option<&Path> {
        self.material.nkey.as_ref().map(|n| n.seed_path.as_path())
    }

    /// The user nkey public key (`U…`), for [`ServerConfig::nkey`] servers.
    pub fn nkey_public(&self) -> Option<&str> {
        self.material.nkey.as_ref().map(|n| n.public.as_str())
    }

    /// The user `.creds` file (JWT + seed), for [`ServerConfig::operator`] servers.
    pub fn creds_path(&self) -> Option<&Path> {
        self.material
            .operator
            .as_ref()
            .map(|o| o.creds_path.as_path())
    }

    /// The user JWT, for [`ServerConfig::operator`] servers.
    pub fn user_jwt(&self) -> Option<&str> {
        self.material.operator.as_ref().map(|o| o.user_jwt.as_str())
    }

    /// The user nkey seed that signs with [`user_jwt`](Self::user_jwt), for
    /// [`ServerConfig::operator`] servers.
    pub fn user_seed(&self) -> Option<&str> {
        self.material
            .operator
            .as_ref()
            .map(|o| o.user_seed.as_str())
    }

    /// The public key of the account the operator-mode user belongs to.
    pub fn account_public_key(&self) -> Option<&str> {
        self.material
            .operator
            .as_ref()
            .map(|o| o.account_public.as_str())
    }

    /// The CA certificate (PEM) clients must trust, for TLS variants.
    pub fn ca_path(&self) -> Option<&Path> {
        self.material.tls.as_ref().map(|t| t.ca_path.as_path())
    }

    /// A client certificate (PEM) signed by the CA, for TLS variants (required by mTLS).
    pub fn client_cert_path(&self) -> Option<&Path> {
        self.material
            .tls
            .as_ref()
            .map(|t| t.client_cert_path.as_path())
    }

    /// The key (PEM, PKCS#8) of [`client_cert_path`](Self::client_cert_path).
    pub fn client_key_path(&self) -> Option<&Path> {
        self.material
            .tls
            .as_ref()
            .map(|t| t.client_key_path.as_path())
    }
}
