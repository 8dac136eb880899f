//! Tables in object stores, end to end: a real S3 server (moto in server mode, authentication
//! on), a real Azure Blob server (Azurite) and a bucket served through Google Cloud Storage's
//! XML API (moto again, see `gcs_buckets_are_tables`) on 127.0.0.1, each holding Parquet and
//! JSON lines objects, and the `kql` binary reading them with credentials from the environment. The tests
//! contact nothing but those servers. The servers are installed into `target/test-tools` the
//! first time, from PyPI (moto, pinned: 5.2.1 miscomputes the signature of keys holding `=`; and
//! Azure's Python SDK, which fills Azurite's container) and the npm registry (Azurite), or taken
//! from `KQL_TEST_MOTO_SERVER` and `KQL_TEST_AZURITE_BLOB`.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use support::{kql_binary, root, stderr, stdout};

/// `target/test-tools/<name>`, where the test servers are installed.
fn tools_dir(name: &str) -> PathBuf {
    kql_binary().parent().and_then(Path::parent).expect("target folder").join("test-tools").join(name)
}

/// Runs an install command once (the tests of this file run in parallel); `what` says what
/// failed.
fn install(program: &Path, command: &str, what: &str) {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if program.exists() {
        return;
    }
    let out = Command::new("sh").args(["-c", command]).output().expect("run sh");
    assert!(out.status.success(), "{what}: `{command}` failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// The `moto_server` program, installed from PyPI on first use.
fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("KQL_TEST_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = tools_dir("moto");
    let server = venv.join("bin/moto_server");
    let v = venv.display();
    install(
        &server,
        &format!("python3 -m venv '{v}' && '{v}/bin/pip' install -q 'moto[server]==5.2.5'"),
        "the S3 test needs moto's server (or set KQL_TEST_MOTO_SERVER)",
    );
    server
}

/// Azurite's blob server, installed from the npm registry on first use.
fn azurite_blob() -> PathBuf {
    if let Some(p) = std::env::var_os("KQL_TEST_AZURITE_BLOB") {
        return PathBuf::from(p);
    }
    let dir = tools_dir("azurite");
    let server = dir.join("node_modules/.bin/azurite-blob");
    let d = dir.display();
    install(
        &server,
        &format!("mkdir -p '{d}' && npm install --silent --prefix '{d}' azurite@3.35.0"),
        "the Azure test needs Azurite (or set KQL_TEST_AZURITE_BLOB)",
    );
    server
}

/// A Python with Azure's storage SDK, which creates the test's container and blobs.
fn azure_python() -> PathBuf {
    let venv = tools_dir("azure-sdk");
    let python = venv.join("bin/python");
    let v = venv.display();
    install(
        &venv.join("bin/.azure-sdk-installed"),
        &format!("python3 -m venv '{v}' && '{v}/bin/pip' install -q 'azure-storage-blob==12.31.1' && touch '{v}/bin/.azure-sdk-installed'"),
        "the Azure test needs the azure-storage-blob package",
    );
    python
}

struct Moto {
    child: Child,
    endpoint: String,
    key: String,
    secret: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server child process, stopped when dropped (a failed assertion included).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (a minute at most) until a server just started listens on `port`.
fn wait_until_listening(port: u16, server: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "{server} did not start on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

fn xml_value(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).map(|i| i + open.len()).unwrap_or_else(|| panic!("no <{tag}> in {xml}"));
    let end = xml[start..].find('<').expect("closing tag") + start;
    xml[start..end].to_string()
}

/// A moto server with authentication on: the first four requests (unauthenticated) create a
/// user allowed everything on S3, its access key and the bucket `logs`; every later request
/// must be signed with that key.
fn start_moto() -> Moto {
    let port = free_port();
    let child = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "4")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_until_listening(port, "moto_server");
    // IAM requests name their service in the credential scope; unsigned ones are let through
    // while the initial allowance lasts.
    let iam = |form: &[(&str, &str)]| -> String {
        let mut all = form.to_vec();
        all.push(("Version", "2010-05-08"));
        let mut response = ureq::post(&endpoint)
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=setup/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            )
            .send_form(all)
            .expect("IAM request");
        response.body_mut().read_to_string().expect("IAM response")
    };
    iam(&[("Action", "CreateUser"), ("UserName", "hunter")]);
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    iam(&[("Action", "PutUserPolicy"), ("UserName", "hunter"), ("PolicyName", "s3"), ("PolicyDocument", policy)]);
    let key = iam(&[("Action", "CreateAccessKey"), ("UserName", "hunter")]);
    ureq::put(format!("{endpoint}/logs")).send_empty().expect("create bucket");
    Moto { child, endpoint, key: xml_value(&key, "AccessKeyId"), secret: xml_value(&key, "SecretAccessKey") }
}

/// A moto server without authentication, with the bucket `logs`: it stands in for Google
/// Cloud Storage's XML API, which is S3's (see `gcs_buckets_are_tables`).
fn start_open_moto() -> Moto {
    let port = free_port();
    let child = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_until_listening(port, "moto_server");
    // Unsigned requests read what is public-read only.
    ureq::put(format!("{endpoint}/logs")).header("x-amz-acl", "public-read").send_empty().expect("create bucket");
    Moto { child, endpoint, key: "open".to_string(), secret: "open".to_string() }
}

/// Objects any unsigned request may read.
fn upload_public(moto: &Moto, objects: &[(&str, Vec<u8>)]) {
    for (key, bytes) in objects {
        ureq::put(format!("{}/logs/{key}", moto.endpoint))
            .header("x-amz-acl", "public-read")
            .header("Content-Type", "application/octet-stream")
            .send(&bytes[..])
            .expect("upload");
    }
}

fn upload(moto: &Moto, objects: &[(&str, Vec<u8>)]) {
    let store = AmazonS3Builder::new()
        .with_endpoint(&moto.endpoint)
        .with_allow_http(true)
        .with_bucket_name("logs")
        .with_region("us-east-1")
        .with_access_key_id(&moto.key)
        .with_secret_access_key(&moto.secret)
        .build()
        .expect("S3 client");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        for (key, bytes) in objects {
            store.put(&object_store::path::Path::from(*key), bytes.clone().into()).await.expect("upload");
        }
    });
}

