//! Statements, tabular sources and operators.

use pest::iterators::Pair;

use super::expr::build_expr;
use super::literal::build_literal;
use super::{Result, Rule, ident, span_of};
use crate::ast::*;
use crate::error::ParseError;

fn malformed(pair: &Pair<Rule>) -> ParseError {
    let s = span_of(pair);
    ParseError::new(format!("malformed {:?}", pair.as_rule()), s.start, s.end)
}

pub(crate) fn build_script(pair: Pair<Rule>) -> Result<Script> {
    let mut statements = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::EOI => {}
            _ => statements.push(build_statement(p)?),
        }
    }
    Ok(Script { statements })
}

fn build_statement(pair: Pair<Rule>) -> Result<Statement> {
    let span = span_of(&pair);
    Ok(match pair.as_rule() {
        Rule::let_stmt => Statement::Let(build_let(pair)?),
        Rule::create_function => {
            let mut name = None;
            let mut function = None;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::ident => name = Some(ident(p)),
                    Rule::function_def => function = Some(build_function(p)?),
                    _ => {}
                }
            }
            match (name, function) {
                (Some(name), Some(function)) => Statement::CreateFunction { name, function, span },
                _ => return Err(ParseError::new("malformed .create function", span.start, span.end)),
            }
        }
        Rule::create_table => {
            let mut name = None;
            let mut columns = Vec::new();
            let mut merge = false;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::create_table_verb => merge = p.as_str().ends_with("-merge"),
                    Rule::ident => name = Some(ident(p)),
                    Rule::column_decl => columns.push(build_column_decl(p)?),
                    _ => {}
                }
            }
            match name {
                Some(name) => Statement::CreateTable { name, columns, merge, span },
                None => return Err(ParseError::new("malformed .create table", span.start, span.end)),
            }
        }
        Rule::set_stmt => {
            let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_set);
            let name = inner.next().map(|p| p.as_str().to_string()).unwrap_or_default();
            let value = match inner.next() {
                Some(v) => Some(option_value(v)?),
                None => None,
            };
            Statement::Set { name, value, span }
        }
        Rule::declare_params => {
            let params = pair.into_inner().filter(|p| p.as_rule() == Rule::param).map(build_param).collect::<Result<_>>()?;
            Statement::DeclareParams { params, span }
        }
        Rule::pipe_expr => Statement::Query(build_pipe(pair)?),
        _ => return Err(malformed(&pair)),
    })
}

fn option_value(pair: Pair<Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let inner = pair.into_inner().next().ok_or_else(|| ParseError::new("missing value", span.start, span.end))?;
    let kind = match inner.as_rule() {
        Rule::ident => ExprKind::Name(inner.as_str().to_string()),
        _ => ExprKind::Literal(build_literal(inner)?),
    };
    Ok(Expr::new(kind, span))
}

pub(crate) fn build_let(pair: Pair<Rule>) -> Result<LetStmt> {
    let span = span_of(&pair);
    let mut name = None;
    let mut value = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::kw_let => {}
            Rule::ident | Rule::bracket_name => name = Some(ident(p)),
            Rule::function_def => value = Some(LetValue::Function(build_function(p)?)),
            Rule::pipe_expr => value = Some(LetValue::Expr(build_pipe(p)?)),
            _ => {}
        }
    }
    match (name, value) {
        (Some(name), Some(value)) => Ok(LetStmt { name, value, span }),
        _ => Err(ParseError::new("malformed let statement", span.start, span.end)),
    }
}

fn build_function(pair: Pair<Rule>) -> Result<FunctionDef> {
    let span = span_of(&pair);
    let mut params = Vec::new();
    let mut body = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::params => params = p.into_inner().map(build_param).collect::<Result<_>>()?,
            Rule::function_body => {
                let mut lets = Vec::new();
                let mut result = None;
                for b in p.into_inner() {
                    match b.as_rule() {
                        Rule::let_stmt => lets.push(build_let(b)?),
                        Rule::pipe_expr => result = Some(build_pipe(b)?),
                        _ => {}
                    }
                }
                let result = result.ok_or_else(|| ParseError::new("function body has no result", span.start, span.end))?;
                body = Some(FunctionBody { lets, result });
            }
            _ => {}
        }
    }
    let body = body.ok_or_else(|| ParseError::new("function has no body", span.start, span.end))?;
    Ok(FunctionDef { params, body, span })
}

