//! The `.xlsx` template.
//!
//! # Memory
//!
//! Entity sheets and the hidden lists sheet are rust_xlsxwriter *constant-memory* worksheets:
//! each row goes to a temporary file as soon as the next one starts, so a million rows do not
//! sit in memory. Constant-memory mode only requires cells to be written in row order; header
//! notes, column formats and widths, freeze panes, the autofilter and data validations are kept
//! apart from the cell data and written when the workbook is saved, so they all still work
//! (checked by opening the result in LibreOffice). Its one cost is that strings are stored
//! inline in each cell rather than in a shared-string table, which makes the file somewhat
//! larger when values repeat; Excel and LibreOffice read both.
//!
//! What is held in memory: the keys of the entity types that some reference points at (for the
//! drop-down lists, written row by row across columns once all are known), column widths
//! measured on the first [`WIDTH_SAMPLE_ROWS`] rows, and the small "Read me" and metadata
//! sheets.

use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, ExcelDateTime, Format, FormatBorder, Formula,
    Note, Workbook, Worksheet, XlsxError,
};

use crate::error::{Error, ErrorCode, Result};
use crate::schema::{Attribute, AttributeKind, EntityType, Schema};
use crate::store::{Row, Store};

use super::cell::{Cell, MAX_CELL_CHARS};
use super::readme::{self, Line};
use super::{
    COMMAND_COLUMN, COMMAND_SYNONYMS, COMMANDS, LISTS_SHEET, METADATA_SHEET, README_SHEET,
    TemplateKind, TemplateMetadata, check_sheet_capacity, destination, snapshot, write_atomically,
};

/// Rows read to size the columns; later rows do not widen them (wide enough is enough).
pub(crate) const WIDTH_SAMPLE_ROWS: u32 = 500;
/// Narrowest and widest data column, in Excel character units.
pub(crate) const MIN_COLUMN_WIDTH: usize = 8;
/// See [`MIN_COLUMN_WIDTH`].
pub(crate) const MAX_COLUMN_WIDTH: usize = 50;
/// Empty rows below the data that still get drop-downs, for rows a person adds.
pub(crate) const VALIDATION_MARGIN: u32 = 1000;
/// Excel's built-in number format `@` (text): what Excel itself writes for text cells.
const TEXT_FORMAT: u8 = 49;
/// The last row index (zero-based) of an Excel sheet.
const LAST_ROW: u32 = 1_048_575;

