//! Import: an uploaded file becomes raw sheets, then each cell becomes a canonical value.
//!
//! # Overview
//!
//! Reading a file happens in two stages, the way ripgrep turns raw arguments into validated
//! ones (`lowargs` then `hiargs`):
//!
//! 1. **Raw** ([`read`], [`read_bytes`]): the bytes are sniffed for their real format (never the
//!    extension, [SPEC section 9]), checked against the [`limits`], and read into a
//!    [`RawWorkbook`]: sheets of [`RawRow`]s whose [`Cell`]s keep exactly what the file held
//!    (a number is a number, a date is a date, an error cell is an error), each at the row
//!    number Excel shows. Nothing is interpreted against the schema yet.
//! 2. **Canonical** ([`canonical()`], [`canonical_key`]): the planner, which knows which column
//!    holds which attribute, turns each cell into the canonical text of [`crate::value`] or a
//!    [`CellProblem`] (message and fix) that it reports at the cell's [`Location`].
//!
//! File-level failures (not a spreadsheet, a zip bomb, a password, a sheet too large) are
//! [`crate::Error`]s with code [`InvalidInput`](crate::ErrorCode::InvalidInput) and a sentence
//! naming the file; nothing is read past them.
//!
//! # Glossary
//!
//! - **Sniffing**: deciding the format from the first bytes and the archive's directory.
//! - **Raw sheet**: one sheet's header row and data rows, before any validation.
//! - **Header row**: the first row of a sheet that holds anything (normally row 1).
//! - **Canonical value**: the one text form a value is stored in (see [`crate::value`]).
//! - **Notice**: something the person should know that does not stop the import (a file read
//!   as Windows-1252, a hidden sheet skipped, merged cells).
//!
//! # Supported inputs
//!
//! | format | how it is recognised | read with |
//! |---|---|---|
//! | `.xlsx`, `.xlsm` | zip with `[Content_Types].xml` and `xl/workbook.xml` | idbulk's own streaming reader (one pass over each sheet's XML), else calamine |
//! | `.ods` | zip whose `mimetype` is `application/vnd.oasis.opendocument.spreadsheet` | calamine |
//! | `.xls` | OLE2 compound file with a `Workbook` (or `Book`) stream | calamine |
//! | `.csv` | anything else that is text | the `csv` crate |
//!
//! Refused with a sentence saying what the file really is: `.xlsb` (binary workbooks),
//! password-protected workbooks (an OLE2 file holding `EncryptedPackage`, an `.xls` with a
//! `FILEPASS` record, an encrypted `.ods`), other Office documents, PDF, images, HTML or MHTML
//! saved with a spreadsheet extension, Excel 2003 XML (SpreadsheetML), other XML, binary files,
//! empty files, damaged or truncated zip archives.
//!
//! # Decisions
//!
//! - **Sheets read.** Every visible worksheet except [`README_SHEET`] and [`LISTS_SHEET`].
//!   [`METADATA_SHEET`] is read into [`RawWorkbook::metadata`] as (column A, column B) pairs,
//!   one per row whose column A is not blank. Other hidden sheets are skipped with a notice
//!   (a hidden sheet is not something the person sees, so it must not silently change data).
//!   Chart and macro sheets are skipped silently. Sheet names are compared ignoring ASCII case.
//! - **Header row.** The first row holding a non-blank cell; rows above it are blank by
//!   definition. Its columns, plus any column that holds data below an empty header, become
//!   [`RawSheet::headers`] (an empty [`RawHeader::text`] then tells the planner that data sits
//!   under no header, rather than dropping it silently).
//! - **Blank rows.** A row whose cells are all [`Cell::Empty`] or whitespace-only text is
//!   skipped (trailing rows Excel keeps after a delete are such rows). Row numbers of the rows
//!   kept are unchanged, so a finding still points at the right row.
//! - **Formulas.** A formula cell is read as its cached result. An `.xlsx` formula with no
//!   cached result (written by a program that does not calculate) becomes
//!   [`Cell::FormulaWithoutValue`]; a formula whose result is the empty string is
//!   [`Cell::Empty`].
//! - **Dates.** The number format decides whether a number is a date (calamine's rules, which
//!   the streaming `.xlsx` reader follows), and the 1904 date system applies when the
//!   workbook uses it. See [`Cell::DateTime`].
//! - **CSV.** One file is one sheet, named after the file stem. Encoding: a byte-order mark
//!   decides, else [`CsvOptions::encoding`], else UTF-8 when valid and Windows-1252 with a
//!   notice otherwise. Separator: a `sep=X` first line (it describes this very file, so it
//!   wins over the setting, and is not a row), else [`CsvOptions::separator`], else the most
//!   frequent of `,` `;` tab outside quotes in the header line. Row numbers are those a
//!   spreadsheet shows: one per record (a quoted cell spanning lines is one row), empty lines
//!   and [`CsvOptions::skip_lines`] counted. Records may be ragged. An empty field is
//!   [`Cell::Empty`]; others are [`Cell::Text`] with the formula-injection `'` removed
//!   ([`crate::value::csv_import`]); header texts are kept as written.
//! - **Whitespace.** Raw cells keep every character. [`canonical()`] trims surrounding whitespace
//!   for every kind except text (kept as typed so that export then import round-trips
//!   exactly); [`canonical_key`] trims too.
//!
//! [SPEC section 9]: ../../shared/SPEC.md
//! [`README_SHEET`]: crate::template::README_SHEET
//! [`LISTS_SHEET`]: crate::template::LISTS_SHEET
//! [`METADATA_SHEET`]: crate::template::METADATA_SHEET

