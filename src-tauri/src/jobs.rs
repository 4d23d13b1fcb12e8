//! Long work (reading a big file, applying, undoing): progress to the window, and cancel.
//!
//! A command doing long work takes a [`Channel`] from the UI and reports through a [`Job`]:
//! each report carries the stage, rows done and rows in all, sent at most every
//! [`REPORT_EVERY`] so the IPC stays quiet. The **Cancel** button calls `cancel_job`, which
//! raises the flag the job's progress callback reads; the engine then stops and writes
//! nothing. One job runs at a time (the window is busy while it runs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tauri::ipc::Channel;

/// The shortest time between two progress reports.
const REPORT_EVERY: Duration = Duration::from_millis(50);

/// What a long job is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Stage {
    /// Reading the uploaded file.
    Reading,
    /// Comparing it with the repository.
    Planning,
    /// Writing a plan.
    Applying,
    /// Reverting a run.
    Undoing,
}

/// One progress report.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Progress {
    /// What is being done.
    pub stage: Stage,
    /// Units done (rows, or bytes while reading).
    pub done: u64,
    /// Units in all (0 when not known yet).
    pub total: u64,
}

/// The app's cancel flag, shared by the running job and the `cancel_job` command.
#[derive(Default)]
pub struct Jobs {
    cancel: Arc<AtomicBool>,
}

impl Jobs {
    /// Starts a job reporting to `channel`; clears any earlier cancel request.
    pub fn start(&self, channel: Channel<Progress>) -> Job {
        self.cancel.store(false, Ordering::SeqCst);
        Job { cancel: Arc::clone(&self.cancel), channel, last: None }
    }

    /// Asks the running job to stop.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// A running job: see the module documentation.
pub struct Job {
    cancel: Arc<AtomicBool>,
    channel: Channel<Progress>,
    last: Option<Instant>,
}

impl Job {
    /// Reports progress (throttled; the last report of a stage is always sent) and answers
    /// whether to go on: the engine's progress callback contract.
    pub fn report(&mut self, stage: Stage, done: u64, total: u64) -> bool {
        let finished = total > 0 && done >= total;
        if finished || self.last.is_none_or(|t| t.elapsed() >= REPORT_EVERY) {
            self.last = Some(Instant::now());
            // A closed window cannot take the report; the work itself goes on regardless.
            let _ = self.channel.send(Progress { stage, done, total });
        }
        !self.cancel.load(Ordering::SeqCst)
    }
}