fn build_param(pair: Pair<Rule>) -> Result<Param> {
    let span = span_of(&pair);
    let mut name = None;
    let mut ty = None;
    let mut default = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::ident => name = Some(ident(p)),
            Rule::param_type => {
                let inner = p.into_inner().next().ok_or_else(|| ParseError::new("missing type", span.start, span.end))?;
                ty = Some(match inner.as_rule() {
                    Rule::tabular_type => {
                        let text = inner.as_str();
                        let columns = inner.into_inner().map(build_column_decl).collect::<Result<Vec<_>>>()?;
                        let open = text.contains('*');
                        ParamType::Tabular { columns, open }
                    }
                    _ => ParamType::Scalar(type_name(&inner)?),
                });
            }
            Rule::expr => default = Some(build_expr(p)?),
            _ => {}
        }
    }
    match (name, ty) {
        (Some(name), Some(ty)) => Ok(Param { name, ty, default, span }),
        _ => Err(ParseError::new("malformed parameter", span.start, span.end)),
    }
}

fn type_name(pair: &Pair<Rule>) -> Result<TypeName> {
    TypeName::from_name(pair.as_str()).ok_or_else(|| {
        let s = span_of(pair);
        ParseError::new(format!("unknown type '{}'", pair.as_str()), s.start, s.end)
    })
}

fn build_column_decl(pair: Pair<Rule>) -> Result<ColumnDecl> {
    let mut inner = pair.clone().into_inner();
    let name = ident(inner.next().ok_or_else(|| malformed(&pair))?);
    let ty = type_name(&inner.next().ok_or_else(|| malformed(&pair))?)?;
    Ok(ColumnDecl { name, ty })
}

pub(crate) fn build_pipe(pair: Pair<Rule>) -> Result<PipeExpr> {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let source_pair = inner.next().ok_or_else(|| ParseError::new("empty query", span.start, span.end))?;
    let source = build_source(source_pair)?;
    let operators = inner.map(build_operator).collect::<Result<Vec<_>>>()?;
    // Each operator nests the plan one level deeper, and planning and optimizing recurse over
    // it: past a bound a query would overflow the stack. Real rules use far fewer (the most in
    // the 6,896 corpus queries is 370 pipes in a whole query).
    if let Some(op) = operators.get(MAX_PIPE_OPERATORS) {
        return Err(ParseError::new(
            format!("query too long: more than {MAX_PIPE_OPERATORS} operators in one pipeline"),
            op.span.start,
            op.span.end,
        ));
    }
    Ok(PipeExpr { source, operators, span })
}

/// The most operators one pipeline may chain.
pub const MAX_PIPE_OPERATORS: usize = 1000;

fn build_source(pair: Pair<Rule>) -> Result<Source> {
    let span = span_of(&pair);
    Ok(match pair.as_rule() {
        Rule::expr => Source::Expr(build_expr(pair)?),
        Rule::datatable => {
            let mut columns = Vec::new();
            let mut values = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::column_decl => columns.push(build_column_decl(p)?),
                    Rule::expr => values.push(build_expr(p)?),
                    _ => {}
                }
            }
            Source::Datatable { columns, values, span }
        }
        Rule::range_source => {
            let mut column = None;
            let mut exprs = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::ident => column = Some(ident(p)),
                    Rule::expr => exprs.push(build_expr(p)?),
                    _ => {}
                }
            }
            let column = column.ok_or_else(|| ParseError::new("range needs a column name", span.start, span.end))?;
            let mut it = exprs.into_iter();
            match (it.next(), it.next(), it.next()) {
                (Some(from), Some(to), Some(step)) => Source::Range { column, from, to, step, span },
                _ => return Err(ParseError::new("range needs from, to and step", span.start, span.end)),
            }
        }
        Rule::print_source => {
            let columns = pair.into_inner().filter(|p| p.as_rule() == Rule::named_expr).map(build_named).collect::<Result<_>>()?;
            Source::Print { columns, span }
        }
        Rule::union_source => {
            let (params, tables) = build_union_parts(pair)?;
            Source::Union { params, tables, span }
        }
        Rule::search_source => {
            let (params, tables, predicate) = build_search_parts(pair)?;
            Source::Search { params, tables, predicate, span }
        }
        Rule::find_source => {
            let mut params = Vec::new();
            let mut tables = Vec::new();
            let mut predicate = None;
            let mut project = None;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::paren_pipe | Rule::call | Rule::table_name | Rule::table_pattern => tables.push(build_union_item(p)?),
                    Rule::expr => predicate = Some(build_expr(p)?),
                    Rule::kw_project_smart | Rule::kw_project => project = Some(Vec::new()),
                    Rule::column_pattern => project.get_or_insert_with(Vec::new).push(pattern(p)),
                    _ => {}
                }
            }
            let predicate = predicate.ok_or_else(|| ParseError::new("find needs a where clause", span.start, span.end))?;
            Source::Find { params, tables, predicate, project, span }
        }
        Rule::externaldata => {
            let mut columns = Vec::new();
            let mut urls = Vec::new();
            let mut settings = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::column_decl => columns.push(build_column_decl(p)?),
                    Rule::string_concat => urls.push(p.into_inner().map(|s| super::literal::string_value(s.as_str())).collect()),
                    Rule::kv_setting => settings.push(build_setting(p)?),
                    _ => {}
                }
            }
            Source::ExternalData { columns, urls, settings, span }
        }
        _ => return Err(malformed(&pair)),
    })
}