mod canonical;
mod cfb;
mod csv;
pub mod limits;
mod location;
mod prescan;
mod sheet;
mod sniff;
mod spreadsheet;
mod xlsx;

use std::fmt;
use std::io::Read;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::{EntityType, Schema};

pub use canonical::{
    CellProblem, NULL_NULL, canonical, canonical_key, check_email, check_iso_date,
};
pub use location::{Location, column_letters};

/// The real format of an uploaded file, decided from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Office Open XML workbook: `.xlsx` or `.xlsm` (macros are never run nor read).
    Xlsx,
    /// Excel 97-2003 workbook.
    Xls,
    /// OpenDocument spreadsheet (LibreOffice, Google Sheets export).
    Ods,
    /// Delimited text: one entity type per file.
    Csv,
}

impl FileFormat {
    /// A short name for people: `xlsx`, `xls`, `ods` or `csv`.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Xlsx => "xlsx",
            FileFormat::Xls => "xls",
            FileFormat::Ods => "ods",
            FileFormat::Csv => "csv",
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A whole uploaded file, read but not validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawWorkbook {
    /// The file's name as the person knows it (no folder), used in messages.
    pub file_name: String,
    /// The real format, from the content.
    pub format: FileFormat,
    /// The data sheets in workbook order (a CSV file gives one, named after the file stem).
    pub sheets: Vec<RawSheet>,
    /// Key/value pairs of the hidden metadata sheet, in row order; empty when there is none.
    pub metadata: Vec<(String, String)>,
    /// What the person should know that did not stop the import.
    pub notices: Vec<Notice>,
    /// For CSV: the entity type chosen in the connection settings ([`CsvOptions::entity_type`]).
    pub csv_entity_type: Option<String>,
}

/// One sheet: its header row and its non-blank data rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawSheet {
    /// The sheet name as written in the workbook (for CSV: the file stem).
    pub name: String,
    /// The header cells, left to right.
    pub headers: Vec<RawHeader>,
    /// The data rows below the header, top to bottom, blank rows left out.
    pub rows: Vec<RawRow>,
}

/// One header cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawHeader {
    /// 0-based column index; shown to people as Excel letters ([`column_letters`]).
    pub column: u32,
    /// The header text as written (not trimmed); empty when data sits under no header.
    pub text: String,
}

/// One data row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawRow {
    /// The row number as Excel shows it (1-based; the header is usually row 1).
    pub row: u32,
    /// One cell per header, in the same order. For CSV a ragged record can hold fewer or more
    /// cells than there are headers; the planner reports it.
    pub cells: RowCells,
}

/// A row's cells: typed, as a spreadsheet stores them, or the texts of a CSV record packed
/// end to end in one string.
///
/// A CSV record is only text, and a large upload holds millions of cells: packed, a row of 20
/// takes about 300 bytes instead of 500 for 24-byte cells, and is written where it stays
/// (an inline string built aside and moved into its cell stalled the processor on every
/// field: a third of a CSV read, issue 6). Read them through [`RowCells::get`], which gives
/// both kinds the same [`CellRef`].
#[derive(Debug, Clone, PartialEq)]
pub enum RowCells {
    /// Cells as a spreadsheet stores them.
    Typed(Vec<Cell>),
    /// Texts, `""` for an empty cell (a CSV record).
    Texts(crate::store::Values),
}

impl RowCells {
    /// How many cells the row has.
    pub fn len(&self) -> usize {
        match self {
            RowCells::Typed(cells) => cells.len(),
            RowCells::Texts(texts) => texts.len(),
        }
    }

    /// Whether the row has no cell at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cell at `i`, if the row has one.
    #[inline]
    pub fn get(&self, i: usize) -> Option<CellRef<'_>> {
        match self {
            RowCells::Typed(cells) => cells.get(i).map(CellRef::from),
            RowCells::Texts(texts) => texts.get(i).map(CellRef::text),
        }
    }

    /// The cells in order.
    pub fn iter(&self) -> impl Iterator<Item = CellRef<'_>> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The cells, copied.
    pub fn to_vec(&self) -> Vec<Cell> {
        self.iter().map(CellRef::to_cell).collect()
    }

    /// The cells, owned.
    pub fn into_cells(self) -> Vec<Cell> {
        match self {
            RowCells::Typed(cells) => cells,
            texts => texts.iter().map(CellRef::to_cell).collect(),
        }
    }
}

impl FromIterator<Cell> for RowCells {
    fn from_iter<I: IntoIterator<Item = Cell>>(cells: I) -> RowCells {
        RowCells::Typed(cells.into_iter().collect())
    }
}

impl From<Vec<Cell>> for RowCells {
    fn from(cells: Vec<Cell>) -> RowCells {
        RowCells::Typed(cells)
    }
}

/// A list of cells, whichever way they are kept.
impl Serialize for RowCells {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            RowCells::Typed(cells) => cells.serialize(s),
            texts => s.collect_seq(texts.iter().map(CellRef::to_cell)),
        }
    }
}

