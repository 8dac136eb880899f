//! Constructs that kql gets wrong today. The default (CI) run avoids each one so that it
//! passes. `KQL_METAMORPHIC_KNOWN_BUGS=all` generates them all again, and a comma-separated
//! list of names (`integer_division_by_zero,null_operands_of_and_or`) some of them, to check a fix.
//!
//! KNOWN BUG switches: when a bug is fixed, delete its field (and the `if` that reads it).

#[derive(Clone, Copy, Debug)]
pub struct KnownBugs {
    /// KNOWN BUG: an integer `/` or `%` whose divisor is 0 fails the whole query with
    /// "Divide by zero error"; DESIGN.md (and Kusto) give null for that row.
    /// `print x = 0 | extend y = 5 / x`
    pub avoid_integer_division_by_zero: bool,
    /// KNOWN BUG: `and`/`or` with a null operand give null; in Kusto a null operand counts as
    /// false and the result is never null (logical-operators.md: `bool(null) and true` is
    /// false). `print isnull(bool(null) and true)` is true in kql, false in Kusto, so TLP's
    /// `isnull(p)` and `not(p)` both keep such a row. Avoided by wrapping each operand in
    /// `coalesce(x, false)`, which is what Kusto does to it.
    pub avoid_null_operands_of_and_or: bool,
    /// KNOWN BUG (DataFusion's, reached only with the logical optimizer off):
    /// `sort by x | take 0` panics with "assertion failed: k > 0" in DataFusion's TopK, after
    /// the physical limit pushdown gives the sort a fetch of 0. With the optimizer on, `take 0`
    /// becomes an empty relation first.
    pub avoid_take_zero_after_sort: bool,
}

impl KnownBugs {
    /// Avoid every known bug but those `KQL_METAMORPHIC_KNOWN_BUGS` names (`all` or `1`: none).
    pub fn from_env() -> KnownBugs {
        let wanted = std::env::var("KQL_METAMORPHIC_KNOWN_BUGS").unwrap_or_default();
        let avoid = |name: &str| !wanted.split(',').any(|w| matches!(w.trim(), "all" | "1") || w.trim() == name);
        KnownBugs {
            avoid_integer_division_by_zero: avoid("integer_division_by_zero"),
            avoid_null_operands_of_and_or: avoid("null_operands_of_and_or"),
            avoid_take_zero_after_sort: avoid("take_zero_after_sort"),
        }
    }
}
