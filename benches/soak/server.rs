//! The system under test: the real `revstream serve` binary as a child
//! process, on a free port, in a temp data dir on a real disk, killed when
//! dropped so a failing run leaves nothing behind.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub(crate) const ADMIN_TOKEN: &str = "soak-admin-token-0123456789abcdef";
const MASTER_KEY: &str = "00000000000000000000000000000000000000000000000000000000000050a4";
const STARTUP: Duration = Duration::from_secs(120);

pub(crate) struct Serve {
    child: Child,
    pub(crate) base: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Serve {
    /// `revstream serve` with its defaults except the address and data dir;
    /// its log (warnings and errors) goes to `serve.log` beside the data.
    pub(crate) fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("revstream-soak-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .context("creating the soak's temp dir")?;
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("serve.log");
        let log = File::create(&log_path).context("creating serve.log")?;
        let addr = format!("127.0.0.1:{}", free_port()?);
        let child = Command::new(env!("CARGO_BIN_EXE_revstream"))
            .arg("serve")
            .env("REVSTREAM_DATA_DIR", &data_dir)
            .env("REVSTREAM_HTTP", &addr)
            .env("REVSTREAM_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("REVSTREAM_MASTER_KEY", MASTER_KEY)
            .env(
                "REVSTREAM_LOG",
                std::env::var("REVSTREAM_SOAK_SERVE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            // Deployment settings of the caller's shell would change what
            // is measured: only the embedded defaults are soaked.
            .env_remove("REVSTREAM_DATABASE_URL")
            .env_remove("REVSTREAM_KAFKA")
            .env_remove("REVSTREAM_TABLE_URI")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting revstream serve")?;
        Ok(Self {
            child,
            base: format!("http://{addr}"),
            data_dir,
            log_path,
            _dir: dir,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/readyz` answers 2xx.
    pub(crate) async fn wait_ready(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Some(status) = self.exited()? {
                bail!(
                    "revstream serve exited at start ({status}): {}",
                    self.log_tail(20)
                );
            }
            let ready = http.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("revstream serve was not ready after {STARTUP:?}")
    }

    /// The exit status if the process has ended.
    pub(crate) fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        self.child.try_wait().context("checking on revstream serve")
    }

    /// SIGTERM, then the exit status and how long the shutdown took
    /// (`None` when it had to be killed after `grace`).
    pub(crate) async fn stop(
        &mut self,
        grace: Duration,
    ) -> anyhow::Result<(Option<ExitStatus>, Duration)> {
        let started = Instant::now();
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .context("running kill -TERM")?;
        if !sent.success() {
            bail!("kill -TERM {} failed", self.pid());
        }
        while started.elapsed() < grace {
            if let Some(status) = self.exited()? {
                return Ok((Some(status), started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok((None, started.elapsed()))
    }

    /// The last `lines` lines of the server's log, for error messages.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Lines of the server's log that are warnings and errors.
    pub(crate) fn log_counts(&self) -> (usize, usize) {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let warn = text.lines().filter(|l| l.contains(" WARN ")).count();
        let error = text.lines().filter(|l| l.contains(" ERROR ")).count();
        (warn, error)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A port nothing listens on right now (the OS picks it).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .context("finding a free port")?
        .local_addr()?
        .port())
}

/// Bytes of every file under `dir` (the data dir: log, registry, tables).
pub(crate) fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
