//! `tdigest()` and `tdigest_merge()`: a group's values as a digest of bounded size.
//!
//! A digest is a dynamic array of `[value, weight]` pairs sorted by value, which
//! `percentile_tdigest`, `percentiles_array_tdigest` and `rank_tdigest` read as weighted values
//! (nearest rank). kql kept every row's pair before: `tdigest(x)` over ten million rows held and
//! wrote ten million pairs (seconds, and gigabytes), where Kusto's digest is a sketch.
//!
//! Here equal values share one pair, so a digest of up to `EXACT_LIMIT` distinct values is exact:
//! every documented example, and most hunts (ports, counts, durations in whole seconds) stay
//! exact. Past that the pairs are merged into centroids as a t-digest does (Dunning's `k1` scale:
//! small centroids at the tails, larger ones in the middle), with at most about `COMPRESSION`
//! of them. Each centroid keeps one of its own values (its weighted median), not a mean, so a
//! percentile is always a value the data holds: a percentile of whole numbers stays whole,
//! as Kusto's `percentile_tdigest(..., typeof(long))` expects. At `COMPRESSION` 2,000 a
//! centroid in the middle holds about 0.16% of the weight, which bounds a median's rank error
//! to about that (Kusto documents its own as capped at 1%); the tails are near exact, and the
//! smallest and largest values exact, as in Kusto.
//!
//! Digests merged (partial aggregates, `tdigest_merge`, `merge_tdigest`) are their pairs taken
//! together, compressed again only past `EXACT_LIMIT`: a digest never holds more than that.
//! A compressed digest depends on the order its rows were merged in (as Kusto's does), so two
//! runs over several partitions can differ in the last digits of a large group's percentile.

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Float64Array, StringBuilder};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};

use super::StrArray;
use super::one_group::OneGroup;

/// Distinct values a digest keeps exactly.
const EXACT_LIMIT: usize = 20_000;
/// The t-digest's compression (δ): a compressed digest has between δ/2 and δ centroids.
const COMPRESSION: f64 = 2_000.0;
/// Pairs a digest takes before it is first sorted and merged.
const FIRST_COMPACTION: usize = 1_024;

/// A digest being built: `pairs[..compacted]` sorted, one pair per value (or centroid); the rest
/// as they came. Once `compressed`, a digest stays a sketch of at most about `COMPRESSION`
/// centroids (and the pairs not compacted yet).
#[derive(Debug, Default, Clone)]
pub struct Digest {
    pairs: Vec<(f64, f64)>,
    compacted: usize,
    compressed: bool,
}

impl Digest {
    /// Adds `weight` of `value`. A value that is not a finite number, and a weight that is not
    /// positive, add nothing (as the readers skip them).
    pub fn add(&mut self, value: f64, weight: f64) {
        if !accepts(value, weight) {
            return;
        }
        self.pairs.push((value, weight));
        if self.pairs.len() >= FIRST_COMPACTION.max(2 * self.compacted) {
            self.compact();
        }
    }

    /// Adds every pair of a digest written as JSON (`[[value, weight], ...]`; a bare number
    /// weighs 1). Text that is not a digest adds nothing.
    pub fn add_json(&mut self, text: &str) {
        if let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(text) {
            self.add_items(&items);
        }
    }

    /// Adds the items of a digest read as JSON (see `add_json`).
    pub fn add_items(&mut self, items: &[serde_json::Value]) {
        for item in items {
            match item {
                serde_json::Value::Array(pair) => {
                    if let (Some(v), Some(w)) = (pair.first().and_then(|v| v.as_f64()), pair.get(1).and_then(|w| w.as_f64())) {
                        self.add(v, w);
                    }
                }
                other => {
                    if let Some(v) = other.as_f64() {
                        self.add(v, 1.0);
                    }
                }
            }
        }
    }

    /// Adds the pairs of a digest's state (`append_state`): little-endian reals, value then weight.
    pub fn add_bytes(&mut self, bytes: &[u8]) {
        for pair in bytes.chunks_exact(16) {
            let (value, weight) = pair.split_at(8);
            if let (Ok(value), Ok(weight)) = (<[u8; 8]>::try_from(value), <[u8; 8]>::try_from(weight)) {
                self.add(f64::from_le_bytes(value), f64::from_le_bytes(weight));
            }
        }
    }

