//! Why a configuration was refused.
//!
//! Every message names the offending environment variable, file key or
//! context field, and says what to do. No message ever holds a secret value:
//! tokens, passwords, seeds, JWTs and URL userinfo are never copied into an
//! error.

use std::path::PathBuf;

/// A configuration that cannot be used. Loading never falls back silently:
/// it returns one of these instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Two authentication methods are set at once.
    #[error(
        "two authentication methods are set: {first} and {second}; keep exactly one \
         (token, creds file, user + password, nkey seed file, or JWT + seed) and remove the other"
    )]
    AuthConflict {
        /// The first method's setting.
        first: String,
        /// The second method's setting.
        second: String,
    },
    /// A user is set without a password.
    #[error("{user} is set but {password} is not; set both the user and the password, or neither")]
    UserWithoutPassword {
        /// The user's setting.
        user: String,
        /// The missing password's setting.
        password: String,
    },
    /// A password is set without a user.
    #[error("{password} is set but {user} is not; set both the user and the password, or neither")]
    PasswordWithoutUser {
        /// The password's setting.
        password: String,
        /// The missing user's setting.
        user: String,
    },
    /// A user JWT is set without its nkey seed.
    #[error("{jwt} is set but {seed} is not; a user JWT needs the nkey seed that signs for it: set both, or neither")]
    JwtWithoutSeed {
        /// The JWT's setting.
        jwt: String,
        /// The missing seed's setting.
        seed: String,
    },
    /// An inline nkey seed is set without a user JWT.
    #[error(
        "{seed} is set but {jwt} is not; set both, or use NATS_NKEY_SEED_FILE for nkey-only authentication"
    )]
    SeedWithoutJwt {
        /// The seed's setting.
        seed: String,
        /// The missing JWT's setting.
        jwt: String,
    },
    /// A client certificate is set without its key.
    #[error("{cert} is set but {key} is not; mutual TLS needs both the client certificate and its private key")]
    CertWithoutKey {
        /// The certificate's setting.
        cert: String,
        /// The missing key's setting.
        key: String,
    },
    /// A client key is set without its certificate.
    #[error("{key} is set but {cert} is not; mutual TLS needs both the client certificate and its private key")]
    KeyWithoutCert {
        /// The key's setting.
        key: String,
        /// The missing certificate's setting.
        cert: String,
    },
    /// A file named by a setting does not exist.
    #[error("{setting} names {path}, which does not exist; fix the path or mount the file")]
    FileMissing {
        /// The setting naming the file.
        setting: String,
        /// The file.
        path: PathBuf,
    },
    /// A file named by a setting cannot be read.
    #[error("{setting} names {path}, which cannot be read ({reason}); check that it is a file this process may read")]
    FileUnreadable {
        /// The setting naming the file.
        setting: String,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// A file does not hold what it must (a JWT, a seed, a certificate, a key).
    #[error("{setting} names {path}, but {problem}")]
    FileInvalid {
        /// The setting naming the file.
        setting: String,
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A server URL cannot be parsed.
    #[error(
        "{setting}: `{url}` is not a valid server URL ({reason}); write it like nats://host:4222"
    )]
    InvalidUrl {
        /// The setting holding the URL.
        setting: String,
        /// The URL, userinfo replaced by `***`.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A server URL has a scheme the client does not know.
    #[error(
        "{setting}: unknown scheme `{scheme}` in `{url}`; use nats://, tls://, ws:// or wss://"
    )]
    UnknownScheme {
        /// The setting holding the URL.
        setting: String,
        /// The scheme found.
        scheme: String,
        /// The URL, userinfo replaced by `***`.
        url: String,
    },
    /// TLS settings are given with a plain `ws://` URL.
    #[error(
        "{setting}: `{url}` is plain WebSocket but TLS settings are given ({reason}); \
         use wss:// for TLS, or remove the TLS settings"
    )]
    TlsOverPlainWebSocket {
        /// The setting holding the URL.
        setting: String,
        /// The URL, userinfo replaced by `***`.
        url: String,
        /// Which TLS setting asks for TLS.
        reason: String,
    },
    /// A duration is negative.
    #[error("{setting}: `{value}` is negative; a duration must be zero or more, like 2s or 500ms")]
    NegativeDuration {
        /// The setting.
        setting: String,
        /// The value given.
        value: String,
    },
    /// A value is not a duration, or is zero where zero makes no sense.
    #[error("{setting}: `{value}` {problem}")]
    InvalidDuration {
        /// The setting.
        setting: String,
        /// The value given.
        value: String,
        /// What is wrong and what to write.
        problem: String,
    },
    /// A duration is longer than [`MAX_DURATION`](crate::MAX_DURATION) (365 days).
    #[error("{setting}: `{value}` is longer than the maximum of 365 days; use a shorter duration like 30s")]
    DurationTooLong {
        /// The setting.
        setting: String,
        /// The value given.
        value: String,
    },
    /// A value is not a number where a number goes.
    #[error("{setting}: `{value}` is not a number; {expected}")]
    NotANumber {
        /// The setting.
        setting: String,
        /// The value given.
        value: String,
        /// What to write.
        expected: String,
    },
    /// A value is not a boolean.
    #[error("{setting}: `{value}` is not a boolean; write true or false")]
    NotABool {
        /// The setting.
        setting: String,
        /// The value given.
        value: String,
    },
    /// A value is empty where a value is needed.
    #[error("{setting} is empty; give it a value or remove it")]
    EmptyValue {
        /// The setting.
        setting: String,
    },
    /// A value has the wrong type or an impossible value.
    #[error("{setting}: {problem}")]
    InvalidValue {
        /// The setting.
        setting: String,
        /// What is wrong and what to do (never the value of a secret).
        problem: String,
    },
    /// A file holds a key this library does not know (a typo must not be ignored).
    #[error("unknown key `{key}` in {location}; {hint}")]
    UnknownKey {
        /// The key, with dots (`auth.tokn`).
        key: String,
        /// Where it was found (the file, or `ConfigBuilder::set`).
        location: String,
        /// What was probably meant, or the valid keys.
        hint: String,
    },
    /// The config file's extension names no supported format.
    #[error(
        "{setting} names {path}, whose format is unknown; name it .yaml, .yml, .json or .toml"
    )]
    UnsupportedFormat {
        /// The setting naming the file.
        setting: String,
        /// The file.
        path: PathBuf,
    },
    /// The config file is not valid YAML, JSON or TOML.
    #[error("{path} is not valid {format}: {reason}; fix the syntax")]
    FileSyntax {
        /// The file.
        path: PathBuf,
        /// `YAML`, `JSON` or `TOML`.
        format: &'static str,
        /// The parser's complaint, without the file's content.
        reason: String,
    },
    /// The NATS CLI context asked for does not exist.
    #[error("{setting} selects the NATS CLI context `{name}`, but {path} does not exist; create it with `nats context save`, or choose another context")]
    ContextNotFound {
        /// What selected it (`NATS_CONTEXT`, a config file's `context` key, or code).
        setting: String,
        /// The context's name or path.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A NATS CLI context file cannot be read or is not a JSON object.
    #[error("NATS CLI context {path} cannot be used: {reason}; fix it with `nats context edit`")]
    ContextInvalid {
        /// The context file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A declared stream is invalid.
    #[error("{setting}: {problem}")]
    InvalidStream {
        /// The stream's place (`` `jetstream.streams[0]` in /etc/nats.yaml ``).
        setting: String,
        /// What is wrong and what to do.
        problem: String,
    },
}

/// The kind of a [`ConfigError`], without its details: for tests and for
/// programs that react to one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// [`ConfigError::AuthConflict`].
    AuthConflict,
    /// [`ConfigError::UserWithoutPassword`].
    UserWithoutPassword,
    /// [`ConfigError::PasswordWithoutUser`].
    PasswordWithoutUser,
    /// [`ConfigError::JwtWithoutSeed`].
    JwtWithoutSeed,
    /// [`ConfigError::SeedWithoutJwt`].
    SeedWithoutJwt,
    /// [`ConfigError::CertWithoutKey`].
    CertWithoutKey,
    /// [`ConfigError::KeyWithoutCert`].
    KeyWithoutCert,
    /// [`ConfigError::FileMissing`].
    FileMissing,
    /// [`ConfigError::FileUnreadable`].
    FileUnreadable,
    /// [`ConfigError::FileInvalid`].
    FileInvalid,
    /// [`ConfigError::InvalidUrl`].
    InvalidUrl,
    /// [`ConfigError::UnknownScheme`].
    UnknownScheme,
    /// [`ConfigError::TlsOverPlainWebSocket`].
    TlsOverPlainWebSocket,
    /// [`ConfigError::NegativeDuration`].
    NegativeDuration,
    /// [`ConfigError::InvalidDuration`].
    InvalidDuration,
    /// [`ConfigError::DurationTooLong`].
    DurationTooLong,
    /// [`ConfigError::NotANumber`].
    NotANumber,
    /// [`ConfigError::NotABool`].
    NotABool,
    /// [`ConfigError::EmptyValue`].
    EmptyValue,
    /// [`ConfigError::InvalidValue`].
    InvalidValue,
    /// [`ConfigError::UnknownKey`].
    UnknownKey,
    /// [`ConfigError::UnsupportedFormat`].
    UnsupportedFormat,
    /// [`ConfigError::FileSyntax`].
    FileSyntax,
    /// [`ConfigError::ContextNotFound`].
    ContextNotFound,
    /// [`ConfigError::ContextInvalid`].
    ContextInvalid,
    /// [`ConfigError::InvalidStream`].
    InvalidStream,
}

