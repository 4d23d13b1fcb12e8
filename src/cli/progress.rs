//! A one-line progress bar on stderr for the long commands (`plan`, `sync`, `undo`).
//!
//! Drawn only when stderr is a terminal and `--json` was not given, so scripts and pipes see
//! nothing of it. Hand-written rather than a dependency: one line, redrawn when the percentage
//! changes, erased when the step ends.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether bars are drawn at all (set once by [`enable`]).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Draws bars from now on when `wanted` and stderr is a terminal.
pub(super) fn enable(wanted: bool) {
    ENABLED.store(wanted && std::io::stderr().is_terminal(), Ordering::Relaxed);
}

/// One step's bar: created before the step, updated by its progress callback, erased on drop.
pub(super) struct Bar {
    label: &'static str,
    shown: Option<u64>,
}

/// Width of the bar itself, in characters.
const WIDTH: u64 = 30;

impl Bar {
    /// A bar for a step described by `label` ("Reading", "Writing").
    pub(super) fn new(label: &'static str) -> Bar {
        Bar { label, shown: None }
    }

    /// The progress callback: draws `done / total`; never cancels.
    pub(super) fn update(&mut self, done: u64, total: u64) -> bool {
        if !ENABLED.load(Ordering::Relaxed) || total == 0 {
            return true;
        }
        let percent = done.min(total) * 100 / total;
        if self.shown != Some(percent) {
            self.shown = Some(percent);
            let filled = (percent * WIDTH / 100) as usize;
            let bar = format!("{}{}", "#".repeat(filled), " ".repeat(WIDTH as usize - filled));
            // A failed write to a terminal is not worth stopping the command for.
            let _ = write!(std::io::stderr().lock(), "\r{} [{bar}] {percent:>3}%", self.label);
        }
        true
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if self.shown.is_some() {
            // Erase the line so the command's own output starts clean.
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}
