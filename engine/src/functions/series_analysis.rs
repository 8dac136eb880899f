//! Series analysis: seasonality (`series_seasonal`), Tukey outlier scores (`series_outliers`),
//! decomposition into seasonal, trend and residual (`series_decompose`), anomaly flags on the
//! residual (`series_decompose_anomalies`) and IIR filtering (`series_iir`).
//!
//! Kusto documents these algorithms but not every detail. What is kept from the docs: the
//! seasonal component is the per-phase median, the trend is the average (`avg`) or the least
//! squares line (`linefit`), the baseline is seasonal plus trend, and scores are Tukey's fences
//! over the 10th–90th percentiles (`ctukey`) or the quartiles (`tukey`), flagged past the
//! threshold (1.5). Where Kusto detects the period itself (`seasonality = -1`), this picks the
//! lag with the best autocorrelation, kept when it reaches the threshold (0.6) and fits four
//! times in the series; Kusto's own detector can choose differently on borderline series.

use std::collections::HashMap;

use serde_json::Value as Json;

use super::library::{RowDef, def};
use super::rowwise::{Out, Ret, V, json_array_text};

/// The series' values; nulls (and non-numbers) are `None`.
fn values(v: &V) -> Option<Vec<Option<f64>>> {
    match v.json().as_ref() {
        Json::Array(items) => Some(items.iter().map(Json::as_f64).collect()),
        _ => None,
    }
}

/// A bag of arrays (`(key, array_text)`, in this order) as JSON text.
fn bag_text(fields: &[(&str, String)]) -> Out {
    let mut text = String::with_capacity(2 + fields.iter().map(|(key, value)| key.len() + value.len() + 4).sum::<usize>());
    text.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push('"');
        text.push_str(key);
        text.push_str("\":");
        text.push_str(value);
    }
    text.push('}');
    Out::JsonText(text)
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
}

/// The p-th percentile (0–100) by linear interpolation between the closest ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// The Pearson correlation of the series with itself shifted by each lag, `xs[..n-p]` against
/// `xs[p..]`, for the lags `0..=max_lag`. The sums of products of every lag come from one FFT
/// (Wiener–Khinchin), the means and spreads of each overlap from prefix sums: O(n log n), where
/// correlating each lag on its own is O(n²) (a million bins took minutes).
fn lag_correlations(xs: &[f64], max_lag: usize) -> Vec<f64> {
    use rustfft::{FftPlanner, num_complex::Complex};
    let n = xs.len();
    if n == 0 {
        return Vec::new();
    }
    // Centred on the mean: correlation does not change under a shift, and the prefix sums of
    // squares below lose far less to cancellation.
    let mean = xs.iter().sum::<f64>() / n as f64;
    let centred: Vec<f64> = xs.iter().map(|x| x - mean).collect();
    let size = (2 * n).next_power_of_two();
    let mut buffer: Vec<Complex<f64>> = centred.iter().map(|x| Complex::new(*x, 0.0)).collect();
    buffer.resize(size, Complex::new(0.0, 0.0));
    let mut planner = FftPlanner::new();
    planner.plan_fft_forward(size).process(&mut buffer);
    buffer.iter_mut().for_each(|c| *c = Complex::new(c.norm_sqr(), 0.0));
    planner.plan_fft_inverse(size).process(&mut buffer);
    let mut sums = vec![0.0; n + 1];
    let mut squares = vec![0.0; n + 1];
    for (i, x) in centred.iter().enumerate() {
        sums[i + 1] = sums[i] + x;
        squares[i + 1] = squares[i] + x * x;
    }
    // A spread this small next to the whole series' is rounding noise of a constant stretch.
    let negligible = squares[n] * 1e-12;
    (0..=max_lag.min(n - 1))
        .map(|p| {
            let len = (n - p) as f64;
            let cross = buffer[p].re / size as f64;
            let (sum_a, sum_b) = (sums[n - p], sums[n] - sums[p]);
            let spread_a = squares[n - p] - sum_a * sum_a / len;
            let spread_b = squares[n] - squares[p] - sum_b * sum_b / len;
            if spread_a <= negligible || spread_b <= negligible {
                return 0.0;
            }
            ((cross - sum_a * sum_b / len) / (spread_a * spread_b).sqrt()).clamp(-1.0, 1.0)
        })
        .collect()
}

