//! An S3-compatible server on loopback for tests: moto's server (PyPI `moto[server]`), started
//! as a real process. Where it is not installed the tests that need it say so loudly and skip,
//! unless `PORTAL_REQUIRE_S3=1` (CI), which makes them fail instead.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;

pub const ACCESS_KEY: &str = "portal-test";
pub const SECRET_KEY: &str = "portal-test-secret";
pub const REGION: &str = "us-east-1";

pub struct S3Server {
    child: Child,
    pub endpoint: String,
}

impl S3Server {
    /// Starts the server, or returns None after saying why the test is skipped.
    pub async fn start() -> Option<S3Server> {
        let port = super::process::free_port();
        let spawned = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => return skip(&format!("python3 cannot run: {error}")),
        };
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<bool>();
        let ready_tx = Arc::new(std::sync::Mutex::new(Some(ready_tx)));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let ready_tx = ready_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let verdict = if line.contains("Running on") {
                        Some(true)
                    } else if line.contains("No module named") {
                        Some(false)
                    } else {
                        None
                    };
                    if let Some(verdict) = verdict
                        && let Some(tx) = ready_tx.lock().unwrap().take()
                    {
                        let _ = tx.send(verdict);
                    }
                }
                // The process ended before saying it runs.
                if let Some(tx) = ready_tx.lock().unwrap().take() {
                    let _ = tx.send(false);
                }
            });
        }
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        match tokio::time::timeout(Duration::from_secs(120), ready_rx).await {
            Ok(Ok(true)) => Some(server),
            _ => skip("moto's S3 server did not start (pip install 'moto[server]')"),
        }
    }

    /// Creates a bucket, as an operator would before pointing the portal at it.
    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("the S3 server answers");
        assert!(
            response.status().is_success(),
            "creating the bucket: {response:?}"
        );
    }

    /// An S3 client for a bucket, as the portal builds one.
    pub fn client(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        let s3 = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region(REGION)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()
            .expect("an S3 client");
        Arc::new(s3)
    }

    /// The variables a portal process needs to use the bucket (`PORTAL_STORAGE_URL` and the
    /// standard `AWS_*` ones), as the README documents them.
    pub fn process_env(&self, bucket: &str) -> Vec<(String, String)> {
        [
            ("PORTAL_STORAGE_URL", format!("s3://{bucket}")),
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skip(why: &str) -> Option<S3Server> {
    if std::env::var("PORTAL_REQUIRE_S3").is_ok_and(|v| v == "1") {
        panic!("{why}, and PORTAL_REQUIRE_S3=1");
    }
    eprintln!("\n*** SKIPPED: a test that needs an S3-compatible server: {why}\n");
    None
}
