//! Expressions of the table's columns that the filters of a shared scan's queries compute,
//! computed once per batch for all of them.
//!
//! A thousand Sigma rules over one table filter on the same few columns: each asks
//! `FolderPath endswith "\\x.exe"`, `ProcessCommandLine contains "..."`, `lower(FileName) ==
//! "..."`. Each query computing its own tests reads every text once per test. Instead, when the
//! scan starts, every such expression in the filters its queries pushed into it is given a
//! computed column (`__kql_shared_N`) that the filters read in its place, and the scan computes
//! each once per batch, the string tests of one column in one pass (`string_tests.rs`), its
//! equality tests with one lookup per text (`equal_tests.rs`), a
//! `matches regex` with its pattern compiled once for the scan. The
//! filters' answers do not change: each column holds exactly what the expression it replaces
//! evaluates to (a string test: the same `PreparedNeedle` code; anything else: the expression
//! itself, evaluated by DataFusion).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session as CatalogSession;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DataFusionError, Result, ScalarValue, internal_datafusion_err};
use datafusion::logical_expr::expr::{InList, ScalarFunction};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, Operator};
use datafusion::physical_expr::PhysicalExpr;

use super::distinct_texts::{DistinctTexts, NULL_TEXT};
use super::equal_tests::EqualTests;
use super::string_tests::{ColumnTests, TestOfColumn};
use crate::functions::string::Test;
use crate::functions::{StrArray, is_string};

/// The name of the shared table's `i`th computed column.
fn column_name(i: usize) -> String {
    format!("__kql_shared_{i}")
}

/// One computed column: what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Computed {
    /// A string test (or the `or` of tests of one kind) of a text column against constant
    /// needles: `kql_string_test` / `kql_string_test_any` with a column and literals.
    StringTest { column: String, test: TestOfColumn },
    /// `column ~ pattern` or `regexp_like(column, pattern)` (`matches regex`) of a text column
    /// and a constant pattern that compiles (`~*`: the pattern after `(?i)`): compiled once for
    /// the scan, where DataFusion compiles it for every batch.
    Regex { column: String, pattern: String },
    /// `lower(column) = 'v'` (`=~`) or `lower(column) IN ('v', ...)` (`in~`) of a text column,
    /// and the same of the column itself (`==`, `in`; `lowered` false), the values non-null
    /// texts.
    Equals { column: String, lowered: bool, values: Vec<String> },
    /// `lower(column)` of a text column (`=~`, `in~` that are not `Equals`), its columns
    /// unqualified.
    Evaluated(Expr),
}

/// The computed columns of one shared table, in the order of their names.
pub(super) struct ComputedColumns {
    list: Vec<Computed>,
    index: HashMap<Computed, usize>,
    fields: Vec<Field>,
}

impl ComputedColumns {
    pub fn empty() -> ComputedColumns {
        ComputedColumns { list: Vec::new(), index: HashMap::new(), fields: Vec::new() }
    }

    /// Registers every expression that `predicate` (over the table's columns, unqualified)
    /// could read from a computed column.
    pub fn collect(&mut self, predicate: &Expr, base: &Schema) {
        let _ = predicate.apply(|e| match recognise(e, base) {
            Some(computed) => {
                self.register(computed, base);
                Ok(TreeNodeRecursion::Jump)
            }
            None => Ok(TreeNodeRecursion::Continue),
        });
    }