/// Writes an `.xlsx` template to `path` atomically (a temporary file in the same folder, then
/// a rename), so a crash leaves the old file or a complete new one.
///
/// The workbook holds one sheet per entity type (every stored row for [`TemplateKind::Full`],
/// headers only for [`TemplateKind::Empty`]), then the "Read me" sheet, then the hidden lists
/// and metadata sheets; see the [module overview](super). `now` is recorded as the export time.
///
/// # Errors
///
/// - [`ErrorCode::Usage`] when an entity type has more rows than an Excel sheet holds, or a
///   stored value is longer than an Excel cell holds (both name the way out: CSV), or `path`
///   is a folder;
/// - [`ErrorCode::NotFound`] or [`ErrorCode::Io`] when the folder is missing or the file
///   cannot be written (for instance because it is open in Excel on Windows);
/// - [`ErrorCode::Repository`] or [`ErrorCode::Busy`] when the repository cannot be read.
///
/// # Examples
///
/// ```
/// use idbulk::template::{self, TemplateKind};
/// use idbulk::{Schema, Store};
///
/// let dir = tempfile::tempdir().expect("a temporary folder");
/// let store = Store::create(&dir.path().join("repository.db"), &Schema::directory())?;
/// let path = dir.path().join("incremental.xlsx");
/// template::write_xlsx(&store, TemplateKind::Empty, &path, chrono::Utc::now())?;
/// assert!(path.is_file());
/// # Ok::<(), idbulk::Error>(())
/// ```
pub fn write_xlsx(
    store: &Store,
    kind: TemplateKind,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<()> {
    let (dir, _) = destination(path)?;
    let schema = store.schema();
    let snapshot = snapshot(store)?;
    let revision = store.revision()?;
    for t in &schema.entity_types {
        check_sheet_capacity(t, store.count(&t.name)?)?;
    }
    let metadata = TemplateMetadata::new(schema, kind, revision, now);
    let styles = Styles::new();
    let mut lists = KeyLists::new(schema);
    let mut workbook = Workbook::new();
    // Level 3 instead of the default 6: measured 20-40 % faster exports for ~12 % larger files
    // (issue 6); compression was a third of the export's CPU.
    workbook.set_zip_compression_level(3);
    // Constant-memory rows spill to unnamed temporary files: put them beside the destination,
    // which has room for the result anyway (the system temp folder may be a small RAM disk).
    workbook.set_tempdir(dir).map_err(xlsx_error)?;

    let mut data_rows = Vec::with_capacity(schema.entity_types.len());
    for t in &schema.entity_types {
        let sheet = workbook.add_worksheet_with_constant_memory();
        let rows =
            write_entity_sheet(sheet.map_err(xlsx_error)?, store, t, kind, &mut lists, &styles)?;
        data_rows.push(rows);
    }
    write_read_me(workbook.add_worksheet(), schema, &metadata, &styles).map_err(xlsx_error)?;
    lists.collect_missing(store, schema)?;
    let sheet = workbook.add_worksheet_with_constant_memory().map_err(xlsx_error)?;
    write_lists(sheet, &lists, &styles)?;
    write_metadata(workbook.add_worksheet(), &metadata, &styles).map_err(xlsx_error)?;
    // Everything is read: end the read transaction before the (slow) save.
    drop(snapshot);

    for (index, (t, rows)) in schema.entity_types.iter().zip(data_rows).enumerate() {
        let sheet = workbook.worksheet_from_index(index).map_err(xlsx_error)?;
        add_validations(sheet, t, rows, &lists).map_err(xlsx_error)?;
    }

    write_atomically(path, |file| {
        let mut out = BufWriter::new(file);
        workbook.save_to_writer(&mut out).map_err(xlsx_error)?;
        out.flush().map_err(|e| Error::io(path, "write", &e))
    })
}

/// The formats used across the workbook.
struct Styles {
    header: Format,
    header_required: Format,
    text: Format,
    text_inert: Format,
    date: Format,
    title: Format,
    heading: Format,
    table_header: Format,
    table_cell: Format,
}

impl Styles {
    fn new() -> Styles {
        let header = Format::new()
            .set_bold()
            .set_border_bottom(FormatBorder::Thin)
            .set_num_format_index(TEXT_FORMAT);
        let text = Format::new().set_num_format_index(TEXT_FORMAT);
        Styles {
            header_required: header.clone().set_background_color(Color::RGB(0xFC_E4_D6)),
            header: header.set_background_color(Color::RGB(0xDD_EB_F7)),
            text_inert: text.clone().set_quote_prefix(),
            text,
            date: Format::new().set_num_format("yyyy-mm-dd"),
            title: Format::new().set_bold().set_font_size(14),
            heading: Format::new()
                .set_bold()
                .set_font_size(12)
                .set_font_color(Color::RGB(0x1F_4E_79)),
            table_header: Format::new()
                .set_bold()
                .set_background_color(Color::RGB(0xDD_EB_F7))
                .set_border(FormatBorder::Thin),
            table_cell: Format::new().set_border(FormatBorder::Thin),
        }
    }

    /// The format of a whole data column: what a person typing a new row gets.
    fn column(&self, column: &Column<'_>) -> Option<&Format> {
        match column {
            Column::Command | Column::Key(_) => Some(&self.text),
            Column::Attribute(a) => match a.kind {
                AttributeKind::Text | AttributeKind::Email | AttributeKind::Reference { .. } => {
                    Some(&self.text)
                }
                AttributeKind::Date => Some(&self.date),
                AttributeKind::Integer | AttributeKind::Decimal | AttributeKind::Bool => None,
            },
        }
    }
}

/// One column of an entity sheet.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Column<'a> {
    /// The `Command` column.
    Command,
    /// The key column; its header.
    Key(&'a str),
    /// An attribute column.
    Attribute(&'a Attribute),
}

impl<'a> Column<'a> {
    /// Every column of an entity type's sheet, in order.
    pub(crate) fn all(entity_type: &'a EntityType) -> Vec<Column<'a>> {
        let mut columns = vec![Column::Command, Column::Key(&entity_type.key)];
        columns.extend(entity_type.attributes.iter().map(Column::Attribute));
        columns
    }

    fn header(&self) -> &'a str {
        match self {
            Column::Command => COMMAND_COLUMN,
            Column::Key(key) => key,
            Column::Attribute(a) => &a.name,
        }
    }

    fn required(&self) -> bool {
        match self {
            Column::Command => false,
            Column::Key(_) => true,
            Column::Attribute(a) => a.required,
        }
    }

    /// The note on the column's header: what it holds, whether it is required, and for a
    /// reference which entity type's key.
    pub(crate) fn note(&self, entity_type: &EntityType) -> String {
        match self {
            Column::Command => {
                let synonyms: Vec<String> =
                    COMMAND_SYNONYMS.iter().map(|(s, c)| format!("{s} = {c}")).collect();
                format!(
                    "{COMMAND_COLUMN}: what to do with this row in incremental mode.\n\
                     One of {} ({}), in any case.\n\
                     Leave it empty in complete mode.",
                    COMMANDS.join(", "),
                    synonyms.join(", ")
                )
            }
            Column::Key(key) => format!(
                "{key}: the key of each {} (text).\nRequired. Unique; it never changes.\nKept as text: 00123 stays 00123.",
                entity_type.name
            ),
            Column::Attribute(a) => {
                let required = if a.required { "Required." } else { "Optional." };
                let more = match &a.kind {
                    AttributeKind::Reference { target } => format!(
                        "Refers to {target}: pick a stored key from the list, or type a key this file creates."
                    ),
                    _ => format!("Holds {}.", readme::holds(a)),
                };
                format!("{}: {}.\n{required}\n{more}", a.name, a.kind.label())
            }
        }
    }
}

/// The width of a data column, from its header and the widest value sampled, in Excel
/// character units: room for the header and its filter button, capped so that one long value
/// does not push every other column off screen.
pub(crate) fn column_width(header: &str, widest_value: usize) -> f64 {
    let for_header = header.chars().count() + 4;
    let for_values = widest_value + 2;
    for_header.max(for_values).clamp(MIN_COLUMN_WIDTH, MAX_COLUMN_WIDTH) as f64
}

/// The last row (zero-based) that gets drop-downs on a sheet with this many data rows.
pub(crate) fn validation_last_row(data_rows: u32) -> u32 {
    data_rows.saturating_add(VALIDATION_MARGIN).min(LAST_ROW)
}

/// The keys offered by reference drop-downs: one column of the lists sheet for each entity
/// type some reference points at, in schema order.
pub(crate) struct KeyLists {
    /// `(entity type, its keys once collected)`.
    columns: Vec<(String, Option<PackedKeys>)>,
}

/// Keys packed end to end in one buffer: a million keys held as `String`s cost about 40 MB,
/// packed about 16 MB (issue 6 bounds the export's memory at 64 MB for a million rows).
#[derive(Debug, Default)]
pub(crate) struct PackedKeys {
    text: String,
    /// Where each key ends in `text`.
    ends: Vec<usize>,
}

impl PackedKeys {
    /// Adds a key after the others.
    pub(crate) fn push(&mut self, key: &str) {
        self.text.push_str(key);
        self.ends.push(self.text.len());
    }

    /// How many keys there are.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The `i`-th key pushed, if there are that many.
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.text[start..end])
    }
}

