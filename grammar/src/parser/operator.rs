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
    Ok(PipeExpr { source, operators, span })
}

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
            Rule::nulls_order => {
                nulls = Some(if p.as_str().trim_end().ends_with("first") { NullsOrder::First } else { NullsOrder::Last })
            }
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
            let e = pair.into_inner().find(|p| p.as_rule() == Rule::expr).ok_or_else(|| ParseError::new("where needs a predicate", span.start, span.end))?;
            OperatorKind::Where(build_expr(e)?)
        }
        Rule::op_project => OperatorKind::Project(named(pair)?),
        Rule::op_extend => OperatorKind::Extend(named(pair)?),
        Rule::op_serialize => OperatorKind::Serialize(named(pair)?),
        Rule::op_project_away => OperatorKind::ProjectAway(pair.into_inner().filter(|p| p.as_rule() == Rule::column_pattern).map(pattern).collect()),
        Rule::op_project_keep => OperatorKind::ProjectKeep(pair.into_inner().filter(|p| p.as_rule() == Rule::column_pattern).map(pattern).collect()),
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
        Rule::op_sort => OperatorKind::Sort(pair.into_inner().filter(|p| p.as_rule() == Rule::sort_key).map(build_sort_key).collect::<Result<_>>()?),
        Rule::op_take => {
            let e = pair.into_inner().find(|p| p.as_rule() == Rule::expr).ok_or_else(|| ParseError::new("take needs a count", span.start, span.end))?;
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