    fn register(&mut self, computed: Computed, base: &Schema) {
        if self.index.contains_key(&computed) {
            return;
        }
        let field = match &computed {
            Computed::StringTest { .. } => Some(Field::new(column_name(self.list.len()), DataType::Boolean, false)),
            Computed::Regex { .. } | Computed::Equals { .. } => Some(Field::new(column_name(self.list.len()), DataType::Boolean, true)),
            Computed::Evaluated(expr) => DFSchema::try_from(base.clone())
                .ok()
                .and_then(|schema| expr.get_type(&schema).ok())
                .map(|t| Field::new(column_name(self.list.len()), t, true)),
        };
        // A name the table has already (no real table should) would be ambiguous: not shared.
        if let Some(field) = field.filter(|f| base.index_of(f.name()).is_err()) {
            self.index.insert(computed.clone(), self.list.len());
            self.list.push(computed);
            self.fields.push(field);
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The field of computed column `i`.
    pub fn field(&self, i: usize) -> &Field {
        &self.fields[i]
    }

    /// `predicate` reading computed columns in place of the expressions they hold.
    pub fn rewrite_predicate(&self, predicate: Expr, base: &Schema) -> Result<Expr> {
        let rewritten = predicate.transform_down(|e| match recognise(&e, base).and_then(|c| self.index.get(&c)) {
            Some(&i) => Ok(Transformed::new(Expr::Column(Column::new_unqualified(column_name(i))), true, TreeNodeRecursion::Jump)),
            None => Ok(Transformed::no(e)),
        })?;
        Ok(rewritten.data)
    }

    /// The table's columns that computed column `i` reads.
    pub fn inputs(&self, i: usize) -> Vec<String> {
        match &self.list[i] {
            Computed::StringTest { column, .. } | Computed::Regex { column, .. } | Computed::Equals { column, .. } => {
                vec![column.clone()]
            }
            Computed::Evaluated(expr) => expr.column_refs().into_iter().map(|c| c.name.clone()).collect(),
        }
    }
}

/// The computed column an expression can be read from, if any.
fn recognise(e: &Expr, base: &Schema) -> Option<Computed> {
    // A nullable string column as a query reads it, `coalesce(c, "")` (`strings_as_read.rs`),
    // is the column: the shared scan reads its nulls as "" too (`mod.rs`).
    let text_column = |e: &Expr| text_column_of(crate::string_filters::as_read_value(e).unwrap_or(e), base);
    // DataFusion's simplifier turns `regexp_like(s, 'p')` (`matches regex`) into `s ~ 'p'`,
    // which its kernel computes as `regexp_is_match_scalar(s, 'p', None)`, and `~*` with the
    // flag `i`, which the kernel writes as `(?i)` before the pattern. A cast between text
    // types (`Utf8View` to `Utf8`) changes no value.
    if let Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::RegexMatch | Operator::RegexIMatch), right }) = e {
        let column = match left.as_ref() {
            Expr::Cast(cast) if is_string(cast.field.data_type()) => text_column(&cast.expr)?,
            other => text_column(other)?,
        };
        let Expr::Literal(ScalarValue::Utf8(Some(p)) | ScalarValue::Utf8View(Some(p)) | ScalarValue::LargeUtf8(Some(p)), _) =
            right.as_ref()
        else {
            return None;
        };
        let pattern = if *op == Operator::RegexIMatch { format!("(?i){p}") } else { p.clone() };
        return regex::Regex::new(&pattern).is_ok().then_some(Computed::Regex { column, pattern });
    }
    if let Some(equals) = equality(e, &text_column) {
        return Some(equals);
    }
    let Expr::ScalarFunction(ScalarFunction { func, args }) = e else { return None };
    let needle = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Utf8(Some(n)), _) => Some(n.clone()),
        _ => None,
    };
    let string_test = |column: String, code: i64, needles: Vec<String>| {
        let test = TestOfColumn { test: Test::from_code(code / 2)?, case_sensitive: code % 2 == 1, needles };
        (code >= 0 && test.shareable()).then_some(Computed::StringTest { column, test })
    };
    match (func.name(), args.as_slice()) {
        ("kql_string_test", [hay, n, Expr::Literal(ScalarValue::Int64(Some(code)), _)]) => {
            string_test(text_column(hay)?, *code, vec![needle(n)?])
        }
        ("kql_string_test_any", [hay, Expr::Literal(ScalarValue::Int64(Some(code)), _), needles @ ..]) => {
            string_test(text_column(hay)?, *code, needles.iter().map(needle).collect::<Option<Vec<_>>>()?)
        }
        ("regexp_like", [hay, Expr::Literal(ScalarValue::Utf8(Some(pattern)) | ScalarValue::Utf8View(Some(pattern)), _)])
            if regex::Regex::new(pattern).is_ok() =>
        {
            Some(Computed::Regex { column: text_column(hay)?, pattern: pattern.clone() })
        }
        ("lower", [hay]) => {
            let column = Expr::Column(Column::new_unqualified(text_column(hay)?));
            Some(Computed::Evaluated(Expr::ScalarFunction(ScalarFunction { func: func.clone(), args: vec![column] })))
        }
        _ => None,
    }
}

