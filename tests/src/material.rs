//! Keys, certificates and JWTs generated at test time for the auth and TLS variants.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use nkeys::KeyPair;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyUsagePurpose,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha512_256};

use crate::config::{Auth, ServerConfig, TlsMode};

/// Everything one server's variant needs, generated once at start and kept across restarts.
#[derive(Default)]
pub(crate) struct Material {
    pub(crate) nkey: Option<NkeyMaterial>,
    pub(crate) operator: Option<OperatorMaterial>,
    pub(crate) tls: Option<TlsMaterial>,
}

// Seeds and JWTs are secrets; Debug shows only which pieces exist.
impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Material")
            .field("nkey", &self.nkey.is_some())
            .field("operator", &self.operator.is_some())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// A user nkey for `authorization { users = [ {nkey} ] }`.
pub(crate) struct NkeyMaterial {
    pub(crate) public: String,
    pub(crate) seed: String,
    pub(crate) seed_path: PathBuf,
}

/// Operator-mode trust chain: operator -> accounts -> user.
pub(crate) struct OperatorMaterial {
    pub(crate) operator_jwt_path: PathBuf,
    pub(crate) system_account: String,
    /// (account public key, account JWT) for `resolver_preload`.
    pub(crate) account_jwts: Vec<(String, String)>,
    pub(crate) account_public: String,
    pub(crate) user_jwt: String,
    pub(crate) user_seed: String,
    pub(crate) creds_path: PathBuf,
}

/// PEM files of a CA, a server certificate and a client certificate.
pub(crate) struct TlsMaterial {
    pub(crate) ca_path: PathBuf,
    pub(crate) server_cert_path: PathBuf,
    pub(crate) server_key_path: PathBuf,
    pub(crate) client_cert_path: PathBuf,
    pub(crate) client_key_path: PathBuf,
}

impl Material {
    /// Generates what `config` needs into `dir`.
    pub(crate) fn generate(config: &ServerConfig, dir: &Path) -> Material {
        let mut material = Material::default();
        match config.auth {
            Auth::Nkey => material.nkey = Some(generate_nkey(dir)),
            Auth::Operator => material.operator = Some(generate_operator(dir)),
            Auth::None | Auth::Token(_) | Auth::UserPassword(..) => {}
        }
        if config.tls != TlsMode::Off {
            material.tls = Some(generate_tls(dir));
        }
        material
    }

    pub(crate) fn nkey(&self) -> &NkeyMaterial {
        self.nkey
            .as_ref()
            .expect("testkit bug: nkey material missing for an nkey server")
    }

    pub(crate) fn operator(&self) -> &OperatorMaterial {
        self.operator
            .as_ref()
            .expect("testkit bug: operator material missing for an operator server")
    }

    pub(crate) fn tls(&self) -> &TlsMaterial {
        self.tls
            .as_ref()
            .expect("testkit bug: TLS material missing for a TLS server")
    }
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents)
        .unwrap_or_else(|e| panic!("testkit: cannot write {}: {e}", path.display()));
}

fn seed_of(kp: &KeyPair) -> String {
    kp.seed()
        .expect("testkit: a generated nkey always has a seed")
}

fn generate_nkey(dir: &Path) -> NkeyMaterial {
    let user = KeyPair::new_user();
    let seed = seed_of(&user);
    let seed_path = dir.join("user.nk");
    write(&seed_path, &format!("{seed}\n"));
    NkeyMaterial {
        public: user.public_key(),
        seed,
        seed_path,
    }
}

// ---------------------------------------------------------------------------------------------
// Operator mode: NATS JWT v2, signed with ed25519 nkeys.

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Encodes and signs a NATS JWT v2: `base64url(header).base64url(claims).base64url(sig)`, the
/// signature being ed25519 (by the issuer's nkey) over the first two parts; `jti` is the base32
/// SHA-512/256 of the claims without it, as the Go `nats-io/jwt` library computes it.
pub(crate) fn encode_jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let mut claims = json!({
        "jti": "",
        "iat": now_secs(),
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let digest = Sha512_256::digest(claims.to_string().as_bytes());
    claims["jti"] = Value::String(BASE32_NOPAD.encode(&digest));
    let header = json!({"typ": "JWT", "alg": "ed25519-nkey"});
    let signing_input = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
        BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
    );
    let signature = issuer
        .sign(signing_input.as_bytes())
        .expect("testkit: a generated nkey can sign");
    format!("{signing_input}.{}", BASE64URL_NOPAD.encode(&signature))
}

