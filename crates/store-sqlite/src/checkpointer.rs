//! Checkpoints off the writer's path.
//!
//! In WAL mode SQLite copies the log back into the database file (a checkpoint, with its own
//! sync) every 1,000 pages, by default inside the commit that crosses the line: one batch of the
//! group commit then waits for a whole checkpoint, and the writer thread spends its time copying
//! pages instead of committing (8% of its samples under a create load, measured with perf). So
//! the writer's connection never checkpoints (`wal_autocheckpoint = 0`) and this thread does,
//! on a connection of its own, every `EVERY`: a PASSIVE checkpoint copies what no reader still
//! needs and never blocks the writer or the readers. The log's frames are synced at each commit
//! whatever happens here, so durability does not depend on this thread.

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use fieldproof_store::{StoreError, StoreResult};
use rusqlite::Connection;

const EVERY: Duration = Duration::from_millis(200);

/// The log's size past which the writer starts it over (see `writer::restart_log`): 256 MiB.
/// Also the connections' `journal_size_limit`, so a log that overshot is cut back to it then.
pub const WAL_CAP: u64 = 256 * 1024 * 1024;

/// Stops the thread when dropped, and waits for it: once a store is dropped, no connection of
/// its is left on the file.
pub struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Checkpointer {
    pub fn start(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open(path).map_err(crate::backend)?;
        crate::configure(&conn).map_err(crate::backend)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed; retrying later");
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}
