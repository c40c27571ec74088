//! What a durable consumer is: [`ConsumerSpec`].

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};

use crate::error::JetStreamError;

/// Where a new durable consumer starts reading. Ignored once the consumer
/// exists: it resumes where it left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The first message still in the stream.
    #[default]
    All,
    /// Only messages published after the consumer is created.
    New,
}

/// A durable pull consumer and how its messages are handled.
///
/// Build one with [`ConsumerSpec::new`] and the chainable setters, or with
/// struct update syntax (`ConsumerSpec { concurrency: 4, ..ConsumerSpec::new("S", "d") }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// The stream to read from (it must exist).
    pub stream: String,
    /// The durable consumer name: the server remembers its progress.
    pub durable_name: String,
    /// Human description of the consumer.
    pub description: Option<String>,
    /// Only messages on these subjects (wildcards allowed); empty means all
    /// the stream's subjects.
    pub filter_subjects: Vec<String>,
    /// Where a new consumer starts.
    pub start: StartFrom,
    /// How long the server waits for an outcome before redelivering. Slow
    /// handlers are kept alive with in-progress acks, so this bounds only how
    /// long a crashed process holds a message. Default 30 s.
    pub ack_wait: Duration,
    /// Deliveries before a message goes to the dead-letter subject: a handler
    /// failing with a retryable error on delivery `max_deliver` dead-letters
    /// the message. Default 5.
    pub max_deliver: u32,
    /// Delay before redelivery after the n-th retryable failure (the last
    /// entry repeats); empty means redeliver at once. Default 1 s, 5 s, 30 s.
    pub backoff: Vec<Duration>,
    /// At most this many handlers in flight (and messages pulled). Default 8.
    pub concurrency: usize,
    /// Where messages that fail for good are published (through JetStream, so
    /// a stream must capture this subject); `None` only terminates them (they
    /// stay in the stream, logged as errors). Default `None`.
    pub dead_letter_subject: Option<String>,
    /// How often a running handler's message gets an in-progress ack; `None`
    /// means half of `ack_wait`.
    pub progress_interval: Option<Duration>,
    /// How long one pull request waits on the server for messages. Default 5 s.
    pub pull_expires: Duration,
    /// The server's cap on unacknowledged messages for this consumer
    /// (messages waiting for a delayed retry count too); `None` keeps the
    /// server's default (1000).
    pub max_ack_pending: Option<i64>,
}

/// Default [`ConsumerSpec::ack_wait`].
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// Default [`ConsumerSpec::max_deliver`].
pub const DEFAULT_MAX_DELIVER: u32 = 5;
/// Default [`ConsumerSpec::concurrency`].
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Default [`ConsumerSpec::pull_expires`].
pub const DEFAULT_PULL_EXPIRES: Duration = Duration::from_secs(5);

