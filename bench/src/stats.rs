//! Samples, medians, paired ratios and the order in which the sides of a round run.

use std::future::Future;
use std::pin::Pin;

use crate::{Args, BoxError};

/// One side of a round: its `--only` name and the run that returns its rate.
pub(crate) type Side<'a> = (
    &'static str,
    Pin<Box<dyn Future<Output = Result<f64, BoxError>> + Send + 'a>>,
);

/// Runs the sides of one round back to back: in the given order in odd rounds and reversed in
/// even ones, so each side goes first as often as the others and drift in machine load
/// favours none. Returns the rates in the given order; `None` for a side `--only` leaves out
/// (never started).
pub(crate) async fn in_turn(
    args: &Args,
    round: usize,
    sides: Vec<Side<'_>>,
) -> Result<Vec<Option<f64>>, BoxError> {
    let count = sides.len();
    let mut rates = vec![None; count];
    let mut order: Vec<(usize, Side<'_>)> = sides.into_iter().enumerate().collect();
    if round.is_multiple_of(2) {
        order.reverse();
    }
    for (i, (name, run)) in order {
        if args.runs(name) {
            rates[i] = Some(run.await?);
        }
    }
    Ok(rates)
}

/// The rates of one scenario over the rounds (empty when it was skipped).
#[derive(Default)]
pub(crate) struct Samples(pub(crate) Vec<f64>);

impl Samples {
    /// Adds a round's rate (`None`: skipped, nothing added).
    pub(crate) fn push(&mut self, rate: Option<f64>) {
        self.0.extend(rate);
    }

    /// The median, or `None` when the scenario was skipped.
    pub(crate) fn median(&self) -> Option<f64> {
        median(self.0.clone())
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Median over rounds of `a[i] / b[i]`; `None` when either side was skipped.
pub(crate) fn paired_ratio(a: &Samples, b: &Samples) -> Option<f64> {
    if a.0.len() != b.0.len() {
        return None;
    }
    median(a.0.iter().zip(&b.0).map(|(a, b)| a / b.max(1e-9)).collect())
}

/// Median over rounds of `(a[i] / b[i]) / (c[i] / d[i])`: one gain against another, each
/// measured in the same round; `None` when any side was skipped.
pub(crate) fn paired_gain_ratio(a: &Samples, b: &Samples, c: &Samples, d: &Samples) -> Option<f64> {
    let n = a.0.len();
    if n == 0 || [b, c, d].iter().any(|s| s.0.len() != n) {
        return None;
    }
    median(
        (0..n)
            .map(|i| (a.0[i] / b.0[i].max(1e-9)) / (c.0[i] / d.0[i].max(1e-9)).max(1e-9))
            .collect(),
    )
}

/// Messages per second.
pub(crate) fn rate(n: usize, took: std::time::Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(1e-9)
}

/// A rate or ratio for the tables: `—` when skipped.
pub(crate) fn shown(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.decimals$}"))
}

/// `ok`, `BELOW TARGET`, or `skipped` when a side did not run.
pub(crate) fn verdict(value: Option<f64>, target: f64) -> &'static str {
    match value {
        Some(v) if v >= target => "ok",
        Some(_) => "BELOW TARGET",
        None => "skipped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_sides_give_no_ratio() {
        let a = Samples(vec![2.0, 4.0, 6.0]);
        assert_eq!(paired_ratio(&a, &Samples(vec![1.0, 2.0, 3.0])), Some(2.0));
        assert_eq!(paired_ratio(&a, &Samples::default()), None);
        assert_eq!(paired_ratio(&Samples::default(), &Samples::default()), None);
        assert_eq!(Samples::default().median(), None);
        let one = Samples(vec![1.0, 1.0, 1.0]);
        assert_eq!(paired_gain_ratio(&a, &one, &a, &one), Some(1.0));
        assert_eq!(paired_gain_ratio(&a, &one, &a, &Samples::default()), None);
        assert_eq!(verdict(None, 1.0), "skipped");
        assert_eq!(shown(None, 2), "—");
    }
}
