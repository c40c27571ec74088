//! One reply subscription for every JetStream acknowledgement (the scheme of
//! nats.go's `PublishAsync`).
//!
//! Each publish is a plain publish with reply subject `<inbox>.<token>`; one
//! task reads `<inbox>.*`, parses each ack and completes the waiting publish
//! by token. Compared with async-nats's per-publish request path (a fresh
//! inbox string, a multiplexer entry, a boxed ack future with its own timer,
//! an untagged JSON parse), this costs one small map entry and a oneshot per
//! message; ack timeouts are enforced by a periodic sweep instead of one
//! timer per message. The subscription is restored by async-nats after a
//! reconnect; acks lost with the old socket expire and are retried.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::{HeaderMap, StatusCode, Subject};
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::outcome::PublishAck;

/// Longest pause between two expiry sweeps.
const MAX_SWEEP: Duration = Duration::from_millis(250);

/// What came back for one publish.
#[derive(Debug)]
pub(crate) enum AckOutcome {
    /// Stored; `at` is when the acknowledgement reached the router.
    Acked { ack: PublishAck, at: Instant },
    /// No stream captures the subject (503 no responders).
    NoResponders,
    /// The server answered with an error.
    Rejected(String),
    /// The stream could not take the publish just then (a 503 without a
    /// JetStream error code, such as "raft: not leader" while its leader
    /// moves): worth sending again with the same `Nats-Msg-Id`.
    Unavailable(String),
    /// The publisher's `close` deadline passed before an acknowledgement
    /// came: the publish stops retrying.
    CutOff,
}

/// Hashes the router's tokens with one multiply (Fibonacci hashing). The
/// tokens are sequential numbers this process made up, not input an attacker
/// chooses, so the default SipHash (which showed in profiles) buys nothing.
#[derive(Default)]
struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Mixed into the state, so a key hashed as several words stays correct.
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Waiting publishes by token.
type PendingMap = HashMap<u64, Waiting, BuildHasherDefault<TokenHasher>>;

struct Waiting {
    tx: oneshot::Sender<AckOutcome>,
    sent: Instant,
}

pub(crate) struct AckRouter {
    /// `<inbox>.` — reply subjects are this plus a token.
    prefix: String,
    next: AtomicU64,
    ack_timeout: Duration,
    pending: Mutex<PendingMap>,
    /// Set (under the `pending` lock) when the dispatcher has stopped: no
    /// ack can arrive any more, so registrations fail at once instead of
    /// waiting for a sweep that will never run.
    stopped: AtomicBool,
    /// Set (under the `pending` lock) by [`AckRouter::cut_off`]: waiting and
    /// new registrations resolve at once with [`AckOutcome::CutOff`].
    cut_off: AtomicBool,
}

/// A registered publish awaiting its ack; dropping it forgets the entry.
pub(crate) struct Registration {
    pub(crate) reply: Subject,
    pub(crate) token: u64,
    pub(crate) rx: oneshot::Receiver<AckOutcome>,
}

