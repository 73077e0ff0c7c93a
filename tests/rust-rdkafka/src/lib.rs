//! Helpers of the tests in tests/: the broker under test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The strikemq binary (`STRIKEMQ_BIN`, or the workspace's debug build) on a free port with a
/// temporary data directory; stopped with SIGTERM on drop.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub bootstrap: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// Starts it and waits for its `Ready` line.
    pub fn start() -> Broker {
        let bin = std::env::var("STRIKEMQ_BIN").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/debug/strikemq").to_owned()
        });
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&bin)
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
                "--http-port",
                "0",
                "--io-threads",
                "2",
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut port = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.split("accepting Kafka connections on ").nth(1) {
                port = rest.rsplit(':').next().map(|p| p.trim().to_owned());
                break;
            }
        }
        let port = port.expect("broker did not report ready");
        Broker {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
    }
}
