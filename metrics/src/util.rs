//! Small numeric helpers shared by the metrics, each matching the Python
//! function it replaces bit for bit where that is cheap.

/// Smallest `x` with `1 + x != 1`, as Python's `sys.float_info.epsilon`.
pub const EPS: f64 = f64::EPSILON;

/// MIDI note number to Hz, as `mir_eval.util.midi_to_hz`: 440 * 2^((m-69)/12).
pub fn midi_to_hz(midi: f64) -> f64 {
    440.0 * 2f64.powf((midi - 69.0) / 12.0)
}

/// Weighted F-measure as `mir_eval.util.f_measure`: 0 when both inputs are 0.
pub fn f_measure(precision: f64, recall: f64, beta: f64) -> f64 {
    if precision == 0.0 && recall == 0.0 {
        return 0.0;
    }
    let b2 = beta * beta;
    (1.0 + b2) * precision * recall / (b2 * precision + recall)
}

/// YourMT3's `f1_measure`: `hmean([p + eps, r + eps]) - eps`. The epsilon
/// keeps F defined (0) when both P and R are 0; NaN in either gives NaN,
/// which is how the empty-list rules propagate.
pub fn f1_measure(precision: f64, recall: f64) -> f64 {
    let a = precision + EPS;
    let b = recall + EPS;
    1.0 / ((1.0 / a + 1.0 / b) / 2.0) - EPS
}

/// numpy's pairwise summation (`np.add.reduce` on a contiguous float64
/// array), so means agree with `np.mean` to the last bit.
pub(crate) fn pairwise_sum(x: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = x.len();
    if n < 8 {
        let mut s = 0.0;
        for &v in x {
            s += v;
        }
        s
    } else if n <= BLOCK {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&x[..8]);
        let mut i = 8;
        while i + 8 <= n {
            for k in 0..8 {
                r[k] += x[i + k];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += x[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&x[..n2]) + pairwise_sum(&x[n2..])
    }
}

/// `np.mean` of a 1-D float64 array (NaN for an empty one).
pub(crate) fn np_mean(x: &[f64]) -> f64 {
    pairwise_sum(x) / x.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midi_to_hz_reference_points() {
        assert_eq!(midi_to_hz(69.0), 440.0);
        assert!((midi_to_hz(60.0) - 261.625_565_300_598_6).abs() < 1e-9);
        assert!((midi_to_hz(81.0) - 880.0).abs() < 1e-12);
    }

    #[test]
    fn f1_measure_rules() {
        assert_eq!(f1_measure(0.0, 0.0), 0.0);
        assert!(f1_measure(f64::NAN, 0.5).is_nan());
        assert!((f1_measure(0.5, 1.0) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(f_measure(0.0, 0.0, 1.0), 0.0);
        assert!((f_measure(0.5, 1.0, 1.0) - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn pairwise_sum_matches_exact_sum_on_integers() {
        let x: Vec<f64> = (0..1000).map(f64::from).collect();
        assert_eq!(pairwise_sum(&x), 499_500.0);
        assert_eq!(pairwise_sum(&x[..5]), 10.0);
        assert_eq!(pairwise_sum(&x[..100]), 4950.0);
    }
}
