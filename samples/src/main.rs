//! `kql-samples`: writes deterministic sample logs with planted attacks.
//!
//! `kql-samples network-session --rows 150000 --out samples/data/NetworkSession.parquet`
//! writes ASIM NetworkSession events: background traffic from workstations and servers, and
//! the beacons listed in `network_session::PLANTS` (the ones the Sentinel beaconing rule must
//! find, and look-alikes it must ignore).
//!
//! `kql-samples windows --out samples/data` writes the Windows tables the T1571 detections in
//! `samples/hunts` read (`SecurityEvent`, `PowerShellScriptBlock_CL`, `WindowsEvent`), each with
//! the planted events listed in `windows`.

mod event_table;
mod network_session;
mod rng;
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
    },
    /// Sysmon network connections, PowerShell script blocks and Windows Filtering Platform
    /// events with planted T1571 activity, one Parquet file per table in DIR.
    Windows {
        /// Background rows of each table.
        #[arg(long, default_value_t = 5_000)]
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
        Command::NetworkSession { rows, out, seed } => network_session::write(&out, rows, seed),
        Command::Windows { rows, out, seed } => windows::write_sysmon(&out.join("SecurityEvent.parquet"), rows, seed)
            .and_then(|a| Ok(format!("{a}\n{}", windows::write_powershell(&out.join("PowerShellScriptBlock_CL.parquet"), rows / 5, seed ^ 0x4104)?)))
            .and_then(|a| Ok(format!("{a}\n{}", windows::write_wfp(&out.join("WindowsEvent.parquet"), rows, seed ^ 0x5156)?))),
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
