//! The Prometheus recorder: the application, not the library, chooses the
//! exporter. connect-nats emits through the `metrics` facade (feature
//! `metrics` on each crate); this installs `metrics-exporter-prometheus`
//! without its HTTP listener and renders the page on each scrape.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::DemoError;

/// Histogram buckets for every `*_seconds` metric: from 1 ms to 30 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often the recorder drains histogram samples when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the Prometheus recorder as the process' `metrics` recorder (once;
/// later calls return the same handle). Call it before connecting.
pub fn install_prometheus() -> Result<PrometheusHandle, DemoError> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
                .map_err(|e| e.to_string())?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
            let upkeep = handle.clone();
            std::thread::spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            });
            Ok(handle)
        })
        .clone()
        .map_err(DemoError::Metrics)
}

/// The non-zero `connect_nats_*` samples of a rendered page, without
/// histogram buckets: what a person wants to see at a glance. Sorted by
/// name, so each metric's series sit together.
pub fn snapshot(page: &str) -> String {
    let mut lines: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("connect_nats_") && !l.contains("_bucket{"))
        .filter(|l| l.rsplit(' ').next().is_some_and(|v| v != "0"))
        .collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}