impl ConfigError {
    /// The kind of this error.
    pub fn kind(&self) -> ConfigErrorKind {
        use ConfigErrorKind as K;
        match self {
            ConfigError::AuthConflict { .. } => K::AuthConflict,
            ConfigError::UserWithoutPassword { .. } => K::UserWithoutPassword,
            ConfigError::PasswordWithoutUser { .. } => K::PasswordWithoutUser,
            ConfigError::JwtWithoutSeed { .. } => K::JwtWithoutSeed,
            ConfigError::SeedWithoutJwt { .. } => K::SeedWithoutJwt,
            ConfigError::CertWithoutKey { .. } => K::CertWithoutKey,
            ConfigError::KeyWithoutCert { .. } => K::KeyWithoutCert,
            ConfigError::FileMissing { .. } => K::FileMissing,
            ConfigError::FileUnreadable { .. } => K::FileUnreadable,
            ConfigError::FileInvalid { .. } => K::FileInvalid,
            ConfigError::InvalidUrl { .. } => K::InvalidUrl,
            ConfigError::UnknownScheme { .. } => K::UnknownScheme,
            ConfigError::TlsOverPlainWebSocket { .. } => K::TlsOverPlainWebSocket,
            ConfigError::NegativeDuration { .. } => K::NegativeDuration,
            ConfigError::InvalidDuration { .. } => K::InvalidDuration,
            ConfigError::DurationTooLong { .. } => K::DurationTooLong,
            ConfigError::NotANumber { .. } => K::NotANumber,
            ConfigError::NotABool { .. } => K::NotABool,
            ConfigError::EmptyValue { .. } => K::EmptyValue,
            ConfigError::InvalidValue { .. } => K::InvalidValue,
            ConfigError::UnknownKey { .. } => K::UnknownKey,
            ConfigError::UnsupportedFormat { .. } => K::UnsupportedFormat,
            ConfigError::FileSyntax { .. } => K::FileSyntax,
            ConfigError::ContextNotFound { .. } => K::ContextNotFound,
            ConfigError::ContextInvalid { .. } => K::ContextInvalid,
            ConfigError::InvalidStream { .. } => K::InvalidStream,
        }
    }
}
