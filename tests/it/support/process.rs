//! The `portal` binary as a separate process, for tests that must kill it for real. The test
//! decides which build runs: `PORTAL_CRASH_BIN` names one (the release binary in
//! `scripts/crash-test`), otherwise the binary of this test build, which has the test hooks.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a start may take before the test gives up on it (a bound, not a speed figure).
const START_LIMIT: Duration = Duration::from_secs(60);

pub struct PortalProcess {
    child: Option<Child>,
    pub base_url: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
}

/// The binary under test.
pub fn binary() -> PathBuf {
    std::env::var_os("PORTAL_CRASH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_portal")))
}

/// The `portal` binary of this build for a one-off command (`user add`, `backup`, `generate`…)
/// on the data directory, with nothing of the test's environment. It keeps its database in the
/// data directory (SQLite) in both test runs: the commands' code paths do not depend on the
/// backend, which the other tests cover.
pub fn command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portal"));
    command
        .env_clear()
        .env("PORTAL_DATA_DIR", data_dir)
        .env("PORTAL_BASE_URL", "https://portal.example.cl")
        .env("RUST_LOG", "warn");
    command
}

/// A loopback port that nothing listens on at the moment.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PortalProcess {
    /// Settings for `portal serve` on a loopback port: the data directory and database the test
    /// prepared, the captcha off, e-mails as files.
    pub fn new(binary: PathBuf, data_dir: &Path, database_url: &str, log: PathBuf) -> Self {
        let port = free_port();
        let base_url = format!("http://127.0.0.1:{port}");
        let env = [
            ("PORTAL_DATA_DIR", data_dir.display().to_string()),
            ("PORTAL_DATABASE_URL", database_url.to_string()),
            ("PORTAL_BIND", format!("127.0.0.1:{port}")),
            ("PORTAL_BASE_URL", base_url.clone()),
            ("PORTAL_CAPTCHA", "off".to_string()),
            ("RUST_LOG", "info,sqlx=warn,tower_http=warn".to_string()),
        ];
        PortalProcess {
            child: None,
            base_url,
            binary,
            env: env.map(|(k, v)| (k.to_string(), v)).to_vec(),
            log,
        }
    }

    /// Adds or replaces one environment variable for the next start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// Starts `portal serve` and returns once it listens (it logs "portal listening" after
    /// migrations, start-up clean-up and binding). Its output is appended to the log file.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(&self.binary)
            .arg("serve")
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        forward_output(child.stdout.take().unwrap(), &self.log, Some(ready_tx));
        forward_output(child.stderr.take().unwrap(), &self.log, None);
        self.child = Some(child);
        match tokio::time::timeout(START_LIMIT, ready_rx).await {
            Ok(Ok(())) => {}
            _ => panic!(
                "the portal did not start; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            ),
        }
    }

    /// `kill -9`: no signal handler, no shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for a process that is expected to die by itself (a crash point), up to a bound.
    pub async fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        tokio::task::spawn_blocking(move || child.wait().expect("waiting for the portal"))
            .await
            .unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PortalProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copies a pipe of the child to the log file on a thread of its own; tells `ready` when the
/// server says it listens.
fn forward_output(
    pipe: impl std::io::Read + Send + 'static,
    log: &Path,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("the process log");
    std::thread::spawn(move || {
        let mut ready = ready;
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = writeln!(file, "{line}");
            if line.contains("portal listening")
                && let Some(ready) = ready.take()
            {
                let _ = ready.send(());
            }
        }
    });
}
