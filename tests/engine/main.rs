//! Integration tests of the engine and the `idbulk` CLI, in one test binary (one link instead
//! of one per file). Each module is a chapter; read them in this order:
//!
//! 1. [`template`]: downloading templates, and reading them back value for value.
//! 2. [`import`]: uploaded files of every supported format become raw rows at Excel positions.
//! 3. [`journeys`]: the bulk-update procedure as a user goes through it, from template to undo.
//! 4. [`properties`]: what must hold for any data (proptest): self-plans are empty, plans apply
//!    exactly, row order never matters, export then import changes nothing.

// Tests unwrap freely: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod import;
mod journeys;
mod properties;
mod template;