impl KeyLists {
    pub(crate) fn new(schema: &Schema) -> KeyLists {
        let referenced = |name: &str| {
            schema
                .entity_types
                .iter()
                .flat_map(|t| &t.attributes)
                .any(|a| a.kind.reference_target() == Some(name))
        };
        let columns = schema
            .entity_types
            .iter()
            .filter(|t| referenced(&t.name))
            .map(|t| (t.name.clone(), None))
            .collect();
        KeyLists { columns }
    }

    fn column_of(&self, entity_type: &str) -> Option<usize> {
        self.columns.iter().position(|(t, _)| t == entity_type)
    }

    /// Where the keys of `entity_type` will be collected, if some reference needs them.
    fn sink(&mut self, entity_type: &str) -> Option<&mut PackedKeys> {
        let column = self.column_of(entity_type)?;
        Some(self.columns[column].1.insert(PackedKeys::default()))
    }

    /// Reads the keys the data sheets did not provide (all of them for an empty template).
    fn collect_missing(&mut self, store: &Store, schema: &Schema) -> Result<()> {
        for (name, keys) in &mut self.columns {
            if keys.is_some() {
                continue;
            }
            let Some(t) = schema.entity_type(name) else { continue };
            let keys = keys.insert(PackedKeys::default());
            store.for_each_row(t, |row| {
                keys.push(&row.key);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The range of the lists sheet holding the keys of `entity_type`, as a validation source:
    /// `_lists!$C$2:$C$301`. `None` when nothing refers to it or it has no keys.
    pub(crate) fn range(&self, entity_type: &str) -> Option<String> {
        let column = self.column_of(entity_type)?;
        let count = self.columns[column].1.as_ref().map_or(0, PackedKeys::len);
        list_range(column as u16, count)
    }

    #[cfg(test)]
    pub(crate) fn with_counts(columns: &[(&str, usize)]) -> KeyLists {
        let columns = columns
            .iter()
            .map(|(t, n)| {
                let mut keys = PackedKeys::default();
                (0..*n).for_each(|i| keys.push(&i.to_string()));
                (t.to_string(), Some(keys))
            })
            .collect();
        KeyLists { columns }
    }
}

/// The lists-sheet range of `count` keys in `column` (zero-based), below its header row.
pub(crate) fn list_range(column: u16, count: usize) -> Option<String> {
    if count == 0 {
        return None;
    }
    let letter = rust_xlsxwriter::utility::column_number_to_name(column);
    Some(format!("{LISTS_SHEET}!${letter}$2:${letter}${}", count + 1))
}

/// Writes one entity type's sheet; returns how many data rows it holds.
fn write_entity_sheet(
    sheet: &mut Worksheet,
    store: &Store,
    entity_type: &EntityType,
    kind: TemplateKind,
    lists: &mut KeyLists,
    styles: &Styles,
) -> Result<u32> {
    let columns = Column::all(entity_type);
    let last_col = (columns.len() - 1) as u16;
    sheet.set_name(&entity_type.name).map_err(xlsx_error)?;
    // Column formats first: in constant-memory mode they must exist before the rows are written.
    for (c, column) in columns.iter().enumerate() {
        if let Some(format) = styles.column(column) {
            sheet.set_column_format(c as u16, format).map_err(xlsx_error)?;
        }
        let header = if column.required() { &styles.header_required } else { &styles.header };
        sheet.write_string_with_format(0, c as u16, column.header(), header).map_err(xlsx_error)?;
        sheet
            .insert_note(0, c as u16, &header_note(&column.note(entity_type)))
            .map_err(xlsx_error)?;
    }
    sheet.set_freeze_panes(1, 2).map_err(xlsx_error)?;

    let (rows, widths) = if kind == TemplateKind::Full {
        write_stored_rows(sheet, store, entity_type, lists.sink(&entity_type.name), styles)?
    } else {
        (0, vec![0; columns.len()])
    };
    for (c, column) in columns.iter().enumerate() {
        let width = column_width(column.header(), widths[c]);
        sheet.set_column_width(c as u16, width).map_err(xlsx_error)?;
    }
    sheet.autofilter(0, 0, rows, last_col).map_err(xlsx_error)?;
    Ok(rows)
}

/// Rows handed from the store's scan to the sheet's writer at a time.
const ROW_BATCH: usize = 1024;

/// Writes every stored row of `entity_type` below the header, on two threads: this one reads
/// and decodes the rows (SQLite's connection stays on its thread) while a second one writes
/// the cells, so the scan costs no time of its own (issue 6: it was most of what the export
/// spent beyond rust_xlsxwriter's writing). Collects the keys into `keys` for the lists sheet;
/// returns the rows written and the widest value of each column among the first rows.
fn write_stored_rows(
    sheet: &mut Worksheet,
    store: &Store,
    entity_type: &EntityType,
    mut keys: Option<&mut PackedKeys>,
    styles: &Styles,
) -> Result<(u32, Vec<usize>)> {
    let (batches, received) = std::sync::mpsc::sync_channel::<Vec<Row>>(4);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<(u32, Vec<usize>)> {
            let mut widths = vec![0; entity_type.attributes.len() + 2];
            let mut rows: u32 = 0;
            for row in received.into_iter().flatten() {
                rows += 1;
                let sample = rows <= WIDTH_SAMPLE_ROWS;
                let key_cell = Cell::text(&row.key);
                let at = (entity_type, row.key.as_str(), entity_type.key.as_str());
                write_cell(sheet, rows, 1, &key_cell, styles, at)?;
                if sample {
                    widths[1] = widths[1].max(key_cell.display_width());
                }
                for (i, (attribute, value)) in
                    entity_type.attributes.iter().zip(&row.values).enumerate()
                {
                    let cell = Cell::for_value(&attribute.kind, value);
                    let at = (entity_type, row.key.as_str(), attribute.name.as_str());
                    write_cell(sheet, rows, i as u16 + 2, &cell, styles, at)?;
                    if sample {
                        widths[i + 2] = widths[i + 2].max(cell.display_width());
                    }
                }
                if let Some(keys) = keys.as_mut() {
                    keys.push(&row.key);
                }
            }
            Ok((rows, widths))
        });
        let mut batch = Vec::with_capacity(ROW_BATCH);
        let scanned = store.for_each_row(entity_type, |row| {
            batch.push(row);
            if batch.len() == ROW_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(ROW_BATCH));
                // A closed channel means the writer stopped on an error, which it returns.
                if batches.send(full).is_err() {
                    return Err(Error::internal("the sheet writer stopped"));
                }
            }
            Ok(())
        });
        if scanned.is_ok() && !batch.is_empty() {
            let _ = batches.send(batch);
        }
        drop(batches);
        let written = writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // The writer's error first: a scan stopped by a closed channel only echoes it.
        let written = written?;
        scanned.map(|()| written)
    })
}

