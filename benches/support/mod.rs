//! What the benchmarks share: nearest-rank statistics, environment knobs, verdicts.
#![allow(dead_code)]

use std::time::Duration;

/// Percentiles and extremes of a sample.
pub struct Stats {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub min: f64,
    pub mean: f64,
}

/// Nearest-rank percentiles of `values` (any unit); `None` for an empty sample.
pub fn stats(values: &[f64]) -> Option<Stats> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = |p: f64| v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Some(Stats {
        n: v.len(),
        p50: rank(50.0),
        p90: rank(90.0),
        p99: rank(99.0),
        max: v[v.len() - 1],
        min: v[0],
        mean: v.iter().sum::<f64>() / v.len() as f64,
    })
}

/// Durations in milliseconds.
pub fn ms(values: &[Duration]) -> Vec<f64> {
    values.iter().map(|d| d.as_secs_f64() * 1e3).collect()
}

/// A positive count from the environment, or `default` (with a warning when malformed).
pub fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => match value.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("warning: {name}={value:?} is not a positive integer; using {default}");
                default
            }
        },
        Err(_) => default,
    }
}

/// How a table of [`Stats`] rows is laid out: column widths and decimals.
pub struct Table {
    /// Width of the label column.
    pub label: usize,
    /// Width of the sample-count column.
    pub n: usize,
    /// Width of the bound column.
    pub bound: usize,
    /// Decimals of every figure.
    pub decimals: usize,
}

impl Table {
    /// A figure, flagged with `!` when it is above the bound.
    pub fn cell(&self, value: f64, bound: Option<f64>) -> String {
        let flag = if bound.is_some_and(|b| value > b) { "!" } else { " " };
        format!("{value:>8.prec$}{flag}", prec = self.decimals)
    }

    /// One row: n, p50, p90, p99 and max (flagged against `bound`), the bound's text, then min
    /// and mean; or "no samples".
    pub fn row(&self, label: &str, s: &Option<Stats>, bound: Option<f64>, bound_text: &str) {
        let (lw, nw, bw, d) = (self.label, self.n, self.bound, self.decimals);
        match s {
            Some(s) => println!(
                "{label:<lw$} {:>nw$} {} {} {} {}   {bound_text:<bw$} (min {:.d$}, mean {:.d$})",
                s.n,
                self.cell(s.p50, bound),
                self.cell(s.p90, bound),
                self.cell(s.p99, bound),
                self.cell(s.max, bound),
                s.min,
                s.mean
            ),
            None => println!("{label:<lw$} {:>nw$}   no samples", 0),
        }
    }
}

/// The median of `values` (sorted in place), 0 for none.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

pub fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "FAIL"
    }
}