fn build_named(pair: Pair<Rule>) -> Result<NamedExpr> {
    let span = span_of(&pair);
    let mut names = Vec::new();
    let mut expr = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::ident | Rule::bracket_name => names.push(ident(p)),
            Rule::tuple_names => names.extend(p.into_inner().map(ident)),
            Rule::expr => expr = Some(build_expr(p)?),
            _ => {}
        }
    }
    let expr = expr.ok_or_else(|| ParseError::new("missing expression", span.start, span.end))?;
    Ok(NamedExpr { names, expr, span })
}

fn build_sort_key(pair: Pair<Rule>) -> Result<SortKey> {
    let span = span_of(&pair);
    let mut expr = None;
    let mut order = None;
    let mut nulls = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::expr => expr = Some(build_expr(p)?),
            Rule::sort_direction => order = Some(sort_direction(&p)),
            Rule::nulls_order => nulls = Some(if p.as_str().trim_end().ends_with("first") { NullsOrder::First } else { NullsOrder::Last }),
            _ => {}
        }
    }
    let expr = expr.ok_or_else(|| ParseError::new("missing sort key", span.start, span.end))?;
    Ok(SortKey { expr, order, nulls, span })
}

fn sort_direction(pair: &Pair<Rule>) -> SortOrder {
    if pair.as_str().starts_with("asc") { SortOrder::Asc } else { SortOrder::Desc }
}

fn build_op_param(pair: Pair<Rule>) -> OperatorParam {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let name = inner.next().map(|p| p.as_str().to_string()).unwrap_or_default();
    let value = inner.next().map(|p| p.as_str().to_string()).unwrap_or_default();
    OperatorParam { name, value, span }
}

fn pattern(pair: Pair<Rule>) -> ColumnPattern {
    let span = span_of(&pair);
    let text = pair.as_str();
    let pattern = if text.starts_with('[') { super::literal::string_value(&text[1..text.len() - 1]) } else { text.to_string() };
    ColumnPattern { pattern, span }
}