fn text_column_of(e: &Expr, base: &Schema) -> Option<String> {
    match e {
        Expr::Column(c) if c.relation.is_none() && base.field_with_name(&c.name).is_ok_and(|f| is_string(f.data_type())) => {
            Some(c.name.clone())
        }
        _ => None,
    }
}

/// `Computed::Equals` for `e`, if it is one: `[lower](column) = 'v'` (either side first) or
/// `[lower](column) IN ('v', ...)`, not negated, every value a non-null text. A cast between text
/// types changes no value.
fn equality(e: &Expr, text_column: &dyn Fn(&Expr) -> Option<String>) -> Option<Computed> {
    let column = |e: &Expr| match e {
        Expr::Cast(cast) if is_string(cast.field.data_type()) => text_column(&cast.expr),
        other => text_column(other),
    };
    let operand = |e: &Expr| match e {
        Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == "lower" => match args.as_slice() {
            [hay] => Some((column(hay)?, true)),
            _ => None,
        },
        other => Some((column(other)?, false)),
    };
    let text = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Utf8(Some(v)) | ScalarValue::Utf8View(Some(v)) | ScalarValue::LargeUtf8(Some(v)), _) => Some(v.clone()),
        _ => None,
    };
    let ((column, lowered), values) = match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => match (operand(left), text(right)) {
            (Some(operand), Some(value)) => (operand, vec![value]),
            _ => (operand(right)?, vec![text(left)?]),
        },
        Expr::InList(InList { expr, list, negated: false }) => (operand(expr)?, list.iter().map(text).collect::<Option<Vec<_>>>()?),
        _ => return None,
    };
    Some(Computed::Equals { column, lowered, values })
}

/// A `matches regex` pattern compiled once for the scan, with the search caches its batches use.
///
/// `regex::Regex` takes a cache from its pool for every text it searches; a thread other than
/// the one that first used it goes through a lock each time (a few per cent of a hunt of
/// Sigma rules, whose 70 patterns each search every command line). Here a batch takes one
/// cache per pattern for all its texts. The engine is the one `regex::Regex` wraps, with the
/// same syntax, so the answers are the same; two things differ, for speed only:
/// - the pattern is searched for without the parts at its two ends that can match nothing
///   (`existence_pattern`): `.*whoami.*>.*` is searched as `whoami.*>`, which the engine finds
///   by its literal (ten times faster over command lines);
/// - the lazy DFA may hold `LAZY_DFA_CACHE` bytes of states: with the default 2 MB it gives up
///   on patterns such as `-k\s\w{1,64}` (Unicode `\w` repeated makes many states) and the
///   search falls back to a backtracker that clears its memory for every text (25 times
///   slower). The cache grows only as far as a pattern needs.
struct CompiledRegex {
    regex: regex_automata::meta::Regex,
    caches: parking_lot::Mutex<Vec<regex_automata::meta::Cache>>,
}

/// The most a pattern's lazy DFA may hold per search cache (see `CompiledRegex`), forward and
/// reverse DFA each. A cache holds only the states its texts needed: over the 10 M-row Sigma
/// hunt, 54 patterns with a cache per batch in flight, the peak stayed at 391 MB. This memory is
/// not counted against `--memory-limit`, like the `regex` crate's own caches elsewhere.
const LAZY_DFA_CACHE: usize = 8 << 20;