/// A header note sized to its text.
fn header_note(text: &str) -> Note {
    const CHARS_PER_LINE: usize = 48;
    let lines: usize =
        text.lines().map(|l| l.chars().count().div_ceil(CHARS_PER_LINE).max(1)).sum();
    Note::new(text)
        .add_author_prefix(false)
        .set_author("idbulk")
        .set_width(300)
        .set_height(14 * lines as u32 + 14)
}

/// Writes one cell; `at` names the row and column for the error a too-long value raises.
fn write_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell<'_>,
    styles: &Styles,
    at: (&EntityType, &str, &str),
) -> Result<()> {
    let written = match *cell {
        Cell::Empty => return Ok(()),
        Cell::Text { text, inert } => {
            let length = text.encode_utf16().count();
            if length > MAX_CELL_CHARS {
                let (entity_type, key, column) = at;
                return Err(Error::usage(format!(
                    "{} {key}: {column} holds {length} characters, more than an Excel cell holds ({MAX_CELL_CHARS}). Download the template as CSV instead.",
                    entity_type.name
                )));
            }
            let format = if inert { &styles.text_inert } else { &styles.text };
            sheet.write_string_with_format(row, col, text, format)
        }
        Cell::Number(n) => sheet.write_number(row, col, n),
        Cell::Date { year, month, day } => ExcelDateTime::from_ymd(year, month, day)
            .and_then(|date| sheet.write_date_with_format(row, col, &date, &styles.date)),
        Cell::Bool(b) => sheet.write_boolean(row, col, b),
    };
    written.map(|_| ()).map_err(xlsx_error)
}

