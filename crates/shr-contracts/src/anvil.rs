//! A local anvil node (npm `@foundry-rs/anvil`) for integration tests and benches.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running anvil, listening on a free loopback port; killed (by its PID) on drop.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    port: u16,
}

/// Why anvil could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    /// The binary is missing or could not be executed.
    #[error(
        "could not start anvil at {path}: run `npm ci` in contracts/ (building shr-contracts does)"
    )]
    Spawn {
        /// The binary's path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No free loopback port.
    #[error("no free loopback port for anvil")]
    NoPort(#[source] std::io::Error),
    /// It did not accept connections in time.
    #[error("anvil did not listen on 127.0.0.1:{port} within {waited:?}")]
    NotListening {
        /// The port it was told to use.
        port: u16,
        /// How long we waited.
        waited: Duration,
    },
}

impl Anvil {
    /// Starts anvil with Prague rules (the embedded chain's) on a free loopback port.
    ///
    /// # Errors
    /// [`AnvilError`] when the binary is missing or the node does not come up within 20 s.
    pub fn spawn() -> Result<Self, AnvilError> {
        Self::spawn_with(&[])
    }

    /// [`Anvil::spawn`] with more command-line flags, e.g. `["--block-time", "1"]` (a block a
    /// second, as a live chain) or `["--timestamp", "1700000000"]` (the genesis time).
    ///
    /// # Errors
    /// As [`Anvil::spawn`].
    pub fn spawn_with(extra: &[&str]) -> Result<Self, AnvilError> {
        // Two tests starting anvil at once may be handed the same free port: the loser's anvil
        // exits at once (address in use) while the port answers for the winner's. Only a node
        // that is still our child once the port answers is ours; otherwise try another port.
        let start = Instant::now();
        for _ in 0..5 {
            if let Some(anvil) = Self::try_spawn(extra)? {
                return Ok(anvil);
            }
        }
        Err(AnvilError::NotListening { port: 0, waited: start.elapsed() })
    }

    fn try_spawn(extra: &[&str]) -> Result<Option<Self>, AnvilError> {
        let path = crate::anvil_path();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(AnvilError::NoPort)?
            .port();
        let child = Command::new(&path)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--hardfork", "prague"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| AnvilError::Spawn { path, source })?;
        let mut anvil = Self { child, port };
        let start = Instant::now();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if anvil.exited() {
                return Ok(None);
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err(AnvilError::NotListening { port, waited: start.elapsed() });
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        std::thread::sleep(Duration::from_millis(50));
        Ok((!anvil.exited()).then_some(anvil))
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Its HTTP endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