/// A cell of a [`RowCells`], borrowed: text (of a CSV record or a text cell) apart, since
/// that is what nearly every cell holds and the planner reads it without a copy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellRef<'a> {
    /// Nothing ([`Cell::Empty`], or an empty CSV field).
    Empty,
    /// A string, never empty.
    Text(&'a str),
    /// Any other kind of cell.
    Other(&'a Cell),
}

impl<'a> CellRef<'a> {
    /// A text, [`CellRef::Empty`] when it has no character.
    pub fn text(text: &'a str) -> CellRef<'a> {
        if text.is_empty() { CellRef::Empty } else { CellRef::Text(text) }
    }

    /// The cell, owned.
    pub fn to_cell(self) -> Cell {
        match self {
            CellRef::Empty => Cell::Empty,
            CellRef::Text(text) => Cell::Text(text.into()),
            CellRef::Other(cell) => cell.clone(),
        }
    }
}

impl<'a> From<&'a Cell> for CellRef<'a> {
    #[inline]
    fn from(cell: &'a Cell) -> CellRef<'a> {
        match cell {
            Cell::Empty => CellRef::Empty,
            Cell::Text(text) => CellRef::text(text),
            other => CellRef::Other(other),
        }
    }
}

impl fmt::Display for CellRef<'_> {
    /// As [`Cell`]'s display.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CellRef::Empty => Ok(()),
            CellRef::Text(text) => f.write_str(text),
            CellRef::Other(cell) => cell.fmt(f),
        }
    }
}

/// What one cell holds, exactly as the file stored it.
///
/// 24 bytes: a large upload holds millions of cells, so the rare kinds keep their text boxed
/// and a date its value rather than its text, leaving room for [`Cell::Text`]'s inline
/// string (a quarter of an upload's memory, issue 6).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Cell {
    /// Nothing (also: a string of length zero, a formula whose result is the empty string).
    Empty,
    /// A string, with every character kept (inline when short: a large upload holds millions).
    Text(crate::store::Text),
    /// A whole number (`.xls` and `.ods` can store them as such).
    Int(i64),
    /// A number; `.xlsx` stores every number this way.
    Float(f64),
    /// TRUE or FALSE.
    Bool(bool),
    /// A date, a date-time or a time of day.
    DateTime(CellDateTime),
    /// A duration (Excel `[h]:mm:ss` format, ODS `PT..` values), as text.
    Duration(Box<str>),
    /// An Excel error value, e.g. `#N/A`.
    Error(Box<str>),
    /// A formula with no cached result; holds the formula text without `=`.
    FormulaWithoutValue(Box<str>),
}

impl Cell {
    /// Whether the cell is empty or holds whitespace only (a row of such cells is blank).
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(text) => text.trim().is_empty(),
            _ => false,
        }
    }
}

impl fmt::Display for Cell {
    /// The value as a person would see it: used for headers, metadata and messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Empty => Ok(()),
            Cell::Text(text) => f.write_str(text),
            Cell::Int(i) => write!(f, "{i}"),
            // Rust prints the shortest text that reads back as the same number, without `.0`.
            Cell::Float(x) => write!(f, "{}", if *x == 0.0 { 0.0 } else { *x }),
            Cell::Bool(true) => f.write_str("TRUE"),
            Cell::Bool(false) => f.write_str("FALSE"),
            Cell::DateTime(date_time) => write!(f, "{date_time}"),
            Cell::Duration(text) | Cell::Error(text) => f.write_str(text),
            Cell::FormulaWithoutValue(formula) => write!(f, "={formula}"),
        }
    }
}

/// What a [`Cell::DateTime`] holds: the date and time the workbook's serial number stands
/// for (in its own date system, 1900 or 1904), and whether it is a time of day alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellDateTime {
    value: NaiveDateTime,
    time_only: bool,
}

impl CellDateTime {
    /// A date-time; `time_only` when the workbook stored a time of day alone (a serial number
    /// before day 1), which is then shown without its date.
    pub fn new(value: NaiveDateTime, time_only: bool) -> CellDateTime {
        // A time of day is the same in either date system: its date is set to one.
        let value = match NaiveDate::from_ymd_opt(1899, 12, 31) {
            Some(day) if time_only => day.and_time(value.time()),
            _ => value,
        };
        CellDateTime { value, time_only }
    }

    /// Reads back the forms [`CellDateTime::iso`] writes.
    pub fn from_iso(text: &str) -> Option<CellDateTime> {
        if let Ok(time) = NaiveTime::parse_from_str(text, "%H:%M:%S") {
            return Some(CellDateTime::new(NaiveDateTime::new(NaiveDate::MIN, time), true));
        }
        let value = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
            .ok()
            .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0))?;
        Some(CellDateTime::new(value, false))
    }

    /// `YYYY-MM-DD` at midnight, `YYYY-MM-DDTHH:MM:SS` otherwise, `HH:MM:SS` for a time of day
    /// alone (fractions of a second are not shown).
    pub fn iso(&self) -> String {
        self.to_string()
    }

    /// Whether it is a time of day alone.
    pub fn is_time_only(&self) -> bool {
        self.time_only
    }

    /// Whether it is a date alone: not a time of day, and at midnight.
    pub fn is_date(&self) -> bool {
        !self.time_only && self.value.time().num_seconds_from_midnight() == 0
    }
}

impl fmt::Display for CellDateTime {
    /// The ISO form ([`CellDateTime::iso`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = if self.time_only {
            "%H:%M:%S"
        } else if self.is_date() {
            "%Y-%m-%d"
        } else {
            "%Y-%m-%dT%H:%M:%S"
        };
        write!(f, "{}", self.value.format(format))
    }
}

impl Serialize for CellDateTime {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Something the person should know about the file that does not stop the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// The sheet concerned, if any.
    pub sheet: Option<String>,
    /// A sentence for people.
    pub message: String,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A text encoding a CSV file can be read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "kebab-case")]
pub enum TextEncoding {
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// UTF-16 little-endian (what Excel's "Unicode text" writes).
    Utf16Le,
    /// UTF-16 big-endian.
    Utf16Be,
    /// Windows-1252 (Western European "ANSI"), what older Excel writes as "CSV".
    Windows1252,
}

