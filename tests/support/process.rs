//! `revstream` roles as real child processes: started with a data dir and
//! environment, stopped with SIGTERM, or killed with SIGKILL mid-flight.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "e2e-admin-token-0123456789";
pub const MASTER_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A revstream process, killed when dropped (a failing test leaves nothing
/// behind).
pub struct Process(pub Child);

impl Process {
    /// `revstream ARGS` with `REVSTREAM_DATA_DIR=data_dir`, the shared admin
    /// token and master key, and `env` on top. Deployment variables of the
    /// developer's shell are removed so tests see only what they set.
    pub fn start(args: &[&str], data_dir: &Path, env: &[(&str, &str)]) -> Process {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_revstream"));
        cmd.args(args)
            .env("REVSTREAM_DATA_DIR", data_dir)
            .env("REVSTREAM_ADMIN_TOKEN", ADMIN)
            .env("REVSTREAM_MASTER_KEY", MASTER_KEY)
            .env(
                "REVSTREAM_LOG",
                std::env::var("REVSTREAM_TEST_PROCESS_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env_remove("REVSTREAM_DATABASE_URL")
            .env_remove("REVSTREAM_KAFKA")
            .env_remove("REVSTREAM_TABLE_URI")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Process(cmd.spawn().unwrap())
    }

    /// SIGTERM, then wait for the exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Whether the process is still running (it has not exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `GET {base}/healthz` answers 2xx (60 s at most).
pub async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let healthy = http.get(format!("{base}/healthz")).send().await;
        if healthy.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{base} did not become healthy");
}
