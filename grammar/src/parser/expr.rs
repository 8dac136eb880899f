//! Scalar expressions: a Pratt parser over the flat `prefix* primary postfix* (infix ...)*`
//! sequence the grammar produces. Precedence comes from `BinaryOp::precedence`, which the
//! printer uses too.

use std::sync::OnceLock;

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::literal::build_literal;
use super::operator::build_pipe;
use super::{Result, Rule, ident, span_of};
use crate::ast::{BinaryOp, CallArg, Expr, ExprKind, PipeExpr, Source, StringOp, UnaryOp};
use crate::error::ParseError;

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Assoc::Left))
            .op(Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::infix(Rule::op_eq, Assoc::Left)
                | Op::infix(Rule::op_neq, Assoc::Left)
                | Op::infix(Rule::op_eq_ci, Assoc::Left)
                | Op::infix(Rule::op_neq_ci, Assoc::Left)
                | Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_le, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_ge, Assoc::Left)
                | Op::infix(Rule::string_op, Assoc::Left)
                | Op::postfix(Rule::in_list)
                | Op::postfix(Rule::between)
                | Op::postfix(Rule::has_any_op))
            .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
            .op(Op::infix(Rule::op_mul, Assoc::Left) | Op::infix(Rule::op_div, Assoc::Left) | Op::infix(Rule::op_mod, Assoc::Left))
            .op(Op::prefix(Rule::neg) | Op::prefix(Rule::pos))
            .op(Op::postfix(Rule::member) | Op::postfix(Rule::index) | Op::postfix(Rule::dot_index))
    })
}

pub(crate) fn build_expr(pair: Pair<Rule>) -> Result<Expr> {
    debug_assert_eq!(pair.as_rule(), Rule::expr);
    climb(pair.into_inner())
}

fn climb(pairs: Pairs<Rule>) -> Result<Expr> {
    pratt()
        .map_primary(build_primary)
        .map_prefix(|op, operand| {
            let operand = operand?;
            let span = span_of(&op).to(operand.span);
            let op = if op.as_rule() == Rule::neg { UnaryOp::Neg } else { UnaryOp::Plus };
            Ok(Expr::new(ExprKind::Unary { op, operand: Box::new(operand) }, span))
        })
        .map_postfix(|operand, op| build_postfix(operand?, op))
        .map_infix(|left, op, right| {
            let (left, right) = (left?, right?);
            let span = left.span.to(right.span);
            let op = binary_op(&op)?;
            Ok(Expr::new(ExprKind::Binary { op, left: Box::new(left), right: Box::new(right) }, span))
        })
        .parse(pairs)
}

fn binary_op(pair: &Pair<Rule>) -> Result<BinaryOp> {
    Ok(match pair.as_rule() {
        Rule::op_or => BinaryOp::Or,
        Rule::op_and => BinaryOp::And,
        Rule::op_eq => BinaryOp::Eq,
        Rule::op_neq => BinaryOp::NotEq,
        Rule::op_eq_ci => BinaryOp::EqCi,
        Rule::op_neq_ci => BinaryOp::NotEqCi,
        Rule::op_lt => BinaryOp::Lt,
        Rule::op_le => BinaryOp::LtEq,
        Rule::op_gt => BinaryOp::Gt,
        Rule::op_ge => BinaryOp::GtEq,
        Rule::op_add => BinaryOp::Add,
        Rule::op_sub => BinaryOp::Sub,
        Rule::op_mul => BinaryOp::Mul,
        Rule::op_div => BinaryOp::Div,
        Rule::op_mod => BinaryOp::Mod,
        Rule::string_op => {
            let token: String = pair.as_str().split_whitespace().collect::<Vec<_>>().join(" ");
            BinaryOp::Str(StringOp::from_token(&token).ok_or_else(|| {
                let s = span_of(pair);
                ParseError::new(format!("unknown operator '{token}'"), s.start, s.end)
            })?)
        }
        other => {
            let s = span_of(pair);
            return Err(ParseError::new(format!("unexpected {other:?}"), s.start, s.end));
        }
    })
}