impl TextEncoding {
    /// The name shown in settings and messages.
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf16Le => "UTF-16LE",
            TextEncoding::Utf16Be => "UTF-16BE",
            TextEncoding::Windows1252 => "Windows-1252",
        }
    }

    /// Parses a name as a person or a settings file writes it (`utf-8`, `UTF8`, `cp1252`,
    /// `latin1`, ...), ignoring case.
    pub fn parse(name: &str) -> Option<TextEncoding> {
        let n: String = name
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        match n.as_str() {
            "utf8" => Some(TextEncoding::Utf8),
            "utf16" | "utf16le" | "unicode" => Some(TextEncoding::Utf16Le),
            "utf16be" => Some(TextEncoding::Utf16Be),
            "windows1252" | "cp1252" | "ansi" | "latin1" | "iso88591" => {
                Some(TextEncoding::Windows1252)
            }
            _ => None,
        }
    }
}

/// How to read CSV files (the connection's CSV settings, SPEC section 3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct CsvOptions {
    /// The encoding when the file has no byte-order mark; `None` detects it (UTF-8 if the
    /// bytes are valid UTF-8, else Windows-1252 with a notice). A byte-order mark always wins.
    pub encoding: Option<TextEncoding>,
    /// The separator byte; `None` uses a `sep=` first line, else detects it from the header.
    pub separator: Option<u8>,
    /// Lines to skip before the header (after a `sep=` line, if any).
    pub skip_lines: usize,
    /// The entity type of a CSV file whose name names none.
    pub entity_type: Option<String>,
}

/// How a sheet's entity type was found ([`RawWorkbook::entity_type_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The sheet name (or the CSV file stem) names the type, ignoring case.
    Name,
    /// The CSV connection setting names it.
    Setting,
    /// The CSV header matches its key and attributes best.
    Headers,
}

impl RawWorkbook {
    /// The entity type a sheet holds, and how it was found.
    ///
    /// A workbook sheet is matched by name only (ignoring case). A CSV file (SPEC section 3)
    /// holds the type its file stem names (`User.csv`), else the one of
    /// [`CsvOptions::entity_type`], else the one [`guess_entity_type`] picks from its header.
    pub fn entity_type_of<'s>(
        &self,
        schema: &'s Schema,
        sheet: &RawSheet,
    ) -> Option<(&'s EntityType, MatchedBy)> {
        if let Some(t) = schema.entity_type_ignore_case(&sheet.name) {
            return Some((t, MatchedBy::Name));
        }
        if self.format != FileFormat::Csv {
            return None;
        }
        if let Some(name) = &self.csv_entity_type {
            return schema.entity_type_ignore_case(name).map(|t| (t, MatchedBy::Setting));
        }
        guess_entity_type(schema, &sheet.headers).map(|t| (t, MatchedBy::Headers))
    }
}

/// The entity type whose key and attributes a header row matches best, for a CSV file whose
/// name names no type.
///
/// Headers are compared trimmed and ignoring case; `Command` is ignored. A type is a candidate
/// only if its key column is present; the candidate matching the most columns wins. A tie
/// (e.g. a header of just `Identifier,DisplayName`, shared by several types) gives `None`, so
/// the caller asks the person to choose rather than guessing wrong.
pub fn guess_entity_type<'s>(schema: &'s Schema, headers: &[RawHeader]) -> Option<&'s EntityType> {
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.text.trim().to_lowercase())
        .filter(|h| !h.is_empty() && !h.eq_ignore_ascii_case(crate::template::COMMAND_COLUMN))
        .collect();
    let has = |name: &str| names.iter().any(|n| *n == name.to_lowercase());
    let mut best: Option<(&EntityType, usize)> = None;
    let mut tied = false;
    for t in &schema.entity_types {
        if !has(&t.key) {
            continue;
        }
        let score = t.headers().filter(|h| has(h)).count();
        match best {
            Some((_, s)) if score < s => {}
            Some((_, s)) if score == s => tied = true,
            _ => {
                best = Some((t, score));
                tied = false;
            }
        }
    }
    if tied { None } else { best.map(|(t, _)| t) }
}

/// Reads an uploaded file into raw sheets.
///
/// # Errors
///
/// [`NotFound`](crate::ErrorCode::NotFound) when the file does not exist,
/// [`Io`](crate::ErrorCode::Io) when it cannot be read,
/// [`InvalidInput`](crate::ErrorCode::InvalidInput) when it is not a regular file, is larger
/// than [`limits::MAX_FILE_BYTES`], or anything [`read_bytes`] refuses.
///
/// # Examples
///
/// ```no_run
/// use idbulk::import::{CsvOptions, read};
///
/// let workbook = read("Users.xlsx".as_ref(), &CsvOptions::default())?;
/// for sheet in &workbook.sheets {
///     println!("{}: {} rows", sheet.name, sheet.rows.len());
/// }
/// # Ok::<(), idbulk::Error>(())
/// ```
pub fn read(path: &Path, options: &CsvOptions) -> Result<RawWorkbook> {
    Upload::open(path)?.read_with_progress(&file_name(path), options, &mut |_, _| true)
}

/// The name of a file as the person knows it (no folder), for messages.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The bytes of an uploaded file, after checking it is a regular file within
/// [`limits::MAX_FILE_BYTES`]; never reads past the limit. [`read`] is `load` then
/// [`read_bytes`]; callers that also need the bytes (to fingerprint the upload) call both
/// themselves so the file is read once.
///
/// # Errors
///
/// As [`read`], for the file-level checks.
pub fn load(path: &Path) -> Result<Vec<u8>> {
    let (file, size) = open_checked(path)?;
    read_all(path, file, size)
}