impl CompiledRegex {
    fn new(pattern: &str) -> Result<CompiledRegex> {
        let invalid = |e: regex_automata::meta::BuildError| DataFusionError::Execution(format!("invalid regular expression: {e}"));
        // A pattern that does not parse gets the error it gets from `Regex::new`.
        let Ok(hir) = regex_automata::util::syntax::parse(pattern) else {
            return Err(regex_automata::meta::Regex::new(pattern).err().map_or_else(
                || DataFusionError::Internal(format!("the pattern {pattern:?} parses as a regex alone but not here")),
                invalid,
            ));
        };
        let regex = regex_automata::meta::Builder::new()
            .configure(regex_automata::meta::Config::new().hybrid_cache_capacity(LAZY_DFA_CACHE))
            .build_from_hir(&existence_pattern(hir))
            .map_err(invalid)?;
        Ok(CompiledRegex { regex, caches: parking_lot::Mutex::new(Vec::new()) })
    }

    /// Whether the pattern matches anywhere in each text.
    fn is_match_each(&self, texts: &[&str]) -> Vec<bool> {
        let mut cache = self.caches.lock().pop().unwrap_or_else(|| self.regex.create_cache());
        let answers = texts
            .iter()
            .map(|text| self.regex.search_half_with(&mut cache, &regex_automata::Input::new(text).earliest(true)).is_some())
            .collect();
        self.caches.lock().push(cache);
        answers
    }
}

/// A pattern that matches somewhere in a text exactly when `hir` does: `hir` without the
/// repetitions of at least zero times at the two ends of its top-level sequence, and without a
/// group around the whole (groups capture, and the scan asks only whether there is a match).
///
/// Why the answer is the same: take `A B` where `A` may repeat zero times. A match of `A B`
/// holds a match of `B`; and where `B` matches, `A` matches the empty text just before it, so
/// `A B` matches there too. A look-around inside `B` (`^`, `\b`) looks at the text around
/// `B`'s own match either way. The same holds for `B A`, at the other end.
fn existence_pattern(hir: regex_syntax::hir::Hir) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{Hir, HirKind};
    let may_repeat_zero_times = |h: &Hir| matches!(h.kind(), HirKind::Repetition(r) if r.min == 0);
    match hir.kind() {
        HirKind::Capture(group) => existence_pattern(group.sub.as_ref().clone()),
        HirKind::Concat(parts) => {
            let mut end = parts.len();
            while end > 1 && may_repeat_zero_times(&parts[end - 1]) {
                end -= 1;
            }
            let start = parts[..end].iter().position(|p| !may_repeat_zero_times(p)).unwrap_or(end - 1);
            Hir::concat(parts[start..end].to_vec())
        }
        _ => hir,
    }
}

/// The equality tests of one column (or of its lowercase) as the scan starts: each test's
/// values, and its slot.
type EqualsOfColumn = (Vec<Vec<String>>, Vec<usize>);

/// The computed columns a started scan computes, ready for its batches.
pub(super) struct BatchExtender {
    /// The columns whose distinct texts the steps read (`DistinctTexts`), found once per batch.
    text_columns: Vec<usize>,
    steps: Vec<Step>,
    count: usize,
}

enum Step {
    /// The string tests of one column of the scan's batches (the `texts`-th of
    /// `text_columns`), into these slots.
    Tests {
        texts: usize,
        tests: ColumnTests,
        slots: Vec<usize>,
    },
    /// The patterns of one column (the `texts`-th of `text_columns`), each into its slot, as
    /// `regexp_like` with DataFusion's kernel (`regexp_is_match_scalar`) computes them: an empty
    /// pattern (`None`) matches everything; a null text gives null.
    Regexes {
        texts: usize,
        regexes: Vec<(Option<CompiledRegex>, usize)>,
    },
    /// The equality tests of one column (the `texts`-th of `text_columns`, or its lowercase),
    /// into these slots.
    Equals {
        texts: usize,
        tests: EqualTests,
        slots: Vec<usize>,
    },
    Evaluated {
        expr: Arc<dyn PhysicalExpr>,
        slot: usize,
    },
}