fn build_operator(pair: Pair<Rule>) -> Result<Operator> {
    let span = span_of(&pair);
    let rule = pair.as_rule();
    let named = |pair: Pair<Rule>| -> Result<Vec<NamedExpr>> {
        pair.into_inner().filter(|p| p.as_rule() == Rule::named_expr).map(build_named).collect()
    };
    let kind = match rule {
        Rule::op_where => {
            let e = pair
                .into_inner()
                .find(|p| p.as_rule() == Rule::expr)
                .ok_or_else(|| ParseError::new("where needs a predicate", span.start, span.end))?;
            OperatorKind::Where(build_expr(e)?)
        }
        Rule::op_project => OperatorKind::Project(named(pair)?),
        Rule::op_extend => OperatorKind::Extend(named(pair)?),
        Rule::op_serialize => OperatorKind::Serialize(named(pair)?),
        Rule::op_project_away => {
            OperatorKind::ProjectAway(pair.into_inner().filter(|p| p.as_rule() == Rule::column_pattern).map(pattern).collect())
        }
        Rule::op_project_by_names => {
            OperatorKind::ProjectByNames(pair.into_inner().filter(|p| p.as_rule() == Rule::expr).map(build_expr).collect::<Result<_>>()?)
        }
        Rule::op_project_keep => {
            OperatorKind::ProjectKeep(pair.into_inner().filter(|p| p.as_rule() == Rule::column_pattern).map(pattern).collect())
        }
        Rule::op_project_reorder => OperatorKind::ProjectReorder(
            pair.into_inner()
                .filter(|p| p.as_rule() == Rule::reorder_key)
                .map(|k| {
                    let mut pat = None;
                    let mut dir = None;
                    for p in k.into_inner() {
                        match p.as_rule() {
                            Rule::column_pattern => pat = Some(pattern(p)),
                            Rule::sort_direction => dir = Some(sort_direction(&p)),
                            _ => {}
                        }
                    }
                    (pat.unwrap_or(ColumnPattern { pattern: String::new(), span }), dir)
                })
                .collect(),
        ),
        Rule::op_project_rename => {
            let mut renames = Vec::new();
            for r in pair.into_inner().filter(|p| p.as_rule() == Rule::rename) {
                let mut it = r.into_inner();
                match (it.next(), it.next()) {
                    (Some(new), Some(old)) => renames.push((ident(new), ident(old))),
                    _ => return Err(ParseError::new("malformed rename", span.start, span.end)),
                }
            }
            OperatorKind::ProjectRename(renames)
        }
        Rule::op_summarize => {
            let mut params = Vec::new();
            let mut aggregates = Vec::new();
            let mut by = Vec::new();
            let mut after_by = false;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::kw_by => after_by = true,
                    Rule::named_expr if after_by => by.push(build_named(p)?),
                    Rule::named_expr => aggregates.push(build_named(p)?),
                    _ => {}
                }
            }
            OperatorKind::Summarize { params, aggregates, by }
        }
        Rule::op_sort => {
            OperatorKind::Sort(pair.into_inner().filter(|p| p.as_rule() == Rule::sort_key).map(build_sort_key).collect::<Result<_>>()?)
        }
        Rule::op_take => {
            let e = pair
                .into_inner()
                .find(|p| p.as_rule() == Rule::expr)
                .ok_or_else(|| ParseError::new("take needs a count", span.start, span.end))?;
            OperatorKind::Take(build_expr(e)?)
        }
        Rule::op_top => {
            let mut count = None;
            let mut key = None;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::expr => count = Some(build_expr(p)?),
                    Rule::sort_key => key = Some(build_sort_key(p)?),
                    _ => {}
                }
            }
            match (count, key) {
                (Some(count), Some(key)) => OperatorKind::Top { count, key },
                _ => return Err(ParseError::new("top needs a count and a key", span.start, span.end)),
            }
        }
        Rule::op_count => OperatorKind::Count { name: pair.into_inner().find(|p| p.as_rule() == Rule::ident).map(ident) },
        Rule::op_distinct => {
            let star = pair.clone().into_inner().any(|p| p.as_rule() == Rule::distinct_star);
            if star { OperatorKind::Distinct(Vec::new()) } else { OperatorKind::Distinct(named(pair)?) }
        }
        Rule::op_getschema => OperatorKind::GetSchema,
        Rule::op_as => {
            let mut params = Vec::new();
            let mut name = None;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::ident => name = Some(ident(p)),
                    _ => {}
                }
            }
            let name = name.ok_or_else(|| ParseError::new("as needs a name", span.start, span.end))?;
            OperatorKind::As { params, name }
        }
        Rule::op_join | Rule::op_lookup => {
            let is_join = rule == Rule::op_join;
            let mut params = Vec::new();
            let mut right = None;
            let mut on = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::paren_pipe | Rule::call | Rule::table_name => right = Some(build_table_operand(p)?),
                    Rule::expr => on.push(build_expr(p)?),
                    _ => {}
                }
            }
            let right = Box::new(right.ok_or_else(|| ParseError::new("missing right table", span.start, span.end))?);
            if is_join { OperatorKind::Join { params, right, on } } else { OperatorKind::Lookup { params, right, on } }
        }
        Rule::op_union => {
            let (params, tables) = build_union_parts(pair)?;
            OperatorKind::Union { params, tables }
        }
        Rule::op_search => {
            let (params, tables, predicate) = build_search_parts(pair)?;
            OperatorKind::Search { params, tables, predicate }
        }
        Rule::op_mv_expand | Rule::op_mv_apply => {
            let apply = rule == Rule::op_mv_apply;
            let mut params = Vec::new();
            let mut items = Vec::new();
            let mut limit = None;
            let mut body = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::mv_item => items.push(build_mv_item(p)?),
                    Rule::expr => limit = Some(build_expr(p)?),
                    Rule::sub_pipe => body = p.into_inner().map(build_operator).collect::<Result<_>>()?,
                    _ => {}
                }
            }
            if apply { OperatorKind::MvApply { params, items, limit, body } } else { OperatorKind::MvExpand { params, items, limit } }
        }
        Rule::op_parse => {
            let mut keep_only_matches = false;
            let mut params = Vec::new();
            let mut source = None;
            let mut pattern = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::kw_parse_where => keep_only_matches = true,
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::expr => source = Some(build_expr(p)?),
                    Rule::parse_item => pattern.push(build_parse_item(p)?),
                    _ => {}
                }
            }
            let source = source.ok_or_else(|| ParseError::new("parse needs an expression", span.start, span.end))?;
            OperatorKind::Parse { keep_only_matches, params, source, pattern }
        }
        Rule::op_parse_kv => {
            let mut source = None;
            let mut columns = Vec::new();
            let mut settings = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::expr => source = Some(build_expr(p)?),
                    Rule::column_decl => columns.push(build_column_decl(p)?),
                    Rule::kv_setting => settings.push(build_setting(p)?),
                    _ => {}
                }
            }
            let source = source.ok_or_else(|| ParseError::new("parse-kv needs an expression", span.start, span.end))?;
            OperatorKind::ParseKv { source, columns, settings }
        }
        Rule::op_make_graph => {
            let mut names = Vec::new();
            let mut nodes = Vec::new();
            let mut params = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::ident | Rule::bracket_name => names.push(ident(p)),
                    Rule::graph_nodes => {
                        let mut inner = p.clone().into_inner();
                        let table = build_table_operand(inner.next().ok_or_else(|| malformed(&p))?)?;
                        let key = inner
                            .find(|q| matches!(q.as_rule(), Rule::ident | Rule::bracket_name))
                            .map(ident)
                            .ok_or_else(|| malformed(&p))?;
                        nodes.push((table, key));
                    }
                    Rule::op_param => params.push(build_op_param(p)),
                    _ => {}
                }
            }
            let [source, target] =
                <[Ident; 2]>::try_from(names).map_err(|_| ParseError::new("make-graph needs Source --> Target", span.start, span.end))?;
            OperatorKind::MakeGraph { source, target, nodes, params }
        }
        Rule::op_graph_match => {
            let mut shortest = false;
            let mut params = Vec::new();
            let mut patterns = Vec::new();
            let mut filter = None;
            let mut project = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::graph_match_kw => shortest = p.as_str() == "graph-shortest-paths",
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::graph_pattern => patterns.push(build_graph_pattern(p)?),
                    Rule::expr => filter = Some(build_expr(p)?),
                    Rule::named_expr => project.push(build_named(p)?),
                    _ => {}
                }
            }
            OperatorKind::GraphMatch { shortest, params, patterns, filter, project }
        }
        Rule::op_graph_mark_components => OperatorKind::GraphMarkComponents {
            params: pair.into_inner().filter(|p| p.as_rule() == Rule::op_param).map(build_op_param).collect(),
        },
        Rule::op_graph_to_table => {
            let mut edges = false;
            let mut params = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::graph_entity => edges = p.as_str() == "edges",
                    Rule::op_param => params.push(build_op_param(p)),
                    _ => {}
                }
            }
            OperatorKind::GraphToTable { edges, params }
        }
        Rule::op_partition => {
            let mut params = Vec::new();
            let mut by = None;
            let mut body = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::expr => by = Some(build_expr(p)?),
                    Rule::sub_pipe => body = p.into_inner().map(build_operator).collect::<Result<_>>()?,
                    _ => {}
                }
            }
            let by = by.ok_or_else(|| ParseError::new("partition needs a by column", span.start, span.end))?;
            OperatorKind::Partition { params, by, body }
        }
        Rule::op_scan => {
            let mut params = Vec::new();
            let mut declare = Vec::new();
            let mut steps = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::scan_declare => {
                        for c in p.into_inner().filter(|c| c.as_rule() == Rule::scan_column) {
                            let mut inner = c.clone().into_inner();
                            let name = ident(inner.next().ok_or_else(|| malformed(&c))?);
                            let ty = type_name(&inner.next().ok_or_else(|| malformed(&c))?)?;
                            let default = inner.next().map(build_expr).transpose()?;
                            declare.push(ScanColumn { decl: ColumnDecl { name, ty }, default });
                        }
                    }
                    Rule::scan_step => steps.push(build_scan_step(p)?),
                    _ => {}
                }
            }
            OperatorKind::Scan { params, declare, steps }
        }
        Rule::op_make_series => {
            let mut params = Vec::new();
            let mut aggregates = Vec::new();
            let mut exprs = Vec::new();
            let mut in_range = None;
            let mut by = Vec::new();
            let mut words = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::series_agg => {
                        let mut aggregate = None;
                        let mut default = None;
                        for a in p.into_inner() {
                            match a.as_rule() {
                                Rule::named_expr => aggregate = Some(build_named(a)?),
                                Rule::expr => default = Some(build_expr(a)?),
                                _ => {}
                            }
                        }
                        let aggregate = aggregate.ok_or_else(|| ParseError::new("missing aggregate", span.start, span.end))?;
                        aggregates.push(SeriesAggregate { aggregate, default });
                    }
                    Rule::series_range => {
                        let es = p.into_inner().filter(|e| e.as_rule() == Rule::expr).map(build_expr).collect::<Result<Vec<_>>>()?;
                        let mut it = es.into_iter();
                        match (it.next(), it.next(), it.next()) {
                            (Some(start), Some(stop), Some(step)) => in_range = Some(SeriesRange::InRange { start, stop, step }),
                            _ => return Err(ParseError::new("range() takes start, stop and step", span.start, span.end)),
                        }
                    }
                    Rule::kw_from | Rule::kw_to | Rule::kw_step | Rule::kw_on => words.push(p.as_rule()),
                    Rule::expr => exprs.push((words.last().copied(), build_expr(p)?)),
                    Rule::named_expr => by.push(build_named(p)?),
                    _ => {}
                }
            }
            let mut axis = None;
            let (mut from, mut to, mut step) = (None, None, None);
            for (word, e) in exprs {
                match word {
                    Some(Rule::kw_on) => axis = Some(e),
                    Some(Rule::kw_from) => from = Some(e),
                    Some(Rule::kw_to) => to = Some(e),
                    _ => step = Some(e),
                }
            }
            let axis = axis.ok_or_else(|| ParseError::new("make-series needs an axis (on ...)", span.start, span.end))?;
            let range = match in_range {
                Some(r) => r,
                None => SeriesRange::FromTo {
                    from,
                    to,
                    step: step.ok_or_else(|| ParseError::new("make-series needs a step", span.start, span.end))?,
                },
            };
            OperatorKind::MakeSeries { params, aggregates, axis, range, by }
        }
        Rule::op_top_nested => {
            let mut levels = Vec::new();
            for level in pair.into_inner() {
                let mut count = None;
                let mut of = None;
                let mut others = None;
                let mut by = None;
                let mut order = None;
                let mut seen_others = false;
                for p in level.into_inner() {
                    match p.as_rule() {
                        Rule::kw_others => seen_others = true,
                        Rule::expr if seen_others => others = Some(build_expr(p)?),
                        Rule::expr => count = Some(build_expr(p)?),
                        Rule::named_expr if of.is_none() => of = Some(build_named(p)?),
                        Rule::named_expr => by = Some(build_named(p)?),
                        Rule::sort_direction => order = Some(sort_direction(&p)),
                        _ => {}
                    }
                }
                match (of, by) {
                    (Some(of), Some(by)) => levels.push(TopNestedLevel { count, of, others, by, order }),
                    _ => return Err(ParseError::new("top-nested needs of and by", span.start, span.end)),
                }
            }
            OperatorKind::TopNested(levels)
        }
        Rule::op_evaluate => {
            let mut params = Vec::new();
            let mut plugin = None;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_param => params.push(build_op_param(p)),
                    Rule::call => plugin = Some(super::expr::build_call(p)?),
                    _ => {}
                }
            }
            let plugin = plugin.ok_or_else(|| ParseError::new("evaluate needs a plugin call", span.start, span.end))?;
            OperatorKind::Evaluate { params, plugin }
        }
        Rule::op_invoke => {
            let call = pair
                .into_inner()
                .find(|p| p.as_rule() == Rule::call)
                .ok_or_else(|| ParseError::new("invoke needs a call", span.start, span.end))?;
            OperatorKind::Invoke(super::expr::build_call(call)?)
        }
        Rule::op_render => {
            let mut chart = None;
            let mut properties = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::ident => chart = Some(ident(p)),
                    Rule::render_prop => {
                        let mut inner = p.into_inner();
                        let name = ident(inner.next().ok_or_else(|| ParseError::new("missing property", span.start, span.end))?);
                        let values = inner.map(build_expr).collect::<Result<Vec<_>>>()?;
                        properties.push((name, values));
                    }
                    _ => {}
                }
            }
            let chart = chart.ok_or_else(|| ParseError::new("render needs a chart type", span.start, span.end))?;
            OperatorKind::Render { chart, properties }
        }
        Rule::op_sample => {
            let e = pair
                .into_inner()
                .find(|p| p.as_rule() == Rule::expr)
                .ok_or_else(|| ParseError::new("sample needs a count", span.start, span.end))?;
            OperatorKind::Sample(build_expr(e)?)
        }
        Rule::op_sample_distinct => {
            let es = pair.into_inner().filter(|p| p.as_rule() == Rule::expr).map(build_expr).collect::<Result<Vec<_>>>()?;
            let mut it = es.into_iter();
            match (it.next(), it.next()) {
                (Some(count), Some(column)) => OperatorKind::SampleDistinct { count, column },
                _ => return Err(ParseError::new("sample-distinct needs a count and a column", span.start, span.end)),
            }
        }
        Rule::op_unsupported => {
            let text = pair.as_str().to_string();
            let keyword = pair.into_inner().next().map(|p| p.as_str().to_string()).unwrap_or_default();
            let rest = text[keyword.len()..].trim().to_string();
            OperatorKind::Unsupported { keyword, text: rest }
        }
        _ => return Err(malformed(&pair)),
    };
    Ok(Operator { kind, span })
}