/// Opens an uploaded file after checking it is a regular file within
/// [`limits::MAX_FILE_BYTES`]; returns it with its size.
fn open_checked(path: &Path) -> Result<(std::fs::File, u64)> {
    let name = file_name(path);
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "read", &e))?;
    if meta.is_dir() {
        return Err(Error::invalid_input(format!(
            "{} is a folder, not a file: choose the spreadsheet itself.",
            path.display()
        )));
    }
    if !meta.is_file() {
        return Err(Error::invalid_input(format!(
            "{} is not a regular file: choose a spreadsheet or CSV file.",
            path.display()
        )));
    }
    limits::check_file_size(&name, meta.len())?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "open", &e))?;
    Ok((file, meta.len()))
}

/// The bytes of a file [`open_checked`] opened, from where it stands.
fn read_all(path: &Path, file: std::fs::File, size: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The file may grow between the size check and the read: never read past the limit.
    file.take(limits::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, "read", &e))?;
    Ok(bytes)
}

/// An uploaded file ready to be read: an `.xlsx` workbook stays in its file, whose zip
/// directory says where each part is, so the file need not be in memory while the sheets are
/// read (12 MB less at the peak of a sync of 100k users, issue 6); anything else is read
/// into memory (a CSV file's values are borrowed from its bytes).
#[derive(Debug)]
pub enum Upload {
    /// An `.xlsx` or `.xlsm` workbook (sniffed as such), read from the file.
    Xlsx(std::fs::File),
    /// Any other file, in memory.
    Bytes(Vec<u8>),
}

impl Upload {
    /// Opens the file at `path`, with [`load`]'s checks.
    ///
    /// # Errors
    ///
    /// As [`load`], and as [`read`] for a zip archive that is not a workbook idbulk reads.
    pub fn open(path: &Path) -> Result<Upload> {
        use std::io::{Seek, SeekFrom};
        let (mut file, size) = open_checked(path)?;
        let mut head = Vec::with_capacity(4);
        (&mut file).take(4).read_to_end(&mut head).map_err(|e| Error::io(path, "read", &e))?;
        // The zip sniff seeks where it reads (the archive's end, then its directory).
        let xlsx = sniff::is_zip(&head)
            && sniff::sniff_zip(&file_name(path), std::io::BufReader::new(&file))?
                == sniff::Sniffed::Xlsx;
        file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, "read", &e))?;
        Ok(if xlsx { Upload::Xlsx(file) } else { Upload::Bytes(read_all(path, file, size)?) })
    }

    /// Reads the upload as [`read_bytes_with_progress`] reads bytes; `name` is its file name.
    ///
    /// # Errors
    ///
    /// As [`read_bytes_with_progress`].
    pub fn read_with_progress(
        self,
        name: &str,
        options: &CsvOptions,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<RawWorkbook> {
        match self {
            Upload::Bytes(bytes) => read_bytes_with_progress(name, &bytes, options, progress),
            Upload::Xlsx(file) => {
                let name = Path::new(name).file_name().map_or(name.into(), |n| n.to_string_lossy());
                let (name, mut progress) = (name.as_ref(), Progress::new(name.as_ref(), progress));
                let source = std::io::BufReader::with_capacity(64 * 1024, file);
                let workbook = spreadsheet::read_xlsx(name, source, &mut progress)?;
                progress.finish()?;
                Ok(workbook)
            }
        }
    }

    /// [`Upload::read_with_progress`] and [`Upload::fingerprint`] together, in the order that
    /// costs a sync least: bytes in memory are read first and fingerprinted after (on the
    /// reader's thread, while the stored rows are still loading), an `.xlsx` is fingerprinted
    /// first, as its read then takes longest whatever the order.
    ///
    /// # Errors
    ///
    /// As the two of them.
    pub fn read_fingerprinted(
        self,
        name: &str,
        options: &CsvOptions,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<(RawWorkbook, (u64, String))> {
        match self {
            Upload::Bytes(bytes) => {
                let workbook = read_bytes_with_progress(name, &bytes, options, progress)?;
                Ok((workbook, fingerprint(&bytes)))
            }
            Upload::Xlsx(_) => {
                let fingerprint = self.fingerprint()?;
                Ok((self.read_with_progress(name, options, progress)?, fingerprint))
            }
        }
    }

    /// The upload's size and SHA-256 (lowercase hex), as the history records them. An
    /// `.xlsx` is read a second time for it, from the file (the page cache has it): the price
    /// of not holding the file in memory.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorCode::Io`] if the file cannot be read again.
    pub fn fingerprint(&self) -> Result<(u64, String)> {
        match self {
            Upload::Bytes(bytes) => Ok(fingerprint(bytes)),
            Upload::Xlsx(file) => {
                use std::io::{Seek, SeekFrom};
                let mut file = file;
                let io = |e: std::io::Error| {
                    Error::new(
                        crate::ErrorCode::Io,
                        format!("The uploaded file cannot be read again: {e}."),
                    )
                };
                file.seek(SeekFrom::Start(0)).map_err(io)?;
                let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
                let size = std::io::copy(&mut file.take(limits::MAX_FILE_BYTES + 1), &mut hasher)
                    .map_err(io)?;
                Ok((size, hex(&sha2::Digest::finalize(hasher))))
            }
        }
    }
}

/// The size and SHA-256 (lowercase hex) of a file's bytes, as the history records them.
pub fn fingerprint(bytes: &[u8]) -> (u64, String) {
    (bytes.len() as u64, hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes)))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a file already in memory; `name` is its file name, used for messages and, for CSV,
/// as the sheet name (its stem). Handy for tests and fuzzing.
///
/// # Errors
///
/// [`InvalidInput`](crate::ErrorCode::InvalidInput) with a sentence naming the file when it is
/// empty, too large, not a supported spreadsheet (see the module docs), password-protected,
/// beyond the [`limits`], or damaged.
pub fn read_bytes(name: &str, bytes: &[u8], options: &CsvOptions) -> Result<RawWorkbook> {
    read_bytes_with_progress(name, bytes, options, &mut |_, _| true)
}