/// The standard `.creds` file text (as `nsc` writes it).
pub(crate) fn creds_text(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

fn unlimited_account(jetstream: bool) -> Value {
    let mut limits = json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
    });
    if jetstream {
        for key in ["mem_storage", "disk_storage", "streams", "consumer"] {
            limits[key] = json!(-1);
        }
    }
    json!({
        "limits": limits,
        "default_permissions": {"pub": {}, "sub": {}},
        "type": "account",
        "version": 2,
    })
}

fn generate_operator(dir: &Path) -> OperatorMaterial {
    let operator = KeyPair::new_operator();
    let system = KeyPair::new_account();
    let account = KeyPair::new_account();
    let user = KeyPair::new_user();

    let operator_jwt = encode_jwt(
        &operator,
        &operator.public_key(),
        "testkit-operator",
        json!({"system_account": system.public_key(), "type": "operator", "version": 2}),
    );
    let system_jwt = encode_jwt(
        &operator,
        &system.public_key(),
        "SYS",
        unlimited_account(false),
    );
    // JetStream limits are always on for the app account: harmless without JetStream, and it
    // lets an operator server with `.jetstream()` be used for JetStream tests.
    let account_jwt = encode_jwt(
        &operator,
        &account.public_key(),
        "APP",
        unlimited_account(true),
    );
    let user_jwt = encode_jwt(
        &account,
        &user.public_key(),
        "testkit-user",
        json!({
            "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
            "type": "user", "version": 2,
        }),
    );
    let user_seed = seed_of(&user);

    let operator_jwt_path = dir.join("operator.jwt");
    write(&operator_jwt_path, &operator_jwt);
    let creds_path = dir.join("user.creds");
    write(&creds_path, &creds_text(&user_jwt, &user_seed));

    OperatorMaterial {
        operator_jwt_path,
        system_account: system.public_key(),
        account_jwts: vec![
            (system.public_key(), system_jwt),
            (account.public_key(), account_jwt),
        ],
        account_public: account.public_key(),
        user_jwt,
        user_seed,
        creds_path,
    }
}

// ---------------------------------------------------------------------------------------------
// TLS: a CA, a server certificate for localhost/127.0.0.1 and a client certificate.

fn generate_tls(dir: &Path) -> TlsMaterial {
    let fail =
        |what: &str, e: rcgen::Error| -> ! { panic!("testkit: cannot generate {what}: {e}") };

    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| fail("CA params", e));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "connect-nats-testkit CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = rcgen::KeyPair::generate().unwrap_or_else(|e| fail("CA key", e));
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .unwrap_or_else(|e| fail("CA certificate", e));
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf = |names: Vec<String>, cn: &str, eku: ExtendedKeyUsagePurpose| {
        let mut params =
            CertificateParams::new(names).unwrap_or_else(|e| fail("certificate params", e));
        params.distinguished_name.push(DnType::CommonName, cn);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![eku];
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| fail("leaf key", e));
        let cert = params
            .signed_by(&key, &issuer)
            .unwrap_or_else(|e| fail("leaf certificate", e));
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["localhost".to_string(), "127.0.0.1".to_string()],
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(
        vec!["testkit-client".to_string()],
        "testkit-client",
        ExtendedKeyUsagePurpose::ClientAuth,
    );

    let material = TlsMaterial {
        ca_path: dir.join("ca.pem"),
        server_cert_path: dir.join("server-cert.pem"),
        server_key_path: dir.join("server-key.pem"),
        client_cert_path: dir.join("client-cert.pem"),
        client_key_path: dir.join("client-key.pem"),
    };
    write(&material.ca_path, &ca_cert.pem());
    write(&material.server_cert_path, &server_cert);
    write(&material.server_key_path, &server_key);
    write(&material.client_cert_path, &client_cert);
    write(&material.client_key_path, &client_key);
    material
}
