//! Tabular operators: one variant per KQL operator.

use super::{ColumnDecl, Expr, Ident, PipeExpr, Span, TypeName};

#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub kind: OperatorKind,
    pub span: Span,
}

/// `Name = expr`, `(A, B) = expr`, or a bare `expr` whose name Kusto infers.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedExpr {
    pub names: Vec<Ident>,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullsOrder {
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub order: Option<SortOrder>,
    pub nulls: Option<NullsOrder>,
    pub span: Span,
}

impl SortKey {
    /// Kusto sorts descending unless told otherwise.
    pub fn is_ascending(&self) -> bool {
        self.order == Some(SortOrder::Asc)
    }

    /// Nulls go last when descending and first when ascending, unless told otherwise.
    pub fn nulls_first(&self) -> bool {
        match self.nulls {
            Some(NullsOrder::First) => true,
            Some(NullsOrder::Last) => false,
            None => self.is_ascending(),
        }
    }
}

/// `kind=inner`, `hint.strategy=shuffle`, `withsource=T` ...
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorParam {
    pub name: String,
    pub value: String,
    pub span: Span,
}

/// A column name or wildcard pattern as `project-away` and `project-keep` take them.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnPattern {
    pub pattern: String,
    pub span: Span,
}

// An AST is built once per query: the size of its largest variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorKind {
    Where(Expr),
    Project(Vec<NamedExpr>),
    ProjectAway(Vec<ColumnPattern>),
    ProjectKeep(Vec<ColumnPattern>),
    /// `project-by-names "A", "B*", dynamic([...]), column_names_of(T)`: names computed at
    /// planning time.
    ProjectByNames(Vec<Expr>),
    ProjectReorder(Vec<(ColumnPattern, Option<SortOrder>)>),
    /// `project-rename New = Old, ...`
    ProjectRename(Vec<(Ident, Ident)>),
    Extend(Vec<NamedExpr>),
    Summarize {
        params: Vec<OperatorParam>,
        aggregates: Vec<NamedExpr>,
        by: Vec<NamedExpr>,
    },
    Sort(Vec<SortKey>),
    Serialize(Vec<NamedExpr>),
    Take(Expr),
    Top {
        count: Expr,
        key: SortKey,
    },
    Count {
        name: Option<Ident>,
    },
    /// `distinct *` is an empty list.
    Distinct(Vec<NamedExpr>),
    GetSchema,
    As {
        params: Vec<OperatorParam>,
        name: Ident,
    },
    /// `join [kind=..] (right) on a, $left.b == $right.c`
    Join {
        params: Vec<OperatorParam>,
        right: Box<PipeExpr>,
        on: Vec<Expr>,
    },
    Lookup {
        params: Vec<OperatorParam>,
        right: Box<PipeExpr>,
        on: Vec<Expr>,
    },
    Union {
        params: Vec<OperatorParam>,
        tables: Vec<UnionItem>,
    },
    MvExpand {
        params: Vec<OperatorParam>,
        items: Vec<MvItem>,
        limit: Option<Expr>,
    },
    MvApply {
        params: Vec<OperatorParam>,
        items: Vec<MvItem>,
        limit: Option<Expr>,
        body: Vec<Operator>,
    },
    /// `parse` (or `parse-where` when `keep_only_matches`) `[kind=..] expr with pattern`
    Parse {
        keep_only_matches: bool,
        params: Vec<OperatorParam>,
        source: Expr,
        pattern: Vec<ParseItem>,
    },
    ParseKv {
        source: Expr,
        columns: Vec<ColumnDecl>,
        settings: Vec<(Ident, Expr)>,
    },
    /// `make-graph Source --> Target [with Nodes on Key, ...] [with_node_id=Name]`
    MakeGraph {
        source: Ident,
        target: Ident,
        nodes: Vec<(PipeExpr, Ident)>,
        params: Vec<OperatorParam>,
    },
    /// `graph-match` (or `graph-shortest-paths` when `shortest`) `Pattern, ... [where P] project ...`
    GraphMatch {
        shortest: bool,
        params: Vec<OperatorParam>,
        patterns: Vec<GraphPattern>,
        filter: Option<Expr>,
        project: Vec<NamedExpr>,
    },
    /// `graph-mark-components [kind=weak|strong] [with_component_id=Name]`
    GraphMarkComponents {
        params: Vec<OperatorParam>,
    },
    /// `graph-to-table nodes|edges [with_node_id=...]`
    GraphToTable {
        edges: bool,
        params: Vec<OperatorParam>,
    },
    /// `partition by Column (operators)`
    Partition {
        params: Vec<OperatorParam>,
        by: Expr,
        body: Vec<Operator>,
    },
    /// `scan [with_match_id=Id] [declare (c: type [= default], ...)] with (step ...; ...)`
    Scan {
        params: Vec<OperatorParam>,
        declare: Vec<ScanColumn>,
        steps: Vec<ScanStep>,
    },
    MakeSeries {
        params: Vec<OperatorParam>,
        aggregates: Vec<SeriesAggregate>,
        axis: Expr,
        range: SeriesRange,
        by: Vec<NamedExpr>,
    },
    TopNested(Vec<TopNestedLevel>),
    Evaluate {
        params: Vec<OperatorParam>,
        plugin: Expr,
    },
    Invoke(Expr),
    Render {
        chart: Ident,
        properties: Vec<(Ident, Vec<Expr>)>,
    },
    Sample(Expr),
    SampleDistinct {
        count: Expr,
        column: Expr,
    },
    Search {
        params: Vec<OperatorParam>,
        tables: Vec<UnionItem>,
        predicate: Expr,
    },
    /// An operator KQL has that the grammar does not model yet: its keyword and raw text.
    Unsupported {
        keyword: String,
        text: String,
    },
}

