//! The pool scenario: 8 concurrent publishing tasks over one connection vs a pool of 4.
//!
//! Both sides publish the same events the same way: each task calls `event(…).core()` (the
//! publisher's core path: serialize, headers, validation) for its share of `--core-messages`,
//! cycling over 16 subjects of its own (`bench.pool.t<task>.s<k>`, 128 subjects in all), and the
//! run ends when every task is done and every connection has flushed (a PING/PONG round trip,
//! so the server has read every message). One side uses a `Publisher` on one connection; the
//! other a `PooledPublisher` on a `ConnectionPool` of 4, which maps each subject to one of the
//! four connections. Each round runs both sides back to back (alternating which goes first);
//! rates are medians, the ratio the median of per-round ratios.
//!
//! The same runs hand-written with raw async-nats (`raw_*`): the `Event` serialized with
//! serde_json per message and sent without headers (the publishers use the default `minimal`
//! policy), same subjects, same routing. `pool_gain_vs_raw_pool_gain` compares the two gains
//! round by round: on two cores the server shares the CPU, so the absolute gain is small, and
//! what the library owns is how much of the hand-written gain it keeps.
//!
//! And, for reference (`raw_reference_*`), raw async-nats with the same routing doing no work
//! per message beyond the publish: each subject and the serialized envelope built once, and
//! cloned (a reference count) per message. It shows what pooling gains when nothing is
//! allocated per message, the hand-written loop's serde_json buffer and subject string
//! included; `pool_gain_vs_reference_pool_gain` compares the publisher's gain with it, round
//! by round.

use std::time::Instant;

use async_nats::Subject;
use bytes::Bytes;

use connect_nats_config::Config;
use connect_nats_core::ConnectionPool;
use connect_nats_publisher::{Event, PooledPublisher, Publisher};

use crate::core_nats::round_trip;
use crate::stats::{in_turn, paired_gain_ratio, paired_ratio, rate, Samples, Side};
use crate::{data, Args, BenchData, BoxError, EVENT_TYPE, SERVICE};

/// Concurrent publishing tasks on both sides.
const TASKS: usize = 8;
/// Connections in the pool.
const POOL_SIZE: usize = 4;
/// Subjects per task.
const SUBJECTS_PER_TASK: usize = 16;

/// The subjects of task `t`.
fn subjects(t: usize) -> Vec<String> {
    (0..SUBJECTS_PER_TASK)
        .map(|k| format!("bench.pool.t{t}.s{k}"))
        .collect()
}

/// What a publishing task publishes through.
trait Target: Clone + Send + Sync + 'static {
    fn publish(
        &self,
        subject: &Subject,
        data: &BenchData,
    ) -> impl std::future::Future<Output = Result<(), BoxError>> + Send;
    fn flush(&self) -> impl std::future::Future<Output = Result<(), BoxError>> + Send;
}

impl Target for Publisher {
    async fn publish(&self, subject: &Subject, data: &BenchData) -> Result<(), BoxError> {
        self.event(subject.as_str(), EVENT_TYPE, data)
            .core()
            .await?;
        Ok(())
    }
    async fn flush(&self) -> Result<(), BoxError> {
        round_trip(self.connection().client()).await
    }
}

impl Target for PooledPublisher {
    async fn publish(&self, subject: &Subject, data: &BenchData) -> Result<(), BoxError> {
        self.event(subject.as_str(), EVENT_TYPE, data)
            .core()
            .await?;
        Ok(())
    }
    async fn flush(&self) -> Result<(), BoxError> {
        for c in self.pool().connections() {
            round_trip(c.client()).await?;
        }
        Ok(())
    }
}

/// Raw async-nats with the same routing, no headers (as the publishers' `minimal` policy),
/// each subject on `clients[pool.index_for(subject)]` (one client: everything on it).
#[derive(Clone)]
struct Raw {
    pool: Option<ConnectionPool>,
    clients: Vec<async_nats::Client>,
    /// `None`: hand-written, the `Event` serialized with serde_json and the subject copied per
    /// message. `Some`: the reference, this envelope (serialized once) and the shared subject.
    reference: Option<Bytes>,
}

impl Target for Raw {
    async fn publish(&self, subject: &Subject, data: &BenchData) -> Result<(), BoxError> {
        let index = self.pool.as_ref().map_or(0, |p| p.index_for(subject));
        let client = &self.clients[index];
        match &self.reference {
            Some(envelope) => client.publish(subject.clone(), envelope.clone()).await?,
            None => {
                let payload = serde_json::to_vec(&Event::new(EVENT_TYPE, data, SERVICE))?;
                client
                    .publish(subject.as_str().to_owned(), payload.into())
                    .await?
            }
        }
        Ok(())
    }
    async fn flush(&self) -> Result<(), BoxError> {
        for c in &self.clients {
            round_trip(c).await?;
        }
        Ok(())
    }
}