    /// Sorts the pairs, gives equal values one pair, and compresses past `EXACT_LIMIT` (or,
    /// once compressed, past `COMPRESSION`).
    fn compact(&mut self) {
        self.pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut kept = 0;
        for i in 0..self.pairs.len() {
            let (value, weight) = self.pairs[i];
            if kept > 0 && self.pairs[kept - 1].0 == value {
                // Weights past a real's range stay the largest real, not an infinity.
                self.pairs[kept - 1].1 = (self.pairs[kept - 1].1 + weight).min(f64::MAX);
            } else {
                self.pairs[kept] = (value, weight);
                kept += 1;
            }
        }
        self.pairs.truncate(kept);
        if kept > EXACT_LIMIT || (self.compressed && kept > COMPRESSION as usize) {
            self.compress();
        }
        self.compacted = self.pairs.len();
    }

    /// Merges neighbouring pairs into centroids of the `k1` scale: a centroid may grow while
    /// it spans no more than 1 in `k(q) = δ/2π · asin(2q - 1)`, `q` the share of the weight
    /// below a point. The smallest and largest values keep pairs of their own, so the 0th and
    /// 100th percentiles stay exact.
    fn compress(&mut self) {
        let total: f64 = self.pairs.iter().map(|p| p.1).sum::<f64>().min(f64::MAX);
        let k = |q: f64| COMPRESSION / (2.0 * std::f64::consts::PI) * (2.0 * q - 1.0).clamp(-1.0, 1.0).asin();
        let last = self.pairs.len() - 1;
        let mut centroids = Vec::with_capacity(COMPRESSION as usize);
        centroids.push(self.pairs[0]);
        let (mut start, mut before, mut inside) = (1, self.pairs[0].1, 0.0);
        for i in 1..last {
            let weight = self.pairs[i].1;
            if i > start && k((before + inside + weight) / total) - k(before / total) > 1.0 {
                centroids.push(representative(&self.pairs[start..i], inside));
                before = (before + inside).min(f64::MAX);
                inside = 0.0;
                start = i;
            }
            inside = (inside + weight).min(f64::MAX);
        }
        if start < last {
            centroids.push(representative(&self.pairs[start..last], inside));
        }
        centroids.push(self.pairs[last]);
        self.pairs = centroids;
        self.compressed = true;
    }

    /// The digest's pairs, sorted by value.
    pub fn finish(mut self) -> Vec<(f64, f64)> {
        self.compact();
        self.pairs
    }

    /// The digest as JSON text, as the readers take it.
    pub fn to_json(self) -> String {
        let pairs = self.finish();
        let mut out = String::with_capacity(2 + pairs.len() * 16);
        out.push('[');
        for (i, (value, weight)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            push_real(&mut out, *value);
            out.push(',');
            push_real(&mut out, *weight);
            out.push(']');
        }
        out.push(']');
        out
    }

    fn bytes(&self) -> usize {
        self.pairs.capacity() * size_of::<(f64, f64)>()
    }
}

/// Whether a digest takes `weight` of `value`: a finite number with a positive finite weight
/// (the readers skip any other).
fn accepts(value: f64, weight: f64) -> bool {
    value.is_finite() && weight > 0.0 && weight.is_finite()
}

/// A real as JSON writes it (`2.0`, `0.5`, `1e+300`).
fn push_real(out: &mut String, v: f64) {
    use std::fmt::Write;
    match serde_json::Number::from_f64(v) {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.push_str("null"),
    }
}

/// A centroid of the sorted `pairs` (together `weight`): their weighted median, with all their weight.
fn representative(pairs: &[(f64, f64)], weight: f64) -> (f64, f64) {
    let mut seen = 0.0;
    for &(value, w) in pairs {
        seen += w;
        if seen >= weight / 2.0 {
            return (value, weight);
        }
    }
    (pairs.last().map_or(0.0, |p| p.0), weight)
}

