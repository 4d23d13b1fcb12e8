//! Templates: the workbook (or CSV files) a person downloads, fills in and uploads again.
//!
//! # Overview
//!
//! A **full** template holds every stored row, for complete mode; an **empty** one holds the
//! headers only, for incremental mode (SPEC section 2). Both come as one `.xlsx` workbook
//! ([`write_xlsx`]) or as one CSV file per entity type ([`write_csv`]).
//!
//! The workbook is generic over the schema. Its sheets, in order:
//!
//! 1. one sheet per entity type, named after it, in schema order: `Command`, the key, then the
//!    attributes in schema order ([`sheet_headers`]);
//! 2. [`README_SHEET`], the rules in plain words and the schema, generated from the schema;
//! 3. [`LISTS_SHEET`] (hidden): one column per referenced entity type holding its stored keys,
//!    the source of the reference drop-downs (Excel caps inline lists at 255 characters);
//! 4. [`METADATA_SHEET`] (hidden): [`TemplateMetadata`] as key/value rows (keys in column A,
//!    values in column B), so the importer recognises a stale template.
//!
//! # How values are written
//!
//! Stored values are canonical text ([`crate::value`]). In a workbook each becomes the cell a
//! person expects: dates are real Excel dates (`yyyy-mm-dd`), numbers are numbers, booleans are
//! booleans, everything else (and anything that does not parse for its kind) is a string, so no
//! value is ever lost. A string that a spreadsheet would run as a formula gets the quote-prefix
//! style and stays inert (SPEC section 9); in CSV it gets a leading `'`
//! ([`crate::value::csv_export`]). No formula is ever written.
//!
//! # Consistency and crash safety
//!
//! All reads happen in one SQLite read transaction, so the rows, the keys of the drop-down
//! lists and the revision recorded in the metadata describe the same state even if another
//! process writes meanwhile. Every file is written to a temporary file in the destination
//! folder and renamed over the target, so a crash leaves the old file or a complete new one.

mod cell;
mod csv_files;
mod metadata;
mod readme;
mod xlsx;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::EntityType;
use crate::store::{Store, sql_error};

pub(crate) use crate::document::{destination, write_atomically};
pub use csv_files::write_csv;
pub use metadata::TemplateMetadata;
pub use xlsx::write_xlsx;

/// Name of the hidden sheet holding [`TemplateMetadata`] as key/value rows.
pub const METADATA_SHEET: &str = "_idbulk";
/// Name of the hidden sheet holding the keys offered by reference drop-downs.
pub const LISTS_SHEET: &str = "_lists";
/// Name of the sheet explaining the rules to the person filling the template.
pub const README_SHEET: &str = "Read me";
/// Header of the first column of every entity sheet: what to do with the row (incremental mode).
pub const COMMAND_COLUMN: &str = "Command";
/// The commands of incremental mode, as offered in the `Command` drop-down (SPEC section 4).
pub const COMMANDS: [&str; 4] = ["Add", "Modify", "Delete", "Merge"];
/// Accepted synonyms of commands: `(synonym, command)`. Commands are case-insensitive.
pub const COMMAND_SYNONYMS: [(&str, &str); 2] = [("Insert", "Add"), ("Update", "Modify")];
/// The cell value that clears a stored value in incremental mode (SPEC section 4).
pub const NULL_VALUE: &str = "NULL_NULL";
/// The most data rows one Excel sheet holds below its header row.
pub const MAX_SHEET_ROWS: u64 = 1_048_575;

/// Which rows a template holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    /// Every stored row, with an empty `Command` column: for complete mode.
    Full,
    /// Headers only: for incremental mode.
    Empty,
}

impl TemplateKind {
    /// The lowercase name used in metadata, JSON and the CLI: `full` or `empty`.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Full => "full",
            TemplateKind::Empty => "empty",
        }
    }
}

impl fmt::Display for TemplateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TemplateKind {
    type Err = Error;

    /// Parses `full` or `empty`, ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<TemplateKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(TemplateKind::Full),
            "empty" => Ok(TemplateKind::Empty),
            _ => Err(Error::usage(format!(
                "\"{s}\" is not a template kind: use \"full\" or \"empty\"."
            ))),
        }
    }
}

/// The file format of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "lowercase")]
pub enum TemplateFormat {
    /// One Excel workbook (`.xlsx`), see [`write_xlsx`].
    Xlsx,
    /// One CSV file per entity type, see [`write_csv`].
    Csv,
}