impl ConsumerSpec {
    /// A consumer of `stream` named `durable_name`, every other setting at its default.
    pub fn new(stream: impl Into<String>, durable_name: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            durable_name: durable_name.into(),
            description: None,
            filter_subjects: Vec::new(),
            start: StartFrom::All,
            ack_wait: DEFAULT_ACK_WAIT,
            max_deliver: DEFAULT_MAX_DELIVER,
            backoff: vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
            ],
            concurrency: DEFAULT_CONCURRENCY,
            dead_letter_subject: None,
            progress_interval: None,
            pull_expires: DEFAULT_PULL_EXPIRES,
            max_ack_pending: None,
        }
    }

    /// Adds a filter subject.
    pub fn filter_subject(mut self, subject: impl Into<String>) -> Self {
        self.filter_subjects.push(subject.into());
        self
    }

    /// Sets [`ConsumerSpec::max_deliver`].
    pub fn max_deliver(mut self, max_deliver: u32) -> Self {
        self.max_deliver = max_deliver;
        self
    }

    /// Sets [`ConsumerSpec::backoff`].
    pub fn backoff(mut self, backoff: impl IntoIterator<Item = Duration>) -> Self {
        self.backoff = backoff.into_iter().collect();
        self
    }

    /// Sets [`ConsumerSpec::ack_wait`].
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// Sets [`ConsumerSpec::concurrency`].
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets [`ConsumerSpec::dead_letter_subject`].
    pub fn dead_letter_subject(mut self, subject: impl Into<String>) -> Self {
        self.dead_letter_subject = Some(subject.into());
        self
    }

    /// Sets [`ConsumerSpec::start`].
    pub fn start(mut self, start: StartFrom) -> Self {
        self.start = start;
        self
    }

    /// The interval of in-progress acks for a running handler.
    pub(crate) fn effective_progress_interval(&self) -> Duration {
        self.progress_interval
            .filter(|d| !d.is_zero())
            .unwrap_or(self.ack_wait / 2)
            .max(Duration::from_millis(10))
    }

    /// Checks the spec before anything is sent.
    pub(crate) fn validate(&self) -> Result<(), JetStreamError> {
        let invalid = |field: &'static str, reason: String| JetStreamError::InvalidSpec {
            what: "consumer spec",
            name: self.durable_name.clone(),
            field,
            reason,
        };
        if !is_valid_name(&self.stream) {
            return Err(invalid(
                "stream",
                format!(
                    "`{}` is not a stream name (non-empty, no whitespace, `.`, `*`, `>`)",
                    self.stream
                ),
            ));
        }
        if !is_valid_name(&self.durable_name) {
            return Err(invalid(
                "durable_name",
                format!(
                    "`{}` is not a consumer name (non-empty, no whitespace, `.`, `*`, `>`)",
                    self.durable_name
                ),
            ));
        }
        for subject in &self.filter_subjects {
            if !is_valid_subject(subject, true) {
                return Err(invalid(
                    "filter_subjects",
                    format!(
                        "contains `{subject}`, which is not a valid subject; use dot-separated \
                         non-empty tokens without whitespace, `*` or `>` as wildcards \
                         (e.g. `connect.invite.>`)"
                    ),
                ));
            }
        }
        if self.concurrency == 0 {
            return Err(invalid(
                "concurrency",
                "is 0; at least one handler must run".into(),
            ));
        }
        if self.max_deliver == 0 {
            return Err(invalid(
                "max_deliver",
                "is 0; a message must be delivered at least once".into(),
            ));
        }
        if self.ack_wait < Duration::from_millis(100) {
            return Err(invalid(
                "ack_wait",
                "is under 100ms; give the handler time, e.g. 30s".into(),
            ));
        }
        for (field, value) in [
            ("ack_wait", self.ack_wait),
            ("pull_expires", self.pull_expires),
        ] {
            if value > connect_nats_config::MAX_DURATION {
                return Err(invalid(
                    field,
                    "is over 365 days, past what a deadline can hold; use e.g. 30s".into(),
                ));
            }
        }
        if let Some(interval) = self.progress_interval.filter(|d| !d.is_zero()) {
            if interval >= self.ack_wait {
                return Err(invalid(
                    "progress_interval",
                    "must be shorter than ack_wait, or the server redelivers running messages"
                        .into(),
                ));
            }
        }
        if self.pull_expires < Duration::from_millis(100) {
            return Err(invalid(
                "pull_expires",
                "is under 100ms; use e.g. 5s".into(),
            ));
        }
        if let Some(subject) = &self.dead_letter_subject {
            if !is_valid_subject(subject, false) {
                return Err(invalid(
                    "dead_letter_subject",
                    format!(
                        "`{subject}` is not a publishable subject (no wildcards, no empty tokens)"
                    ),
                ));
            }
        }
        if let Some(max) = self.max_ack_pending {
            if max < 1 && max != -1 {
                return Err(invalid(
                    "max_ack_pending",
                    format!("is {max}; give a positive number"),
                ));
            }
        }
        Ok(())
    }

    /// The server-side consumer configuration.
    ///
    /// `max_deliver` is left unlimited on the server: this library decides
    /// when a message has been tried enough, so that a message whose last
    /// delivery timed out still reaches the dead-letter subject instead of
    /// silently stopping.
    pub(crate) fn server_config(&self) -> pull::Config {
        let (filter_subject, filter_subjects) = match self.filter_subjects.as_slice() {
            [] => (String::new(), Vec::new()),
            [one] => (one.clone(), Vec::new()),
            many => (String::new(), many.to_vec()),
        };
        pull::Config {
            durable_name: Some(self.durable_name.clone()),
            description: self.description.clone(),
            deliver_policy: match self.start {
                StartFrom::All => DeliverPolicy::All,
                StartFrom::New => DeliverPolicy::New,
            },
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: -1,
            filter_subject,
            filter_subjects,
            max_ack_pending: self.max_ack_pending.unwrap_or(0),
            ..Default::default()
        }
    }
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>'))
}

pub(crate) fn is_valid_subject(subject: &str, wildcards: bool) -> bool {
    !subject.is_empty()
        && !subject.chars().any(|c| c.is_whitespace() || c.is_control())
        && subject
            .split('.')
            .all(|token| !token.is_empty() && (wildcards || (token != "*" && token != ">")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let spec = ConsumerSpec::new("S", "d");
        assert!(spec.validate().is_ok());
        assert_eq!(spec.effective_progress_interval(), Duration::from_secs(15));
        let config = spec.server_config();
        assert_eq!(config.durable_name.as_deref(), Some("d"));
        assert_eq!(config.ack_policy, AckPolicy::Explicit);
        assert_eq!(config.max_deliver, -1);
        assert_eq!(config.ack_wait, Duration::from_secs(30));
        assert!(config.filter_subject.is_empty());
    }

    #[test]
    fn one_filter_or_many() {
        let one = ConsumerSpec::new("S", "d")
            .filter_subject("a.>")
            .server_config();
        assert_eq!(one.filter_subject, "a.>");
        assert!(one.filter_subjects.is_empty());
        let many = ConsumerSpec::new("S", "d")
            .filter_subject("a.>")
            .filter_subject("b.*");
        let many = many.server_config();
        assert!(many.filter_subject.is_empty());
        assert_eq!(many.filter_subjects, vec!["a.>", "b.*"]);
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let base = ConsumerSpec::new("S", "d");
        let cases = [
            (
                ConsumerSpec {
                    stream: String::new(),
                    ..base.clone()
                },
                "stream",
            ),
            (
                ConsumerSpec {
                    durable_name: "a.b".into(),
                    ..base.clone()
                },
                "durable_name",
            ),
            (base.clone().filter_subject("a..b"), "filter_subjects"),
            (base.clone().concurrency(0), "concurrency"),
            (base.clone().max_deliver(0), "max_deliver"),
            (base.clone().ack_wait(Duration::from_millis(1)), "ack_wait"),
            (
                ConsumerSpec {
                    progress_interval: Some(Duration::from_secs(30)),
                    ..base.clone()
                },
                "progress_interval",
            ),
            (
                ConsumerSpec {
                    pull_expires: Duration::ZERO,
                    ..base.clone()
                },
                "pull_expires",
            ),
            (
                base.clone().dead_letter_subject("dlq.>"),
                "dead_letter_subject",
            ),
            (
                ConsumerSpec {
                    max_ack_pending: Some(0),
                    ..base.clone()
                },
                "max_ack_pending",
            ),
        ];
        for (spec, field) in cases {
            match spec.validate() {
                Err(JetStreamError::InvalidSpec { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected InvalidSpec, got {other:?}"),
            }
        }
    }
}
