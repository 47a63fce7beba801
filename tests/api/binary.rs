//! The real binary as a child process: its output drained while it runs (trace logs would fill a
//! pipe and block it), and a wait until it answers.

use std::time::Duration;

use std::process::ExitStatus;
use tokio::io::AsyncReadExt as _;

use tokio::process::Child;
use tokio::task::JoinHandle;

/// Everything the child wrote to stdout and stderr, available once it has exited.
pub struct Output {
    stdout: JoinHandle<std::io::Result<Vec<u8>>>,
    stderr: JoinHandle<std::io::Result<Vec<u8>>>,
}

impl Output {
    /// Starts draining a child spawned with piped stdout and stderr.
    pub fn drain(child: &mut Child) -> Self {
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        Self {
            stdout: tokio::spawn(async move {
                let mut buffer = Vec::new();
                stdout.read_to_end(&mut buffer).await.map(|_| buffer)
            }),
            stderr: tokio::spawn(async move {
                let mut buffer = Vec::new();
                stderr.read_to_end(&mut buffer).await.map(|_| buffer)
            }),
        }
    }

    /// stdout then stderr, as text (after the child exited).
    pub async fn text(self) -> String {
        let stdout = self.stdout.await.unwrap().unwrap();
        let stderr = self.stderr.await.unwrap().unwrap();
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )
    }
}

/// Waits until `GET {base}/readyz` answers 200, at most `patience`.
pub async fn wait_until_ready(base: &str, patience: Duration) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + patience;
    while tokio::time::Instant::now() < deadline {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} did not become ready within {patience:?}");
}

/// Sends SIGTERM (as a process manager would) and waits for the exit, at most `patience`.
pub async fn terminate(child: &mut Child, patience: Duration) -> ExitStatus {
    let pid = child.id().expect("running").to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    tokio::time::timeout(patience, child.wait())
        .await
        .unwrap_or_else(|_| panic!("the server did not stop within {patience:?} after SIGTERM"))
        .unwrap()
}

/// A port nobody listens on now (for a child server, which binds it itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
