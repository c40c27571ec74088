//! Server URLs: `NATS_URL`'s comma-separated list, schemes, and the
//! credentials some URLs carry (moved into [`Auth`](crate::Auth)).

use percent_encoding::percent_decode_str;

use crate::error::ConfigError;
use crate::model::{Scheme, ServerUrl};
use crate::secret::Secret;
use crate::text::{plain_scheme, redact_userinfo};

/// Why a URL list whose URLs carry different credentials is refused, and what to do.
const MIXED_CREDENTIALS: &str = "it carries different credentials than an earlier URL; give \
    every URL the same userinfo, or none and set NATS_USER and NATS_PASSWORD (or NATS_TOKEN) \
    instead";

/// Credentials found in a URL's userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlCredentials {
    /// `nats://token@host`.
    Token(Secret),
    /// `nats://user:pass@host`.
    UserPassword(String, Secret),
    /// `nats://user:@host`: a user with an empty password.
    UserOnly(String),
}

/// The parsed server list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedServers {
    pub servers: Vec<ServerUrl>,
    pub credentials: Option<UrlCredentials>,
}

/// Parses every entry (each may itself be comma-separated).
pub(crate) fn parse_servers(
    entries: &[String],
    setting: &str,
) -> Result<ParsedServers, ConfigError> {
    let mut servers = Vec::new();
    let mut credentials: Option<UrlCredentials> = None;
    for entry in entries.iter().flat_map(|e| e.split(',')) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (server, creds) = parse_one(entry, setting)?;
        servers.push(server);
        if let Some(creds) = creds {
            match &credentials {
                Some(existing) if *existing != creds => {
                    return Err(ConfigError::InvalidUrl {
                        setting: setting.to_owned(),
                        url: redact_userinfo(entry),
                        reason: MIXED_CREDENTIALS.to_owned(),
                    })
                }
                _ => credentials = Some(creds),
            }
        }
    }
    if servers.is_empty() {
        return Err(ConfigError::EmptyValue {
            setting: setting.to_owned(),
        });
    }
    Ok(ParsedServers {
        servers,
        credentials,
    })
}

impl Scheme {
    /// Every scheme, in the order of the enum.
    pub const ALL: [Scheme; 4] = [Scheme::Nats, Scheme::Tls, Scheme::Ws, Scheme::Wss];

