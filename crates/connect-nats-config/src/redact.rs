//! Keeping secrets out of free text (handler error messages, logs, headers).
//!
//! [`redact_secrets`] hides the secret shapes this library handles wherever
//! they appear in a text: the userinfo of a URL (`nats://user:pass@host`,
//! `nats://token@host`), nkey seeds (`SU…`, `SA…`, `SO…`) and JWTs
//! (`eyJ….….…`). It is the one redaction used for text that the caller
//! wrote and this library passes on: the consumer's log lines about a failed
//! message and its dead-letter error header.

use std::borrow::Cow;

use crate::text::redact_userinfo;

/// Shown in place of a hidden secret.
const HIDDEN: &str = "***";

/// `text` with every URL userinfo, nkey seed and JWT replaced by `***`
/// (borrowed unchanged when it holds none).
pub fn redact_secrets(text: &str) -> Cow<'_, str> {
    if !text
        .split_whitespace()
        .any(|word| secret_in_word(word).is_some())
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let space = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..space]);
        rest = &rest[space..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        match secret_in_word(word) {
            Some(redacted) => out.push_str(&redacted),
            None => out.push_str(word),
        }
        rest = &rest[end..];
    }
    Cow::Owned(out)
}

/// The word with its secret hidden, or `None` when it holds none.
fn secret_in_word(word: &str) -> Option<String> {
    if let Some(sep) = word.find("://") {
        if word[sep..].contains('@') {
            // Keep what precedes the scheme (`url=`, a quote, a bracket).
            let start = word[..sep]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
                .map_or(0, |i| i + 1);
            return Some(format!(
                "{}{}",
                &word[..start],
                redact_userinfo(&word[start..])
            ));
        }
    }
    let mut changed = false;
    let parts: Vec<&str> = word
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .collect();
    let mut out = word.to_owned();
    for part in parts {
        for piece in part
            .split('.')
            .filter(|p| is_seed(p))
            .chain(is_jwt(part).then_some(part))
        {
            out = out.replace(piece, HIDDEN);
            changed = true;
        }
    }
    changed.then_some(out)
}

/// An nkey seed: `S` and a key-type letter, then base32, 58 characters in all.
fn is_seed(s: &str) -> bool {
    s.len() == 58
        && s.starts_with('S')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// A JWT: three base64url parts, the header starting `eyJ` (`{"`).
fn is_jwt(s: &str) -> bool {
    let mut parts = s.split('.');
    let three = (parts.next(), parts.next(), parts.next(), parts.next());
    matches!(three, (Some(h), Some(c), Some(sig), None)
        if h.starts_with("eyJ") && c.len() >= 8 && !sig.is_empty()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_userinfo_is_hidden_anywhere_in_a_text() {
        assert_eq!(
            redact_secrets("db down: dial nats://svc:s3cret@h:4222 failed"),
            "db down: dial nats://***@h:4222 failed"
        );
        assert_eq!(
            redact_secrets("url=nats://tok3n@h, retrying"),
            "url=nats://***@h, retrying"
        );
        assert_eq!(
            redact_secrets("(postgres://u:p@db/x)"),
            "(postgres://***@db/x)"
        );
    }

    #[test]
    fn seeds_and_jwts_are_hidden() {
        let seed = format!("SU{}", "A".repeat(56));
        assert_eq!(redact_secrets(&format!("seed={seed}!")), "seed=***!");
        let jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5In0.eyJqdGkiOiJBQkMifQ.c2lnbmF0dXJl";
        assert_eq!(redact_secrets(&format!("bad jwt {jwt}")), "bad jwt ***");
    }

    #[test]
    fn text_without_secrets_is_borrowed_unchanged() {
        for text in [
            "db down",
            "see https://docs.example/x and user@example.com",
            "  spaced\ttext \n",
            "",
        ] {
            assert!(
                matches!(redact_secrets(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }
}
