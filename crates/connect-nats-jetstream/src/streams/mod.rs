//! Declared streams: the defaults, comparing a declaration with a server,
//! applying declarations, and the report of what happened.

mod defaults;
mod diff;
mod ensure;
mod report;

pub(crate) use defaults::resolve_streams;
pub use defaults::{declared_streams, default_connect_streams};
pub(crate) use ensure::describe_request_error;
pub use ensure::{ensure_streams, ensure_streams_dry_run};
pub use report::{ChangeKind, Counts, EnsureReport, FieldChange, StreamOutcome, StreamReport};
