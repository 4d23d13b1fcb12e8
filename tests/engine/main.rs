//! Integration tests of the engine and the `idbulk` CLI, in one test binary (one link instead
//! of one per file). Each module is a chapter; read them in this order:
//!
//! 1. [`template`]: downloading templates, and reading them back value for value.
//! 2. [`import`]: uploaded files of every supported format become raw rows at Excel positions.
//! 3. [`journeys`]: the bulk-update procedure as a user goes through it, from template to undo.
//! 4. [`properties`]: what must hold for any data (proptest): self-plans are empty, plans apply
//!    exactly, row order never matters, export then import changes nothing.
//! 5. [`hostile`]: every bad input of SPEC section 9, through `idbulk plan` and `sync`: a clear
//!    message naming the file or the cell, exit status 1, the repository file unchanged.
//! 6. [`crash`]: a sync killed at any moment of its apply leaves the repository exactly as
//!    before or exactly as after; [`export_crash`]: a killed template export leaves the old
//!    file or a complete new one.
//! 7. [`verification`]: after a sync, HR verifies (`idbulk verify`), counts heads before and
//!    after (`idbulk report`, with `.xlsx` and `.csv` exports) and checks a person's hierarchy
//!    (`idbulk show`).
//! 8. [`faults`]: a full disk, a read-only file or folder, a busy, damaged, foreign or newer
//!    repository: a clear message each time, and nothing lost.
//! 9. [`backups`]: a backup before every sync, on demand, listed, pruned and restored.
//! 10. [`shell_security`]: the desktop shell's CSP and capabilities stay locked down.
//! 11. [`fuzz_regressions`]: inputs the fuzzers found to crash the engine, refused cleanly now.

// Tests unwrap freely: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod backups;
mod crash;
mod export_crash;
mod faults;
mod fuzz_regressions;
mod hostile;
mod import;
mod journeys;
mod properties;
mod shell_security;
mod template;
mod verification;