/// The files under a folder, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() { files_under(&path, out) } else { out.push(path) }
    }
}

/// `kql` with the S3 settings a user would export, and nothing of the machine's own AWS setup.
fn kql_s3(moto: &Moto, secret: &str, args: &[&str]) -> Output {
    Command::new(kql_binary())
        .args(args)
        .current_dir(root())
        .env_remove("AWS_PROFILE")
        .env("HOME", std::env::temp_dir())
        .env("AWS_ACCESS_KEY_ID", &moto.key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT", &moto.endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .stdin(Stdio::null())
        .output()
        .expect("run kql")
}

#[test]
fn s3_objects_and_prefixes_are_tables_and_bad_credentials_or_buckets_are_clear_errors() {
    let moto = start_moto();
    let parquet = std::fs::read(root().join("samples/data/NetworkSession.parquet")).expect("sample table");
    upload(
        &moto,
        &[
            ("net/NetworkSession.parquet", parquet.clone()),
            ("export/y=2024/m=05/d=01/h=10/m=00/PT1H.json", b"{\"TimeGenerated\":\"2024-05-01T10:15:00Z\",\"User\":\"a\"}\n".to_vec()),
            ("export/y=2024/m=05/d=20/h=10/m=00/PT1H.json", b"{\"TimeGenerated\":\"2024-05-20T10:15:00Z\",\"User\":\"b\"}\n".to_vec()),
        ],
    );
    let secret = moto.secret.clone();
    let ok = |args: &[&str]| {
        let out = kql_s3(&moto, &secret, args);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let beacon = "N | where DstIpAddr == '185.220.101.7' | count";
    assert_eq!(ok(&["--table", "N=s3://logs/net/NetworkSession.parquet", "--format", "csv", "-c", beacon]), "Count\n160\n");
    assert_eq!(ok(&["--table", "N=s3://logs/net/", "--format", "csv", "-c", beacon]), "Count\n160\n");
    let window = "S | where TimeGenerated > datetime(2024-05-15) | project User";
    assert_eq!(ok(&["--table", "S=s3://logs/export", "--format", "csv", "-c", window]), "User\nb\n");
    assert!(
        ok(&["--table", "S=s3://logs/export", "--explain", "plan", "-c", window])
            .starts_with("Partitions:\n  s3://logs/export: 1 of 2 files read, 1 skipped")
    );

    // A Delta table in the bucket (tests/fixtures/delta): read through its log, at a version.
    let lake = root().join("tests/fixtures/delta/DeviceLogonEvents");
    let mut files = Vec::new();
    files_under(&lake, &mut files);
    let objects: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| {
            let key = format!("lake/DeviceLogonEvents/{}", f.strip_prefix(&lake).expect("under the table").display());
            (key, std::fs::read(f).expect("fixture file"))
        })
        .collect();
    upload(&moto, &objects.iter().map(|(k, b)| (k.as_str(), b.clone())).collect::<Vec<_>>());
    let logons = "L | summarize Logons = count() by AccountName | sort by AccountName asc";
    assert_eq!(
        ok(&["--table", "L=s3://logs/lake/DeviceLogonEvents/", "--format", "csv", "-c", logons]),
        "AccountName,Logons\nalice,1\nbob,1\nmallory,3\n"
    );
    assert_eq!(
        ok(&["--table", "L=delta:s3://logs/lake/DeviceLogonEvents#version=0", "--format", "csv", "-c", logons]),
        "AccountName,Logons\nalice,1\nmallory,1\nsvc_backup,2\n"
    );
    // A partition prefix or a data file inside the table is refused as a local one is.
    let out = kql_s3(&moto, &secret, &["--table", "L=s3://logs/lake/DeviceLogonEvents/Day=2024-05-01/", "-c", "L | count"]);
    assert_eq!(
        stderr(&out),
        "error: --table L: 's3://logs/lake/DeviceLogonEvents/Day=2024-05-01/' is part of the Delta table 's3://logs/lake/DeviceLogonEvents', whose folder keeps files that later versions removed: read the table through its log (--table NAME=delta:s3://logs/lake/DeviceLogonEvents, and a where on its partition column)\n"
    );
    let out = kql_s3(
        &moto,
        &secret,
        &[
            "--table",
            "L=s3://logs/lake/DeviceLogonEvents/Day=2024-05-03/part-00000-3e75c893-a17a-46dc-afea-ff08341d7129-c000.snappy.parquet",
            "-c",
            "L | count",
        ],
    );
    assert!(stderr(&out).contains("is part of the Delta table 's3://logs/lake/DeviceLogonEvents'"), "{}", stderr(&out));
    let out = kql_s3(&moto, &secret, &["--table", "L=s3://logs/lake/", "-c", "L | count"]);
    assert_eq!(
        stderr(&out),
        "error: --table L: 's3://logs/lake/' holds the Delta table 's3://logs/lake/DeviceLogonEvents', whose folder keeps files that later versions removed: register it as a table of its own (--table NAME=delta:s3://logs/lake/DeviceLogonEvents)\n"
    );

    // A prefix as a `--data` location: each prefix and table object right under it is a table,
    // and a container of Log Analytics' export is the table its records name.
    upload(
        &moto,
        &[
            (
                "sentinel/am-signinlogs/WorkspaceResourceId=/subscriptions/s1/y=2024/m=05/d=01/h=10/m=00/PT1H.json",
                b"{\"TimeGenerated\":\"2024-05-01T10:15:00Z\",\"Type\":\"SigninLogs\",\"User\":\"a\"}\n".to_vec(),
            ),
            ("sentinel/NetworkSession.parquet", parquet),
            ("sentinel/README.md", b"notes".to_vec()),
        ],
    );
    let out = kql_s3(
        &moto,
        &secret,
        &[
            "--data",
            "s3://logs/sentinel/",
            "--format",
            "csv",
            "-c",
            "SigninLogs | project User; NetworkSession | where DstIpAddr == '185.220.101.7' | count",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "User\na\nCount\n160\n");
    assert_eq!(
        stderr(&out),
        "warning: --data s3://logs/sentinel/: left out 's3://logs/sentinel/README.md': not a Parquet, JSON lines or CSV/TSV file\n"
    );
    // The bucket's top: `lake/` holds a Delta table and is left out with the reason; the
    // others load.
    let out = kql_s3(&moto, &secret, &["--data", "s3://logs", "--format", "csv", "-c", "net | where DstIpAddr == '185.220.101.7' | count"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n160\n");
    assert!(
        stderr(&out).contains(
            "warning: --data s3://logs: table lake left out: 's3://logs/lake/' holds the Delta table 's3://logs/lake/DeviceLogonEvents'"
        ),
        "{}",
        stderr(&out)
    );
    let out = kql_s3(&moto, &secret, &["--data", "s3://logs/lake/DeviceLogonEvents/", "-c", "print 1"]);
    assert_eq!(
        stderr(&out),
        "error: --data: 's3://logs/lake/DeviceLogonEvents/' is a Delta table, not a folder of tables: register it with --table NAME=delta:s3://logs/lake/DeviceLogonEvents/\n"
    );
    let out = kql_s3(&moto, &secret, &["--data", "s3://no-such-bucket/", "-c", "print 1"]);
    assert!(stderr(&out).starts_with("error: --data: cannot list 's3://no-such-bucket/': no such bucket or container"), "{}", stderr(&out));

    // Credentials and region from `~/.aws` (the profile AWS_PROFILE names), as the AWS CLI
    // reads them, when the environment sets none.
    let home = support::scratch("aws-profile");
    std::fs::create_dir_all(home.join(".aws")).expect("mkdir .aws");
    std::fs::write(
        home.join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = {0}\naws_secret_access_key = not-the-secret\n\n[hunter]\naws_access_key_id = {0}\naws_secret_access_key = {1}\n",
            moto.key, moto.secret
        ),
    )
    .expect("write credentials");
    std::fs::write(home.join(".aws/config"), "[profile hunter]\nregion = us-east-1\n").expect("write config");
    let kql_profile = |profile: Option<&str>| {
        let mut cmd = Command::new(kql_binary());
        cmd.args(["--table", "N=s3://logs/net/", "--format", "csv", "-c", beacon]).current_dir(root()).stdin(Stdio::null());
        for name in [
            "AWS_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CONFIG_FILE",
        ] {
            cmd.env_remove(name);
        }
        if let Some(profile) = profile {
            cmd.env("AWS_PROFILE", profile);
        }
        cmd.env("HOME", &home).env("AWS_ENDPOINT", &moto.endpoint).env("AWS_ALLOW_HTTP", "true").output().expect("run kql")
    };
    let out = kql_profile(Some("hunter"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n160\n");
    // The default profile's secret is wrong: the server's refusal is a clear error.
    let out = kql_profile(None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: --table N: cannot list 's3://logs/net/': access denied: check the credentials in the environment"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&home).ok();

    let out = kql_s3(&moto, "not-the-secret", &["--table", "N=s3://logs/net/", "-c", "N | count"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: --table N: cannot list 's3://logs/net/': access denied: check the credentials in the environment"),
        "{}",
        stderr(&out)
    );
    let out = kql_s3(&moto, &secret, &["--table", "N=s3://no-such-bucket/net/", "-c", "N | count"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: --table N: cannot list 's3://no-such-bucket/net/': no such bucket or container"),
        "{}",
        stderr(&out)
    );
    let out = kql_s3(&moto, &secret, &["--table", "N=s3://logs/nothing-here/", "-c", "N | count"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: --table N: 's3://logs/nothing-here/' holds no Parquet, JSON lines or CSV files (0 objects under it)\n"
    );
}

/// Azurite's well-known development account.
const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[test]
fn azure_blob_containers_are_tables_and_bad_keys_or_containers_are_clear_errors() {
    let port = free_port();
    let storage = support::scratch("azurite-storage");
    let mut child = Command::new(azurite_blob())
        .args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--location",
            storage.to_str().expect("utf-8"),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start azurite-blob");
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = Kill(&mut child);
    wait_until_listening(port, "azurite");
    let endpoint = format!("http://127.0.0.1:{port}");
    let setup = format!(
        r#"
from azure.storage.blob import BlobServiceClient
service = BlobServiceClient.from_connection_string("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};BlobEndpoint={endpoint}/devstoreaccount1;")
container = service.create_container("logs")
container.upload_blob("net/NetworkSession.parquet", open("{}", "rb"))
container.upload_blob("signins/SigninLogs.jsonl", b'{{"User":"a","ResultType":"0"}}\n{{"User":"b","ResultType":"50126"}}\n')
audit = service.create_container("audit")
audit.upload_blob("signins/SigninLogs.jsonl", b'{{"User":"c","ResultType":"0"}}\n{{"User":"d","ResultType":"0"}}\n{{"User":"e","ResultType":"0"}}\n')
"#,
        root().join("samples/data/NetworkSession.parquet").display()
    );
    let out = Command::new(azure_python()).args(["-c", &setup]).output().expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let kql_az = |key: Option<&str>, args: &[&str]| {
        let mut cmd = Command::new(kql_binary());
        cmd.args(args)
            .current_dir(root())
            .env("HOME", std::env::temp_dir())
            .env("AZURE_STORAGE_USE_EMULATOR", "true")
            .env("AZURITE_BLOB_STORAGE_URL", &endpoint)
            .stdin(Stdio::null());
        if let Some(key) = key {
            cmd.env("AZURE_STORAGE_ACCOUNT_KEY", key);
        }
        cmd.output().expect("run kql")
    };
    let out = kql_az(None, &["--table", "N=az://logs/net/", "--format", "csv", "-c", "N | where DstIpAddr == '185.220.101.7' | count"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n160\n");
    let out = kql_az(None, &["--table", "S=az://logs/signins/SigninLogs.jsonl", "--format", "csv", "-c", "S | where ResultType != '0'"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "User,ResultType\nb,50126\n");
    // The container as a `--data` location: its two prefixes are tables.
    let out = kql_az(
        None,
        &["--data", "az://logs", "--format", "csv", "-c", "signins | count; net | where DstIpAddr == '185.220.101.7' | count"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n2\nCount\n160\n");

    // ADLS Gen2 URLs name the container before the account: two containers of one account
    // are two stores (DataFusion's registry keyed both by the account's host alone, and the
    // container registered last answered for both), even where their paths are the same.
    let out = kql_az(
        None,
        &[
            "--table",
            "A=abfss://logs@devstoreaccount1.dfs.core.windows.net/signins/",
            "--table",
            "B=abfss://audit@devstoreaccount1.dfs.core.windows.net/signins/",
            "--format",
            "csv",
            "-c",
            "A | summarize Users = make_list(User); B | summarize Users = make_list(User)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Users\n\"[\"\"a\"\",\"\"b\"\"]\"\nUsers\n\"[\"\"c\"\",\"\"d\"\",\"\"e\"\"]\"\n");

    // A key that is not the account's, and a container that is not there.
    let out = kql_az(Some("d3Jvbmd3cm9uZ3dyb25nd3Jvbmc="), &["--table", "N=az://logs/net/", "-c", "N | count"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: --table N: cannot list 'az://logs/net/': access denied: check the credentials in the environment"),
        "{}",
        stderr(&out)
    );
    let out = kql_az(None, &["--table", "N=az://no-such-container/net/", "-c", "N | count"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: --table N: cannot list 'az://no-such-container/net/': no such bucket or container"),
        "{}",
        stderr(&out)
    );
}

/// `gs://` locations. object_store's Google Cloud Storage client speaks GCS's XML API, which is
/// S3's (`GET /bucket?list-type=2`, `GET /bucket/object` with ranges); no GCS emulator on the
/// package registries serves that listing (gcp-storage-emulator answers 501), so moto's S3
/// server, without authentication, serves the bucket. kql is pointed at it as any GCS client is
/// at an emulator: a service-account key file (named by `GOOGLE_SERVICE_ACCOUNT`) that sets
/// `gcs_base_url` and `disable_oauth`.
#[test]
fn gcs_buckets_are_tables() {
    let moto = start_open_moto();
    let parquet = std::fs::read(root().join("samples/data/NetworkSession.parquet")).expect("sample table");
    upload_public(
        &moto,
        &[
            ("net/NetworkSession.parquet", parquet),
            ("export/y=2024/m=05/d=01/h=10/m=00/PT1H.json", b"{\"TimeGenerated\":\"2024-05-01T10:15:00Z\",\"User\":\"a\"}\n".to_vec()),
            ("export/y=2024/m=05/d=20/h=10/m=00/PT1H.json", b"{\"TimeGenerated\":\"2024-05-20T10:15:00Z\",\"User\":\"b\"}\n".to_vec()),
        ],
    );
    let dir = support::scratch("gcs-key");
    let key = dir.join("service-account.json");
    std::fs::write(
        &key,
        format!(
            r#"{{"type":"service_account","private_key":"unused","private_key_id":"unused","client_email":"hunter@kql-test.iam.gserviceaccount.com","gcs_base_url":"{}","disable_oauth":true}}"#,
            moto.endpoint
        ),
    )
    .expect("write key file");
    // Nothing of the machine's own Google setup: object_store reads every GOOGLE_ variable.
    let gcs_env = |cmd: &mut Command| {
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("GOOGLE_") {
                cmd.env_remove(name);
            }
        }
        cmd.current_dir(root()).env("HOME", std::env::temp_dir()).env("GOOGLE_SERVICE_ACCOUNT", &key);
    };
    let kql_gcs = |args: &[&str]| {
        let mut cmd = Command::new(kql_binary());
        gcs_env(&mut cmd);
        cmd.args(args).stdin(Stdio::null()).output().expect("run kql")
    };
    let ok = |args: &[&str]| {
        let out = kql_gcs(args);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let beacon = "N | where DstIpAddr == '185.220.101.7' | count";
    assert_eq!(ok(&["--table", "N=gs://logs/net/NetworkSession.parquet", "--format", "csv", "-c", beacon]), "Count\n160\n");
    assert_eq!(ok(&["--table", "N=gs://logs/net/", "--format", "csv", "-c", beacon]), "Count\n160\n");
    let window = "S | where TimeGenerated > datetime(2024-05-15) | project User";
    assert_eq!(ok(&["--table", "S=gs://logs/export", "--format", "csv", "-c", window]), "User\nb\n");
    assert!(
        ok(&["--table", "S=gs://logs/export", "--explain", "plan", "-c", window])
            .starts_with("Partitions:\n  gs://logs/export: 1 of 2 files read, 1 skipped")
    );
    assert_eq!(ok(&["--data", "gs://logs/", "--format", "csv", "-c", "net | where DstIpAddr == '185.220.101.7' | count"]), "Count\n160\n");
    // `.load` in the REPL takes a URL as --table does.
    let mut repl = Command::new(kql_binary());
    gcs_env(&mut repl);
    repl.env("KQL_HISTORY", dir.join("history")).env("NO_COLOR", "1");
    let mut p = rexpect::session::spawn_command(repl, Some(30_000)).expect("start the REPL");
    p.exp_string("kql> ").expect("prompt");
    p.send_line(".load N=gs://logs/net/").expect("type .load");
    p.exp_string("table N loaded").expect("the table loads");
    p.exp_string("kql> ").expect("prompt");
    p.send_line(".format csv").expect("type .format");
    // The line editor redraws "kql> .format" as each key arrives, so the prompt alone can match
    // before the line is taken, and a query typed then is dropped (as `tests/repl.rs` knows):
    // wait until the editor leaves bracketed-paste mode, which it does on taking the line.
    p.exp_string("\x1b[?2004l").expect("the line is accepted");
    p.exp_string("kql> ").expect("prompt");
    p.send_line(beacon).expect("type the query");
    p.exp_string("Count\r\n160").expect("the query's answer");
    p.send_line(".quit").expect("type .quit");

    let out = kql_gcs(&["--table", "N=gs://no-such-bucket/net/", "-c", "N | count"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: --table N: cannot list 'gs://no-such-bucket/net/': no such bucket or container"),
        "{}",
        stderr(&out)
    );

    // Wrong credentials. A key file that cannot be read, or whose key is not a key, is named
    // before anything is contacted (no token is asked of Google's servers). A server's refusal
    // is not tested here: moto without authentication refuses nothing, and with it answers an
    // unsigned request with a 500 (S3's refusal is tested above).
    let with_key = |key_file: &Path| {
        let mut cmd = Command::new(kql_binary());
        gcs_env(&mut cmd);
        cmd.env("GOOGLE_SERVICE_ACCOUNT", key_file).args(["--table", "N=gs://logs/net/", "-c", "N | count"]).stdin(Stdio::null());
        let out = cmd.output().expect("run kql");
        assert_eq!(out.status.code(), Some(1));
        stderr(&out)
    };
    assert_eq!(
        with_key(&dir.join("no-such-key.json")),
        format!(
            "error: --table N: cannot open 'gs://logs/net/': Generic GCS error: GCP credential error: Unable to open service account file from {}: No such file or directory (os error 2)\n",
            dir.join("no-such-key.json").display()
        )
    );
    let not_a_key = dir.join("not-a-key.json");
    std::fs::write(
        &not_a_key,
        format!(
            r#"{{"type":"service_account","private_key":"not a key","private_key_id":"k","client_email":"hunter@kql-test.iam.gserviceaccount.com","gcs_base_url":"{}"}}"#,
            moto.endpoint
        ),
    )
    .expect("write key file");
    assert_eq!(
        with_key(&not_a_key),
        "error: --table N: cannot open 'gs://logs/net/': Generic GCS error: Error reading pem file: no items found\n"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A JSON lines file served over plain HTTP (Python's own web server), and a URL that names
/// nothing there.
#[test]
fn http_urls_are_tables() {
    let dir = support::scratch("http-served");
    std::fs::write(dir.join("signins.jsonl"), "{\"User\":\"a\",\"ResultType\":\"0\"}\n{\"User\":\"b\",\"ResultType\":\"50126\"}\n")
        .expect("write");
    std::fs::write(dir.join("bad.jsonl"), "{\"User\":\"a\"}\nnot json\n").expect("write");
    // Compressed: its reader reads the gzip header as soon as it is made, which must happen
    // where the object's bytes may be waited for (it panicked on the runtime's thread).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"{\"User\":\"c\",\"ResultType\":\"50053\"}\n").expect("gzip");
    std::fs::write(dir.join("more.jsonl.gz"), gz.finish().expect("gzip")).expect("write");
    let port = free_port();
    let server = Command::new("python3")
        .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory", dir.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python3 -m http.server");
    let server = Server(server);
    wait_until_listening(port, "the web server");
    let table = format!("S=http://127.0.0.1:{port}/signins.jsonl");
    let out = support::kql(&["--table", &table, "--format", "csv", "-c", "S | where ResultType != '0'"]);
    let missing = format!("S=http://127.0.0.1:{port}/nothing.jsonl");
    let missing_out = support::kql(&["--table", &missing, "-c", "S"]);
    let bad = format!("S=http://127.0.0.1:{port}/bad.jsonl");
    let bad_out = support::kql(&["--table", &bad, "-c", "S"]);
    let compressed = format!("S=http://127.0.0.1:{port}/more.jsonl.gz");
    let compressed_out = support::kql(&["--table", &compressed, "--format", "csv", "-c", "S"]);
    drop(server);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "User,ResultType\nb,50126\n");
    assert!(compressed_out.status.success(), "{}", stderr(&compressed_out));
    assert_eq!(stdout(&compressed_out), "User,ResultType\nc,50053\n");
    assert_eq!(missing_out.status.code(), Some(1));
    assert_eq!(
        stderr(&missing_out),
        format!("error: --table S: cannot open 'http://127.0.0.1:{port}/nothing.jsonl': no such object (the server answered 404)\n")
    );
    // A line that cannot be read is named by the URL of its file.
    assert_eq!(bad_out.status.code(), Some(1));
    assert!(
        stderr(&bad_out).starts_with(&format!("error: http://127.0.0.1:{port}/bad.jsonl, line 2: not a JSON object")),
        "{}",
        stderr(&bad_out)
    );
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The same over HTTPS: Python's web server with a certificate of a private certificate
/// authority (made by `openssl`), which kql trusts only when SSL_CERT_FILE names it, as the
/// system's own tools do. Before kql named its TLS cryptography, every `https://` request
/// failed with "error sending request", trusted or not.
#[test]
fn https_urls_are_tables_and_an_untrusted_certificate_is_a_clear_error() {
    let dir = support::scratch("https-served");
    std::fs::write(dir.join("signins.jsonl"), "{\"User\":\"a\",\"ResultType\":\"0\"}\n{\"User\":\"b\",\"ResultType\":\"50126\"}\n")
        .expect("write");
    openssl(
        &dir,
        &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=kql test CA", "-days", "2"],
    );
    openssl(&dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").expect("write");
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    let serve = r#"
import functools, http.server, ssl, sys
port, directory = int(sys.argv[1]), sys.argv[2]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(f"{directory}/server.pem", f"{directory}/server.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;
    let port = free_port();
    let server = Command::new("python3")
        .args(["-c", serve, &port.to_string(), dir.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the HTTPS server");
    let server = Server(server);
    wait_until_listening(port, "the web server");
    let table = format!("S=https://127.0.0.1:{port}/signins.jsonl");
    let run = |ca: Option<&Path>| {
        let mut cmd = Command::new(kql_binary());
        cmd.args(["--table", &table, "--format", "csv", "-c", "S | where ResultType != '0'"]).current_dir(root()).stdin(Stdio::null());
        cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
        if let Some(ca) = ca {
            cmd.env("SSL_CERT_FILE", ca);
        }
        cmd.output().expect("run kql")
    };
    let trusted = run(Some(&dir.join("ca.pem")));
    let untrusted = run(None);
    drop(server);
    assert!(trusted.status.success(), "{}", stderr(&trusted));
    assert_eq!(stdout(&trusted), "User,ResultType\nb,50126\n");
    assert_eq!(untrusted.status.code(), Some(1));
    assert_eq!(
        stderr(&untrusted),
        format!(
            "error: --table S: cannot open 'https://127.0.0.1:{port}/signins.jsonl': the server's TLS certificate is not trusted (invalid peer certificate: UnknownIssuer): a private certificate authority's PEM file can be named with SSL_CERT_FILE\n"
        )
    );
    std::fs::remove_dir_all(&dir).ok();
}