/// What the aggregate reads from each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Input {
    /// `kql_tdigest(value, weight)`, both reals.
    Values,
    /// `kql_tdigest_merge(digest)`, a digest's JSON text.
    Digests,
}

/// `kql_tdigest(value, weight)`: the digest of a group's values.
pub fn tdigest() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    UDAF.get_or_init(|| Arc::new(AggregateUDF::from(TDigest::new(Input::Values)))).clone()
}

/// `kql_tdigest_merge(digest)`: the digests of a group merged into one.
pub fn tdigest_merge() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    UDAF.get_or_init(|| Arc::new(AggregateUDF::from(TDigest::new(Input::Digests)))).clone()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TDigest {
    input: Input,
    signature: Signature,
}

impl TDigest {
    fn new(input: Input) -> TDigest {
        let signature = match input {
            Input::Values => Signature::exact(vec![DataType::Float64, DataType::Float64], Volatility::Immutable),
            Input::Digests => Signature::any(1, Volatility::Immutable),
        };
        TDigest { input, signature }
    }
}

impl AggregateUDFImpl for TDigest {
    fn name(&self) -> &str {
        match self.input {
            Input::Values => "kql_tdigest",
            Input::Digests => "kql_tdigest_merge",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format_state_name(args.name, "digest"), DataType::Binary, true))])
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(Box::new(Digests::new(self.input)))))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Digests::new(self.input)))
    }
}

/// Each group's digest (`None` until a row comes: a group without rows gives null).
#[derive(Debug)]
struct Digests {
    input: Input,
    groups: Vec<Option<Digest>>,
    /// What the digests hold, kept as they grow (DataFusion asks after every batch).
    bytes: usize,
}

impl Digests {
    fn new(input: Input) -> Digests {
        Digests { input, groups: vec![], bytes: 0 }
    }

    /// Room for `total` groups.
    fn grow(&mut self, total: usize) {
        if self.groups.len() < total {
            self.groups.resize_with(total, || None);
        }
    }

    fn update(&mut self, g: usize, change: impl FnOnce(&mut Digest)) {
        let digest = self.groups[g].get_or_insert_with(Digest::default);
        let before = digest.bytes();
        change(digest);
        self.bytes = (self.bytes + digest.bytes()).saturating_sub(before);
    }

    fn add_digests(&mut self, texts: &ArrayRef, groups: &[usize], filter: Option<&BooleanArray>) -> Result<()> {
        // A value that is not text is not a digest: it adds nothing.
        let Ok(texts) = StrArray::try_new(texts) else { return Ok(()) };
        for (row, &g) in groups.iter().enumerate() {
            if filter.is_none_or(|f| f.is_valid(row) && f.value(row))
                && let Some(text) = texts.get(row)
            {
                self.update(g, |d| d.add_json(text));
            }
        }
        Ok(())
    }

    /// The emitted groups' digests, no longer charged.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Option<Digest>> {
        let taken: Vec<Option<Digest>> = match emit_to {
            EmitTo::All => std::mem::take(&mut self.groups),
            EmitTo::First(n) => self.groups.drain(..n.min(self.groups.len())).collect(),
        };
        let charged: usize = taken.iter().flatten().map(Digest::bytes).sum();
        self.bytes = self.bytes.saturating_sub(charged);
        taken
    }

    /// Adds each row's partial digest (its pairs as little-endian reals, exact, where JSON text
    /// read back could be a unit in the last place off).
    fn add_states(&mut self, states: &ArrayRef, groups: &[usize]) -> Result<()> {
        let Some(states) = states.as_binary_opt::<i32>() else { return internal_err!("a digest's state is its pairs as bytes") };
        for (row, &g) in groups.iter().enumerate() {
            if let Some(bytes) = states.is_valid(row).then(|| states.value(row)) {
                self.update(g, |d| d.add_bytes(bytes));
            }
        }
        Ok(())
    }
}

/// Pairs as a state: little-endian reals, value then weight, written through `scratch` (one
/// buffer for every group or row of a batch).
fn append_state(out: &mut BinaryBuilder, pairs: &[(f64, f64)], scratch: &mut Vec<u8>) {
    scratch.clear();
    for (value, weight) in pairs {
        scratch.extend_from_slice(&value.to_le_bytes());
        scratch.extend_from_slice(&weight.to_le_bytes());
    }
    out.append_value(&scratch);
}

