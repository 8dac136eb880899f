//! The function catalog (`engine/src/functions/catalog.txt`) and the planner agree: every
//! function the catalog lists plans with its fewest and its most arguments, and one argument
//! fewer or more gives the catalog's arity error, at the call.

use kql_engine::functions::catalog::{self, FunctionDef, FunctionKind, Param};
use kql_engine::{Session, SessionOptions};

/// A constant of the parameter's type.
fn argument(param: &Param) -> &'static str {
    match param.kind {
        "string" => "\"a\"",
        "long" | "int" | "number" | "scalar" => "1",
        "real" => "1.5",
        "bool" | "predicate" => "true",
        "datetime" => "datetime(2024-01-01)",
        "timespan" => "1h",
        "dynamic" => "dynamic([1, 2])",
        "decimal" => "decimal(1)",
        "guid" => "guid(74be27de-1e4e-49d9-b579-fe0b331d3642)",
        "type" => "typeof(long)",
        "table" => "(T | project x)",
        "column" => "x",
        other => panic!("no sample argument of type {other}"),
    }
}

/// `n` arguments for `def`: its parameters in order, the last repeated.
fn arguments(def: &FunctionDef, n: usize) -> String {
    let fallback = Param { name: "x", kind: "scalar", optional: false };
    (0..n).map(|i| argument(def.params.get(i).or(def.params.last()).unwrap_or(&fallback))).collect::<Vec<_>>().join(", ")
}

/// A query calling `def` with `n` arguments where its kind may stand.
fn query(def: &FunctionDef, n: usize) -> String {
    let call = format!("{}({})", def.name, arguments(def, n));
    let table = "let T = datatable(x: long, s: string)[1, 'a', 2, 'b'];\n";
    match def.kind {
        FunctionKind::Scalar => format!("{table}T | extend r = {call}"),
        FunctionKind::Window => format!("{table}T | serialize | extend r = {call}"),
        FunctionKind::Aggregate => format!("{table}T | summarize r = {call}"),
        FunctionKind::Tuple => format!("{table}T | extend {call}"),
        FunctionKind::Plugin => format!("{table}T | evaluate {call}"),
    }
}

fn plan_error(session: &Session, text: &str) -> Option<(String, usize)> {
    match session.plan(text) {
        Ok(_) => None,
        // Operators whose output depends on the data need it to plan, which is no arity matter.
        Err(e) if e.kind == kql_engine::ErrorKind::NeedsData => None,
        Err(e) => Some((e.message.clone(), e.span.map_or(0, |s| s.start))),
    }
}

#[test]
fn every_catalog_function_plans_with_the_arity_the_catalog_gives() {
    let session = Session::new(SessionOptions::default()).expect("session");
    let mut wrong = Vec::new();
    let defs = catalog::catalog().iter().filter(|d| d.kind != FunctionKind::Plugin);
    for def in defs {
        // The fewest arguments and the most (a repeated parameter: two more than the fixed ones).
        let most = if def.max == usize::MAX { def.params.len() + 2 } else { def.max };
        for n in [def.min, most] {
            let text = query(def, n);
            if let Some((message, _)) = plan_error(&session, &text) {
                let arity = message.contains(&format!("{}() takes", def.name)) && message.contains("argument");
                let unknown =
                    message.contains("unknown function") || message.contains("internal error") || message.contains("is not an aggregation");
                if arity || unknown {
                    wrong.push(format!("{text}\n  -> {message}"));
                }
            }
        }
        // One argument too few or too many: the catalog's error, at the call.
        let outside = [def.min.checked_sub(1), (def.max != usize::MAX).then(|| def.max + 1)];
        for n in outside.into_iter().flatten() {
            let text = query(def, n);
            let at = text.find(&format!("{}(", def.name)).expect("the call is in the query");
            match plan_error(&session, &text) {
                Some((message, start)) if message == def.arity_message(n) && start == at => {}
                other => wrong.push(format!("{text}\n  -> {other:?}, expected {:?} at {at}", def.arity_message(n))),
            }
        }
    }
    assert!(wrong.is_empty(), "{} calls disagree with the catalog:\n{}", wrong.len(), wrong.join("\n"));
}

/// The catalog's result type is the type the planner gives the call (with constant
/// arguments of the parameters' types), where the catalog names one.
#[test]
fn every_catalog_result_type_is_the_planned_type() {
    let session = Session::new(SessionOptions::default()).expect("session");
    let concrete = ["string", "long", "int", "real", "bool", "datetime", "timespan", "dynamic", "decimal", "guid"];
    let (mut wrong, mut checked) = (Vec::new(), 0);
    for def in catalog::catalog().iter().filter(|d| matches!(d.kind, FunctionKind::Scalar | FunctionKind::Aggregate)) {
        if !concrete.contains(&def.result) {
            continue;
        }
        let text = query(def, def.min);
        let Ok(planned) = session.plan(&text) else { continue };
        let schema = planned[0].plan.schema();
        let Ok(field) = schema.field_with_unqualified_name("r") else { continue };
        let got = kql_engine::types::kql_type_name(field);
        checked += 1;
        if got != def.result {
            wrong.push(format!("{}: catalog {}, planned {got}", def.name, def.result));
        }
    }
    assert!(wrong.is_empty(), "{} result types disagree:\n{}", wrong.len(), wrong.join("\n"));
    // Most calls plan with constant arguments; a change that stopped that would check nothing.
    assert!(checked > 250, "only {checked} result types were checked");
}

#[test]
fn a_function_outside_the_catalog_is_unknown_and_kinds_stand_where_they_may() {
    let session = Session::new(SessionOptions::default()).expect("session");
    let error = |text: &str| plan_error(&session, text).map(|(m, _)| m);
    assert_eq!(error("print strlenn('a')"), Some("unknown function 'strlenn'".to_string()));
    assert_eq!(error("print count()"), Some("aggregate function count() is only allowed in summarize".to_string()));
    assert_eq!(
        error("print r = 1 + series_stats(dynamic([1]))"),
        Some("series_stats() gives several columns: use it as a whole extend or project item".to_string())
    );
    assert_eq!(error("print x = 1 | summarize hll_if(x)"), Some("hll_if() takes 2 to 3 arguments, got 1".to_string()));
}

#[test]
fn completion_lists_come_from_the_catalog() {
    let names = kql_engine::planner::supported_functions();
    assert!(names.contains(&"strlen") && names.contains(&"make_list") && names.contains(&"row_number"));
    assert!(!names.contains(&"pivot"), "plugins are not functions of expressions");
    assert_eq!(
        names.len(),
        catalog::catalog()
            .iter()
            .filter(|d| d.kind != FunctionKind::Plugin)
            .map(|d| d.name)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
}
