//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "kql", version, about = "Run KQL (Kusto Query Language) over Parquet logs", long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command_kind: Option<Command>,

    #[command(flatten)]
    pub sources: Sources,

    /// Fix now() and ago() to this UTC time (ISO 8601), to hunt old logs reproducibly.
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write results to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Draw the result of a query ending in `render` to this SVG file (an HTML page for .html).
    #[arg(long, value_name = "FILE.svg|FILE.html")]
    pub chart: Option<PathBuf>,

    /// Run this query and exit.
    #[arg(short = 'c', long = "command", value_name = "QUERY", conflicts_with = "file")]
    pub command: Option<String>,

    /// Run the query in FILE and exit.
    #[arg(short = 'f', long = "file", value_name = "FILE.kql")]
    pub file: Option<PathBuf>,

    /// Print the optimized plan (`plan`), or run the query and print the plan with the time and
    /// rows of each step (`analyze`), instead of the results.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub explain: Option<Explain>,

    /// Threads (and partitions) a query uses; every core by default.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Cap memory held by sorts, aggregations and joins (e.g. 4G, 512M; default: half the
    /// machine's memory; none: no cap); past it they spill to disk or the query fails.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,

    /// REPL: Enter adds a line, and a blank line (or a `;` that ends a query) runs the query, as
    /// Kusto.Explorer separates queries by blank lines. Same as `.set block=on`.
    #[arg(long)]
    pub block: bool,
}

/// Where tables and functions come from; every subcommand takes the same options.
#[derive(ClapArgs, Debug, Default)]
pub struct Sources {
    /// Register a table: NAME=PATH, where PATH is a Parquet, JSON lines (.json, .jsonl) or
    /// CSV/TSV file (gzip too), a folder of them or a glob.
    #[arg(long = "table", value_name = "NAME=PATH")]
    pub tables: Vec<String>,

    /// Register each Parquet, JSON lines or CSV/TSV file and each sub-folder of DIR (a folder,
    /// or a bucket or container prefix: s3://, az://, abfss://, gs://) as a table named after it.
    #[arg(long, value_name = "DIR|URL")]
    pub data: Vec<String>,

    /// Lines of a JSON or CSV table that one query may skip because they cannot be read (each
    /// reported on stderr); one more fails the query. By default the first such line fails it.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_bad_rows: u64,

    /// Keep a Parquet copy of each JSON or CSV file a query reads to its end in DIR (a folder
    /// of your own), and read the copy instead while the file is unchanged (same size,
    /// modification and change time, ETag): the next query over the same logs skips the
    /// parsing.
    #[arg(long, value_name = "DIR")]
    pub text_cache: Option<PathBuf>,

    /// Load functions every query can call: `.kql` files of `let` statements and `.create
    /// function` commands, ASIM parser `.yaml` files, or folders of both (searched recursively).
    #[arg(long = "functions", value_name = "FILE|DIR")]
    pub functions: Vec<PathBuf>,

    /// Folder of watchlists: `_GetWatchlist('name')` reads name.csv or name.jsonl from it.
    #[arg(long, value_name = "DIR")]
    pub watchlists: Option<PathBuf>,

    /// Let `externaldata` fetch http(s) URLs (cached; see --cache-dir). Off by default: kql
    /// reads only what it is given.
    #[arg(long, conflicts_with = "offline")]
    pub allow_network: bool,

    /// Let `externaldata` read http(s) URLs only from the cache an earlier run filled.
    #[arg(long)]
    pub offline: bool,