/// The period of the series, if it has one (see the module comment). The lag with the best
/// correlation over `2..=n/2` wins; of lags that tie with it (a period's multiples correlate as
/// well as the period), the shortest, so that rounding cannot pick a multiple.
fn detect_period(xs: &[f64], threshold: f64) -> Option<usize> {
    let n = xs.len();
    let scores = lag_correlations(xs, n / 2);
    let best = scores.iter().skip(2).copied().max_by(f64::total_cmp)?;
    let period = (2..scores.len()).find(|p| scores[*p] >= best - 1e-9)?;
    (best >= threshold && n / period >= 4).then_some(period)
}

fn period_of(xs: &[f64], seasonality: i64, threshold: f64) -> Option<usize> {
    match seasonality {
        s if s < 0 => detect_period(xs, threshold),
        0 | 1 => None,
        s => Some(s as usize).filter(|p| *p < xs.len()),
    }
}

/// The per-phase median of the series for a period (zeros without one).
fn seasonal(xs: &[f64], period: Option<usize>) -> Vec<f64> {
    let Some(p) = period else { return vec![0.0; xs.len()] };
    let medians: Vec<f64> = (0..p).map(|phase| median(xs.iter().skip(phase).step_by(p).copied().collect())).collect();
    (0..xs.len()).map(|i| medians[i % p]).collect()
}

fn trend(xs: &[f64], kind: &str) -> Vec<f64> {
    let n = xs.len() as f64;
    match kind {
        "none" => vec![0.0; xs.len()],
        "linefit" => {
            let mx = (n - 1.0) / 2.0;
            let my = xs.iter().sum::<f64>() / n;
            let sxy: f64 = xs.iter().enumerate().map(|(i, y)| (i as f64 - mx) * (y - my)).sum();
            let sxx: f64 = (0..xs.len()).map(|i| (i as f64 - mx).powi(2)).sum();
            let slope = if sxx == 0.0 { 0.0 } else { sxy / sxx };
            (0..xs.len()).map(|i| my + slope * (i as f64 - mx)).collect()
        }
        _ => vec![xs.iter().sum::<f64>() / n; xs.len()],
    }
}

/// Tukey scores: how many interquantile ranges past the range each value lies.
fn outlier_scores(xs: &[Option<f64>], low_pct: f64, high_pct: f64) -> Vec<f64> {
    let mut sorted: Vec<f64> = xs.iter().flatten().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let (low, high) = (percentile(&sorted, low_pct), percentile(&sorted, high_pct));
    let range = high - low;
    xs.iter()
        .map(|x| match x {
            Some(x) if range > 0.0 && *x > high => (x - high) / range,
            Some(x) if range > 0.0 && *x < low => (x - low) / range,
            _ => 0.0,
        })
        .collect()
}

struct Decomposition {
    baseline: Vec<f64>,
    seasonal: Vec<f64>,
    trend: Vec<f64>,
    residual: Vec<f64>,
}

/// Missing values are filled with the series' average before decomposing.
fn decompose(raw: &[Option<f64>], seasonality: i64, trend_kind: &str, threshold: f64) -> Decomposition {
    let present: Vec<f64> = raw.iter().flatten().copied().collect();
    let fill = if present.is_empty() { 0.0 } else { present.iter().sum::<f64>() / present.len() as f64 };
    let xs: Vec<f64> = raw.iter().map(|x| x.unwrap_or(fill)).collect();
    let seasonal = seasonal(&xs, period_of(&xs, seasonality, threshold));
    let deseasoned: Vec<f64> = xs.iter().zip(&seasonal).map(|(x, s)| x - s).collect();
    let trend = trend(&deseasoned, trend_kind);
    let baseline: Vec<f64> = seasonal.iter().zip(&trend).map(|(s, t)| s + t).collect();
    let residual = xs.iter().zip(&baseline).map(|(x, b)| x - b).collect();
    Decomposition { baseline, seasonal, trend, residual }
}