fn build_postfix(operand: Expr, op: Pair<Rule>) -> Result<Expr> {
    let span = operand.span.to(span_of(&op));
    let kind = match op.as_rule() {
        Rule::in_list => {
            let mut inner = op.into_inner();
            let token = inner.next().map(|p| p.as_str().to_string()).unwrap_or_default();
            let list = inner.map(build_pipe).collect::<Result<Vec<_>>>()?;
            ExprKind::In { expr: Box::new(operand), negated: token.starts_with('!'), case_insensitive: token.ends_with('~'), list }
        }
        Rule::between => {
            let mut inner = op.into_inner();
            let token = inner.next().map(|p| p.as_str().to_string()).unwrap_or_default();
            let low = next_expr(&mut inner, span)?;
            let high = next_expr(&mut inner, span)?;
            ExprKind::Between { expr: Box::new(operand), negated: token.starts_with('!'), low: Box::new(low), high: Box::new(high) }
        }
        Rule::has_any_op => {
            let mut inner = op.into_inner();
            let token = inner.next().map(|p| p.as_str().to_string()).unwrap_or_default();
            let list = inner.map(build_expr).collect::<Result<Vec<_>>>()?;
            ExprKind::HasSet { expr: Box::new(operand), all: token == "has_all", list }
        }
        Rule::member => {
            let name_pair = op.into_inner().next().ok_or_else(|| ParseError::new("missing member name", span.start, span.end))?;
            let name = match name_pair.as_rule() {
                Rule::keyword_member => name_pair.as_str().to_string(),
                _ => ident(name_pair).name,
            };
            ExprKind::Member { expr: Box::new(operand), name }
        }
        Rule::index | Rule::dot_index => {
            let mut inner = op.into_inner();
            let index = next_expr(&mut inner, span)?;
            // `a['b']` is the same as `a.b`.
            if let ExprKind::Literal(crate::ast::Literal::String(name)) = &index.kind {
                ExprKind::Member { expr: Box::new(operand), name: name.clone() }
            } else {
                ExprKind::Index { expr: Box::new(operand), index: Box::new(index) }
            }
        }
        other => return Err(ParseError::new(format!("unexpected {other:?}"), span.start, span.end)),
    };
    Ok(Expr::new(kind, span))
}

fn next_expr(inner: &mut Pairs<Rule>, span: crate::ast::Span) -> Result<Expr> {
    let pair = inner.next().ok_or_else(|| ParseError::new("missing operand", span.start, span.end))?;
    build_expr(pair)
}

fn build_primary(pair: Pair<Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let kind = match pair.as_rule() {
        Rule::ident | Rule::bracket_name => ExprKind::Name(ident(pair).name),
        Rule::star => ExprKind::Star,
        Rule::call => return build_call(pair),
        Rule::paren => {
            let inner = pair.into_inner().next().ok_or_else(|| ParseError::new("empty parentheses", span.start, span.end))?;
            let pipe = build_pipe(inner)?;
            return Ok(unwrap_paren(pipe, span));
        }
        // `datetime()` is the current time (Kusto's docs on datetime literals): `now()`.
        Rule::datetime_lit if pair.as_str().split_once('(').is_some_and(|(_, rest)| rest.trim() == ")") => {
            ExprKind::Call { name: crate::ast::Ident { name: "now".into(), span }, args: Vec::new() }
        }
        _ => ExprKind::Literal(build_literal(pair)?),
    };
    Ok(Expr::new(kind, span))
}

pub(crate) fn build_call(pair: Pair<Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let name = ident(inner.next().ok_or_else(|| ParseError::new("missing function name", span.start, span.end))?);
    let args = inner.map(build_call_arg).collect::<Result<Vec<_>>>()?;
    Ok(Expr::new(ExprKind::Call { name, args }, span))
}

/// `(expr)` is just `expr`; `(T | where ...)` stays a subquery.
pub(crate) fn unwrap_paren(pipe: PipeExpr, span: crate::ast::Span) -> Expr {
    match pipe {
        PipeExpr { source: Source::Expr(e), operators, .. } if operators.is_empty() => e,
        other => Expr::new(ExprKind::Subquery(Box::new(other)), span),
    }
}

fn build_call_arg(pair: Pair<Rule>) -> Result<CallArg> {
    let mut name = None;
    let mut value = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::ident => name = Some(ident(p)),
            _ => value = Some(build_pipe(p)?),
        }
    }
    let value = value.ok_or_else(|| ParseError::new("missing argument", 0, 0))?;
    Ok(CallArg { name, value })
}