    /// Where fetched URLs are cached (default: ~/.cache/kql/externaldata).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Run queries on the Ballista cluster whose scheduler is at df://HOST:PORT (see `kql
    /// cluster`). Tables must be Parquet files at the same path on every executor, or URLs.
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

impl Sources {
    pub fn network(&self) -> kql_engine::network::NetworkPolicy {
        use kql_engine::network::NetworkPolicy;
        match (self.allow_network, self.offline) {
            (true, _) => NetworkPolicy::Allowed,
            (false, true) => NetworkPolicy::Offline,
            (false, false) => NetworkPolicy::Denied,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check that queries parse, and plan when the tables they read are registered. Never runs them.
    Check(CheckArgs),
    /// Run saved hunts (.kql files, Sentinel rule YAML, hunt packs) and write each one's results.
    Hunt(HuntArgs),
    /// Turn raw logs into the tables Sentinel has, as Parquet that every query reads.
    #[command(subcommand)]
    Import(ImportKind),
    /// Run a node of a Ballista cluster that runs kql's queries (`--cluster` sends them).
    #[command(subcommand)]
    Cluster(ClusterRole),
}

#[derive(Subcommand, Debug)]
pub enum ClusterRole {
    /// The scheduler: plans each query into stages and hands them to executors.
    Scheduler(SchedulerArgs),
    /// An executor: runs stages and serves their results to the others.
    Executor(ExecutorArgs),
}

#[derive(ClapArgs, Debug)]
pub struct SchedulerArgs {
    /// The address to listen on. Loopback by default: anyone who reaches the port can run
    /// queries over the executors' files.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
    pub bind: String,

    /// The host name executors and clients reach this scheduler by (default: the bind address).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,

    /// Let jobs read tables only under this folder or URL prefix (s3://bucket/logs/); repeat
    /// for several. Give the executors the same roots: the scheduler refuses a job that names
    /// a file elsewhere as it plans it, so neither its rows nor its statistics reach the client
    #[arg(long, value_name = "DIR|URL")]
    pub data_root: Vec<String>,
}

#[derive(ClapArgs, Debug)]
pub struct ExecutorArgs {
    /// The scheduler's address.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
    pub scheduler: String,

    /// The address to listen on (loopback by default).
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub bind_host: String,

    /// The port other executors and clients fetch results from (Arrow Flight).
    #[arg(long, value_name = "PORT", default_value_t = 50051)]
    pub port: u16,

    /// The port the scheduler sends tasks to (gRPC).
    #[arg(long, value_name = "PORT", default_value_t = 50052)]
    pub grpc_port: u16,

    /// The host name the scheduler and other executors reach this executor by.
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,

    /// Where shuffle files are written (default: a new temporary folder).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Tasks run at once (default: every core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub cores: usize,

    /// Memory the executor's tasks may hold before they spill to disk (like 4G or 512M).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,

    /// What one task may write for the next stage (like 20G; none: no limit). Past it the query
    /// fails, instead of filling the disk when rows multiply from stage to stage. Default: a
    /// quarter of the free disk of --work-dir when the executor starts
    #[arg(long, value_name = "SIZE")]
    pub max_task_output: Option<String>,

    /// Read tables only under this folder or URL prefix (s3://bucket/logs/); repeat for
    /// several. A job that names a file elsewhere is refused. Without one, any file is read
    #[arg(long, value_name = "DIR|URL")]
    pub data_root: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ImportKind {
    /// Windows event logs (.evtx) into WindowsEvent, SecurityEvent (Security channel) and Event
    /// (other channels, Sysmon's included), partitioned by table and day.
    Evtx(EvtxArgs),
}

#[derive(ClapArgs, Debug)]
pub struct EvtxArgs {
    /// .evtx files, or folders searched for them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The folder the tables are written to (`DIR/<Table>/TimeGenerated=<day>/*.parquet`); use it
    /// as `--data DIR` afterwards.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(ClapArgs, Debug)]
pub struct HuntArgs {
    /// .kql and Sentinel .yaml files, or folders searched for them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Tables and functions the hunts read.
    #[command(flatten)]
    pub sources: Sources,

    /// Fix now() and ago() to this UTC time (ISO 8601).
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<String>,

    /// Write each hunt's results to DIR/<hunt>.<ext>, and DIR/summary.json.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Format of the result files.
    #[arg(long, value_enum, default_value_t = HuntFormat::Jsonl)]
    pub format: HuntFormat,

    /// Hunts run at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub jobs: usize,

    /// Exit with status 2 when any hunt returned rows (and none failed).
    #[arg(long)]
    pub fail_on_hits: bool,

    /// Read each table once per hunt, instead of once for all the hunts that read only it (for
    /// measuring what sharing saves).
    #[arg(long)]
    pub no_shared_scans: bool,

    /// Cap memory the hunts together hold in sorts and aggregations (e.g. 4G); past it they spill.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum HuntFormat {
    Jsonl,
    Csv,
    Parquet,
}

impl HuntFormat {
    pub fn extension(self) -> &'static str {
        match self {
            HuntFormat::Jsonl => "jsonl",
            HuntFormat::Csv => "csv",
            HuntFormat::Parquet => "parquet",
        }
    }
}

#[derive(ClapArgs, Debug)]
pub struct CheckArgs {
    /// .kql files, or folders searched for them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// `text` (errors with carets, then a summary) or `jsonl` (one object per query).
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,

    /// Tables and functions; queries that read only registered tables are planned too.
    #[command(flatten)]
    pub sources: Sources,

    /// Also check that each query prints back (the AST's Display) to text that parses to the
    /// same AST: a check of kql itself rather than of the queries.
    #[arg(long)]
    pub round_trip: bool,

    /// Also make each planned query's physical plan (DataFusion's optimizer and physical
    /// planner), and give the time parsing and planning took (`elapsed_us` in jsonl).
    #[arg(long)]
    pub timings: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Jsonl,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Explain {
    Plan,
    Analyze,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Jsonl,
}

/// `4G`, `512M`, `100k` or a byte count.
pub fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim();
    let (num, mult) = match t.chars().last()?.to_ascii_uppercase() {
        'K' => (&t[..t.len() - 1], 1usize << 10),
        'M' => (&t[..t.len() - 1], 1 << 20),
        'G' => (&t[..t.len() - 1], 1 << 30),
        'T' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v >= 0.0).then_some((v * mult as f64) as usize)
}
