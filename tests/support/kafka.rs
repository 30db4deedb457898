//! A real Kafka-compatible broker for tests.
//!
//! ```text
//!  Broker::shared()    REVSTREAM_TEST_KAFKA set? ──yes──▶ that broker (CI)
//!                                  └──no──▶ a tansu process of our own (memory)
//!  Broker::spawn_own() always our own tansu: can be killed and restarted
//! ```
//!
//! Our own broker is a `tansu` child on a free port, killed on drop. The
//! calls here block (process spawns, TCP and metadata polls); they are
//! meant for test set-up, where that is simpler than being async.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::service_missing;

const SERVICE: &str = "Kafka broker (tansu)";
/// tansu is ready in well under a second here; the rest is slack for a
/// loaded CI machine.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Where our own broker keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Gone when the process dies.
    Memory,
    /// `tansu.db` in this directory: survives a kill and restart.
    Sqlite(PathBuf),
}

/// A broker that tests can produce to and consume from.
#[derive(Debug)]
pub struct Broker {
    /// `host:port` for `bootstrap.servers`.
    pub bootstrap: String,
    /// Our tansu process, `None` for an external broker or after `kill`.
    child: Option<Child>,
    /// How to start it again; `None` for an external broker.
    own: Option<OwnBroker>,
}

#[derive(Debug)]
struct OwnBroker {
    port: u16,
    storage: Storage,
    /// Holds tansu's output, for the message when it fails to start.
    logs: tempfile::TempDir,
}

impl Broker {
    /// The broker named by `REVSTREAM_TEST_KAFKA` (CI starts one, shared by
    /// all tests), else a tansu of our own with memory storage (one process
    /// per call: it starts in well under a second, and tests stay
    /// isolated). `None` (skip) when neither is available outside CI; a
    /// panic in CI.
    pub fn shared() -> Option<Broker> {
        match std::env::var("REVSTREAM_TEST_KAFKA") {
            Ok(bootstrap) if !bootstrap.trim().is_empty() => {
                if let Err(why) = wait_until_ready(&bootstrap, || Ok(())) {
                    return service_missing(
                        SERVICE,
                        format!("REVSTREAM_TEST_KAFKA={bootstrap}: {why}"),
                    );
                }
                Some(Broker {
                    bootstrap,
                    child: None,
                    own: None,
                })
            }
            _ => Broker::spawn_own(Storage::Memory),
        }
    }

    /// A tansu process of our own on a free port; `None` (skip) if tansu is
    /// not installed or does not start, outside CI.
    pub fn spawn_own(storage: Storage) -> Option<Broker> {
        let mut logs = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(e) => return service_missing(SERVICE, format!("no temp dir for its logs: {e}")),
        };
        // A free port can be taken by someone else between our probe and
        // tansu's bind; try a few.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = match free_port() {
                Ok(port) => port,
                Err(e) => return service_missing(SERVICE, format!("no free port: {e}")),
            };
            let mut own = OwnBroker {
                port,
                storage: storage.clone(),
                logs,
            };
            match own.start() {
                Ok(child) => {
                    return Some(Broker {
                        bootstrap: own.bootstrap(),
                        child: Some(child),
                        own: Some(own),
                    });
                }
                Err(StartError::NotInstalled(why)) => return service_missing(SERVICE, why),
                Err(StartError::Failed(why)) => last_error = why,
            }
            logs = own.logs;
        }
        service_missing(SERVICE, last_error)
    }

    /// Whether this is our own process (which `kill` and `restart` need).
    pub fn is_own(&self) -> bool {
        self.own.is_some()
    }

    /// SIGKILL: no shutdown, no flush, like a crash.
    ///
    /// # Panics
    /// On an external broker: a test that kills must use `spawn_own`.
    pub fn kill(&mut self) {
        assert!(
            self.is_own(),
            "cannot kill the external broker {}; use Broker::spawn_own",
            self.bootstrap
        );
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts our broker again on the same port with the same storage
    /// (killing it first if it still runs) and waits until it answers.
    ///
    /// # Panics
    /// On an external broker, or when tansu does not come back.
    pub fn restart(&mut self) {
        self.kill();
        let Some(own) = self.own.as_mut() else {
            unreachable!("kill() checked that the broker is our own")
        };
        // The old socket may take a moment to release the port.
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match own.start() {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(e) if Instant::now() >= deadline => {
                    panic!("tansu did not restart on {}: {e}", self.bootstrap)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Debug)]
enum StartError {
    NotInstalled(String),
    Failed(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::NotInstalled(why) | StartError::Failed(why) => f.write_str(why),
        }
    }
}

impl OwnBroker {
    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Spawns tansu and waits until it serves metadata.
    fn start(&mut self) -> Result<Child, StartError> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log_path = self.logs.path().join("tansu.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| StartError::Failed(format!("cannot open {}: {e}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|e| StartError::Failed(format!("cannot share {}: {e}", log_path.display())))?;

        let mut command = Command::new("tansu");
        command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        match &self.storage {
            Storage::Memory => {
                command.args(["--storage-engine", "memory://tansu/"]);
            }
            Storage::Sqlite(dir) => {
                // tansu mangles absolute sqlite paths; a relative one from
                // the data directory works.
                command
                    .current_dir(dir)
                    .args(["--storage-engine", "sqlite://tansu.db"]);
            }
        }
        let mut child = command.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                StartError::NotInstalled("`tansu` is not on PATH".to_owned())
            }
            _ => StartError::Failed(format!("cannot run tansu: {e}")),
        })?;

        let ready = wait_until_ready(&self.bootstrap(), || match child.try_wait() {
            Ok(Some(status)) => Err(format!("tansu exited with {status}")),
            _ => Ok(()),
        });
        match ready {
            Ok(()) => Ok(child),
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(StartError::Failed(format!(
                    "{why}; tansu output:\n{}",
                    tail(&log_path)
                )))
            }
        }
    }
}

/// Waits until `bootstrap` accepts TCP connections and answers a metadata
/// request naming at least one broker; `alive` can cut the wait short when
/// the process died.
fn wait_until_ready(
    bootstrap: &str,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let addr: SocketAddr = bootstrap
        .split(',')
        .next()
        .and_then(|a| a.trim().parse().ok())
        .ok_or_else(|| format!("{bootstrap} is not an ip:port"))?;
    loop {
        alive()?;
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{bootstrap} refused connections for {READY_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| format!("cannot build a metadata client: {e}"))?;
    loop {
        alive()?;
        let outcome = consumer.fetch_metadata(None, Duration::from_secs(1));
        match outcome {
            Ok(metadata) if !metadata.brokers().is_empty() => return Ok(()),
            Ok(_) if Instant::now() >= deadline => {
                return Err(format!("{bootstrap} lists no brokers"));
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("{bootstrap} answers no metadata: {e}"));
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The last lines tansu printed, for a start-up failure message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A topic name no other test (or earlier run against a long-lived broker)
/// uses: `prefix-<pid>-<time>-<n>`.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
