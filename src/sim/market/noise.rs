//! Deterministic randomness: seeded RNG streams and a random-access "synthetic past".
//!
//! Live state (the walk, sizes, venues, exec ids) draws from `rand::rngs::StdRng` streams, one
//! per purpose and instrument, each seeded from the market seed with [`mix`], so stepping one
//! instrument never changes another's sequence. The synthetic past ([`synthetic_log_offset`])
//! is a pure function of (seed, conId, time): multi-scale value noise whose increments grow
//! like a random walk's (σ·√Δt) up to about a year and stay bounded beyond, so any bar of any
//! size can be computed on its own and agrees with bars of other sizes over the same span.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// SplitMix64: a fast, well-mixed 64-bit hash step.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Combine a seed with any number of discriminators into a new 64-bit value.
pub fn mix(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(splitmix64(seed), |h, p| splitmix64(h ^ p.wrapping_mul(0xA24B_AED4_963E_E407)))
}

/// A seeded stream for one purpose (`tag`) of one instrument.
pub fn stream(seed: u64, tag: u64, con_id: i32) -> StdRng {
    StdRng::seed_from_u64(mix(seed, &[tag, con_id as u64]))
}

/// A uniform value in (0, 1) from a hash.
pub fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal value from a hash (Box–Muller on two derived uniforms).
pub fn normal_from(h: u64) -> f64 {
    let u1 = unit(splitmix64(h));
    let u2 = unit(splitmix64(h ^ 0x5851_F42D_4C95_7F2D));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A standard normal value from an RNG stream.
pub fn normal(rng: &mut StdRng) -> f64 {
    normal_from(rng.random::<u64>())
}

/// Number of octaves: 2^0 s … 2^30 s (about 34 years).
const OCTAVES: u32 = 31;
/// Octaves above 2^25 s (about a year) stop growing: the past does not drift without bound.
const GROWTH_CAP: u32 = 25;

/// The synthetic log-price offset at unix time `t` (seconds) for `con_id`, in units of the
/// per-second volatility: `price(t) = anchor · exp(σ₁ₛ · (f(t) − f(anchor_t)))`.
pub fn synthetic_log_offset(seed: u64, con_id: i32, t: f64) -> f64 {
    synthetic_log_offset_at(seed, con_id, t, 1.0)
}

/// [`synthetic_log_offset`] at a resolution: octaves shorter than `resolution` seconds are
/// skipped (they only add detail finer than the caller samples).
pub fn synthetic_log_offset_at(seed: u64, con_id: i32, t: f64, resolution: f64) -> f64 {
    Synthetic::new(seed, con_id, resolution).at(t)
}

/// An evaluator of the synthetic past that remembers each octave's last knot pair, so a run
/// of nearby times (the samples of a bar, consecutive bars) recomputes only the fine octaves.
/// Same values as [`synthetic_log_offset_at`].
pub struct Synthetic {
    base: u64,
    first: u32,
    /// Per octave: knot index and the knot values at it and the next one.
    knots: [(i64, f64, f64); OCTAVES as usize],
}

impl Synthetic {
    pub fn new(seed: u64, con_id: i32, resolution: f64) -> Self {
        Self {
            base: mix(seed, &[0x5157_4159, con_id as u64]),
            first: resolution.max(1.0).log2().floor().clamp(0.0, f64::from(OCTAVES - 1)) as u32,
            knots: [(i64::MIN, 0.0, 0.0); OCTAVES as usize],
        }
    }

    pub fn at(&mut self, t: f64) -> f64 {
        let mut sum = 0.0;
        for k in self.first..OCTAVES {
            let period = (1u64 << k) as f64;
            let x = t / period;
            let i = x.floor();
            let frac = x - i;
            let slot = &mut self.knots[k as usize];
            if slot.0 != i as i64 {
                let base = self.base;
                let knot = |n: f64| normal_from(mix(base, &[u64::from(k), n as i64 as u64]));
                *slot = (i as i64, knot(i), knot(i + 1.0));
            }
            let (_, a, b) = *slot;
            // Smoothstep between knots keeps the path continuous without corners at every knot.
            let s = frac * frac * (3.0 - 2.0 * frac);
            let amplitude = (1u64 << k.min(GROWTH_CAP)) as f64;
            // Value noise with amplitude √period per octave gives increments ≈ √Δt overall;
            // 0.45 calibrates the sum to about unit variance per √second.
            sum += 0.45 * amplitude.sqrt() * (a + (b - a) * s);
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| stream(7, 1, 265_598).random()).collect();
        let b: Vec<u64> = (0..4).map(|_| stream(7, 1, 265_598).random()).collect();
        assert_eq!(a, b);
        let mut s1 = stream(7, 1, 265_598);
        let mut s2 = stream(7, 1, 272_093);
        assert_ne!(s1.random::<u64>(), s2.random::<u64>());
    }

    #[test]
    fn normal_has_unit_variance() {
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|i| normal_from(mix(1, &[i]))).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    }

    #[test]
    fn synthetic_increments_scale_like_a_random_walk() {
        // Std of f(t+Δ) − f(t) should grow roughly like √Δ (within a factor of 2).
        let std_over = |delta: f64| {
            let n = 2000;
            let d: Vec<f64> = (0..n)
                .map(|i| {
                    let t = 1.7e9 + i as f64 * 9_973.0;
                    synthetic_log_offset(3, 42, t + delta) - synthetic_log_offset(3, 42, t)
                })
                .collect();
            (d.iter().map(|x| x * x).sum::<f64>() / n as f64).sqrt()
        };
        for delta in [60.0, 3600.0, 86_400.0] {
            let ratio = std_over(delta) / delta.sqrt();
            assert!((0.6..1.6).contains(&ratio), "Δ={delta}: ratio {ratio}");
        }
        assert_eq!(synthetic_log_offset(3, 42, 1.7e9), synthetic_log_offset(3, 42, 1.7e9));
        // The caching evaluator gives the same values, in any order.
        let mut cursor = Synthetic::new(3, 42, 8.0);
        for t in [1.7e9, 1.7e9 + 3.0, 1.7e9 + 1e5, 1.7e9 - 50.0] {
            assert_eq!(cursor.at(t), synthetic_log_offset_at(3, 42, t, 8.0));
        }
    }
}