impl AckRouter {
    /// Subscribes to the reply inbox and starts the dispatcher, which cuts
    /// off every ack still awaited once the deadline `stop` is given (the
    /// publisher's `close`) passes.
    pub(crate) async fn start(
        client: &async_nats::Client,
        ack_timeout: Duration,
        stop: watch::Receiver<Option<Instant>>,
    ) -> Result<Arc<AckRouter>, String> {
        let inbox = client.new_inbox();
        let subscriber = client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|e| e.to_string())?;
        let router = Arc::new(AckRouter::new(format!("{inbox}."), ack_timeout));
        tokio::spawn(dispatch(Arc::clone(&router), subscriber, stop));
        Ok(router)
    }

    /// A router for reply subjects `<prefix><token>`, with no dispatcher.
    fn new(prefix: String, ack_timeout: Duration) -> AckRouter {
        AckRouter {
            prefix,
            next: AtomicU64::new(1),
            ack_timeout,
            pending: Mutex::new(PendingMap::with_capacity_and_hasher(
                1024,
                BuildHasherDefault::default(),
            )),
            stopped: AtomicBool::new(false),
            cut_off: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PendingMap> {
        // Critical sections are single map operations: recover from poison.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a publish before it is sent (so a fast ack finds it);
    /// `sent` (the caller's clock reading) starts its ack timeout.
    pub(crate) fn register(&self, sent: Instant) -> Registration {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let mut reply = String::with_capacity(self.prefix.len() + 20);
        reply.push_str(&self.prefix);
        push_u64(&mut reply, token);
        let (tx, rx) = oneshot::channel();
        let mut pending = self.lock();
        if self.cut_off.load(Ordering::Relaxed) {
            let _ = tx.send(AckOutcome::CutOff);
        } else if !self.stopped.load(Ordering::Relaxed) {
            pending.insert(token, Waiting { tx, sent });
        }
        // else: `tx` is dropped here, so the receiver resolves at once.
        drop(pending);
        Registration {
            reply: Subject::from(reply),
            token,
            rx,
        }
    }

    /// Whether the dispatcher has stopped (its subscription ended: the
    /// connection was drained or closed): no ack will ever arrive here.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Resolves every waiting registration, and every later one, with
    /// [`AckOutcome::CutOff`]: what the dispatcher does when the close
    /// deadline passes.
    fn cut_off(&self) {
        let mut pending = self.lock();
        self.cut_off.store(true, Ordering::Relaxed);
        for (_, waiting) in pending.drain() {
            let _ = waiting.tx.send(AckOutcome::CutOff);
        }
    }

    /// Forgets a registration whose publish could not be sent.
    pub(crate) fn forget(&self, token: u64) {
        self.lock().remove(&token);
    }

    /// Publishes `payload` with the registration's reply subject.
    pub(crate) async fn send(
        client: &async_nats::Client,
        subject: Subject,
        reply: Subject,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), async_nats::PublishError> {
        client
            .publish_with_reply_and_headers(subject, reply, headers, payload)
            .await
    }

    fn complete(&self, token: u64, outcome: AckOutcome) {
        let waiting = self.lock().remove(&token);
        if let Some(w) = waiting {
            let _ = w.tx.send(outcome);
        }
    }

    /// Drops entries older than the ack timeout: their receivers see the
    /// sender gone, which the publish treats as "no ack in time".
    fn sweep(&self) {
        let now = Instant::now();
        let limit = self.ack_timeout;
        self.lock()
            .retain(|_, w| now.saturating_duration_since(w.sent) < limit && !w.tx.is_closed());
    }
}

/// Appends `n` in decimal without going through `fmt`.
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

#[derive(Deserialize)]
struct AckBody {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    duplicate: bool,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: u64,
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// What `message`, an acknowledgement that reached the router at `at`, says.
fn outcome_of(message: &async_nats::Message, at: Instant) -> AckOutcome {
    if message.status == Some(StatusCode::NO_RESPONDERS) {
        return AckOutcome::NoResponders;
    }
    if let Some(status) = message.status {
        if status != StatusCode::OK {
            return AckOutcome::Rejected(format!(
                "status {status}{}",
                message
                    .description
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ));
        }
    }
    match serde_json::from_slice::<AckBody>(&message.payload) {
        Ok(AckBody { error: Some(e), .. }) => {
            let text = format!(
                "{} (code {}, err_code {})",
                e.description, e.code, e.err_code
            );
            if e.code == 503 && (e.err_code == 0 || e.description.contains("not leader")) {
                AckOutcome::Unavailable(text)
            } else {
                AckOutcome::Rejected(text)
            }
        }
        Ok(AckBody {
            stream: Some(stream),
            seq: Some(sequence),
            duplicate,
            domain,
            ..
        }) => AckOutcome::Acked {
            ack: PublishAck {
                stream,
                sequence,
                duplicate,
                domain: domain.filter(|d| !d.is_empty()),
            },
            at,
        },
        Ok(_) => AckOutcome::Rejected("acknowledgement without stream or sequence".to_owned()),
        Err(e) => AckOutcome::Rejected(format!("unreadable acknowledgement: {e}")),
    }
}

/// Resolves when the deadline `stop` is given (the publisher's `close`)
/// passes; never when none is given.
pub(crate) async fn stopped(stop: &mut watch::Receiver<Option<Instant>>) {
    let at = stop.wait_for(Option::is_some).await.ok().and_then(|at| *at);
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The dispatcher: routes acks by token, sweeps expired entries, cuts off
/// what is still awaited at the close deadline, and ends when the publisher
/// is gone (the router is then only held here).
async fn dispatch(
    router: Arc<AckRouter>,
    mut subscriber: async_nats::Subscriber,
    mut stop: watch::Receiver<Option<Instant>>,
) {
    let every = (router.ack_timeout / 4).clamp(Duration::from_millis(10), MAX_SWEEP);
    let mut sweep = tokio::time::interval(every);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopped(&mut stop), if !router.cut_off.load(Ordering::Relaxed) => {
                router.cut_off();
            }
            message = subscriber.next() => {
                let Some(message) = message else { break };
                let token = message
                    .subject
                    .as_str()
                    .strip_prefix(router.prefix.as_str())
                    .and_then(|t| t.parse::<u64>().ok());
                if let Some(token) = token {
                    router.complete(token, outcome_of(&message, Instant::now()));
                }
            }
            _ = sweep.tick() => {
                if Arc::strong_count(&router) == 1 {
                    break;
                }
                router.sweep();
            }
        }
    }
    // Subscription ended (connection closed) or publisher dropped: waiting
    // publishes see their sender dropped.
    {
        let mut pending = router.lock();
        router.stopped.store(true, Ordering::Relaxed);
        pending.clear();
    }
    let _ = subscriber.unsubscribe().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hashes_spread_over_low_and_high_bits() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<TokenHasher>::default();
        let hashes: Vec<u64> = (1..=1024u64).map(|t| build.hash_one(t)).collect();
        let low: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let top: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(
            low.len(),
            1024,
            "consecutive tokens fill every low-bit bucket"
        );
        assert_eq!(top.len(), 128, "and every 7-bit tag");
    }

    #[tokio::test]
    async fn cut_off_resolves_waiting_and_later_registrations() {
        let router = AckRouter::new("_INBOX.test.".to_owned(), Duration::from_secs(60));
        let waiting = router.register(Instant::now());
        assert_eq!(
            waiting.reply.as_str(),
            format!("_INBOX.test.{}", waiting.token)
        );
        router.cut_off();
        assert!(matches!(waiting.rx.await, Ok(AckOutcome::CutOff)));
        let later = router.register(Instant::now());
        assert!(matches!(later.rx.await, Ok(AckOutcome::CutOff)));
        assert!(router.lock().is_empty(), "nothing left waiting");
    }

    #[test]
    fn decimal_tokens() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut s = String::from("x.");
            push_u64(&mut s, n);
            assert_eq!(s, format!("x.{n}"));
        }
    }

    fn msg(payload: &str, status: Option<StatusCode>) -> async_nats::Message {
        async_nats::Message {
            subject: "i.1".into(),
            reply: None,
            payload: Bytes::copy_from_slice(payload.as_bytes()),
            headers: None,
            status,
            description: None,
            length: payload.len(),
        }
    }

    #[test]
    fn parses_acks_errors_and_no_responders() {
        let at = Instant::now();
        match outcome_of(&msg(r#"{"stream":"S","seq":5,"duplicate":true}"#, None), at) {
            AckOutcome::Acked { ack: a, at: when } => {
                assert_eq!(when, at);
                assert_eq!((a.stream.as_str(), a.sequence, a.duplicate), ("S", 5, true));
                assert_eq!(a.domain, None);
            }
            other => panic!("{other:?}"),
        }
        match outcome_of(
            &msg(
                r#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#,
                None,
            ),
            at,
        ) {
            AckOutcome::Rejected(t) => assert!(t.contains("maximum messages exceeded"), "{t}"),
            other => panic!("{other:?}"),
        }
        match outcome_of(
            &msg(
                r#"{"error":{"code":503,"err_code":0,"description":"raft: not leader"}}"#,
                None,
            ),
            at,
        ) {
            AckOutcome::Unavailable(t) => assert!(t.contains("not leader"), "{t}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            outcome_of(&msg("", Some(StatusCode::NO_RESPONDERS)), at),
            AckOutcome::NoResponders
        ));
    }
}
