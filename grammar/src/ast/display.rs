//! `Display` prints KQL that parses back to the same AST.

use std::fmt::{self, Display, Formatter, Write};

use super::*;
use crate::parser::quote_string;
use crate::values::{format_datetime, timespan_literal};

fn comma_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// Writes a name bare when it reads back as the same identifier, else as `['name']`.
pub fn write_name(f: &mut impl Write, name: &str) -> fmt::Result {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !matches!(name.to_ascii_lowercase().as_str(), "and" | "or" | "by" | "true" | "false");
    if plain { f.write_str(name) } else { write!(f, "[{}]", quote_string(name)) }
}

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_name(f, &self.name)
    }
}

impl Display for Script {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, s) in self.statements.iter().enumerate() {
            if i > 0 {
                f.write_str(";\n")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Let(l) => write!(f, "{l}"),
            Statement::CreateFunction { name, function, .. } => write!(f, ".create-or-alter function {name}{function}"),
            Statement::CreateTable { name, columns, merge, .. } => {
                write!(f, ".{} table {name} (", if *merge { "create-merge" } else { "create" })?;
                comma_list(f, columns)?;
                f.write_str(")")
            }
            Statement::Set { name, value, .. } => {
                write!(f, "set {name}")?;
                if let Some(v) = value {
                    write!(f, " = {v}")?;
                }
                Ok(())
            }
            Statement::DeclareParams { params, .. } => {
                f.write_str("declare query_parameters(")?;
                comma_list(f, params)?;
                f.write_str(")")
            }
            Statement::Query(q) => write!(f, "{q}"),
        }
    }
}

impl Display for LetStmt {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.value {
            LetValue::Function(func) => write!(f, "let {} = {func}", self.name),
            LetValue::Expr(e) => write!(f, "let {} = {e}", self.name),
        }
    }
}

impl Display for FunctionDef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        comma_list(f, &self.params)?;
        f.write_str(") { ")?;
        for l in &self.body.lets {
            write!(f, "{l}; ")?;
        }
        write!(f, "{} }}", self.body.result)
    }
}

impl Display for Param {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.name)?;
        match &self.ty {
            ParamType::Scalar(t) => f.write_str(t.as_str())?,
            ParamType::Tabular { columns, open } => {
                f.write_str("(")?;
                comma_list(f, columns)?;
                if *open {
                    f.write_str(if columns.is_empty() { "*" } else { ", *" })?;
                }
                f.write_str(")")?;
            }
        }
        if let Some(d) = &self.default {
            write!(f, " = {d}")?;
        }
        Ok(())
    }
}

impl Display for ColumnDecl {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.ty.as_str())
    }
}

impl Display for PipeExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        for op in &self.operators {
            write!(f, "\n| {op}")?;
        }
        Ok(())
    }
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Source::Expr(e) => write!(f, "{e}"),
            Source::Datatable { columns, values, .. } => {
                f.write_str("datatable(")?;
                comma_list(f, columns)?;
                f.write_str(") [")?;
                comma_list(f, values)?;
                f.write_str("]")
            }
            Source::Range { column, from, to, step, .. } => write!(f, "range {column} from {from} to {to} step {step}"),
            Source::Print { columns, .. } => {
                f.write_str("print")?;
                if !columns.is_empty() {
                    f.write_str(" ")?;
                    comma_list(f, columns)?;
                }
                Ok(())
            }
            Source::Union { params, tables, .. } => {
                f.write_str("union")?;
                write_params(f, params)?;
                f.write_str(" ")?;
                comma_list(f, tables)
            }
            Source::Search { params, tables, predicate, .. } => write_search(f, params, tables, predicate),
            Source::Find { params, tables, predicate, project, .. } => {
                f.write_str("find")?;
                write_params(f, params)?;
                if !tables.is_empty() {
                    f.write_str(" in (")?;
                    comma_list(f, tables)?;
                    f.write_str(")")?;
                }
                write!(f, " where {predicate}")?;
                match project {
                    Some(cols) if cols.is_empty() => f.write_str(" project-smart"),
                    Some(cols) => {
                        f.write_str(" project ")?;
                        comma_list(f, cols)
                    }
                    None => Ok(()),
                }
            }
            Source::ExternalData { columns, urls, settings, .. } => {
                f.write_str("externaldata(")?;
                comma_list(f, columns)?;
                f.write_str(") [")?;
                for (i, u) in urls.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&quote_string(u))?;
                }
                f.write_str("]")?;
                if !settings.is_empty() {
                    f.write_str(" with (")?;
                    write_settings(f, settings)?;
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

impl Display for NamedExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.names.as_slice() {
            [] => {}
            [one] => write!(f, "{one} = ")?,
            many => {
                f.write_str("(")?;
                comma_list(f, many)?;
                f.write_str(") = ")?;
            }
        }
        write!(f, "{}", self.expr)
    }
}