impl BatchExtender {
    /// For the computed columns `used` (in this order: slot `k` holds `used[k]`), over batches of
    /// `scan_schema`.
    pub fn new(computed: &ComputedColumns, used: &[usize], scan_schema: &SchemaRef, state: &dyn CatalogSession) -> Result<BatchExtender> {
        let mut steps = Vec::new();
        let mut tests_by_column: Vec<(usize, Vec<TestOfColumn>, Vec<usize>)> = Vec::new();
        let mut regexes_by_column: std::collections::BTreeMap<usize, Vec<(Option<CompiledRegex>, usize)>> = Default::default();
        let mut equals_by_column: std::collections::BTreeMap<(usize, bool), EqualsOfColumn> = Default::default();
        let df_schema = DFSchema::try_from(scan_schema.as_ref().clone())?;
        for (slot, &i) in used.iter().enumerate() {
            match &computed.list[i] {
                Computed::StringTest { column, test } => {
                    let column = scan_schema.index_of(column)?;
                    match tests_by_column.iter_mut().find(|(c, _, _)| *c == column) {
                        Some((_, tests, slots)) => {
                            tests.push(test.clone());
                            slots.push(slot);
                        }
                        None => tests_by_column.push((column, vec![test.clone()], vec![slot])),
                    }
                }
                Computed::Regex { column, pattern } => {
                    let regex = if pattern.is_empty() { None } else { Some(CompiledRegex::new(pattern)?) };
                    regexes_by_column.entry(scan_schema.index_of(column)?).or_default().push((regex, slot));
                }
                Computed::Equals { column, lowered, values } => {
                    let (tests, slots) = equals_by_column.entry((scan_schema.index_of(column)?, *lowered)).or_default();
                    tests.push(values.clone());
                    slots.push(slot);
                }
                Computed::Evaluated(expr) => {
                    steps.push(Step::Evaluated { expr: state.create_physical_expr(expr.clone(), &df_schema)?, slot })
                }
            }
        }
        let mut text_columns: Vec<usize> = Vec::new();
        let mut texts_of = |column: usize| match text_columns.iter().position(|&c| c == column) {
            Some(texts) => texts,
            None => {
                text_columns.push(column);
                text_columns.len() - 1
            }
        };
        for (column, tests, slots) in tests_by_column {
            steps.push(Step::Tests { texts: texts_of(column), tests: ColumnTests::new(&tests), slots });
        }
        for (column, regexes) in regexes_by_column {
            steps.push(Step::Regexes { texts: texts_of(column), regexes });
        }
        for ((column, lowered), (tests, slots)) in equals_by_column {
            steps.push(Step::Equals { texts: texts_of(column), tests: EqualTests::new(lowered, &tests), slots });
        }
        Ok(BatchExtender { text_columns, steps, count: used.len() })
    }

    /// The batch's columns followed by the computed ones.
    pub fn extend(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let mut computed: Vec<Option<ArrayRef>> = vec![None; self.count];
        let distinct: Vec<DistinctTexts> = self
            .text_columns
            .iter()
            .map(|&column| Ok(DistinctTexts::new(&StrArray::try_new(batch.column(column))?)))
            .collect::<Result<_>>()?;
        for step in &self.steps {
            match step {
                Step::Tests { texts, tests, slots } => {
                    for (slot, answer) in slots.iter().zip(tests.evaluate(&distinct[*texts])) {
                        computed[*slot] = Some(Arc::new(answer));
                    }
                }
                Step::Equals { texts, tests, slots } => {
                    for (slot, answer) in slots.iter().zip(tests.evaluate(&distinct[*texts])) {
                        computed[*slot] = Some(Arc::new(answer));
                    }
                }
                Step::Regexes { texts, regexes } => {
                    let distinct = &distinct[*texts];
                    for (regex, slot) in regexes {
                        let matched = regex.as_ref().map(|regex| regex.is_match_each(distinct.texts()));
                        let answers: BooleanArray = distinct
                            .of_row()
                            .iter()
                            .map(|&id| (id != NULL_TEXT).then(|| matched.as_ref().is_none_or(|matched| matched[id])))
                            .collect();
                        computed[*slot] = Some(Arc::new(answers));
                    }
                }
                Step::Evaluated { expr, slot } => computed[*slot] = Some(expr.evaluate(batch)?.into_array(batch.num_rows())?),
            }
        }
        let computed = computed
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| internal_datafusion_err!("a computed column of the shared scan was not computed"))?;
        Ok(batch.columns().iter().cloned().chain(computed).collect())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::functions::string::expr_fn::lower;
    use datafusion::prelude::{col, lit};