/// [`read_bytes`], reporting progress and letting the caller cancel.
///
/// `progress(done, total)` is called when reading starts, every few thousand rows, and once
/// at the end with `done == total`. Both numbers are in the same unit, which depends on the
/// format: bytes of sheet XML for `.xlsx` (the total from the archive's directory), bytes of
/// text for CSV, rows for `.xls` and `.ods` (and for the rare `.xlsx` the streaming reader
/// leaves to calamine); only the ratio `done / total` is meant for people. `done` never decreases and
/// never exceeds `total`. Returning `false` stops the read.
///
/// # Errors
///
/// As [`read_bytes`], and [`Cancelled`](crate::ErrorCode::Cancelled) when `progress`
/// returned `false`.
pub fn read_bytes_with_progress(
    name: &str,
    bytes: &[u8],
    options: &CsvOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<RawWorkbook> {
    let mut progress = Progress::new(name, progress);
    limits::check_file_size(name, bytes.len() as u64)?;
    let file_name = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    let mut workbook = match sniff::sniff(&file_name, bytes)? {
        sniff::Sniffed::Xlsx => {
            spreadsheet::read_xlsx(&file_name, std::io::Cursor::new(bytes), &mut progress)?
        }
        sniff::Sniffed::Xls => spreadsheet::read_xls(&file_name, bytes, &mut progress)?,
        sniff::Sniffed::Ods => spreadsheet::read_ods(&file_name, bytes, &mut progress)?,
        sniff::Sniffed::Text => csv::read(&file_name, bytes, options, &mut progress)?,
    };
    progress.finish()?;
    workbook.csv_entity_type =
        if workbook.format == FileFormat::Csv { options.entity_type.clone() } else { None };
    Ok(workbook)
}

/// How often [`Progress`] calls back, in units of work: about every 64 KiB of XML or text,
/// or 4,096 rows. Often enough for a smooth bar, rare enough to cost nothing.
const PROGRESS_EVERY_BYTES: u64 = 64 * 1024;
const PROGRESS_EVERY_ROWS: u64 = 4096;

/// The caller's progress callback, with the counting and the cancellation check around it.
pub(crate) struct Progress<'p> {
    file: String,
    callback: &'p mut dyn FnMut(u64, u64) -> bool,
    done: u64,
    total: u64,
    reported: u64,
}

impl<'p> Progress<'p> {
    pub(crate) fn new(file: &str, callback: &'p mut dyn FnMut(u64, u64) -> bool) -> Progress<'p> {
        Progress { file: file.to_string(), callback, done: 0, total: 0, reported: 0 }
    }

    /// Sets the total (once it is known) and reports the start.
    pub(crate) fn start(&mut self, total: u64) -> Result<()> {
        self.total = total.max(self.done);
        self.call()
    }

    /// Adds work to the total (e.g. a sheet whose size is known only once it is opened).
    pub(crate) fn grow(&mut self, more: u64) {
        self.total = self.total.saturating_add(more);
    }

    /// Moves `done` to `at` (clamped to the total); calls back when enough work was done
    /// since the last call, given `every` units between calls.
    pub(crate) fn at(&mut self, at: u64, every: u64) -> Result<()> {
        self.done = at.max(self.done).min(self.total);
        if self.done - self.reported >= every { self.call() } else { Ok(()) }
    }

    /// [`Progress::at`] in bytes.
    pub(crate) fn at_byte(&mut self, at: u64) -> Result<()> {
        self.at(at, PROGRESS_EVERY_BYTES)
    }

    /// One more row done (for formats measured in rows).
    pub(crate) fn row(&mut self) -> Result<()> {
        self.at(self.done + 1, PROGRESS_EVERY_ROWS)
    }

    /// Reports the end: everything done.
    fn finish(&mut self) -> Result<()> {
        self.total = self.total.max(self.done);
        self.done = self.total;
        self.call()
    }

    fn call(&mut self) -> Result<()> {
        self.reported = self.done;
        if (self.callback)(self.done, self.total) { Ok(()) } else { Err(cancelled(&self.file)) }
    }
}

/// The error of a read the caller cancelled.
pub(crate) fn cancelled(file: &str) -> Error {
    Error::new(
        crate::ErrorCode::Cancelled,
        format!("Reading {file} was cancelled; nothing was changed."),
    )
}

/// An input error: the file has problems.
fn invalid(message: String) -> Error {
    Error::invalid_input(message)
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn an_xlsx_upload_is_read_from_its_file_as_its_bytes_would_be() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = test_support::xlsx(|wb| {
            let ws = wb.add_worksheet().set_name("User").unwrap();
            ws.write(0, 0, "Identifier").unwrap();
            ws.write(0, 1, "Name").unwrap();
            ws.write(1, 0, "001").unwrap();
            ws.write(1, 1, "Ada").unwrap();
            ws.write(0, 2, "Score").unwrap();
            ws.write(1, 2, 1.5).unwrap();
        });
        let path = dir.path().join("users.xlsx");
        std::fs::write(&path, &bytes).unwrap();
        let upload = Upload::open(&path).unwrap();
        assert!(matches!(upload, Upload::Xlsx(_)), "{upload:?}");
        // The fingerprint is that of the bytes, and leaves the file ready to be read.
        let (size, sha) = upload.fingerprint().unwrap();
        let expected = crate::plan::InputFile::from_bytes("users.xlsx", &bytes);
        assert_eq!((size, sha), (expected.bytes, expected.sha256));
        let mut reports = Vec::new();
        let from_file = upload
            .read_with_progress("users.xlsx", &CsvOptions::default(), &mut |d, t| {
                reports.push((d, t));
                true
            })
            .unwrap();
        let from_bytes = read_bytes("users.xlsx", &bytes, &CsvOptions::default()).unwrap();
        assert_eq!(from_file, from_bytes);
        assert_eq!(from_file.sheets[0].rows.len(), 1);
        assert!(reports.last().is_some_and(|&(d, t)| d == t && t > 0), "{reports:?}");

        // A workbook the streaming reader leaves to calamine (an ISO date cell) is read from
        // the file too, by calamine.
        let iso = test_support::patch_zip(&bytes, |name, text| {
            if name.ends_with("sheet1.xml") {
                text.replacen("<c r=\"C2\"", "<c r=\"C2\" t=\"d\"", 1)
            } else {
                text
            }
        });
        let streamed = xlsx::read(
            "t.xlsx",
            std::io::Cursor::new(&iso),
            &mut Progress::new("t", &mut |_, _| true),
        );
        assert!(matches!(streamed, Err(xlsx::Stop::Fallback(_))), "{streamed:?}");
        std::fs::write(&path, &iso).unwrap();
        let upload = Upload::open(&path).unwrap();
        assert!(matches!(upload, Upload::Xlsx(_)), "{upload:?}");
        let from_file = upload
            .read_with_progress("users.xlsx", &CsvOptions::default(), &mut |_, _| true)
            .unwrap();
        assert_eq!(from_file, read_bytes("users.xlsx", &iso, &CsvOptions::default()).unwrap());
    }