impl Display for SortKey {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        match self.order {
            Some(SortOrder::Asc) => f.write_str(" asc")?,
            Some(SortOrder::Desc) => f.write_str(" desc")?,
            None => {}
        }
        match self.nulls {
            Some(NullsOrder::First) => f.write_str(" nulls first"),
            Some(NullsOrder::Last) => f.write_str(" nulls last"),
            None => Ok(()),
        }
    }
}

impl Display for OperatorParam {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

impl Display for ColumnPattern {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.pattern.contains('*') { f.write_str(&self.pattern) } else { write_name(f, &self.pattern) }
    }
}

impl Display for Operator {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let kw = self.kind.keyword();
        match &self.kind {
            OperatorKind::Where(e) => write!(f, "where {e}"),
            OperatorKind::Take(e) => write!(f, "take {e}"),
            OperatorKind::Project(list) | OperatorKind::Extend(list) => {
                write!(f, "{kw} ")?;
                comma_list(f, list)
            }
            OperatorKind::Serialize(list) => {
                f.write_str("serialize")?;
                if !list.is_empty() {
                    f.write_str(" ")?;
                    comma_list(f, list)?;
                }
                Ok(())
            }
            OperatorKind::ProjectByNames(list) => {
                f.write_str("project-by-names ")?;
                comma_list(f, list)
            }
            OperatorKind::ProjectAway(list) | OperatorKind::ProjectKeep(list) => {
                write!(f, "{kw} ")?;
                comma_list(f, list)
            }
            OperatorKind::ProjectReorder(list) => {
                f.write_str("project-reorder ")?;
                for (i, (p, dir)) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{p}")?;
                    match dir {
                        Some(SortOrder::Asc) => f.write_str(" asc")?,
                        Some(SortOrder::Desc) => f.write_str(" desc")?,
                        None => {}
                    }
                }
                Ok(())
            }
            OperatorKind::ProjectRename(list) => {
                f.write_str("project-rename ")?;
                for (i, (new, old)) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{new} = {old}")?;
                }
                Ok(())
            }
            OperatorKind::Summarize { params, aggregates, by } => {
                f.write_str("summarize")?;
                for p in params {
                    write!(f, " {p}")?;
                }
                if !aggregates.is_empty() {
                    f.write_str(" ")?;
                    comma_list(f, aggregates)?;
                }
                if !by.is_empty() {
                    f.write_str(" by ")?;
                    comma_list(f, by)?;
                }
                Ok(())
            }
            OperatorKind::Sort(keys) => {
                f.write_str("sort by ")?;
                comma_list(f, keys)
            }
            OperatorKind::Top { count, key } => write!(f, "top {count} by {key}"),
            OperatorKind::Count { name } => match name {
                Some(n) => write!(f, "count as {n}"),
                None => f.write_str("count"),
            },
            OperatorKind::Distinct(list) => {
                if list.is_empty() {
                    f.write_str("distinct *")
                } else {
                    f.write_str("distinct ")?;
                    comma_list(f, list)
                }
            }
            OperatorKind::GetSchema => f.write_str("getschema"),
            OperatorKind::As { params, name } => {
                f.write_str("as")?;
                for p in params {
                    write!(f, " {p}")?;
                }
                write!(f, " {name}")
            }
            OperatorKind::Join { params, right, on } | OperatorKind::Lookup { params, right, on } => {
                f.write_str(kw)?;
                write_params(f, params)?;
                write!(f, " ({right})")?;
                if !on.is_empty() {
                    f.write_str(" on ")?;
                    comma_list(f, on)?;
                }
                Ok(())
            }
            OperatorKind::Union { params, tables } => {
                f.write_str("union")?;
                write_params(f, params)?;
                f.write_str(" ")?;
                comma_list(f, tables)
            }
            OperatorKind::Search { params, tables, predicate } => write_search(f, params, tables, predicate),
            OperatorKind::MvExpand { params, items, limit } | OperatorKind::MvApply { params, items, limit, .. } => {
                f.write_str(kw)?;
                write_params(f, params)?;
                f.write_str(" ")?;
                comma_list(f, items)?;
                if let Some(l) = limit {
                    write!(f, " limit {l}")?;
                }
                if let OperatorKind::MvApply { body, .. } = &self.kind {
                    f.write_str(" on (")?;
                    for (i, op) in body.iter().enumerate() {
                        if i > 0 {
                            f.write_str(" | ")?;
                        }
                        write!(f, "{op}")?;
                    }
                    f.write_str(")")?;
                }
                Ok(())
            }
            OperatorKind::Parse { params, source, pattern, .. } => {
                f.write_str(kw)?;
                write_params(f, params)?;
                write!(f, " {source} with")?;
                for item in pattern {
                    match item {
                        ParseItem::Star => f.write_str(" *")?,
                        ParseItem::Literal(s) => write!(f, " {}", quote_string(s))?,
                        ParseItem::Column { name, ty } => {
                            write!(f, " {name}")?;
                            if let Some(t) = ty {
                                write!(f, ":{}", t.as_str())?;
                            }
                        }
                    }
                }
                Ok(())
            }
            OperatorKind::MakeGraph { source, target, nodes, params } => {
                write!(f, "make-graph {source} --> {target}")?;
                for (i, (table, key)) in nodes.iter().enumerate() {
                    write!(f, "{} ({table}) on {key}", if i == 0 { " with" } else { "," })?;
                }
                write_params(f, params)
            }
            OperatorKind::GraphMatch { shortest, params, patterns, filter, project } => {
                f.write_str(if *shortest { "graph-shortest-paths" } else { "graph-match" })?;
                write_params(f, params)?;
                f.write_str(" ")?;
                comma_list(f, patterns)?;
                if let Some(w) = filter {
                    write!(f, " where {w}")?;
                }
                f.write_str(" project ")?;
                comma_list(f, project)
            }
            OperatorKind::GraphMarkComponents { params } => {
                f.write_str("graph-mark-components")?;
                write_params(f, params)
            }
            OperatorKind::GraphToTable { edges, params } => {
                f.write_str(if *edges { "graph-to-table edges" } else { "graph-to-table nodes" })?;
                write_params(f, params)
            }
            OperatorKind::Partition { params, by, body } => {
                f.write_str("partition")?;
                write_params(f, params)?;
                write!(f, " by {by} (")?;
                for (i, op) in body.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{op}")?;
                }
                f.write_str(")")
            }
            OperatorKind::Scan { params, declare, steps } => {
                f.write_str("scan")?;
                write_params(f, params)?;
                if !declare.is_empty() {
                    f.write_str(" declare (")?;
                    for (i, c) in declare.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{}", c.decl)?;
                        if let Some(d) = &c.default {
                            write!(f, " = {d}")?;
                        }
                    }
                    f.write_str(")")?;
                }
                f.write_str(" with (")?;
                for s in steps {
                    write!(f, " step {}", s.name)?;
                    match s.output {
                        ScanOutput::All => {}
                        ScanOutput::Last => f.write_str(" output=last")?,
                        ScanOutput::None => f.write_str(" output=none")?,
                    }
                    write!(f, ": {}", s.condition)?;
                    for (i, (c, v)) in s.assignments.iter().enumerate() {
                        write!(f, "{} {c} = {v}", if i == 0 { " =>" } else { "," })?;
                    }
                    f.write_str(";")?;
                }
                f.write_str(" )")
            }
            OperatorKind::ParseKv { source, columns, settings } => {
                write!(f, "parse-kv {source} as (")?;
                comma_list(f, columns)?;
                f.write_str(")")?;
                if !settings.is_empty() {
                    f.write_str(" with (")?;
                    write_settings(f, settings)?;
                    f.write_str(")")?;
                }
                Ok(())
            }
            OperatorKind::MakeSeries { params, aggregates, axis, range, by } => {
                f.write_str("make-series")?;
                write_params(f, params)?;
                for (i, a) in aggregates.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { ", " })?;
                    write!(f, "{}", a.aggregate)?;
                    if let Some(d) = &a.default {
                        write!(f, " default = {d}")?;
                    }
                }
                write!(f, " on {axis}")?;
                match range {
                    SeriesRange::FromTo { from, to, step } => {
                        if let Some(e) = from {
                            write!(f, " from {e}")?;
                        }
                        if let Some(e) = to {
                            write!(f, " to {e}")?;
                        }
                        write!(f, " step {step}")?;
                    }
                    SeriesRange::InRange { start, stop, step } => write!(f, " in range({start}, {stop}, {step})")?,
                }
                if !by.is_empty() {
                    f.write_str(" by ")?;
                    comma_list(f, by)?;
                }
                Ok(())
            }
            OperatorKind::TopNested(levels) => {
                for (i, l) in levels.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str("top-nested")?;
                    if let Some(c) = &l.count {
                        write!(f, " {c}")?;
                    }
                    write!(f, " of {}", l.of)?;
                    if let Some(o) = &l.others {
                        write!(f, " with others = {o}")?;
                    }
                    write!(f, " by {}", l.by)?;
                    match l.order {
                        Some(SortOrder::Asc) => f.write_str(" asc")?,
                        Some(SortOrder::Desc) => f.write_str(" desc")?,
                        None => {}
                    }
                }
                Ok(())
            }
            OperatorKind::Evaluate { params, plugin } => {
                f.write_str("evaluate")?;
                write_params(f, params)?;
                write!(f, " {plugin}")
            }
            OperatorKind::Invoke(call) => write!(f, "invoke {call}"),
            OperatorKind::Render { chart, properties } => {
                write!(f, "render {chart}")?;
                if !properties.is_empty() {
                    f.write_str(" with (")?;
                    for (i, (name, values)) in properties.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{name} = ")?;
                        comma_list(f, values)?;
                    }
                    f.write_str(")")?;
                }
                Ok(())
            }
            OperatorKind::Sample(n) => write!(f, "sample {n}"),
            OperatorKind::SampleDistinct { count, column } => write!(f, "sample-distinct {count} of {column}"),
            OperatorKind::Unsupported { keyword, text } => {
                if text.is_empty() {
                    f.write_str(keyword)
                } else {
                    write!(f, "{keyword} {text}")
                }
            }
        }
    }
}

