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

use serde_json::{Value as Json, json};

use super::library::{RowDef, def};
use super::rowwise::{Out, Ret, V};

/// The series' values; nulls (and non-numbers) are `None`.
fn values(v: &V) -> Option<Vec<Option<f64>>> {
    match v.json().as_ref() {
        Json::Array(items) => Some(items.iter().map(Json::as_f64).collect()),
        _ => None,
    }
}

fn number(x: f64) -> Json {
    serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
}

fn array(xs: &[f64]) -> Json {
    Json::Array(xs.iter().map(|x| number(*x)).collect())
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

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    if a.is_empty() {
        return 0.0;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let (da, db) = (a.iter().map(|x| (x - ma).powi(2)).sum::<f64>().sqrt(), b.iter().map(|y| (y - mb).powi(2)).sum::<f64>().sqrt());
    if da == 0.0 || db == 0.0 { 0.0 } else { num / (da * db) }
}

/// The period of the series, if it has one (see the module comment).
fn detect_period(xs: &[f64], threshold: f64) -> Option<usize> {
    let n = xs.len();
    let (best, score) = (2..=n / 2).map(|p| (p, correlation(&xs[..n - p], &xs[p..]))).max_by(|a, b| a.1.total_cmp(&b.1))?;
    (score >= threshold && n / best >= 4).then_some(best)
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
        Out::Json(array(&seasonal(&xs, period_of(&xs, long_arg(a, 1, -1), 0.6))))
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
        Out::Json(array(&outlier_scores(&raw, low, high)))
    });
    // The tuple forms: `series_decompose(y)` and `series_decompose_anomalies(y)` spread these
    // bags over columns (see `planner/tuples.rs`).
    def(m, "__kql_series_decompose", 1, 5, Ret::Dynamic, |a| {
        let Some(raw) = values(&a[0]) else { return Out::Null };
        let d = decompose(&raw, long_arg(a, 1, -1), &text_arg(a, 2, "avg"), real_arg(a, 4, 0.6));
        Out::Json(
            json!({"baseline": array(&d.baseline), "seasonal": array(&d.seasonal), "trend": array(&d.trend), "residual": array(&d.residual)}),
        )
    });
    def(m, "__kql_series_decompose_anomalies", 1, 7, Ret::Dynamic, |a| {
        let Some(raw) = values(&a[0]) else { return Out::Null };
        let threshold = real_arg(a, 1, 1.5);
        let d = decompose(&raw, long_arg(a, 2, -1), &text_arg(a, 3, "avg"), real_arg(a, 6, 0.6));
        let (low, high) = if text_arg(a, 5, "ctukey") == "tukey" { (25.0, 75.0) } else { (10.0, 90.0) };
        let residual: Vec<Option<f64>> = d.residual.iter().map(|r| Some(*r)).collect();
        let scores = outlier_scores(&residual, low, high);
        let flags: Vec<Json> = scores
            .iter()
            .map(|s| {
                Json::from(if *s > threshold {
                    1
                } else if *s < -threshold {
                    -1
                } else {
                    0
                })
            })
            .collect();
        Out::Json(json!({"ad_flag": flags, "ad_score": array(&scores), "baseline": array(&d.baseline)}))
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
        Out::Json(array(&y))
    });
}