    #[test]
    fn other_uploads_are_read_into_memory_and_refusals_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("User.csv");
        std::fs::write(&csv, "Identifier\n001\n").unwrap();
        assert!(matches!(Upload::open(&csv).unwrap(), Upload::Bytes(b) if b.len() == 15));
        // A zip that is not a workbook is refused with the words reading its bytes gives.
        let docx = dir.path().join("letter.xlsx");
        let bytes = test_support::zip_of(&[
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
        ]);
        std::fs::write(&docx, &bytes).unwrap();
        let e = Upload::open(&docx).unwrap_err();
        let alone = read_bytes("letter.xlsx", &bytes, &CsvOptions::default()).unwrap_err();
        assert_eq!((e.code, &e.message), (alone.code, &alone.message));
        assert!(e.message.contains("Word document"), "{}", e.message);
    }

    fn headers(names: &[&str]) -> Vec<RawHeader> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| RawHeader { column: i as u32, text: n.to_string() })
            .collect()
    }

    #[test]
    fn guessing_picks_the_type_whose_columns_match_best() {
        let schema = Schema::directory();
        let user = headers(&["identifier", " LastName ", "Email", "Unknown"]);
        assert_eq!(guess_entity_type(&schema, &user).map(|t| t.name.as_str()), Some("User"));
        let site = headers(&["Identifier", "DisplayName", "City"]);
        assert_eq!(guess_entity_type(&schema, &site).map(|t| t.name.as_str()), Some("Site"));
    }

    #[test]
    fn guessing_refuses_ties_and_headers_without_a_key() {
        let schema = Schema::directory();
        let shared = headers(&["Command", "Identifier", "DisplayName"]);
        assert_eq!(guess_entity_type(&schema, &shared), None, "Organization, Site, UserType tie");
        assert_eq!(guess_entity_type(&schema, &headers(&["LastName", "Email"])), None);
    }

    #[test]
    fn a_csv_file_takes_its_type_from_its_name_then_the_setting_then_its_header() {
        let schema = Schema::directory();
        let sheet = |name: &str, cols: &[&str]| RawSheet {
            name: name.into(),
            headers: headers(cols),
            rows: vec![],
        };
        let mut wb = RawWorkbook {
            file_name: "x.csv".into(),
            format: FileFormat::Csv,
            sheets: vec![],
            metadata: vec![],
            notices: vec![],
            csv_entity_type: Some("site".into()),
        };
        let by_name = wb.entity_type_of(&schema, &sheet("user", &["Identifier"]));
        assert_eq!(by_name.map(|(t, m)| (t.name.as_str(), m)), Some(("User", MatchedBy::Name)));
        let by_setting = wb.entity_type_of(&schema, &sheet("export", &["Identifier", "LastName"]));
        assert_eq!(
            by_setting.map(|(t, m)| (t.name.as_str(), m)),
            Some(("Site", MatchedBy::Setting))
        );
        wb.csv_entity_type = None;
        let by_headers = wb.entity_type_of(&schema, &sheet("export", &["Identifier", "LastName"]));
        assert_eq!(
            by_headers.map(|(t, m)| (t.name.as_str(), m)),
            Some(("User", MatchedBy::Headers))
        );
        wb.format = FileFormat::Xlsx;
        assert_eq!(wb.entity_type_of(&schema, &sheet("export", &["Identifier"])), None);
    }

    #[test]
    fn a_packed_row_reads_displays_and_serialises_as_its_typed_cells() {
        let typed = vec![Cell::Text("00042".into()), Cell::Empty, Cell::Text("été".into())];
        let packed = RowCells::Texts(["00042", "", "été"].into_iter().collect());
        assert_eq!(packed.len(), 3);
        assert_eq!(packed.get(0), Some(CellRef::Text("00042")));
        assert_eq!(packed.get(1), Some(CellRef::Empty), "an empty text is an empty cell");
        assert_eq!(packed.get(3), None);
        assert_eq!(packed.to_vec(), typed);
        let typed = RowCells::from(typed);
        assert!(packed.iter().eq(typed.iter()), "the same cells, borrowed");
        let shown = |cells: &RowCells| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(shown(&packed), shown(&typed));
        let json = |cells: &RowCells| serde_json::to_string(cells).unwrap();
        assert_eq!(json(&packed), json(&typed));
        assert_eq!(packed.clone().into_cells(), typed.clone().into_cells());
        // A typed cell of another kind is borrowed as it is.
        assert_eq!(CellRef::from(&Cell::Int(7)), CellRef::Other(&Cell::Int(7)));
        assert_eq!(CellRef::from(&Cell::Text("".into())), CellRef::Empty);
    }

    #[test]
    fn cells_display_as_a_person_sees_them() {
        assert_eq!(Cell::Float(42.0).to_string(), "42");
        assert_eq!(Cell::Float(-0.0).to_string(), "0");
        assert_eq!(Cell::Float(12.5).to_string(), "12.5");
        assert_eq!(Cell::Bool(true).to_string(), "TRUE");
        assert_eq!(Cell::FormulaWithoutValue("SUM(A1:A3)".into()).to_string(), "=SUM(A1:A3)");
        assert!(Cell::Text(" \t".into()).is_blank());
        assert!(!Cell::Int(0).is_blank());
    }

    #[test]
    fn dates_show_as_iso_dates_times_of_day_without_their_date() {
        let at = |y, m, d, h, min| {
            NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap()
        };
        let date = CellDateTime::new(at(2024, 1, 31, 0, 0), false);
        assert_eq!((date.iso(), date.is_date()), ("2024-01-31".to_string(), true));
        let moment = CellDateTime::new(at(2024, 1, 31, 8, 30), false);
        assert_eq!((moment.iso(), moment.is_date()), ("2024-01-31T08:30:00".to_string(), false));
        // A time of day is the same whatever day the date system puts it on.
        let time = CellDateTime::new(at(1904, 1, 1, 18, 0), true);
        assert_eq!(time, CellDateTime::new(at(1899, 12, 31, 18, 0), true));
        assert_eq!(
            (time.iso(), time.is_time_only(), time.is_date()),
            ("18:00:00".into(), true, false)
        );
        for cell in [date, moment, time] {
            assert_eq!(CellDateTime::from_iso(&cell.iso()), Some(cell));
        }
        assert_eq!(CellDateTime::from_iso("31/01/2024"), None);
        assert_eq!(
            serde_json::to_string(&Cell::DateTime(date)).unwrap(),
            r#"{"type":"date_time","value":"2024-01-31"}"#
        );
        // Kept small: an upload holds millions of cells.
        assert_eq!(std::mem::size_of::<Cell>(), 24);
    }

    #[test]
    fn encodings_parse_from_common_names() {
        assert_eq!(TextEncoding::parse("utf-8"), Some(TextEncoding::Utf8));
        assert_eq!(TextEncoding::parse("CP1252"), Some(TextEncoding::Windows1252));
        assert_eq!(TextEncoding::parse("UTF-16 BE"), Some(TextEncoding::Utf16Be));
        assert_eq!(TextEncoding::parse("ebcdic"), None);
    }

    /// Reads with a progress callback recording its calls, cancelling at call `cancel_at`.
    fn read_recording(
        name: &str,
        bytes: &[u8],
        cancel_at: Option<usize>,
    ) -> (Result<RawWorkbook>, Vec<(u64, u64)>) {
        let mut calls = Vec::new();
        let result = read_bytes_with_progress(name, bytes, &CsvOptions::default(), &mut |d, t| {
            calls.push((d, t));
            Some(calls.len()) != cancel_at
        });
        (result, calls)
    }

    fn check_calls(calls: &[(u64, u64)]) {
        assert!(calls.len() >= 3, "start, some steps and the end: {calls:?}");
        assert_eq!(calls[0].0, 0, "starts at zero");
        let (done, total) = calls[calls.len() - 1];
        assert!(total > 0 && done == total, "ends complete: {calls:?}");
        for pair in calls.windows(2) {
            assert!(pair[0].0 <= pair[1].0, "done never decreases: {calls:?}");
        }
        assert!(calls.iter().all(|&(d, t)| d <= t), "done never exceeds total: {calls:?}");
    }

    #[test]
    fn reading_reports_progress_and_can_be_cancelled() {
        let mut csv = String::from("Identifier,LastName\n");
        for i in 0..20_000 {
            csv.push_str(&format!("U{i:06},Name {i}\n"));
        }
        let xlsx = test_support::xlsx(|wb| {
            let ws = wb.add_worksheet().set_name("User").unwrap();
            ws.write(0, 0, "Identifier").unwrap();
            for i in 1..20_000u32 {
                ws.write(i, 0, format!("U{i:06}")).unwrap();
            }
        });
        for (name, bytes) in [("User.csv", csv.as_bytes()), ("Users.xlsx", &xlsx[..])] {
            let (read, calls) = read_recording(name, bytes, None);
            assert_eq!(
                read.unwrap().sheets[0].rows.len(),
                19_999 + usize::from(name.ends_with("csv"))
            );
            check_calls(&calls);
            let (read, calls) = read_recording(name, bytes, Some(2));
            let e = read.unwrap_err();
            assert_eq!(e.code, ErrorCode::Cancelled, "{name}: {e}");
            assert!(e.message.contains(name), "{}", e.message);
            assert_eq!(calls.len(), 2, "no call after the cancel");
        }
    }

    #[test]
    fn reading_a_folder_or_a_missing_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), &CsvOptions::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert!(e.message.contains("is a folder"), "{}", e.message);
        let e = read(&dir.path().join("nope.xlsx"), &CsvOptions::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
    }
}