fn write_params(f: &mut Formatter<'_>, params: &[OperatorParam]) -> fmt::Result {
    for p in params {
        write!(f, " {p}")?;
    }
    Ok(())
}

fn write_settings(f: &mut Formatter<'_>, settings: &[(Ident, Expr)]) -> fmt::Result {
    for (i, (n, v)) in settings.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{n} = {v}")?;
    }
    Ok(())
}

fn write_search(f: &mut Formatter<'_>, params: &[OperatorParam], tables: &[UnionItem], predicate: &Expr) -> fmt::Result {
    f.write_str("search")?;
    write_params(f, params)?;
    if !tables.is_empty() {
        f.write_str(" in (")?;
        comma_list(f, tables)?;
        f.write_str(")")?;
    }
    write!(f, " {predicate}")
}

impl Display for UnionItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            UnionItem::Pattern { pattern, .. } => f.write_str(pattern),
            UnionItem::Table(p) => match (&p.source, p.operators.is_empty()) {
                (Source::Expr(e), true) if matches!(e.kind, ExprKind::Name(_) | ExprKind::Call { .. }) => write!(f, "{e}"),
                _ => write!(f, "({p})"),
            },
        }
    }
}

impl Display for MvItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.column)?;
        if let Some(t) = self.to_type {
            write!(f, " to typeof({})", t.as_str())?;
        }
        Ok(())
    }
}