/// The value and weight columns of `kql_tdigest`.
fn reals<'a>(values: &'a ArrayRef, weights: &'a ArrayRef) -> Result<(&'a Float64Array, &'a Float64Array)> {
    match (values.as_primitive_opt::<Float64Type>(), weights.as_primitive_opt::<Float64Type>()) {
        (Some(values), Some(weights)) => Ok((values, weights)),
        _ => internal_err!("kql_tdigest takes two reals"),
    }
}

impl GroupsAccumulator for Digests {
    fn update_batch(&mut self, values: &[ArrayRef], groups: &[usize], filter: Option<&BooleanArray>, total: usize) -> Result<()> {
        self.grow(total);
        match (self.input, values) {
            (Input::Values, [values, weights]) => {
                let (values, weights) = reals(values, weights)?;
                for (row, &g) in groups.iter().enumerate() {
                    if filter.is_none_or(|f| f.is_valid(row) && f.value(row)) && values.is_valid(row) && weights.is_valid(row) {
                        let (value, weight) = (values.value(row), weights.value(row));
                        self.update(g, |d| d.add(value, weight));
                    }
                }
                Ok(())
            }
            (Input::Digests, [texts]) => self.add_digests(texts, groups, filter),
            _ => internal_err!("kql_tdigest takes a value and a weight, kql_tdigest_merge a digest"),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef], groups: &[usize], total: usize) -> Result<()> {
        self.grow(total);
        let Some(states) = states.first() else { return internal_err!("a digest's state is its pairs as bytes") };
        self.add_states(states, groups)
    }