/// Drop-downs: the commands (inline) and, for each reference column, the target's stored keys
/// (a range of the lists sheet). Both only warn or inform: `insert` is a valid command though
/// not in the list, and a reference may name a key that the same file creates.
fn add_validations(
    sheet: &mut Worksheet,
    entity_type: &EntityType,
    data_rows: u32,
    lists: &KeyLists,
) -> Result<(), XlsxError> {
    let last_row = validation_last_row(data_rows);
    let commands = DataValidation::new()
        .allow_list_strings(&COMMANDS)?
        .set_error_style(DataValidationErrorStyle::Warning)
        .set_error_title("Unknown command")?
        .set_error_message(format!(
            "The commands are {}. Insert and Update are accepted too. Keep this value anyway?",
            COMMANDS.join(", ")
        ))?;
    sheet.add_data_validation(1, 0, last_row, 0, &commands)?;
    for (i, attribute) in entity_type.attributes.iter().enumerate() {
        let Some(target) = attribute.kind.reference_target() else { continue };
        let Some(range) = lists.range(target) else { continue };
        let col = i as u16 + 2;
        let validation = DataValidation::new()
            .allow_list_formula(Formula::new(range))
            .set_error_style(DataValidationErrorStyle::Information)
            .set_error_title("Not a stored key")?
            .set_error_message(format!(
                "This is not the key of a stored {target}. Keep it if this file creates that {target}; otherwise the check will report it."
            ))?;
        sheet.add_data_validation(1, col, last_row, col, &validation)?;
    }
    Ok(())
}

fn write_read_me(
    sheet: &mut Worksheet,
    schema: &Schema,
    metadata: &TemplateMetadata,
    styles: &Styles,
) -> Result<(), XlsxError> {
    sheet.set_name(README_SHEET)?;
    sheet.set_screen_gridlines(false);
    for (c, width) in readme::COLUMN_WIDTHS.iter().enumerate() {
        sheet.set_column_width(c as u16, *width)?;
    }
    for (r, line) in readme::lines(schema, metadata).iter().enumerate() {
        let r = r as u32;
        match line {
            Line::Title(t) => sheet.write_string_with_format(r, 0, t, &styles.title).map(|_| ())?,
            Line::Heading(t) => {
                sheet.write_string_with_format(r, 0, t, &styles.heading).map(|_| ())?
            }
            Line::Text(t) => sheet.write_string(r, 0, t).map(|_| ())?,
            Line::TableHeader(cells) => write_row(sheet, r, cells, &styles.table_header)?,
            Line::TableRow(cells) => write_row(sheet, r, cells, &styles.table_cell)?,
            Line::Blank => {}
        }
    }
    Ok(())
}

fn write_row(
    sheet: &mut Worksheet,
    row: u32,
    cells: &[String],
    format: &Format,
) -> Result<(), XlsxError> {
    for (c, text) in cells.iter().enumerate() {
        sheet.write_string_with_format(row, c as u16, text, format)?;
    }
    Ok(())
}

