//! The Prometheus recorder of a test binary, and reading one value back from it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The recorder of this test binary, installed on first use. Install it before the
/// connection or publisher it should watch is made: those register their metric handles
/// when they are created.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("a test binary installs only this metrics recorder")
    })
}

/// The value of metric `name` for connection `client_id` in the Prometheus rendering.
pub fn value(name: &str, client_id: &str) -> Option<f64> {
    let prefix = format!("{name}{{client_id=\"{client_id}\"}} ");
    recorder()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}
