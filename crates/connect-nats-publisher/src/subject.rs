//! Publish-subject validation, done before anything is sent.

use crate::error::PublishError;

/// Checks that `subject` is a concrete subject a message can be published to.
///
/// Refused: an empty subject, any whitespace or control character, an empty
/// token (leading or trailing `.`, or `..`), and the wildcard tokens `*` and
/// `>` (wildcards are for subscribing, not publishing).
pub fn validate_publish_subject(subject: &str) -> Result<(), PublishError> {
    let fail = |reason| {
        Err(PublishError::InvalidSubject {
            subject: subject.to_owned(),
            reason,
        })
    };
    if subject.is_empty() {
        return fail("it is empty");
    }
    let bytes = subject.as_bytes();
    let bad_char = if bytes.is_ascii() {
        bytes.iter().any(|&b| b <= b' ' || b == 0x7f)
    } else {
        subject.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if bad_char {
        return fail("it contains whitespace or a control character");
    }
    if bytes[0] == b'.' || bytes[bytes.len() - 1] == b'.' || subject.contains("..") {
        return fail("it has an empty token (leading, trailing or double `.`)");
    }
    if (bytes.contains(&b'*') || bytes.contains(&b'>'))
        && subject.split('.').any(|t| t == "*" || t == ">")
    {
        return fail("it contains a wildcard token (`*` or `>`)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_concrete_subjects() {
        for s in [
            "connect.invite.created",
            "a",
            "cache.user.42",
            "a-b_c.d$e",
            "ü.x",
        ] {
            validate_publish_subject(s).unwrap();
        }
    }

    #[test]
    fn refuses_bad_subjects_with_reason() {
        let cases = [
            ("", "empty"),
            ("a b", "whitespace"),
            ("a\tb", "whitespace"),
            ("a\r\nb", "whitespace"),
            ("a.*.c", "wildcard"),
            ("a.>", "wildcard"),
            (">", "wildcard"),
            (".a", "empty token"),
            ("a.", "empty token"),
            ("a..b", "empty token"),
        ];
        for (subject, want) in cases {
            let err = validate_publish_subject(subject).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(want), "{subject:?}: {text}");
            assert!(matches!(err, PublishError::InvalidSubject { .. }));
        }
    }
}