    /// The scheme's name as written before `://`: `nats`, `tls`, `ws` or
    /// `wss` (also its serialized form).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Nats => "nats",
            Scheme::Tls => "tls",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    /// The scheme called `name` (ASCII case-insensitive), if it is one.
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// `<scheme>://<rest>`, e.g. `nats://host:4222` for `host:4222`.
    pub fn url(self, rest: &str) -> String {
        format!("{}://{rest}", self.as_str())
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn parse_one(
    entry: &str,
    setting: &str,
) -> Result<(ServerUrl, Option<UrlCredentials>), ConfigError> {
    let redacted = redact_userinfo(entry);
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        setting: setting.to_owned(),
        url: redacted.clone(),
        reason: reason.to_owned(),
    };
    let with_scheme = if entry.contains("://") {
        entry.to_owned()
    } else {
        Scheme::Nats.url(entry)
    };
    let scheme_text = with_scheme
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    // With userinfo, text before `://` that is no plain scheme is likely
    // part of a password (`svc:s3cr://et@h`): never quote it.
    if entry.contains('@') && !plain_scheme(&scheme_text) {
        return Err(invalid(
            "the text before `://` is not a scheme; percent-encode `:` as %3A and `/` as %2F \
             in a user name or password",
        ));
    }
    let Some(scheme) = Scheme::from_name(&scheme_text) else {
        return Err(ConfigError::UnknownScheme {
            setting: setting.to_owned(),
            scheme: scheme_text,
            url: redacted,
        });
    };
    // `url` reports what is wrong without echoing the input.
    let url = url::Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("no host"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a query or fragment is not allowed"));
    }
    let path = url.path();
    let keep_path = matches!(scheme, Scheme::Ws | Scheme::Wss) && !path.is_empty() && path != "/";
    if !matches!(scheme, Scheme::Ws | Scheme::Wss) && !path.is_empty() && path != "/" {
        return Err(invalid("a path is not allowed in a nats:// or tls:// URL"));
    }
    let mut clean = scheme.url(host);
    if let Some(port) = url.port() {
        clean.push_str(&format!(":{port}"));
    }
    if keep_path {
        clean.push_str(path);
    }

    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| invalid("the credentials are not valid UTF-8 once decoded"))
    };
    // Userinfo as written (the `url` crate cannot tell `user:@` from `user@`).
    let after_scheme = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
    let authority = &after_scheme[..after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len())];
    let userinfo = authority.rfind('@').map(|at| &authority[..at]);
    let credentials = match userinfo {
        None => None,
        Some(info) => match info.split_once(':') {
            None if info.is_empty() => return Err(invalid("an empty userinfo before `@`")),
            None => Some(UrlCredentials::Token(Secret::new(decode(info)?))),
            Some(("", _)) => return Err(invalid("a password without a user")),
            Some((user, "")) => Some(UrlCredentials::UserOnly(decode(user)?)),
            Some((user, password)) => Some(UrlCredentials::UserPassword(
                decode(user)?,
                Secret::new(decode(password)?),
            )),
        },
    };
    Ok((ServerUrl { url: clean, scheme }, credentials))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ParsedServers, ConfigError> {
        parse_servers(&[s.to_owned()], "NATS_URL")
    }

    #[test]
    fn scheme_names_round_trip_and_match_serde() {
        for scheme in Scheme::ALL {
            assert_eq!(Scheme::from_name(scheme.as_str()), Some(scheme));
            assert_eq!(
                Scheme::from_name(&scheme.as_str().to_ascii_uppercase()),
                Some(scheme)
            );
            assert_eq!(
                serde_json::to_value(scheme).ok(),
                Some(serde_json::Value::from(scheme.as_str()))
            );
        }
        assert_eq!(Scheme::from_name("http"), None);
        assert_eq!(Scheme::Wss.url("h:443/nats"), "wss://h:443/nats");
    }

    #[test]
    fn lists_and_schemes() {
        let p = parse("nats://a:4222, tls://b:4223,ws://c:8080/nats,wss://d,e:4222").unwrap();
        let urls: Vec<_> = p
            .servers
            .iter()
            .map(|s| (s.url.as_str(), s.scheme))
            .collect();
        assert_eq!(
            urls,
            vec![
                ("nats://a:4222", Scheme::Nats),
                ("tls://b:4223", Scheme::Tls),
                ("ws://c:8080/nats", Scheme::Ws),
                ("wss://d", Scheme::Wss),
                ("nats://e:4222", Scheme::Nats),
            ]
        );
        assert_eq!(p.credentials, None);
        let p = parse("nats://[::1]:4222").unwrap();
        assert_eq!(p.servers[0].url, "nats://[::1]:4222");
    }

    #[test]
    fn userinfo_becomes_credentials() {
        let p = parse("nats://al%40ice:p%3Ass@h:4222").unwrap();
        assert_eq!(p.servers[0].url, "nats://h:4222");
        assert_eq!(
            p.credentials,
            Some(UrlCredentials::UserPassword(
                "al@ice".into(),
                Secret::new("p:ss")
            ))
        );
        let p = parse("nats://tok@h:4222,nats://tok@h2:4222").unwrap();
        assert_eq!(
            p.credentials,
            Some(UrlCredentials::Token(Secret::new("tok")))
        );
        let e = parse("nats://tok@h:4222,nats://other@h2:4222").unwrap_err();
        assert!(!e.to_string().contains("other"), "{e}");
    }

    #[test]
    fn bad_urls() {
        assert!(matches!(
            parse("http://h:80"),
            Err(ConfigError::UnknownScheme { .. })
        ));
        assert!(matches!(
            parse("nats://h:99999"),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse("nats://h:4222/path"),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(parse(" , "), Err(ConfigError::EmptyValue { .. })));
        let e = parse("nats://s3cret@h:notaport").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn a_password_with_a_scheme_separator_is_not_quoted() {
        for url in ["svc:s3cr://et@nats:4222", "svc@s3cr://et@nats:4222"] {
            let e = parse(url).unwrap_err();
            assert!(matches!(e, ConfigError::InvalidUrl { .. }), "{e:?}");
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains("s3cr"), "{shown}");
                assert!(shown.contains("***@nats:4222"), "{shown}");
            }
        }
        // Without userinfo an odd scheme is still named.
        let e = parse("my host://h").unwrap_err();
        assert!(e.to_string().contains("`my host`"), "{e}");
    }
}