    /// The digests as JSON text (null for a group no row came to).
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.take(emit_to);
        let mut out = StringBuilder::with_capacity(taken.len(), taken.len() * 16);
        for group in taken {
            match group {
                Some(digest) => out.append_value(digest.to_json()),
                None => out.append_null(),
            }
        }
        Ok(Arc::new(out.finish()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        let mut out = BinaryBuilder::with_capacity(taken.len(), taken.len() * 16);
        let mut scratch = Vec::new();
        for group in taken {
            match group {
                Some(digest) => append_state(&mut out, &digest.finish(), &mut scratch),
                None => out.append_null(),
            }
        }
        Ok(vec![Arc::new(out.finish())])
    }

    /// Each row as a digest of its own (null for a row the filter leaves out).
    fn convert_to_state(&self, values: &[ArrayRef], filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let rows = values.first().map_or(0, |v| v.len());
        let mut out = BinaryBuilder::with_capacity(rows, rows * 16);
        let mut scratch = Vec::new();
        let kept = |row: usize| filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        match (self.input, values) {
            (Input::Values, [values, weights]) => {
                let (values, weights) = reals(values, weights)?;
                for row in 0..rows {
                    if kept(row) && values.is_valid(row) && weights.is_valid(row) {
                        // One row's digest is its pair, or no pair (as `Digest::add` takes it).
                        let pair = (values.value(row), weights.value(row));
                        let pairs: &[(f64, f64)] = if accepts(pair.0, pair.1) { &[pair] } else { &[] };
                        append_state(&mut out, pairs, &mut scratch);
                    } else {
                        out.append_null();
                    }
                }
            }
            (Input::Digests, [texts]) => match StrArray::try_new(texts) {
                Ok(texts) => {
                    for row in 0..rows {
                        match texts.get(row) {
                            Some(text) if kept(row) => {
                                let mut digest = Digest::default();
                                digest.add_json(text);
                                append_state(&mut out, &digest.finish(), &mut scratch);
                            }
                            _ => out.append_null(),
                        }
                    }
                }
                Err(_) => return Ok(vec![arrow::array::new_null_array(&DataType::Binary, rows)]),
            },
            _ => return internal_err!("kql_tdigest takes a value and a weight, kql_tdigest_merge a digest"),
        }
        Ok(vec![Arc::new(out.finish())])
    }

    fn size(&self) -> usize {
        self.bytes + self.groups.capacity() * size_of::<Option<Digest>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(values: impl IntoIterator<Item = f64>) -> Vec<(f64, f64)> {
        let mut d = Digest::default();
        for v in values {
            d.add(v, 1.0);
        }
        d.finish()
    }

    /// The nearest rank over weighted pairs, as the readers compute it.
    fn nearest_rank(pairs: &[(f64, f64)], p: f64) -> f64 {
        let total: f64 = pairs.iter().map(|x| x.1).sum();
        let mut seen = 0.0;
        for &(v, w) in pairs {
            seen += w;
            if seen >= p / 100.0 * total - 1e-9 {
                return v;
            }
        }
        pairs.last().map_or(f64::NAN, |x| x.0)
    }

    #[test]
    fn a_digest_of_few_distinct_values_is_exact_with_equal_values_merged() {
        let pairs = digest_of([3.0, 1.0, 2.0, 3.0, f64::NAN, 1.0, 3.0]);
        assert_eq!(pairs, vec![(1.0, 2.0), (2.0, 1.0), (3.0, 3.0)]);
        let mut d = Digest::default();
        d.add(1.0, 0.0);
        d.add(2.0, -1.0);
        d.add(5.0, 2.0);
        assert_eq!(d.to_json(), "[[5.0,2.0]]");
        assert_eq!(Digest::default().to_json(), "[]");
    }

    #[test]
    fn a_digest_of_exactly_the_limit_stays_exact_and_one_more_compresses() {
        let exact = digest_of((0..EXACT_LIMIT).map(|v| v as f64));
        assert_eq!(exact.len(), EXACT_LIMIT);
        let compressed = digest_of((0..=EXACT_LIMIT).map(|v| v as f64));
        assert!(compressed.len() <= COMPRESSION as usize && compressed.len() >= COMPRESSION as usize / 2, "{}", compressed.len());
        assert_eq!(compressed.iter().map(|p| p.1).sum::<f64>(), (EXACT_LIMIT + 1) as f64);
    }

    #[test]
    fn a_compressed_digest_keeps_values_of_the_data_and_percentiles_within_a_small_rank_error() {
        // One million values in a shuffled order (a multiplicative permutation of 0..n).
        let n = 1_000_000u64;
        let pairs = digest_of((0..n).map(|i| ((i * 7_919) % n) as f64));
        assert!(pairs.len() <= COMPRESSION as usize, "{}", pairs.len());
        assert!(pairs.iter().all(|p| p.0.fract() == 0.0));
        assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(pairs.iter().map(|p| p.1).sum::<f64>(), n as f64);
        for p in [0.1, 1.0, 25.0, 50.0, 75.0, 99.0, 99.9] {
            let exact = (p / 100.0 * n as f64).ceil() - 1.0;
            let got = nearest_rank(&pairs, p);
            assert!((got - exact).abs() <= 0.003 * n as f64, "p{p}: {got} vs {exact}");
        }
        assert_eq!(nearest_rank(&pairs, 0.0), 0.0);
        assert_eq!(nearest_rank(&pairs, 100.0), (n - 1) as f64);
    }

    #[test]
    fn a_state_keeps_every_bit_and_huge_weights_stay_finite() {
        // A real written as JSON text may read back a unit in the last place off in
        // serde_json's default parser; a state of bytes is exact.
        let value = 0.1f64 * 3.0 + 1e-9;
        let mut d = Digest::default();
        d.add(value, 1e308);
        d.add(value, 1e308);
        let mut out = BinaryBuilder::new();
        append_state(&mut out, &d.finish(), &mut Vec::new());
        let states = out.finish();
        let mut merged = Digest::default();
        merged.add_bytes(states.value(0));
        assert_eq!(merged.finish(), vec![(value, f64::MAX)]);
    }

    #[test]
    fn merging_digests_read_from_json_adds_their_weights() {
        let mut d = Digest::default();
        d.add_json("[[1.0,2.0],[4.0,1.0]]");
        d.add_json("[1, 4, [2, 0], \"x\"]");
        d.add_json("not json");
        assert_eq!(d.finish(), vec![(1.0, 3.0), (4.0, 2.0)]);
    }
}
