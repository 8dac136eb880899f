//! The session's function registry: every scalar UDF kql plans with, registered under its own
//! `kql_` name. A plan that is encoded (datafusion-proto: the round-trip tests, a cluster's
//! executors) names its functions, and the decoder looks them up in the receiving session by
//! that name alone. So every kql function is registered there, and none shares a name with a
//! DataFusion function (`replace`, `reverse`, `round`, `substring` ... would otherwise decode to
//! DataFusion's own, with other semantics). kql's aggregates are DataFusion's built-ins, which
//! every session has, except `kql_arg_max`/`kql_arg_min` (`aggregate_udfs`); its window
//! functions are DataFusion's too.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::SessionState;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

/// Every scalar UDF kql's plans may hold.
pub fn scalar_udfs() -> Vec<Arc<ScalarUDF>> {
    let mut all: Vec<Arc<ScalarUDF>> = super::udfs().all().into_iter().cloned().collect();
    let mut row_wise: Vec<&Arc<ScalarUDF>> = super::library::library().values().map(|def| &def.udf).collect();
    // The library is a hash map: a fixed order keeps registration reproducible.
    row_wise.sort_by(|a, b| a.name().cmp(b.name()));
    all.extend(row_wise.into_iter().cloned());
    all.push(super::special::assert_udf().clone());
    all.push(super::special::field_metadata_udf().clone());
    all.push(super::file_types::file_value_udf().clone());
    all.push(super::file_types::interval_span_udf().clone());
    all.push(super::coalesce::coalesce_udf().clone());
    all.push(crate::declared::declared_udf().clone());
    all.extend(crate::planner::window::markers().into_iter().cloned());
    all
}

/// kql's own aggregates.
pub fn aggregate_udfs() -> Vec<Arc<AggregateUDF>> {
    vec![
        super::arg_extreme::arg_max(),
        super::arg_extreme::arg_min(),
        super::collect::collect(),
        super::bag::make_bag(),
        super::tdigest::tdigest(),
        super::tdigest::tdigest_merge(),
    ]
}

/// The functions by name, for a decoder's fallback lookup.
pub fn by_name() -> &'static HashMap<String, Arc<ScalarUDF>> {
    static BY_NAME: std::sync::OnceLock<HashMap<String, Arc<ScalarUDF>>> = std::sync::OnceLock::new();
    BY_NAME.get_or_init(|| scalar_udfs().into_iter().map(|udf| (udf.name().to_string(), udf)).collect())
}

/// Registers every kql function in `state`.
pub fn register(state: &mut SessionState) -> Result<()> {
    for udf in scalar_udfs() {
        state.register_udf(udf)?;
    }
    for udaf in aggregate_udfs() {
        state.register_udaf(udaf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kql function named like a DataFusion one would decode to DataFusion's.
    #[test]
    fn every_function_has_a_kql_name_of_its_own() {
        let datafusion = datafusion::execution::SessionStateBuilder::new().with_default_features().build();
        let mut seen = std::collections::HashSet::new();
        for udf in scalar_udfs() {
            let name = udf.name();
            assert!(name.starts_with("kql_"), "{name} lacks the kql_ prefix");
            assert!(seen.insert(name.to_string()), "{name} is registered twice");
            assert!(!datafusion.scalar_functions().contains_key(name), "{name} is also a DataFusion function");
            assert!(!datafusion.aggregate_functions().contains_key(name), "{name} is also a DataFusion aggregate");
            for alias in udf.aliases() {
                assert!(!datafusion.scalar_functions().contains_key(alias), "{name}'s alias {alias} is a DataFusion function");
            }
        }
        for udaf in aggregate_udfs() {
            let name = udaf.name();
            assert!(name.starts_with("kql_") && seen.insert(name.to_string()), "{name}");
            assert!(!datafusion.aggregate_functions().contains_key(name), "{name} is also a DataFusion aggregate");
        }
        // The row-wise library, the vectorised functions and the helpers are all there.
        for name in ["kql_replace_string", "kql_substring", "kql_reverse", "kql_tostring", "kql_assert", "kql_serial_shift"] {
            assert!(seen.contains(name), "{name} is missing");
        }
    }

    #[test]
    fn a_session_resolves_kql_names_to_kql_functions() {
        let mut state = datafusion::execution::SessionStateBuilder::new().with_default_features().build();
        register(&mut state).expect("registers");
        let udf = state.udf("kql_reverse").expect("registered");
        assert_eq!(udf.name(), "kql_reverse");
        assert_eq!(state.udaf("kql_arg_max").expect("registered").name(), "kql_arg_max");
        // DataFusion's own `reverse` stays what it was.
        assert_eq!(state.udf("reverse").expect("built in").inner().type_id(), datafusion::functions::unicode::reverse().inner().type_id());
    }
}
