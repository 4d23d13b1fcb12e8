//! # idbulk: bulk updates of an identity repository through spreadsheets
//!
//! HR staff download a template of the repository, edit it in Excel, and upload it; idbulk
//! shows exactly what will change, applies it all-or-nothing under safety thresholds, records
//! it so it can be undone, and verifies the result. This crate is the engine; the `idbulk` CLI
//! and the desktop app (`src-tauri/`) are thin shells over it.
//!
//! ## Glossary
//!
//! - **Schema** ([`schema`]): the entity types (one sheet each), their key and attributes.
//! - **Repository** ([`store`]): the SQLite file holding the rows, history and settings.
//! - **Backup** ([`backup`]): a copy of the repository taken before a sync, restorable.
//! - **Template** ([`template`]): a workbook (or CSV files) to fill: full (every row) or empty.
//! - **Demo** ([`demo`]): a realistic organisation to start from.
//! - **Value** ([`value`]): the canonical text form of each attribute kind.
//! - **Verification** ([`verify`]): findings HR acts on after a sync (no manager, leavers,
//!   cycles, dangling references), and a person's sheet with their hierarchy.
//! - **Report** ([`report`]): headcounts per worker type, organisation or site, before and
//!   after the last run, exported to `.xlsx` or `.csv`.
//!
//! ## Modes
//!
//! - **Complete**: each sheet in the file is the whole truth for its entity type.
//! - **Incremental**: each row says what to do with it in its `Command` column.

pub mod apply;
pub mod backup;
pub mod connection;
pub mod demo;
pub mod directory;
mod document;
pub mod error;
pub mod history;
pub mod import;
pub mod plan;
pub mod report;
pub mod schema;
pub mod store;
pub mod template;
pub mod thresholds;
pub mod value;
pub mod verify;

pub use error::{Error, ErrorCode, Result};
pub use schema::Schema;
pub use store::{Row, Store};