/// Precedence of an expression as an operand: atoms bind tightest.
fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::In { .. } | ExprKind::Between { .. } | ExprKind::HasSet { .. } => 3,
        ExprKind::Unary { .. } => 6,
        ExprKind::Literal(Literal::Long(v)) if *v < 0 => 6,
        ExprKind::Literal(Literal::Real(v)) if *v < 0.0 => 6,
        _ => 7,
    }
}

fn write_operand(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if precedence(e) < min { write!(f, "({e})") } else { write!(f, "{e}") }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(l) => write!(f, "{l}"),
            ExprKind::Name(n) => write_name(f, n),
            ExprKind::Star => f.write_str("*"),
            ExprKind::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(n) = &a.name {
                        write!(f, "{n} = ")?;
                    }
                    write!(f, "{}", a.value)?;
                }
                f.write_str(")")
            }
            ExprKind::Unary { op, operand } => {
                f.write_str(if *op == UnaryOp::Neg { "-" } else { "+" })?;
                write_operand(f, operand, 6)
            }
            ExprKind::Binary { op, left, right } => {
                let p = op.precedence();
                write_operand(f, left, p)?;
                write!(f, " {} ", op.token())?;
                write_operand(f, right, p + 1)
            }
            ExprKind::In { expr, negated, case_insensitive, list } => {
                write_operand(f, expr, 4)?;
                let token = format!("{}in{}", if *negated { "!" } else { "" }, if *case_insensitive { "~" } else { "" });
                write!(f, " {token} (")?;
                comma_list(f, list)?;
                f.write_str(")")
            }
            ExprKind::Between { expr, negated, low, high } => {
                write_operand(f, expr, 4)?;
                write!(f, " {}between ({low} .. {high})", if *negated { "!" } else { "" })
            }
            ExprKind::HasSet { expr, all, list } => {
                write_operand(f, expr, 4)?;
                write!(f, " {} (", if *all { "has_all" } else { "has_any" })?;
                comma_list(f, list)?;
                f.write_str(")")
            }
            ExprKind::Member { expr, name } => {
                write_operand(f, expr, 7)?;
                f.write_str(".")?;
                write_name(f, name)
            }
            ExprKind::Index { expr, index } => {
                write_operand(f, expr, 7)?;
                write!(f, "[{index}]")
            }
            ExprKind::Subquery(p) => write!(f, "({p})"),
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Long(v) if *v < 0 => write!(f, "long({v})"),
            Literal::Long(v) => write!(f, "{v}"),
            Literal::Int(v) => write!(f, "int({v})"),
            Literal::Real(v) if v.is_nan() => write!(f, "real(nan)"),
            Literal::Real(v) if v.is_infinite() => write!(f, "real({}inf)", if *v < 0.0 { "-" } else { "+" }),
            Literal::Real(v) if *v < 0.0 => write!(f, "real({v:?})"),
            Literal::Real(v) => write!(f, "{v:?}"),
            Literal::String(s) => f.write_str(&quote_string(s)),
            Literal::DateTime(ns) => write!(f, "datetime({})", format_datetime(*ns)),
            Literal::TimeSpan(ns) => f.write_str(&timespan_literal(*ns)),
            Literal::Guid(g) => write!(f, "guid({g})"),
            Literal::Decimal(d) => write!(f, "decimal({d})"),
            Literal::Dynamic(d) => write!(f, "dynamic({d})"),
            Literal::Null(t) => write!(f, "{}(null)", t.as_str()),
        }
    }
}