fn build_setting(pair: Pair<Rule>) -> Result<(Ident, Expr)> {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    match (inner.next(), inner.next()) {
        (Some(n), Some(v)) => Ok((ident(n), build_expr(v)?)),
        _ => Err(ParseError::new("malformed setting", span.start, span.end)),
    }
}

/// `(T | ...)`, `f(x)` or `T` as an operand of join, lookup, union.
fn build_table_operand(pair: Pair<Rule>) -> Result<PipeExpr> {
    let span = span_of(&pair);
    match pair.as_rule() {
        Rule::paren_pipe => {
            let inner = pair.into_inner().next().ok_or_else(|| ParseError::new("empty parentheses", span.start, span.end))?;
            build_pipe(inner)
        }
        Rule::call => Ok(PipeExpr { source: Source::Expr(super::expr::build_call(pair)?), operators: vec![], span }),
        _ => {
            let name_pair = pair.into_inner().next().ok_or_else(|| ParseError::new("missing name", span.start, span.end))?;
            let id = ident(name_pair);
            Ok(PipeExpr { source: Source::Expr(Expr::new(ExprKind::Name(id.name), span)), operators: vec![], span })
        }
    }
}

fn build_union_item(pair: Pair<Rule>) -> Result<UnionItem> {
    let span = span_of(&pair);
    match pair.as_rule() {
        Rule::table_pattern => Ok(UnionItem::Pattern { pattern: pair.as_str().to_string(), span }),
        _ => Ok(UnionItem::Table(build_table_operand(pair)?)),
    }
}