/// What the pool scenario reports.
pub(crate) struct PoolResults {
    /// Its keys for `results.json` (empty when `--only` leaves it out).
    pub(crate) json: serde_json::Value,
    /// `pool_gain_vs_raw_pool_gain`, `None` when it did not run.
    pub(crate) gain_vs_raw: Option<f64>,
    /// `pool_publisher_vs_handwritten_pool`, `None` when it did not run.
    pub(crate) pool_vs_raw_pool: Option<f64>,
    /// `pool_gain_vs_reference_pool_gain`, `None` when it did not run.
    pub(crate) gain_vs_reference: Option<f64>,
}

/// `n` events from `TASKS` concurrent tasks, then a round trip; returns msgs/s.
async fn publish_concurrently<P: Target>(target: &P, n: usize) -> Result<f64, BoxError> {
    let per_task = n / TASKS;
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let target = target.clone();
            let subjects: Vec<Subject> = subjects(t).into_iter().map(Subject::from).collect();
            tokio::spawn(async move {
                let data = data();
                for i in 0..per_task {
                    target
                        .publish(&subjects[i % SUBJECTS_PER_TASK], &data)
                        .await?;
                }
                Ok::<(), BoxError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await
            .map_err(|e| format!("a publishing task failed: {e}"))??;
    }
    target.flush().await?;
    Ok(rate(per_task * TASKS, started.elapsed()))
}

/// Runs the pool scenario (unless `--only` leaves it out), prints its table and returns
/// `single_conn_msgs_per_s`, `pool_msgs_per_s` and `pool_vs_single` (publisher), their
/// hand-written counterparts (`raw_*`), the details under `pool`, and the gain ratio.
pub(crate) async fn scenario(args: &Args, config: &Config) -> Result<PoolResults, BoxError> {
    let mut results = serde_json::json!({});
    if !args.runs("pool") {
        return Ok(PoolResults {
            json: results,
            gain_vs_raw: None,
            pool_vs_raw_pool: None,
            gain_vs_reference: None,
        });
    }
    let single_config = config.with_client_id(format!("{SERVICE}-single"));
    let single_conn = connect_nats_core::connect(&single_config).await?;
    let single = Publisher::builder(single_conn.clone())
        .service_name(SERVICE)
        .build();
    let pool_config = config.with_client_id(format!("{SERVICE}-pool"));
    let pool = ConnectionPool::connect(&pool_config, POOL_SIZE).await?;
    let pooled = PooledPublisher::new(pool.clone(), SERVICE);
    let raw_single = Raw {
        pool: None,
        clients: vec![single_conn.client().clone()],
        reference: None,
    };
    let raw_pool = Raw {
        pool: Some(pool.clone()),
        clients: pool
            .connections()
            .iter()
            .map(|c| c.client().clone())
            .collect(),
        reference: None,
    };
    let envelope = Bytes::from(serde_json::to_vec(&Event::new(
        EVENT_TYPE,
        &data(),
        SERVICE,
    ))?);
    let reference_single = Raw {
        reference: Some(envelope.clone()),
        ..raw_single.clone()
    };
    let reference_pool = Raw {
        reference: Some(envelope),
        ..raw_pool.clone()
    };
    let per_connection =
        (0..TASKS)
            .flat_map(subjects)
            .fold([0usize; POOL_SIZE], |mut counts, s| {
                counts[pool.index_for(&s)] += 1;
                counts
            });
    let n = args.core_messages;
    eprintln!(
        "pool scenario: {TASKS} tasks, {} subjects, {n} events per run; subjects per pool connection {per_connection:?}",
        TASKS * SUBJECTS_PER_TASK,
    );

    // Warm-up.
    publish_concurrently(&raw_single, 40_000).await?;
    publish_concurrently(&raw_pool, 40_000).await?;
    publish_concurrently(&single, 40_000).await?;
    publish_concurrently(&pooled, 40_000).await?;
    publish_concurrently(&reference_single, 40_000).await?;
    publish_concurrently(&reference_pool, 40_000).await?;

    let (mut s, mut p, mut rs, mut rp, mut fs, mut fp) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    for round in 1..=args.rounds {
        let sides: Vec<Side<'_>> = vec![
            ("pool", Box::pin(publish_concurrently(&single, n))),
            ("pool", Box::pin(publish_concurrently(&pooled, n))),
            ("pool", Box::pin(publish_concurrently(&raw_pool, n))),
            ("pool", Box::pin(publish_concurrently(&raw_single, n))),
            ("pool", Box::pin(publish_concurrently(&reference_single, n))),
            ("pool", Box::pin(publish_concurrently(&reference_pool, n))),
        ];
        let rates = in_turn(args, round, sides).await?;
        let [one, many, raw_many, raw_one, ref_one, ref_many] =
            [0, 1, 2, 3, 4, 5].map(|i| rates[i].unwrap_or_default());
        s.0.push(one);
        p.0.push(many);
        rs.0.push(raw_one);
        rp.0.push(raw_many);
        fs.0.push(ref_one);
        fp.0.push(ref_many);
        eprintln!(
            "pool round {round}: publisher one connection {one:.0} / pool {many:.0} msgs/s ({:.2}x); raw {raw_one:.0} / {raw_many:.0} ({:.2}x); reference {ref_one:.0} / {ref_many:.0} ({:.2}x)",
            many / one.max(1e-9),
            raw_many / raw_one.max(1e-9),
            ref_many / ref_one.max(1e-9),
        );
    }
    single_conn
        .shutdown(std::time::Duration::from_secs(10))
        .await?;
    pool.shutdown(std::time::Duration::from_secs(10)).await?;

    let single_conn_msgs_per_s = s.median().unwrap_or_default();
    let pool_msgs_per_s = p.median().unwrap_or_default();
    let pool_vs_single = paired_ratio(&p, &s).unwrap_or_default();
    let raw_single_conn_msgs_per_s = rs.median().unwrap_or_default();
    let raw_pool_msgs_per_s = rp.median().unwrap_or_default();
    let raw_pool_vs_single = paired_ratio(&rp, &rs).unwrap_or_default();
    let reference_single_conn_msgs_per_s = fs.median().unwrap_or_default();
    let reference_pool_msgs_per_s = fp.median().unwrap_or_default();
    let reference_pool_vs_single = paired_ratio(&fp, &fs).unwrap_or_default();
    let gain_vs_raw = paired_gain_ratio(&p, &s, &rp, &rs);
    let pool_vs_raw_pool = paired_ratio(&p, &rp);
    let gain_vs_reference = paired_gain_ratio(&p, &s, &fp, &fs);
    println!();
    let title = format!("{TASKS} tasks publishing core events, msgs/s");
    println!("| {title:<44} | one connection | pool of {POOL_SIZE} | pool/one |");
    println!(
        "|{}|----------------|-----------|----------|",
        "-".repeat(46)
    );
    println!(
        "| {:<44} | {single_conn_msgs_per_s:>14.0} | {pool_msgs_per_s:>9.0} | {pool_vs_single:>8.2} |",
        "publisher: event(…).core()"
    );
    println!(
        "| {:<44} | {raw_single_conn_msgs_per_s:>14.0} | {raw_pool_msgs_per_s:>9.0} | {raw_pool_vs_single:>8.2} |",
        "hand-written: serde_json per message"
    );
    println!(
        "| {:<44} | {reference_single_conn_msgs_per_s:>14.0} | {reference_pool_msgs_per_s:>9.0} | {reference_pool_vs_single:>8.2} |",
        "raw: nothing allocated per message (ref.)"
    );
    println!(
        "pool gain {pool_vs_single:.2}x, hand-written {raw_pool_vs_single:.2}x: pool_gain_vs_raw_pool_gain {} (median of per-round ratios)",
        crate::stats::shown(gain_vs_raw, 2)
    );
    println!(
        "pool gain {pool_vs_single:.2}x, reference {reference_pool_vs_single:.2}x: pool_gain_vs_reference_pool_gain {} (median of per-round ratios)",
        crate::stats::shown(gain_vs_reference, 2)
    );

    if let Some(map) = results.as_object_mut() {
        map.insert(
            "single_conn_msgs_per_s".into(),
            single_conn_msgs_per_s.into(),
        );
        map.insert("pool_msgs_per_s".into(), pool_msgs_per_s.into());
        map.insert("pool_vs_single".into(), pool_vs_single.into());
        map.insert(
            "raw_single_conn_msgs_per_s".into(),
            raw_single_conn_msgs_per_s.into(),
        );
        map.insert("raw_pool_msgs_per_s".into(), raw_pool_msgs_per_s.into());
        map.insert("raw_pool_vs_single".into(), raw_pool_vs_single.into());
        map.insert(
            "raw_reference_single_conn_msgs_per_s".into(),
            reference_single_conn_msgs_per_s.into(),
        );
        map.insert(
            "raw_reference_pool_msgs_per_s".into(),
            reference_pool_msgs_per_s.into(),
        );
        map.insert(
            "raw_reference_pool_vs_single".into(),
            reference_pool_vs_single.into(),
        );
        map.insert(
            "pool".into(),
            serde_json::json!({
                "tasks": TASKS,
                "pool_size": POOL_SIZE,
                "subjects": TASKS * SUBJECTS_PER_TASK,
                "subjects_per_connection": per_connection,
                "messages": (n / TASKS) * TASKS,
                "method": "each task: event(…).core() (raw: the Event serialized with serde_json, publish without headers; raw reference: one envelope and the task's subjects built once, cloned per publish) on its 16 subjects in turn; then a round trip on every connection",
                "samples": {
                    "single_conn": s.0, "pool": p.0,
                    "raw_single_conn": rs.0, "raw_pool": rp.0,
                    "raw_reference_single_conn": fs.0, "raw_reference_pool": fp.0,
                },
            }),
        );
    }
    Ok(PoolResults {
        json: results,
        gain_vs_raw,
        pool_vs_raw_pool,
        gain_vs_reference,
    })
}