/// The hidden lists sheet: a header row naming each referenced entity type, its keys below.
/// Written row by row across the columns, as constant-memory mode requires.
fn write_lists(sheet: &mut Worksheet, lists: &KeyLists, styles: &Styles) -> Result<()> {
    sheet.set_name(LISTS_SHEET).map_err(xlsx_error)?;
    sheet.set_hidden(true);
    for (c, (name, _)) in lists.columns.iter().enumerate() {
        sheet.set_column_format(c as u16, &styles.text).map_err(xlsx_error)?;
        sheet.write_string_with_format(0, c as u16, name, &styles.header).map_err(xlsx_error)?;
    }
    let longest =
        lists.columns.iter().map(|(_, keys)| keys.as_ref().map_or(0, PackedKeys::len)).max();
    for r in 0..longest.unwrap_or(0) {
        for (c, (name, keys)) in lists.columns.iter().enumerate() {
            if let Some(key) = keys.as_ref().and_then(|k| k.get(r)) {
                let cell = Cell::text(key);
                let row = r as u32 + 1;
                let at = (name.as_str(), key);
                write_list_cell(sheet, row, c as u16, &cell, styles, at)?;
            }
        }
    }
    Ok(())
}

fn write_list_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell<'_>,
    styles: &Styles,
    (entity_type, key): (&str, &str),
) -> Result<()> {
    if let Cell::Text { text, inert } = *cell {
        if text.encode_utf16().count() > MAX_CELL_CHARS {
            return Err(Error::usage(format!(
                "A {entity_type} key is longer than an Excel cell holds ({MAX_CELL_CHARS} characters): {}... Download the template as CSV instead.",
                key.chars().take(40).collect::<String>()
            )));
        }
        let format = if inert { &styles.text_inert } else { &styles.text };
        sheet.write_string_with_format(row, col, text, format).map_err(xlsx_error)?;
    }
    Ok(())
}

/// The hidden metadata sheet: key/value rows, all text.
fn write_metadata(
    sheet: &mut Worksheet,
    metadata: &TemplateMetadata,
    styles: &Styles,
) -> Result<(), XlsxError> {
    sheet.set_name(METADATA_SHEET)?;
    sheet.set_hidden(true);
    sheet.set_column_width(0, 22)?;
    sheet.set_column_width(1, 40)?;
    for (r, (key, value)) in metadata.to_pairs().iter().enumerate() {
        sheet.write_string_with_format(r as u32, 0, key, &styles.text)?;
        sheet.write_string_with_format(r as u32, 1, value, &styles.text)?;
    }
    Ok(())
}