fn build_union_parts(pair: Pair<Rule>) -> Result<(Vec<OperatorParam>, Vec<UnionItem>)> {
    let mut params = Vec::new();
    let mut tables = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::op_param => params.push(build_op_param(p)),
            Rule::paren_pipe | Rule::call | Rule::table_name | Rule::table_pattern => tables.push(build_union_item(p)?),
            _ => {}
        }
    }
    Ok((params, tables))
}

fn build_search_parts(pair: Pair<Rule>) -> Result<(Vec<OperatorParam>, Vec<UnionItem>, Expr)> {
    let span = span_of(&pair);
    let mut params = Vec::new();
    let mut tables = Vec::new();
    let mut predicate = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::op_param => params.push(build_op_param(p)),
            Rule::paren_pipe | Rule::call | Rule::table_name | Rule::table_pattern => tables.push(build_union_item(p)?),
            Rule::expr => predicate = Some(build_expr(p)?),
            _ => {}
        }
    }
    let predicate = predicate.ok_or_else(|| ParseError::new("search needs a predicate", span.start, span.end))?;
    Ok((params, tables, predicate))
}

fn build_mv_item(pair: Pair<Rule>) -> Result<MvItem> {
    let span = span_of(&pair);
    let mut column = None;
    let mut to_type = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::named_expr => column = Some(build_named(p)?),
            Rule::type_name => to_type = Some(type_name(&p)?),
            _ => {}
        }
    }
    let column = column.ok_or_else(|| ParseError::new("missing column", span.start, span.end))?;
    Ok(MvItem { column, to_type })
}

