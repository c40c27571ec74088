//! Authentication: exactly one method, from the URL's userinfo or the
//! settings; credential files read once here.

use crate::credentials::{
    looks_like_jwt, looks_like_user_seed, read_creds_file, read_nkey_seed_file,
};
use crate::error::ConfigError;
use crate::model::Auth;
use crate::secret::Secret;
use crate::settings::setting_by_key;
use crate::source::{Layer, Origin, Sources};
use crate::urls::UrlCredentials;

use super::Merged;

/// How to name the missing half of a pair, in the same terms as the half given.
pub(super) fn companion(present: &Origin, key: &str) -> String {
    let Some(setting) = setting_by_key(key) else {
        return format!("`{key}`");
    };
    match present.layer {
        Layer::Env => setting.env.unwrap_or(key).to_owned(),
        Layer::Context => format!("`{}`", setting.context.unwrap_or(key)),
        _ => format!("`{key}`"),
    }
}

/// The one authentication method of the layers; credentials found in the
/// URL (`url_credentials`, from `url_origin`) count as a method.
pub(super) fn resolve_auth(
    merged: &Merged,
    url_credentials: Option<UrlCredentials>,
    url_origin: Option<&Origin>,
    sources: &mut Sources,
) -> Result<Auth, ConfigError> {
    let token = merged.text("auth.token")?;
    let creds = merged.path("auth.creds_file")?;
    let user = merged.text("auth.user")?;
    let password = merged.text("auth.password")?;
    let nkey_file = merged.path("auth.nkey_seed_file")?;
    let jwt = merged.text("auth.jwt")?;
    let seed = merged.text("auth.nkey_seed")?;

    let url_label = url_origin
        .map(|o| format!("{o} (credentials in the URL)"))
        .unwrap_or_default();
    let mut methods: Vec<String> = Vec::new();
    if url_credentials.is_some() {
        methods.push(url_label.clone());
    }
    let mut push = |origin: Option<&Origin>| {
        if let Some(origin) = origin {
            methods.push(origin.to_string());
        }
    };
    push(token.as_ref().map(|f| &f.origin));
    push(creds.as_ref().map(|f| &f.origin));
    push(
        user.as_ref()
            .map(|f| &f.origin)
            .or(password.as_ref().map(|f| &f.origin)),
    );
    push(nkey_file.as_ref().map(|f| &f.origin));
    push(
        jwt.as_ref()
            .map(|f| &f.origin)
            .or(seed.as_ref().map(|f| &f.origin)),
    );
    if let [first, second, ..] = methods.as_slice() {
        return Err(ConfigError::AuthConflict {
            first: first.clone(),
            second: second.clone(),
        });
    }

    let auth = if let Some(credentials) = url_credentials {
        let url_origin = url_origin
            .cloned()
            .unwrap_or_else(|| Origin::new(Layer::Default, "url", None));
        let derived = Origin {
            name: format!("{} (credentials in the URL)", url_origin.name),
            ..url_origin
        };
        match credentials {
            UrlCredentials::Token(token) => {
                sources.insert("auth.token", derived);
                Auth::Token { token }
            }
            UrlCredentials::UserPassword(user, password) => {
                sources.insert("auth.user", derived.clone());
                sources.insert("auth.password", derived);
                Auth::UserPassword { user, password }
            }
            UrlCredentials::UserOnly(_) => {
                return Err(ConfigError::UserWithoutPassword {
                    user: url_label,
                    password: "a password after the `:` in the URL".to_owned(),
                })
            }
        }
    } else if let Some(token) = token {
        Auth::Token {
            token: Secret::new(token.value),
        }
    } else if let Some(creds) = creds {
        let contents = read_creds_file(&creds.value, &creds.origin.to_string())?;
        Auth::CredsFile {
            path: creds.value,
            contents,
        }
    } else if user.is_some() || password.is_some() {
        match (user, password) {
            (Some(user), Some(password)) => Auth::UserPassword {
                user: user.value,
                password: Secret::new(password.value),
            },
            (Some(user), None) => {
                return Err(ConfigError::UserWithoutPassword {
                    password: companion(&user.origin, "auth.password"),
                    user: user.origin.to_string(),
                })
            }
            (None, Some(password)) => {
                return Err(ConfigError::PasswordWithoutUser {
                    user: companion(&password.origin, "auth.user"),
                    password: password.origin.to_string(),
                })
            }
            (None, None) => Auth::None,
        }
    } else if let Some(nkey_file) = nkey_file {
        let seed = read_nkey_seed_file(&nkey_file.value, &nkey_file.origin.to_string())?;
        Auth::NkeySeedFile {
            path: nkey_file.value,
            seed,
        }
    } else if jwt.is_some() || seed.is_some() {
        match (jwt, seed) {
            (Some(jwt), Some(seed)) => {
                if !looks_like_jwt(&jwt.value) {
                    return Err(ConfigError::InvalidValue {
                        setting: jwt.origin.to_string(),
                        problem: "does not look like a user JWT (three base64url parts \
                                  separated by dots); use the JWT of the user's .creds file"
                            .to_owned(),
                    });
                }
                if !looks_like_user_seed(&seed.value) {
                    return Err(ConfigError::InvalidValue {
                        setting: seed.origin.to_string(),
                        problem: "does not look like an nkey user seed (58 characters \
                                  starting with SU); use the seed of the user's .creds file"
                            .to_owned(),
                    });
                }
                Auth::Jwt {
                    jwt: Secret::new(jwt.value.trim()),
                    seed: Secret::new(seed.value.trim()),
                }
            }
            (Some(jwt), None) => {
                return Err(ConfigError::JwtWithoutSeed {
                    seed: companion(&jwt.origin, "auth.nkey_seed"),
                    jwt: jwt.origin.to_string(),
                })
            }
            (None, Some(seed)) => {
                return Err(ConfigError::SeedWithoutJwt {
                    jwt: companion(&seed.origin, "auth.jwt"),
                    seed: seed.origin.to_string(),
                })
            }
            (None, None) => Auth::None,
        }
    } else {
        Auth::None
    };
    Ok(auth)
}