impl TemplateFormat {
    /// The lowercase name, also the file extension: `xlsx` or `csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateFormat::Xlsx => "xlsx",
            TemplateFormat::Csv => "csv",
        }
    }
}

impl fmt::Display for TemplateFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TemplateFormat {
    type Err = Error;

    /// Parses `xlsx` or `csv`, ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<TemplateFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "xlsx" => Ok(TemplateFormat::Xlsx),
            "csv" => Ok(TemplateFormat::Csv),
            _ => Err(Error::usage(format!(
                "\"{s}\" is not a template format: use \"xlsx\" or \"csv\"."
            ))),
        }
    }
}

/// Writes a template in either format: an `.xlsx` file at `path`, or CSV files in the folder
/// `path`. Returns the files written.
///
/// # Errors
///
/// Those of [`write_xlsx`] or [`write_csv`].
pub fn write(
    store: &Store,
    kind: TemplateKind,
    format: TemplateFormat,
    path: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<PathBuf>> {
    match format {
        TemplateFormat::Xlsx => {
            write_xlsx(store, kind, path, now).map(|()| vec![path.to_path_buf()])
        }
        TemplateFormat::Csv => write_csv(store, kind, path, now),
    }
}

/// The header row of an entity type's sheet or CSV file: `Command`, the key, the attributes.
pub fn sheet_headers(entity_type: &EntityType) -> Vec<&str> {
    std::iter::once(COMMAND_COLUMN).chain(entity_type.headers()).collect()
}

/// A read transaction over the store for the whole export: every query sees the same state, so
/// the recorded revision matches the rows written. Rolled back (nothing to undo) on drop.
fn snapshot(store: &Store) -> Result<rusqlite::Transaction<'_>> {
    store.conn().unchecked_transaction().map_err(|e| sql_error(store.path(), e))
}

/// Refuses an entity type with more rows than a sheet holds, before anything is written.
fn check_sheet_capacity(entity_type: &EntityType, rows: u64) -> Result<()> {
    if rows > MAX_SHEET_ROWS {
        return Err(Error::usage(format!(
            "{} has {rows} rows, more than an Excel sheet holds ({MAX_SHEET_ROWS}). Download the template as CSV instead.",
            entity_type.name
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::schema::{RESERVED_NAMES, RESERVED_SHEETS, Schema};

    #[test]
    fn reserved_names_match_the_schema_rules() {
        for sheet in [README_SHEET, LISTS_SHEET, METADATA_SHEET] {
            assert!(RESERVED_SHEETS.contains(&sheet), "the schema must forbid entity type {sheet}");
        }
        assert!(RESERVED_NAMES.contains(&COMMAND_COLUMN), "no attribute may be called Command");
    }

    #[test]
    fn headers_start_with_command_then_the_key() {
        let schema = Schema::directory();
        let site = schema.entity_type("Site").unwrap();
        assert_eq!(
            sheet_headers(site),
            ["Command", "Identifier", "DisplayName", "City", "Country"]
        );
    }

    #[test]
    fn kinds_and_formats_parse_and_print() {
        assert_eq!(" FULL ".parse::<TemplateKind>().unwrap(), TemplateKind::Full);
        assert_eq!("empty".parse::<TemplateKind>().unwrap().to_string(), "empty");
        assert_eq!("Csv".parse::<TemplateFormat>().unwrap(), TemplateFormat::Csv);
        assert_eq!("ods".parse::<TemplateFormat>().unwrap_err().code, ErrorCode::Usage);
        assert_eq!(serde_json::to_string(&TemplateFormat::Xlsx).unwrap(), "\"xlsx\"");
    }

    #[test]
    fn an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.xlsx");
        std::fs::write(&path, "old").unwrap();
        let err = write_atomically(&path, |f| {
            use std::io::Write;
            f.write_all(b"half a file").unwrap();
            Err(Error::internal("interrupted"))
        })
        .unwrap_err();
        assert_eq!(err.message, "interrupted");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old", "the old file must survive");
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["t.xlsx"], "the temporary file must be removed");

        write_atomically(&path, |f| {
            use std::io::Write;
            f.write_all(b"new").map_err(|e| Error::io(&path, "write", &e))
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }

    #[test]
    fn writing_over_a_folder_or_into_a_missing_folder_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomically(dir.path(), |_| Ok(())).unwrap_err();
        assert_eq!(err.code, ErrorCode::Usage);
        let err = write_atomically(&dir.path().join("nope/t.xlsx"), |_| Ok(())).unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound, "{}", err.message);
    }
}