impl OperatorKind {
    /// The operator's keyword as written in KQL.
    pub fn keyword(&self) -> &str {
        match self {
            OperatorKind::Where(_) => "where",
            OperatorKind::Project(_) => "project",
            OperatorKind::ProjectAway(_) => "project-away",
            OperatorKind::ProjectKeep(_) => "project-keep",
            OperatorKind::ProjectByNames(_) => "project-by-names",
            OperatorKind::ProjectReorder(_) => "project-reorder",
            OperatorKind::ProjectRename(_) => "project-rename",
            OperatorKind::Extend(_) => "extend",
            OperatorKind::Summarize { .. } => "summarize",
            OperatorKind::Sort(_) => "sort",
            OperatorKind::Serialize(_) => "serialize",
            OperatorKind::Take(_) => "take",
            OperatorKind::Top { .. } => "top",
            OperatorKind::Count { .. } => "count",
            OperatorKind::Distinct(_) => "distinct",
            OperatorKind::GetSchema => "getschema",
            OperatorKind::As { .. } => "as",
            OperatorKind::Join { .. } => "join",
            OperatorKind::Lookup { .. } => "lookup",
            OperatorKind::Union { .. } => "union",
            OperatorKind::MvExpand { .. } => "mv-expand",
            OperatorKind::MvApply { .. } => "mv-apply",
            OperatorKind::Parse { keep_only_matches: true, .. } => "parse-where",
            OperatorKind::Parse { .. } => "parse",
            OperatorKind::ParseKv { .. } => "parse-kv",
            OperatorKind::Scan { .. } => "scan",
            OperatorKind::Partition { .. } => "partition",
            OperatorKind::MakeGraph { .. } => "make-graph",
            OperatorKind::GraphMatch { shortest: false, .. } => "graph-match",
            OperatorKind::GraphMatch { shortest: true, .. } => "graph-shortest-paths",
            OperatorKind::GraphToTable { .. } => "graph-to-table",
            OperatorKind::GraphMarkComponents { .. } => "graph-mark-components",
            OperatorKind::MakeSeries { .. } => "make-series",
            OperatorKind::TopNested(_) => "top-nested",
            OperatorKind::Evaluate { .. } => "evaluate",
            OperatorKind::Invoke(_) => "invoke",
            OperatorKind::Render { .. } => "render",
            OperatorKind::Sample(_) => "sample",
            OperatorKind::SampleDistinct { .. } => "sample-distinct",
            OperatorKind::Search { .. } => "search",
            OperatorKind::Unsupported { keyword, .. } => keyword,
        }
    }
}

/// One input of `union` or `search in (...)`: a tabular expression or a name pattern (`Device*`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum UnionItem {
    Table(PipeExpr),
    Pattern { pattern: String, span: Span },
}

/// `Name = expr [to typeof(T)]` of `mv-expand` / `mv-apply`.
#[derive(Debug, Clone, PartialEq)]
pub struct MvItem {
    pub column: NamedExpr,
    pub to_type: Option<TypeName>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParseItem {
    /// `*`: skip any text.
    Star,
    Literal(String),
    Column {
        name: Ident,
        ty: Option<TypeName>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesAggregate {
    pub aggregate: NamedExpr,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SeriesRange {
    FromTo { from: Option<Expr>, to: Option<Expr>, step: Expr },
    InRange { start: Expr, stop: Expr, step: Expr },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopNestedLevel {
    pub count: Option<Expr>,
    pub of: NamedExpr,
    pub others: Option<Expr>,
    pub by: NamedExpr,
    pub order: Option<SortOrder>,
}

/// A column `scan` declares: its type and value before any step sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanColumn {
    pub decl: ColumnDecl,
    pub default: Option<Expr>,
}

/// Which of the rows a scan step matches it outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOutput {
    All,
    Last,
    None,
}

/// `step name [output=all|last|none]: condition [=> column = value, ...];`
#[derive(Debug, Clone, PartialEq)]
pub struct ScanStep {
    pub name: Ident,
    pub output: ScanOutput,
    pub condition: Expr,
    pub assignments: Vec<(Ident, Expr)>,
    pub span: Span,
}

/// `(a)-[e]->(b)<-[f*1..3]-(c)`: nodes, and the edges between them.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphPattern {
    pub nodes: Vec<Option<Ident>>,
    pub edges: Vec<GraphEdge>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeDirection {
    /// `-[e]->`
    Forward,
    /// `<-[e]-`
    Backward,
    /// `-[e]-`
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GraphEdge {
    pub name: Option<Ident>,
    pub direction: EdgeDirection,
    /// `*min..max` (`*n` is n..n); none is exactly one edge.
    pub range: Option<(u32, u32)>,
}