    use super::*;

    fn equals(column: &str, lowered: bool, values: &[&str]) -> Option<Computed> {
        Some(Computed::Equals { column: column.into(), lowered, values: values.iter().map(|v| v.to_string()).collect() })
    }

    /// `=~`, `in~`, `==` and `in` of a text column against texts are looked up; a negated list,
    /// a list with a null, a number column and a comparison of two columns are not.
    #[test]
    fn equality_of_a_text_column_with_texts_is_recognised() {
        let base = Schema::new(vec![Field::new("s", DataType::Utf8View, true), Field::new("n", DataType::Int64, true)]);
        let texts = |values: &[&str]| values.iter().map(|v| lit(*v)).collect::<Vec<_>>();
        assert_eq!(recognise(&lower(col("s")).eq(lit("a")), &base), equals("s", true, &["a"]));
        assert_eq!(recognise(&lit("a").eq(col("s")), &base), equals("s", false, &["a"]));
        assert_eq!(recognise(&lower(col("s")).in_list(texts(&["a", "b"]), false), &base), equals("s", true, &["a", "b"]));
        assert_eq!(recognise(&col("s").in_list(texts(&["a"]), false), &base), equals("s", false, &["a"]));
        assert_eq!(recognise(&lower(col("s")).in_list(texts(&["a"]), true), &base), None);
        assert_eq!(recognise(&col("s").in_list(vec![lit("a"), lit(ScalarValue::Utf8(None))], false), &base), None);
        assert_eq!(recognise(&col("n").eq(lit(1i64)), &base), None);
        assert_eq!(recognise(&col("s").eq(col("s")), &base), None);
        assert_eq!(recognise(&col("s").not_eq(lit("a")), &base), None);
    }

    #[test]
    fn a_pattern_is_searched_without_its_ends_that_can_match_nothing() {
        let parse = |p: &str| regex_automata::util::syntax::parse(p).unwrap();
        for (pattern, searched) in [
            (".*whoami.*>.*", "whoami.*>"),
            ("(.*who(a)mi.*)", "who(a)mi"),
            ("^.*whoami", "^.*whoami"),
            (".*one$", "one$"),
            ("x*.*", "x*"),
            ("a.*|.*b", "a.*|.*b"),
            (".+whoami.+", ".+whoami.+"),
            ("(?:.*)t(?:x{0,3})", "t"),
        ] {
            // As text: the group around `a` keeps its number (2) where `searched` numbers it 1.
            assert_eq!(existence_pattern(parse(pattern)).to_string(), parse(searched).to_string(), "{pattern}");
        }
    }

