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

pub fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "FAIL"
    }
}
