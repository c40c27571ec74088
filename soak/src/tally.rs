//! What happened during the run: counters, the ids acknowledged and consumed, the summary.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::json;

use crate::args::Args;

/// Locks, recovering from a poisoned lock (the data is plain counters and sets).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared counters, updated by the publishing, retrying and consuming tasks.
#[derive(Debug, Default)]
pub struct Tally {
    /// JetStream publish calls made (first attempts).
    pub published: AtomicU64,
    /// PendingAcks not resolved yet.
    pub in_flight: AtomicU64,
    /// Publishes that returned an error to the caller (then republished).
    pub publish_errors: AtomicU64,
    /// Events acknowledged on a republish after an error.
    pub republished: AtomicU64,
    /// Acks that said "duplicate" (a retry the stream had already stored).
    pub duplicate_acks: AtomicU64,
    /// Ids acknowledged by the server.
    pub acked: Mutex<HashSet<u64>>,
    /// Ids that never got an ack, even after republishing.
    pub unacked: Mutex<Vec<u64>>,
    /// Id → times handled by the durable consumer.
    pub consumed: Mutex<HashMap<u64, u32>>,
    /// Core events published / received.
    pub core_published: AtomicU64,
    /// Core publish calls that returned an error.
    pub core_errors: AtomicU64,
    /// Core events received.
    pub core_received: AtomicU64,
    /// Highest resident set size seen, in KiB.
    pub max_rss_kib: AtomicU64,
}

impl Tally {
    /// Adds one to a counter.
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// One progress line.
    pub fn progress(&self, elapsed: Duration, restarts: u32) -> String {
        format!(
            "soak: {:>6.0}s published {} acked {} consumed {} errors {} restarts {restarts} rss {} MiB",
            elapsed.as_secs_f64(),
            Self::get(&self.published),
            lock(&self.acked).len(),
            lock(&self.consumed).len(),
            Self::get(&self.publish_errors),
            Self::get(&self.max_rss_kib) / 1024,
        )
    }
}

/// The resident set size of this process now, in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> Option<u64> {
    proc_status_kib("VmRSS:")
}

/// The peak resident set size of this process, in KiB (`VmHWM`).
pub fn peak_rss_kib() -> Option<u64> {
    proc_status_kib("VmHWM:")
}

fn proc_status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The final figures.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Length of the publishing phase.
    pub publishing: Duration,
    /// Whole run, drain and checks included.
    pub total: Duration,
    /// Server restarts by SIGKILL.
    pub kills: u32,
    /// Graceful server restarts.
    pub graceful: u32,
    /// JetStream publish calls.
    pub published: u64,
    /// Distinct ids acknowledged.
    pub acked: u64,
    /// Publishes that returned an error (then republished).
    pub publish_errors: u64,
    /// Republishes acknowledged.
    pub republished: u64,
    /// Acks flagged duplicate.
    pub duplicate_acks: u64,
    /// Ids never acknowledged (after republishing).
    pub unacked: u64,
    /// Distinct ids in the stream.
    pub stored_distinct: u64,
    /// Messages in the stream.
    pub stored_total: u64,
    /// Distinct ids the consumer handled.
    pub consumed_distinct: u64,
    /// Handler invocations that succeeded.
    pub consumed_total: u64,
    /// Acked ids missing from the stream.
    pub lost_in_stream: u64,
    /// Acked ids never consumed.
    pub lost_in_consumer: u64,
    /// Consumer counters.
    pub consumer: String,
    /// Core events published / errors / received.
    pub core: (u64, u64, u64),
    /// Reconnects of the publisher, consumer and core connections.
    pub reconnects: (u64, u64, u64),
    /// Highest sampled RSS, KiB.
    pub max_rss_kib: u64,
    /// Kernel-reported peak RSS, KiB.
    pub peak_rss_kib: u64,
}

impl Summary {
    /// Acknowledged events lost anywhere.
    pub fn lost(&self) -> u64 {
        self.lost_in_stream + self.lost_in_consumer
    }

    /// The figures of this run as one JSON object (what `report.json` holds).
    pub fn to_json(&self, args: &Args) -> serde_json::Value {
        json!({
            "settings": {
                "minutes": args.minutes,
                "rate": args.rate,
                "publishers": args.publishers,
                "restart_every_s": args.restart_every,
                "core_rate": args.core_rate,
            },
            "publishing_s": self.publishing.as_secs_f64(),
            "total_s": self.total.as_secs_f64(),
            "restarts": { "sigkill": self.kills, "graceful": self.graceful },
            "published": self.published,
            "acked": self.acked,
            "publish_errors": self.publish_errors,
            "republished": self.republished,
            "duplicate_acks": self.duplicate_acks,
            "never_acked": self.unacked,
            "stored": { "distinct": self.stored_distinct, "messages": self.stored_total },
            "consumed": { "distinct": self.consumed_distinct, "handlings": self.consumed_total },
            "redeliveries": self.consumed_total.saturating_sub(self.consumed_distinct),
            "lost": {
                "total": self.lost(),
                "acked_not_stored": self.lost_in_stream,
                "acked_not_consumed": self.lost_in_consumer,
            },
            "consumer_stats": self.consumer,
            "core": { "published": self.core.0, "errors": self.core.1, "received": self.core.2 },
            "reconnects": {
                "publisher": self.reconnects.0,
                "consumer": self.reconnects.1,
                "core": self.reconnects.2,
            },
            "rss_kib": { "max_sampled": self.max_rss_kib, "peak": self.peak_rss_kib },
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |kib: u64| kib as f64 / 1024.0;
        writeln!(
            f,
            "soak summary: {:.1} min publishing ({:.1} min in all), {} server restarts ({} SIGKILL, {} graceful)",
            self.publishing.as_secs_f64() / 60.0,
            self.total.as_secs_f64() / 60.0,
            self.kills + self.graceful,
            self.kills,
            self.graceful
        )?;
        writeln!(f, "  published (JetStream)  {}", self.published)?;
        writeln!(
            f,
            "  acked                  {}  (publish errors seen by the caller {}, republished {}, never acked {}; duplicate acks {})",
            self.acked, self.publish_errors, self.republished, self.unacked, self.duplicate_acks
        )?;
        writeln!(
            f,
            "  stored                 {} distinct ({} messages)",
            self.stored_distinct, self.stored_total
        )?;
        writeln!(
            f,
            "  consumed               {} distinct ({} handlings, {} redeliveries)",
            self.consumed_distinct,
            self.consumed_total,
            self.consumed_total.saturating_sub(self.consumed_distinct)
        )?;
        writeln!(
            f,
            "  lost                   {} (acked but not stored {}, acked but not consumed {})",
            self.lost(),
            self.lost_in_stream,
            self.lost_in_consumer
        )?;
        writeln!(f, "  consumer stats         {}", self.consumer)?;
        writeln!(
            f,
            "  core events            published {}, errors {}, received {} (at most once: events in flight at a restart may be lost)",
            self.core.0, self.core.1, self.core.2
        )?;
        writeln!(
            f,
            "  reconnects             publisher {}, consumer {}, core {}",
            self.reconnects.0, self.reconnects.1, self.reconnects.2
        )?;
        write!(
            f,
            "  max memory (RSS)       {:.1} MiB sampled, {:.1} MiB peak (VmHWM)",
            mib(self.max_rss_kib),
            mib(self.peak_rss_kib)
        )
    }
}
