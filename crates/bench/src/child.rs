//! Servers under test run as child processes, and their memory is read from `/proc`.
//!
//! Why a child process rather than the server in the benchmark's own process: the server's
//! resident memory is then the server's alone (not the generator's buffers and latency vectors),
//! `VmHWM` is its true peak, and the server gets its own runtime exactly as `fieldproof serve`
//! builds it. The cost is nothing: both still share the same two cores, as they would in-process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// A server process started by the benchmark; killed when dropped.
pub struct ChildServer {
    child: Child,
    pub addr: SocketAddr,
    pub name: String,
}

/// Memory of a process, in kB, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss_kb: u64,
    /// Peak resident since start or since [`ChildServer::reset_peak`] (`VmHWM`).
    pub peak_kb: u64,
}

impl ChildServer {
    /// Starts `cmd`, sends its stderr to `log`, and waits (up to `wait`) for the line
    /// `... listening on http://ADDR` on its stdout.
    pub fn start(name: &str, mut cmd: Command, log: &Path, wait: Duration) -> Result<Self> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create the log file {}", log.display()))?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start the {name} server"))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        // Reads every line for the life of the child, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr.trim().to_string());
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(wait) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the {name} server did not say where it listens within {wait:?}; see {}",
                    log.display()
                );
            }
        };
        let addr = addr
            .parse()
            .map_err(|e| anyhow!("the {name} server printed a bad address {addr:?}: {e}"))?;
        Ok(Self {
            child,
            addr,
            name: name.to_string(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> Result<Memory> {
        memory(self.pid())
    }

    /// Resets the peak (`VmHWM`) to the current resident size, so the next reading is the peak
    /// of what follows (writing 5 to `/proc/<pid>/clear_refs`, Linux 4.0+).
    pub fn reset_peak(&self) -> Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .context("cannot reset the peak RSS (clear_refs)")
    }

    /// Asks the server to stop (SIGTERM, so it finishes in-flight requests and closes its
    /// database cleanly), then kills it if it has not stopped after `wait`.
    pub fn stop(mut self, wait: Duration) -> Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `VmRSS` and `VmHWM` of process `pid`.
pub fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    Ok(parse_status(&status))
}

fn parse_status(status: &str) -> Memory {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kb: field("VmRSS:"),
        peak_kb: field("VmHWM:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kb() {
        let s = "Name:\tx\nVmHWM:\t  123456 kB\nVmRSS:\t   65432 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(s),
            Memory {
                rss_kb: 65432,
                peak_kb: 123456
            }
        );
        let me = memory(std::process::id()).unwrap();
        assert!(me.rss_kb > 0 && me.peak_kb >= me.rss_kb);
    }
}