impl Display for DynValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DynValue::Null => f.write_str("null"),
            DynValue::Bool(b) => write!(f, "{b}"),
            DynValue::Long(v) => write!(f, "{v}"),
            DynValue::Real(v) => write!(f, "{v:?}"),
            DynValue::String(s) => f.write_str(&quote_string(s)),
            DynValue::DateTime(ns) => write!(f, "datetime({})", format_datetime(*ns)),
            DynValue::TimeSpan(ns) => write!(f, "time({})", crate::values::format_timespan(*ns)),
            DynValue::Array(items) => {
                f.write_str("[")?;
                comma_list(f, items)?;
                f.write_str("]")
            }
            DynValue::Object(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {v}", quote_string(k))?;
                }
                f.write_str("}")
            }
        }
    }
}

impl Display for GraphPattern {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let node = |f: &mut Formatter<'_>, n: &Option<Ident>| match n {
            Some(n) => write!(f, "({n})"),
            None => f.write_str("()"),
        };
        for (i, n) in self.nodes.iter().enumerate() {
            node(f, n)?;
            if let Some(e) = self.edges.get(i) {
                f.write_str(if e.direction == EdgeDirection::Backward { "<-[" } else { "-[" })?;
                if let Some(name) = &e.name {
                    write!(f, "{name}")?;
                }
                match e.range {
                    Some((a, b)) if a == b => write!(f, "*{a}")?,
                    Some((a, b)) => write!(f, "*{a}..{b}")?,
                    None => {}
                }
                f.write_str(if e.direction == EdgeDirection::Forward { "]->" } else { "]-" })?;
            }
        }
        Ok(())
    }
}