    /// Each row of a batch gets its own answers when the column's texts repeat: the patterns
    /// (an empty one included), the string tests and the equality tests of one column are
    /// decided once per distinct text, and every repeat, null or not, gets what a row-by-row
    /// reference gives.
    #[test]
    fn repeated_texts_get_the_answers_of_their_rows() {
        use arrow::array::StringArray;
        use datafusion::prelude::SessionContext;
        let texts = [Some("cmd /c whoami"), None, Some("notepad"), Some("cmd /c whoami"), Some(""), None, Some("notepad"), Some("WHOAMI")];
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(texts.to_vec()))]).unwrap();
        let patterns = ["who", "(?i)^who", "", "pad$"];
        let contains = TestOfColumn { test: Test::Contains, case_sensitive: false, needles: vec!["whoami".into()] };
        let mut list: Vec<Computed> = patterns.iter().map(|p| Computed::Regex { column: "s".into(), pattern: p.to_string() }).collect();
        list.push(Computed::StringTest { column: "s".into(), test: contains });
        list.push(Computed::Equals { column: "s".into(), lowered: true, values: vec!["notepad".into(), "whoami".into()] });
        let computed = ComputedColumns { list, index: HashMap::new(), fields: Vec::new() };
        let used: Vec<usize> = (0..computed.list.len()).collect();
        let extender = BatchExtender::new(&computed, &used, &schema, &SessionContext::new().state()).unwrap();
        let columns = extender.extend(&batch).unwrap();
        let answers = |i: usize| -> Vec<Option<bool>> { columns[1 + i].as_any().downcast_ref::<BooleanArray>().unwrap().iter().collect() };
        for (i, pattern) in patterns.iter().enumerate() {
            let reference = regex::Regex::new(pattern).unwrap();
            assert_eq!(answers(i), texts.iter().map(|t| t.map(|t| reference.is_match(t))).collect::<Vec<_>>(), "{pattern}");
        }
        let expected = [true, false, false, true, false, false, false, true];
        assert_eq!(answers(patterns.len()), expected.map(Some));
        let equal = [Some(false), None, Some(true), Some(false), Some(false), None, Some(true), Some(true)];
        assert_eq!(answers(patterns.len() + 1), equal);
    }

    /// The compiled pattern answers as `regex::Regex::is_match` does, batch after batch (its
    /// caches reused), on texts where a leftmost-first search would go on past the first match.
    #[test]
    fn a_compiled_regex_answers_as_regex_does() {
        let texts: Vec<Option<&str>> = vec![
            None,
            Some(""),
            Some("cmd.exe /c whoami > out.txt"),
            Some("-k netsvcs -p"),
            Some("\u{212A}ELVIN \u{e9}t\u{e9}"),
            Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab"),
            Some("line one\nline two"),
        ];
        let match_each = |regex: &CompiledRegex| -> Vec<Option<bool>> {
            let non_null: Vec<&str> = texts.iter().flatten().copied().collect();
            let mut matched = regex.is_match_each(&non_null).into_iter();
            texts.iter().map(|t| t.map(|_| matched.next().unwrap())).collect()
        };
        let patterns = [
            ".*whoami.*>.*",
            "^.*whoami",
            ".*one$",
            "(.*wh(o)ami.*)",
            "(?s).*e.*",
            ".*\\bone",
            "o.*?\\b",
            "x*.*",
            ".*",
            "(?:.*)t(?:x*)",
            ".+whoami.+",
            "a.*|.*b",
            "(?m)^line.*$",
            "a*\\z",
            "-k\\s\\w{1,64}(?:\\s?(?:-p|-s))?",
            "(?i)kelvin",
            "\\w+\\s\\w+",
            "^$",
            "a*",
            "(a|aa)*b$",
            "one$",
            "(?m)one$",
            "x?",
        ];
        for pattern in patterns {
            let compiled = CompiledRegex::new(pattern).unwrap();
            let reference = regex::Regex::new(pattern).unwrap();
            let expected: Vec<Option<bool>> = texts.iter().map(|t| t.map(|t| reference.is_match(t))).collect();
            for _ in 0..2 {
                let got: Vec<Option<bool>> = match_each(&compiled);
                assert_eq!(got, expected, "{pattern}");
            }
        }
        assert_eq!(
            match_each(&CompiledRegex::new("-k\\s\\w").unwrap()),
            [None, Some(false), Some(false), Some(true), Some(false), Some(false), Some(false)]
        );
    }
}
