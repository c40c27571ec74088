//! Fixtures: credential, seed and PEM files in a temp dir, and hermetic builders.

use std::path::PathBuf;

use connect_nats_config::{Config, ConfigBuilder, ConfigError, ConfigErrorKind, Resolved};
use tempfile::TempDir;

/// A user JWT-shaped value (three base64url parts).
pub const JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJKV1RTRUNSRVQifQ.c2lnbmF0dXJlU0VDUkVU";
/// A user nkey seed-shaped value.
pub const SEED: &str = "SUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM";
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n";
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIBAA==\n-----END PRIVATE KEY-----\n";

/// A temp dir holding test files.
pub struct Fixture {
    pub dir: TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `content` to `name` (creating parent dirs) and returns its path.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn creds(&self) -> PathBuf {
        self.write("user.creds", &creds_content(JWT, SEED))
    }

    pub fn seed_file(&self) -> PathBuf {
        self.write("user.nk", &format!("{SEED}\n"))
    }

    pub fn ca(&self) -> PathBuf {
        self.write("ca.pem", CERT_PEM)
    }

    pub fn cert(&self) -> PathBuf {
        self.write("client.pem", CERT_PEM)
    }

    pub fn key(&self) -> PathBuf {
        self.write("client-key.pem", KEY_PEM)
    }

    /// Writes a NATS CLI context `name` under `<dir>/xdg/nats/context/`.
    pub fn context(&self, name: &str, json: &str) -> PathBuf {
        self.write(&format!("xdg/nats/context/{name}.json"), json)
    }

    /// Selects a context as `nats context select` does.
    pub fn select_context(&self, name: &str) {
        self.write("xdg/nats/context.txt", name);
    }

    /// `XDG_CONFIG_HOME` for [`Fixture::context`].
    pub fn xdg(&self) -> String {
        self.path("xdg").display().to_string()
    }
}

pub fn creds_content(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}

/// A builder reading only these variables (no process env, no home, no context).
pub fn with_env(vars: &[(&str, &str)]) -> ConfigBuilder {
    Config::builder().env_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

pub fn load(vars: &[(&str, &str)]) -> Config {
    match with_env(vars).build() {
        Ok(c) => c,
        Err(e) => panic!("expected {vars:?} to load, got: {e}"),
    }
}

pub fn resolved(builder: ConfigBuilder) -> Resolved {
    match builder.build_with_sources() {
        Ok(r) => r,
        Err(e) => panic!("expected the config to load, got: {e}"),
    }
}

/// Loads, expecting an error of `kind`; returns the error.
pub fn fails(builder: ConfigBuilder, kind: ConfigErrorKind) -> ConfigError {
    match builder.build() {
        Ok(c) => panic!("expected a {kind:?} error, loaded {c:?}"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "wrong kind for error: {e}");
            e
        }
    }
}

/// Asserts the message mentions every needle.
pub fn mentions(error: &ConfigError, needles: &[&str]) {
    let message = error.to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "`{message}` should mention `{needle}`"
        );
    }
}

/// The authentication a `.creds` file at `path` loads as.
pub fn creds_auth(path: impl Into<PathBuf>) -> connect_nats_config::Auth {
    let path = path.into();
    let contents = std::fs::read_to_string(&path).unwrap().into();
    connect_nats_config::Auth::CredsFile { path, contents }
}

/// The authentication a seed file holding [`SEED`] at `path` loads as.
pub fn seed_file_auth(path: impl Into<PathBuf>) -> connect_nats_config::Auth {
    connect_nats_config::Auth::NkeySeedFile {
        path: path.into(),
        seed: SEED.into(),
    }
}
