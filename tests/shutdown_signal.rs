//! A stop is never lost: `revstream serve` sent SIGTERM while it is still
//! starting up (its registry open, its tables and pipeline not yet) finishes
//! starting and then shuts down in order, instead of running on until it is
//! signalled again.

#![allow(clippy::unwrap_used)] // the shared test helpers unwrap outside #[test] fns

mod support;

use std::time::{Duration, Instant};

use support::process::Process;

#[test]
fn sigterm_during_start_up_stops_serve_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let mut serve = Process::start(&["serve", "--http", "127.0.0.1:0"], data.path(), &[]);

    // The embedded log's directory appears after the registry is open; the
    // tables, the pipeline and the HTTP listener are still ahead.
    let log_dir = data.path().join("log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log_dir.exists() {
        assert!(Instant::now() < deadline, "serve never opened its log");
        assert!(serve.is_running(), "serve exited during start-up");
        std::thread::sleep(Duration::from_millis(1));
    }
    let sent = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(serve.pid().to_string())
        .status()
        .unwrap();
    assert!(sent.success(), "kill -TERM failed");

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = serve.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve still runs 60 s after a SIGTERM sent during its start-up: the signal was lost"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "serve stopped during start-up exited with {status}, not 0"
    );
}