fn build_parse_item(pair: Pair<Rule>) -> Result<ParseItem> {
    let span = span_of(&pair);
    let inner = pair.into_inner().next().ok_or_else(|| ParseError::new("malformed pattern", span.start, span.end))?;
    Ok(match inner.as_rule() {
        Rule::parse_star => ParseItem::Star,
        Rule::string_concat => ParseItem::Literal(inner.into_inner().map(|s| super::literal::string_value(s.as_str())).collect()),
        _ => {
            let mut it = inner.into_inner();
            let name = ident(it.next().ok_or_else(|| ParseError::new("missing column", span.start, span.end))?);
            let ty = match it.next() {
                Some(t) => Some(type_name(&t)?),
                None => None,
            };
            ParseItem::Column { name, ty }
        }
    })
}

fn build_scan_step(pair: Pair<Rule>) -> Result<ScanStep> {
    let span = span_of(&pair);
    let mut inner = pair.clone().into_inner().filter(|p| p.as_rule() != Rule::kw_step);
    let name = ident(inner.next().ok_or_else(|| malformed(&pair))?);
    let mut output = ScanOutput::All;
    let mut condition = None;
    let mut assignments = Vec::new();
    for p in inner {
        match p.as_rule() {
            Rule::scan_output => {
                output = match p.into_inner().next().map(|k| k.as_str().to_string()).as_deref() {
                    Some("last") => ScanOutput::Last,
                    Some("none") => ScanOutput::None,
                    _ => ScanOutput::All,
                }
            }
            Rule::expr => condition = Some(build_expr(p)?),
            Rule::scan_assign => {
                let mut a = p.clone().into_inner();
                let column = ident(a.next().ok_or_else(|| malformed(&p))?);
                let value = build_expr(a.next().ok_or_else(|| malformed(&p))?)?;
                assignments.push((column, value));
            }
            _ => {}
        }
    }
    let condition = condition.ok_or_else(|| ParseError::new("a scan step needs a condition", span.start, span.end))?;
    Ok(ScanStep { name, output, condition, assignments, span })
}

