//! `kql-samples`: writes deterministic sample logs with planted attacks.
//!
//! `kql-samples network-session --rows 150000 --out samples/data/NetworkSession.parquet`
//! writes ASIM NetworkSession events: background traffic from workstations and servers, and
//! the beacons listed in `network_session::PLANTS` (the ones the Sentinel beaconing rule must
//! find, and look-alikes it must ignore).
//!
//! `kql-samples device-process --rows 10000000 --out DeviceProcessEvents.parquet` writes
//! Microsoft Defender XDR's `DeviceProcessEvents` at a real fleet's cardinality, with the attacks
//! listed in `device_process` planted.
//!
//! `kql-samples sentinel --out samples/data` writes the raw tables Microsoft Sentinel stores
//! (`SecurityEvent`, `WindowsEvent`, `Event`, `ASimNetworkSessionLogs`, with Sentinel's column
//! names and types) holding the same planted beacons, for the ASIM parsers in
//! `samples/parsers`, and `PowerShellScriptBlock_CL`; each with the plants listed in
//! `sentinel` and `windows`.

mod device_process;
mod event_table;
mod network_session;
mod rng;
mod sentinel;
mod windows;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "kql-samples", about = "Generate sample security logs with planted attacks")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// ASIM NetworkSession events with planted beacons.
    NetworkSession {
        /// Background rows (the planted events come on top).
        #[arg(long, default_value_t = 150_000)]
        rows: usize,
        /// Output Parquet file.
        #[arg(long)]
        out: PathBuf,
        /// Seed of the generator: the same seed gives the same file.
        #[arg(long, default_value_t = 1571)]
        seed: u64,
        /// A background at a real network's cardinality (for benchmarks): 20,000 sources,
        /// 48,000 destinations, flows drawn from 0.7 x rows (about 5.3 M distinct per 10 M rows);
        /// --sources, --destinations and --flows change them.
        #[arg(long)]
        realistic: bool,
        /// Distinct source hosts of a realistic background.
        #[arg(long, requires = "realistic", default_value_t = 20_000)]
        sources: u64,
        /// Distinct destinations of a realistic background.
        #[arg(long, requires = "realistic", default_value_t = 48_000)]
        destinations: u64,
        /// Flows (source, destination, port) a realistic background draws its rows from
        /// (default 0.7 x rows).
        #[arg(long, requires = "realistic")]
        flows: Option<u64>,
    },
    /// Microsoft Defender XDR's DeviceProcessEvents (as Sentinel stores it) at a real fleet's
    /// cardinality, with planted attacks (rundll32 comsvcs MiniDump, certutil -urlcache,
    /// vssadmin delete shadows, procdump -ma lsass, powershell -enc, mimikatz).
    DeviceProcess {
        /// Background rows (the planted events come on top).
        #[arg(long, default_value_t = 10_000_000)]
        rows: usize,
        /// Output Parquet file.
        #[arg(long)]
        out: PathBuf,
        /// Seed of the generator: the same seed gives the same file.
        #[arg(long, default_value_t = 1571)]
        seed: u64,
        /// Devices of the fleet (a tenth of them servers).
        #[arg(long, default_value_t = 15_000)]
        devices: usize,
    },
    /// Sentinel's raw tables (SecurityEvent, WindowsEvent, Event, ASimNetworkSessionLogs) with
    /// the planted beacons and T1571 activity, and PowerShell script blocks, one Parquet file
    /// per table in DIR.
    Sentinel {
        /// Background rows of each table (a fifth of it for PowerShell, a quarter more
        /// logons in SecurityEvent).
        #[arg(long, default_value_t = 6_000)]
        rows: usize,
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 1571)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match args.command {
        Command::NetworkSession { rows, out, seed, realistic, sources, destinations, flows } => {
            let cardinality =
                realistic.then(|| network_session::Cardinality { sources, destinations, flows: flows.unwrap_or(rows as u64 * 7 / 10) });
            network_session::write(&out, rows, seed, cardinality)
        }
        Command::DeviceProcess { rows, out, seed, devices } => device_process::write(&out, rows, seed, devices),
        Command::Sentinel { rows, out, seed } => [
            sentinel::write_security_event(&out.join("SecurityEvent.parquet"), rows, seed),
            sentinel::write_windows_event(&out.join("WindowsEvent.parquet"), rows, seed),
            sentinel::write_event(&out.join("Event.parquet"), rows / 2, seed),
            sentinel::write_native(&out.join("ASimNetworkSessionLogs.parquet"), rows, seed),
            windows::write_powershell(&out.join("PowerShellScriptBlock_CL.parquet"), 1_000, seed ^ 0x4104),
        ]
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map(|lines| lines.join("\n")),
    };
    match outcome {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
