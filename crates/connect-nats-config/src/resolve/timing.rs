//! Reconnect policy, timeouts and PINGs.

use std::time::Duration;

use crate::defaults::MAX_PINGS_OUT_LIMIT;
use crate::duration::format_duration;
use crate::error::ConfigError;
use crate::model::ReconnectSettings;
use crate::source::Layer;

use super::Merged;

/// Timeouts and PING settings, validated.
pub(super) struct Timing {
    pub(super) reconnect: ReconnectSettings,
    pub(super) connect_timeout: Duration,
    pub(super) ping_interval: Duration,
    pub(super) max_pings_out: u32,
    pub(super) request_timeout: Option<Duration>,
}

/// The reconnect policy, timeouts and PING settings of the layers; unset
/// values take the defaults of `defaults`.
pub(super) fn resolve_timing(
    merged: &Merged,
    defaults: &crate::model::Config,
) -> Result<Timing, ConfigError> {
    let wait = merged.duration("reconnect.wait", true)?;
    let max_wait = merged.duration("reconnect.max_wait", false)?;
    let mut reconnect = ReconnectSettings {
        wait: wait.as_ref().map_or(defaults.reconnect.wait, |f| f.value),
        max_wait: max_wait
            .as_ref()
            .map_or(defaults.reconnect.max_wait, |f| f.value),
        max_reconnects: merged
            .max_reconnects()?
            .map_or(defaults.reconnect.max_reconnects, |f| f.value),
    };
    if reconnect.wait > reconnect.max_wait {
        let max_origin = max_wait
            .map(|f| f.origin)
            .unwrap_or_else(|| merged.origin("reconnect.max_wait"));
        if max_origin.layer == Layer::Default {
            // The documented default cap is 30s, or the wait when that is longer
            // (deployments of the original library set only the wait).
            reconnect.max_wait = reconnect.wait;
        } else {
            let wait_origin = wait
                .map(|f| f.origin)
                .unwrap_or_else(|| merged.origin("reconnect.wait"));
            return Err(ConfigError::InvalidValue {
                setting: wait_origin.to_string(),
                problem: format!(
                    "the reconnect wait ({}) is longer than its cap {max_origin} ({}); \
                     raise the cap or shorten the wait",
                    format_duration(reconnect.wait),
                    format_duration(reconnect.max_wait)
                ),
            });
        }
    }
    let connect_timeout = merged
        .duration("timeout", false)?
        .map_or(defaults.connect_timeout, |f| f.value);
    let ping_interval = merged
        .duration("ping_interval", false)?
        .map_or(defaults.ping_interval, |f| f.value);
    let max_pings_out = merged
        .count("max_pings_out", 1, MAX_PINGS_OUT_LIMIT)?
        .map_or(defaults.max_pings_out, |f| f.value);
    let request_timeout = merged.duration("request_timeout", false)?.map(|f| f.value);
    Ok(Timing {
        reconnect,
        connect_timeout,
        ping_interval,
        max_pings_out,
        request_timeout,
    })
}
