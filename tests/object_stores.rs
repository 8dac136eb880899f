//! Tables in S3, end to end: a real S3 server (moto, in server mode) on 127.0.0.1 with
//! authentication on, a bucket of Parquet and JSON lines objects, and the `kql` binary reading
//! them with credentials from the environment. Nothing reaches the internet: moto is installed
//! from PyPI into `target/test-tools` the first time (or taken from `KQL_TEST_MOTO_SERVER` or
//! the PATH).

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use support::{kql_binary, root, stderr, stdout};

/// The `moto_server` program, installed on first use.
fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("KQL_TEST_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let target = kql_binary().parent().and_then(Path::parent).expect("target folder").to_path_buf();
    let venv = target.join("test-tools/moto");
    let server = venv.join("bin/moto_server");
    if !server.exists() {
        let venv_text = venv.display().to_string();
        let install = format!("python3 -m venv '{venv_text}' && '{venv_text}/bin/pip' install -q 'moto[server]==5.2.5'");
        let out = Command::new("sh").args(["-c", &install]).output().expect("run python3");
        assert!(
            out.status.success(),
            "the S3 tests need moto's server (pip install 'moto[server]', or set KQL_TEST_MOTO_SERVER): installing it into {venv_text} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    server
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
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "moto_server did not start on port {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
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
            ("net/NetworkSession.parquet", parquet),
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