fn long_arg(a: &[V], i: usize, default: i64) -> i64 {
    a.get(i).and_then(V::long).unwrap_or(default)
}

fn real_arg(a: &[V], i: usize, default: f64) -> f64 {
    a.get(i).and_then(V::real).unwrap_or(default)
}

fn text_arg(a: &[V], i: usize, default: &str) -> String {
    a.get(i).filter(|v| !v.is_null()).map(|v| v.text().into_owned()).unwrap_or_else(|| default.to_string())
}

pub fn register(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "series_seasonal", 1, 2, Ret::Dynamic, |a| {
        let Some(raw) = values(&a[0]) else { return Out::Null };
        let xs: Vec<f64> = raw.iter().map(|x| x.unwrap_or(0.0)).collect();
        Out::JsonText(json_array_text(&seasonal(&xs, period_of(&xs, long_arg(a, 1, -1), 0.6))))
    });
    def(m, "series_outliers", 1, 5, Ret::Dynamic, |a| {
        let Some(mut raw) = values(&a[0]) else { return Out::Null };
        if let Some(ignore) = a.get(2).and_then(V::real) {
            raw.iter_mut().filter(|x| **x == Some(ignore)).for_each(|x| *x = None);
        }
        let (low, high) = match text_arg(a, 1, "ctukey").as_str() {
            "tukey" => (25.0, 75.0),
            _ => (real_arg(a, 3, 10.0), real_arg(a, 4, 90.0)),
        };
        Out::JsonText(json_array_text(&outlier_scores(&raw, low, high)))
    });
    // The tuple forms: `series_decompose(y)` and `series_decompose_anomalies(y)` spread these
    // bags over columns (see `planner/tuples.rs`).
    def(m, "__kql_series_decompose", 1, 5, Ret::Dynamic, |a| {
        let Some(raw) = values(&a[0]) else { return Out::Null };
        let d = decompose(&raw, long_arg(a, 1, -1), &text_arg(a, 2, "avg"), real_arg(a, 4, 0.6));
        bag_text(&[
            ("baseline", json_array_text(&d.baseline)),
            ("seasonal", json_array_text(&d.seasonal)),
            ("trend", json_array_text(&d.trend)),
            ("residual", json_array_text(&d.residual)),
        ])
    });
    def(m, "__kql_series_decompose_anomalies", 1, 7, Ret::Dynamic, |a| {
        let Some(raw) = values(&a[0]) else { return Out::Null };
        let threshold = real_arg(a, 1, 1.5);
        let d = decompose(&raw, long_arg(a, 2, -1), &text_arg(a, 3, "avg"), real_arg(a, 6, 0.6));
        let (low, high) = if text_arg(a, 5, "ctukey") == "tukey" { (25.0, 75.0) } else { (10.0, 90.0) };
        let residual: Vec<Option<f64>> = d.residual.iter().map(|r| Some(*r)).collect();
        let scores = outlier_scores(&residual, low, high);
        let flags: Vec<i8> = scores
            .iter()
            .map(|s| {
                if *s > threshold {
                    1
                } else if *s < -threshold {
                    -1
                } else {
                    0
                }
            })
            .collect();
        bag_text(&[
            ("ad_flag", json_array_text(&flags)),
            ("ad_score", json_array_text(&scores)),
            ("baseline", json_array_text(&d.baseline)),
        ])
    });
    // y[n] = (Σ b[i]·x[n-i] − Σ_{j≥1} a[j]·y[n-j]) / a[0]
    def(m, "series_iir", 3, 3, Ret::Dynamic, |a| {
        let (Some(x), Some(b), Some(den)) = (values(&a[0]), values(&a[1]), values(&a[2])) else { return Out::Null };
        let (b, den): (Vec<f64>, Vec<f64>) = (b.iter().map(|v| v.unwrap_or(0.0)).collect(), den.iter().map(|v| v.unwrap_or(0.0)).collect());
        let Some(a0) = den.first().copied().filter(|a0| *a0 != 0.0) else { return Out::Null };
        let x: Vec<f64> = x.iter().map(|v| v.unwrap_or(0.0)).collect();
        let mut y = vec![0.0; x.len()];
        for n in 0..x.len() {
            let forward: f64 = b.iter().enumerate().filter(|(i, _)| *i <= n).map(|(i, bi)| bi * x[n - i]).sum();
            let feedback: f64 = den.iter().enumerate().skip(1).filter(|(j, _)| *j <= n).map(|(j, aj)| aj * y[n - j]).sum();
            y[n] = (forward - feedback) / a0;
        }
        Out::JsonText(json_array_text(&y))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook form: each lag's overlap correlated on its own.
    fn direct_correlation(xs: &[f64], p: usize) -> f64 {
        let (a, b) = (&xs[..xs.len() - p], &xs[p..]);
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let num: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let da = a.iter().map(|x| (x - ma).powi(2)).sum::<f64>().sqrt();
        let db = b.iter().map(|y| (y - mb).powi(2)).sum::<f64>().sqrt();
        if da == 0.0 || db == 0.0 { 0.0 } else { num / (da * db) }
    }

    #[test]
    fn fft_lag_correlations_match_the_direct_form() {
        // A trend, a period of 7 and pseudo-random noise.
        let mut state = 12345u64;
        let xs: Vec<f64> = (0..500)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                1000.0 + i as f64 * 0.5 + [3.0, 9.0, 4.0, 1.0, 7.0, 2.0, 8.0][i % 7] + (state >> 40) as f64 / 1e7
            })
            .collect();
        let scores = lag_correlations(&xs, 250);
        assert_eq!(scores.len(), 251);
        for (p, score) in scores.iter().enumerate().skip(1) {
            let direct = direct_correlation(&xs, p);
            assert!((score - direct).abs() < 1e-9, "lag {p}: {score} against {direct}");
        }
    }

    #[test]
    fn numbers_are_written_as_json_values_would_print_them() {
        let xs = [1.0, 0.1 + 0.2, 1e20, 3e-7, -0.0, -2.5, f64::NAN, f64::INFINITY];
        let values = Json::Array(xs.iter().map(|x| serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number)).collect());
        assert_eq!(json_array_text(&xs), values.to_string());
        assert_eq!(json_array_text(&xs), "[1.0,0.30000000000000004,1e+20,3e-7,-0.0,-2.5,null,null]");
        let Out::JsonText(bag) = bag_text(&[("ad_flag", json_array_text(&[1i8, 0, -1])), ("baseline", json_array_text(&[2.0]))]) else {
            panic!()
        };
        assert_eq!(bag, r#"{"ad_flag":[1,0,-1],"baseline":[2.0]}"#);
    }

    #[test]
    fn the_shortest_of_tied_lags_is_the_period() {
        let xs: Vec<f64> = (0..100).map(|i| [1.0, 5.0, 2.0, 8.0, 3.0, 3.0, 6.0][i % 7]).collect();
        assert_eq!(detect_period(&xs, 0.6), Some(7));
        // Twelve values of a period of six fit it twice, not four times: no period.
        assert_eq!(detect_period(&[1.0, 3.0, 5.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 2.0, 4.0, 6.0], 0.6), None);
        assert_eq!(detect_period(&[4.0; 50], 0.6), None);
    }
}