/// A rust_xlsxwriter failure as an engine error. Data-dependent limits are checked before
/// writing, so what remains is I/O or a bug.
fn xlsx_error(e: XlsxError) -> Error {
    match e {
        XlsxError::IoError(io) => {
            Error::new(ErrorCode::Io, format!("Could not write the workbook: {io}."))
        }
        XlsxError::TempFileError(dir, io) => Error::io(&dir, "write temporary data in", &io),
        other => Error::internal(format!("The workbook could not be built: {other}.")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use chrono::TimeZone;

    use super::*;
    use crate::store::Row;

    /// A Directory repository with `sites` sites, one user type and one user.
    fn store_with(dir: &Path, sites: usize) -> Store {
        let schema = Schema::directory();
        let mut store = Store::create(&dir.join("r.db"), &schema).unwrap();
        let site = schema.entity_type("Site").unwrap().clone();
        let user_type = schema.entity_type("UserType").unwrap().clone();
        let user = schema.entity_type("User").unwrap().clone();
        store
            .write(|w| {
                for i in 0..sites {
                    w.insert(&site, &Row::empty(format!("S{i:03}"), &site))?;
                }
                let mut employee = Row::empty("EMP", &user_type);
                employee.values.set(1, "false");
                w.insert(&user_type, &employee)?;
                let mut ada = Row::empty("00123", &user);
                ada.values.set(0, "=1+1");
                ada.values.set(1, "Lovelace");
                ada.values.set(4, "EMP");
                ada.values.set(9, "2024-01-31");
                w.insert(&user, &ada)
            })
            .unwrap();
        store
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
    }

    /// The XML parts of a written workbook, by name.
    fn parts(path: &Path) -> BTreeMap<String, String> {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        let mut parts = BTreeMap::new();
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            let name = file.name().unwrap().to_string();
            parts.insert(name, text);
        }
        parts
    }

    fn template(kind: TemplateKind, sites: usize) -> (tempfile::TempDir, BTreeMap<String, String>) {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), sites);
        let path = dir.path().join("t.xlsx");
        write_xlsx(&store, kind, &path, now()).unwrap();
        let parts = parts(&path);
        (dir, parts)
    }

    /// The `<dataValidation>` elements of a sheet's XML.
    fn validations(sheet: &str) -> Vec<&str> {
        sheet
            .split("<dataValidation ")
            .skip(1)
            .map(|v| v.split("</dataValidation>").next().unwrap())
            .collect()
    }

    #[test]
    fn a_cell_the_writer_refuses_early_stops_the_scan_with_the_writers_words() {
        // Many batches behind the refused row: the scan meets a closed channel, and the
        // caller still gets the writer's error, not the scan's.
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with(dir.path(), ROW_BATCH * 8);
        let site = store.schema().entity_type("Site").unwrap().clone();
        let mut huge = Row::empty("A-HUGE", &site);
        huge.values.set(0, &"x".repeat(MAX_CELL_CHARS + 1));
        store.write(|w| w.insert(&site, &huge)).unwrap();
        let path = dir.path().join("t.xlsx");
        let e = write_xlsx(&store, TemplateKind::Full, &path, now()).unwrap_err();
        assert_eq!(e.code, ErrorCode::Usage, "{}", e.message);
        assert!(e.message.starts_with("Site A-HUGE: "), "{}", e.message);
        assert!(!path.exists());
    }

    #[test]
    fn packed_keys_give_back_what_was_pushed() {
        let mut keys = PackedKeys::default();
        for k in ["00001", "", "Zoé", "R&D"] {
            keys.push(k);
        }
        assert_eq!(keys.len(), 4);
        let back: Vec<&str> = (0..5).map_while(|i| keys.get(i)).collect();
        assert_eq!(back, ["00001", "", "Zoé", "R&D"]);
    }

    #[test]
    fn list_ranges_point_at_the_hidden_sheet_below_its_header() {
        assert_eq!(list_range(0, 1).as_deref(), Some("_lists!$A$2:$A$2"));
        assert_eq!(list_range(2, 300).as_deref(), Some("_lists!$C$2:$C$301"));
        assert_eq!(list_range(27, 5).as_deref(), Some("_lists!$AB$2:$AB$6"));
        assert_eq!(list_range(0, 0), None, "no keys, no drop-down");
        let lists = KeyLists::with_counts(&[("User", 0), ("Site", 300)]);
        assert_eq!(lists.range("Site").as_deref(), Some("_lists!$B$2:$B$301"));
        assert_eq!(lists.range("User"), None);
        assert_eq!(lists.range("Badge"), None, "not referenced, not listed");
    }

    #[test]
    fn validations_cover_the_data_and_a_margin_of_new_rows() {
        assert_eq!(validation_last_row(0), 1000);
        assert_eq!(validation_last_row(1500), 2500);
        assert_eq!(validation_last_row(1_048_575), 1_048_575, "never past the last row");
    }

    #[test]
    fn the_lists_sheet_has_one_column_per_referenced_type_in_schema_order() {
        let lists = KeyLists::new(&Schema::directory());
        let names: Vec<_> = lists.columns.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["User", "Organization", "Site", "UserType"]);
    }

    #[test]
    fn drop_downs_use_an_inline_command_list_and_lists_ranges_for_references() {
        let (_dir, parts) = template(TemplateKind::Empty, 300);
        let user = &parts["xl/worksheets/sheet1.xml"];
        let v = validations(user);
        let command =
            v.iter().find(|v| v.contains("sqref=\"A2:A1001\"")).expect("Command drop-down");
        assert!(
            command.contains("type=\"list\"") && command.contains("errorStyle=\"warning\""),
            "{command}"
        );
        assert!(command.contains("<formula1>\"Add,Modify,Delete,Merge\"</formula1>"), "{command}");
        // User.Site is column J; Site is the third referenced type, so column C of _lists.
        let site = v.iter().find(|v| v.contains("sqref=\"J2:J1001\"")).expect("Site drop-down");
        assert!(site.contains("<formula1>_lists!$C$2:$C$301</formula1>"), "{site}");
        assert!(site.contains("errorStyle=\"information\""), "{site}");
        // User.UserType (column G) lists the one stored user type.
        let user_type =
            v.iter().find(|v| v.contains("sqref=\"G2:G1001\"")).expect("UserType drop-down");
        assert!(user_type.contains("<formula1>_lists!$D$2:$D$2</formula1>"), "{user_type}");
        // The empty template still lists the stored User key for User.Manager (column I).
        let manager =
            v.iter().find(|v| v.contains("sqref=\"I2:I1001\"")).expect("Manager drop-down");
        assert!(manager.contains("<formula1>_lists!$A$2:$A$2</formula1>"), "{manager}");
        assert_eq!(v.len(), 4, "Command, UserType, Manager, Site; Organization has no keys");
    }

    #[test]
    fn the_workbook_layout_has_frozen_filtered_sheets_and_hidden_helpers() {
        let (_dir, parts) = template(TemplateKind::Full, 2);
        let workbook = &parts["xl/workbook.xml"];
        let names: Vec<&str> = workbook
            .split("<sheet ")
            .skip(1)
            .map(|s| s.split("name=\"").nth(1).unwrap().split('"').next().unwrap())
            .collect();
        assert_eq!(
            names,
            ["User", "Organization", "Site", "UserType", "Read me", "_lists", "_idbulk"]
        );
        assert!(
            workbook.contains(r#"<sheet name="_lists" sheetId="6" state="hidden""#),
            "{workbook}"
        );
        assert!(
            workbook.contains(r#"<sheet name="_idbulk" sheetId="7" state="hidden""#),
            "{workbook}"
        );
        let user = &parts["xl/worksheets/sheet1.xml"];
        assert!(
            user.contains(r#"xSplit="2" ySplit="1" topLeftCell="C2""#),
            "frozen header and key: {user}"
        );
        assert!(
            user.contains(r#"<autoFilter ref="A1:M2"/>"#),
            "filter over the used range: {user}"
        );
        let sites = &parts["xl/worksheets/sheet3.xml"];
        assert!(sites.contains(r#"<autoFilter ref="A1:E3"/>"#), "{sites}");
        for (name, xml) in &parts {
            assert!(!xml.contains("<f>"), "no formula anywhere, found one in {name}");
        }
    }

    #[test]
    fn formula_like_strings_get_the_quote_prefix_style() {
        let (_dir, parts) = template(TemplateKind::Full, 0);
        let user = &parts["xl/worksheets/sheet1.xml"];
        let cell = user.split("<c r=\"C2\"").nth(1).unwrap().split("</c>").next().unwrap();
        assert!(cell.contains("t=\"inlineStr\"") && cell.contains("<t>=1+1</t>"), "{cell}");
        let style: usize =
            cell.split("s=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        let styles = &parts["xl/styles.xml"];
        let xfs = styles.split("<cellXfs").nth(1).unwrap().split("</cellXfs>").next().unwrap();
        let xf = xfs.split("<xf ").nth(style + 1).unwrap();
        assert!(xf.contains("quotePrefix=\"1\""), "style {style} of =1+1 is {xf}");
        assert!(xf.contains("numFmtId=\"49\""), "and text (@): {xf}");
        let key = user.split("<c r=\"B2\"").nth(1).unwrap().split("</c>").next().unwrap();
        assert!(key.contains("<t>00123</t>"), "keys are strings: {key}");
    }

    #[test]
    fn header_notes_tell_kind_requirement_and_target() {
        let schema = Schema::directory();
        let user = schema.entity_type("User").unwrap();
        let notes: Vec<String> = Column::all(user).iter().map(|c| c.note(user)).collect();
        assert_eq!(
            notes[0],
            "Command: what to do with this row in incremental mode.\n\
             One of Add, Modify, Delete, Merge (Insert = Add, Update = Modify), in any case.\n\
             Leave it empty in complete mode."
        );
        assert_eq!(
            notes[1],
            "Identifier: the key of each User (text).\nRequired. Unique; it never changes.\nKept as text: 00123 stays 00123."
        );
        assert_eq!(notes[3], "LastName: text.\nRequired.\nHolds any text.");
        assert_eq!(
            notes[8],
            "Manager: User key.\nOptional.\nRefers to User: pick a stored key from the list, or type a key this file creates."
        );
        assert_eq!(
            notes[11],
            "ContractStartDate: date (YYYY-MM-DD).\nOptional.\nHolds a date, typed YYYY-MM-DD."
        );

        let (_dir, parts) = template(TemplateKind::Empty, 0);
        let comments = &parts["xl/comments1.xml"];
        assert!(comments.contains("Manager: User key."), "{comments}");
        assert_eq!(comments.matches("<comment ").count(), 13, "one note per User column");
    }

    #[test]
    fn column_widths_fit_headers_and_values_within_bounds() {
        assert_eq!(column_width("Id", 0), 8.0, "never narrower than 8");
        assert_eq!(column_width("Identifier", 5), 14.0, "header plus filter button");
        assert_eq!(column_width("City", 20), 22.0);
        assert_eq!(column_width("Notes", 5000), 50.0, "a long value does not take the screen");
        let (_dir, parts) = template(TemplateKind::Full, 0);
        let user = &parts["xl/worksheets/sheet1.xml"];
        let cols = user.split("<cols>").nth(1).unwrap().split("</cols>").next().unwrap();
        assert_eq!(cols.matches("<col ").count(), 13, "every column sized: {cols}");
        assert!(cols.contains(r#"<col min="1" max="1" width="11.7109375""#), "Command: {cols}");
    }
}