fn build_graph_pattern(pair: Pair<Rule>) -> Result<GraphPattern> {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::graph_node => nodes.push(p.into_inner().next().map(ident)),
            Rule::graph_edge => {
                let (mut name, mut range, mut backward, mut forward) = (None, None, false, false);
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::ident => name = Some(ident(q)),
                        Rule::edge_start => backward = q.as_str() == "<-",
                        Rule::edge_end => forward = q.as_str() == "->",
                        Rule::edge_range => {
                            let span = span_of(&q);
                            let bounds: Vec<u32> = q
                                .into_inner()
                                .map(|d| d.as_str().parse::<u32>())
                                .collect::<std::result::Result<_, _>>()
                                .map_err(|_| ParseError::new("a path length is a small number", span.start, span.end))?;
                            range = Some(match bounds.as_slice() {
                                [n] => (*n, *n),
                                [a, b] => (*a, *b),
                                _ => return Err(ParseError::new("a path length is *n or *min..max", span.start, span.end)),
                            });
                        }
                        _ => {}
                    }
                }
                let direction = match (backward, forward) {
                    (false, true) => EdgeDirection::Forward,
                    (true, false) => EdgeDirection::Backward,
                    _ => EdgeDirection::Any,
                };
                edges.push(GraphEdge { name, direction, range });
            }
            _ => {}
        }
    }
    Ok(GraphPattern { nodes, edges })
}
