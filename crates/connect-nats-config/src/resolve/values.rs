//! How raw values read from the layers are described in errors and turned
//! into numbers, never showing more than a value's kind where it may be secret.

use figment::error::Actual;
use figment::value::{Num, Value};

/// A short description of a value's type, never its content.
pub(super) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::String(..) | Value::Char(..) => "text",
        Value::Bool(..) => "a boolean",
        Value::Num(..) => "a number",
        Value::Empty(..) => "nothing",
        Value::Dict(..) => "a map",
        Value::Array(..) => "a list",
    }
}

pub(super) fn actual_kind(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "text",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map => "a map",
        _ => "another type",
    }
}

/// A non-secret value as the user wrote it, for error messages.
pub(super) fn display_value(value: &Value) -> String {
    match value {
        Value::String(_, s) => s.clone(),
        Value::Char(_, c) => c.to_string(),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => num_text(*n),
        other => kind_of(other).to_owned(),
    }
}

pub(super) fn num_text(n: Num) -> String {
    match (n.to_i128(), n.to_u128(), n.to_f64()) {
        (Some(i), _, _) => i.to_string(),
        (_, Some(u), _) => u.to_string(),
        (_, _, Some(f)) => f.to_string(),
        _ => String::new(),
    }
}

/// An integer of any width, signed or not.
pub(super) fn int_of(n: Num) -> Option<i128> {
    n.to_i128()
        .or_else(|| n.to_u128().and_then(|u| i128::try_from(u).ok()))
}
