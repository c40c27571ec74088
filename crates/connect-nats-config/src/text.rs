//! Small text helpers: keeping secrets out of messages, suggesting keys.

/// Replaces every double-quoted segment of a parser message with `"…"`, so a
/// parser that quotes the input cannot leak a secret into an error.
pub(crate) fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quote = false;
    // Parsers name grammar tokens in backticks (expected `"`): keep those.
    let mut in_backticks = false;
    for c in message.chars() {
        match c {
            '`' if !in_quote => {
                in_backticks = !in_backticks;
                out.push(c);
            }
            '"' if !in_backticks => {
                if in_quote {
                    out.push_str("…\"");
                } else {
                    out.push('"');
                }
                in_quote = !in_quote;
            }
            '\n' if !in_quote => out.push_str("; "),
            _ if !in_quote => out.push(c),
            _ => {}
        }
    }
    if in_quote {
        out.push('…');
    }
    out
}

/// A URL with any userinfo (`user:pass@`, `token@`) replaced by `***`.
///
/// Everything up to the LAST `@` is treated as userinfo, also when it holds
/// characters a valid URL would have encoded (`/`, `?`, `#`, even `://`): a
/// malformed URL is exactly the one that ends up in an error message, and
/// over-redacting a rare `@` in a path is better than printing a password.
/// Of the text before that `@` only a scheme that is a plain token (see
/// [`plain_scheme`]) is kept; `svc:pa://ss@h` prints as `***@h`.
pub(crate) fn redact_userinfo(url: &str) -> String {
    let Some(at) = url.rfind('@') else {
        return url.to_owned();
    };
    match url.split_once("://") {
        Some((scheme, _)) if plain_scheme(scheme) && scheme.len() < at => {
            format!("{scheme}://***{}", &url[at..])
        }
        _ => format!("***{}", &url[at..]),
    }
}

/// Whether `s` can be a URL scheme and nothing else: an ASCII letter, then
/// letters, digits, `+`, `-` or `.` (`nats`, `wss`, `http`; not `svc:pa`).
pub(crate) fn plain_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a small distance.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_segments_are_redacted() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "s3cret", expected a map"#),
            r#"invalid type: string "…", expected a map"#
        );
        assert_eq!(redact_quoted(r#"x "open"#), r#"x "…"#);
        assert_eq!(
            redact_quoted("invalid string\nexpected `\"`, `'`"),
            "invalid string; expected `\"`, `'`"
        );
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(redact_userinfo("nats://u:p@h:4222"), "nats://***@h:4222");
        assert_eq!(redact_userinfo("nats://tok@h"), "nats://***@h");
        assert_eq!(redact_userinfo("nats://h:4222"), "nats://h:4222");
        assert_eq!(redact_userinfo("u:p@h"), "***@h");
        // an `@` after the authority is over-redacted rather than risking a leak
        assert_eq!(redact_userinfo("nats://a:b@c@h/x@y"), "nats://***@y");
        // un-encoded `/`, `?`, `#` in a password must not expose it
        assert_eq!(
            redact_userinfo("nats://svc:pa/ss@h:4222"),
            "nats://***@h:4222"
        );
        assert_eq!(redact_userinfo("nats://svc:p?a#ss@h"), "nats://***@h");
        // without a scheme, a `://` in the password is no scheme to keep
        assert_eq!(redact_userinfo("svc:s3cr://et@nats:4222"), "***@nats:4222");
        assert_eq!(
            redact_userinfo("s3cr://et@nats:4222"),
            "s3cr://***@nats:4222"
        );
        assert_eq!(redact_userinfo("svc@x://et@nats"), "***@nats");
        assert_eq!(redact_userinfo("nats://svc:a://b@h"), "nats://***@h");
        assert_eq!(redact_userinfo("svc:s3cr://et"), "svc:s3cr://et");
    }

    #[test]
    fn plain_schemes() {
        for s in ["nats", "WSS", "svc+x.y-z", "a1"] {
            assert!(plain_scheme(s), "{s}");
        }
        for s in ["", "svc:s3cr", "1a", "a b", "u@h", "a/b", "é"] {
            assert!(!plain_scheme(s), "{s}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("tokn", &["token", "user"]), Some("token"));
        assert_eq!(closest("zzzzzz", &["token", "user"]), None);
        assert_eq!(edit_distance("wait", "wait"), 0);
    }
}
