//! Workbooks (`.xlsx`, `.xls`, `.ods`) read into raw sheets.
//!
//! `.xlsx` sheets are read by idbulk's own streaming reader ([`super::xlsx`]); calamine reads
//! those it steps aside from, streaming them cell by cell ([`calamine::XlsxCellReader`]), which
//! also gives each cell's formula, so memory follows the cells that hold something and a
//! formula without a cached value is seen. `.xls` and `.ods` are read by calamine as whole
//! grids when the file is opened, so the [`prescan`] bounds them first.

use std::io::{Cursor, Read, Seek};

use calamine::{
    Data, DataRef, Dimensions, ExcelDateTime, Ods, Range, Reader, SheetType, SheetVisible, Xls,
    XlsError, Xlsx, XlsxFormulaMetadata,
};
use chrono::{NaiveDate, NaiveDateTime};

use super::limits::{MAX_COLUMNS, MAX_ROWS, thousands};
use super::location::column_letters;
use super::prescan;
use super::sheet::{CellBudget, SheetBuilder};
use super::{Cell, CellDateTime, FileFormat, Notice, Progress, RawWorkbook, invalid};
use crate::error::{Error, Result};
use crate::template::{LISTS_SHEET, METADATA_SHEET, README_SHEET};

/// What to do with a sheet of a workbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// An entity sheet (or any other visible worksheet: the planner decides).
    Data,
    /// The hidden metadata sheet: read into key/value pairs.
    Metadata,
    /// A sheet idbulk wrote for people or for drop-downs, or a chart: not read.
    Skip,
    /// A hidden sheet the person did not make visible: not read, with a notice.
    Hidden,
}

pub(super) fn role(sheet: &calamine::Sheet) -> Role {
    let is = |name: &str| sheet.name.eq_ignore_ascii_case(name);
    if sheet.typ != SheetType::WorkSheet || is(README_SHEET) || is(LISTS_SHEET) {
        Role::Skip
    } else if is(METADATA_SHEET) {
        Role::Metadata
    } else if sheet.visible != SheetVisible::Visible {
        Role::Hidden
    } else {
        Role::Data
    }
}

pub(super) fn hidden_notice(sheet: &str) -> Notice {
    Notice {
        sheet: Some(sheet.to_string()),
        message: format!(
            "Sheet {sheet} is hidden and was not read; unhide it if it holds rows to sync."
        ),
    }
}

pub(super) fn merged_notice(sheet: &str, regions: &[Dimensions]) -> Option<Notice> {
    if regions.is_empty() {
        return None;
    }
    let name = |d: &Dimensions| {
        format!(
            "{}{}:{}{}",
            column_letters(d.start.1),
            d.start.0 + 1,
            column_letters(d.end.1),
            d.end.0 + 1
        )
    };
    let mut shown: Vec<String> = regions.iter().take(3).map(name).collect();
    if regions.len() > 3 {
        shown.push(format!("and {} more", regions.len() - 3));
    }
    Some(Notice {
        sheet: Some(sheet.to_string()),
        message: format!(
            "Sheet {sheet} has merged cells ({}): a merged range keeps its value in its first \
             cell only, the other cells read as blank. Unmerge them if that is not intended.",
            shown.join(", ")
        ),
    })
}

pub(super) fn cell_from_excel_datetime(value: &ExcelDateTime) -> Cell {
    let serial = value.as_f64();
    if value.is_duration() {
        let seconds = (serial * 86_400.0).round() as i64;
        let sign = if seconds < 0 { "-" } else { "" };
        let s = seconds.unsigned_abs();
        return Cell::Duration(
            format!("{sign}{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60).into(),
        );
    }
    match value.as_datetime() {
        Some(dt) => Cell::DateTime(CellDateTime::new(dt, (0.0..1.0).contains(&serial))),
        None => Cell::Float(serial),
    }
}

/// An ODS ISO date or date-time.
fn cell_from_iso(text: &str) -> Cell {
    let parsed = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    match parsed {
        Some(dt) => Cell::DateTime(CellDateTime::new(dt, false)),
        None => Cell::Text(text.into()),
    }
}

/// A calamine value as a raw cell. An empty string is [`Cell::Empty`].
fn cell_from_data(value: &Data) -> Cell {
    match value {
        Data::Empty => Cell::Empty,
        Data::String(s) if s.is_empty() => Cell::Empty,
        Data::String(s) => Cell::Text(s.as_str().into()),
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) => cell_from_excel_datetime(dt),
        Data::DateTimeIso(iso) => cell_from_iso(iso),
        Data::DurationIso(d) => Cell::Duration(d.as_str().into()),
        Data::Error(e) => Cell::Error(e.to_string().into()),
    }
}

fn cell_from_ref(value: DataRef<'_>) -> Cell {
    match value {
        DataRef::SharedString("") => Cell::Empty,
        DataRef::SharedString(s) => Cell::Text(s.into()),
        DataRef::String(s) if s.is_empty() => Cell::Empty,
        DataRef::String(s) => Cell::Text(s.into()),
        other => cell_from_data(&Data::from(other)),
    }
}

fn unreadable(name: &str, what: &str, error: impl std::fmt::Display) -> Error {
    invalid(format!("{name} could not be read as {what}: {error}. Save it again and retry."))
}

pub(super) fn new_workbook(name: &str, format: FileFormat) -> RawWorkbook {
    RawWorkbook {
        file_name: name.to_string(),
        format,
        sheets: Vec::new(),
        metadata: Vec::new(),
        notices: Vec::new(),
        csv_entity_type: None,
    }
}

/// Reads an `.xlsx` or `.xlsm` workbook: with the streaming reader of [`super::xlsx`], or
/// with calamine when that reader steps aside.
pub(crate) fn read_xlsx<R: Read + Seek>(
    name: &str,
    mut source: R,
    progress: &mut Progress<'_>,
) -> Result<RawWorkbook> {
    match super::xlsx::read(name, &mut source, progress) {
        Ok(workbook) => return Ok(workbook),
        Err(super::xlsx::Stop::Refused(e)) => return Err(e),
        // Something the streaming reader does not handle: calamine reads it, or says why not.
        Err(super::xlsx::Stop::Fallback(_)) => {}
    }
    // calamine panics on some crafted files (a cell reference whose row overflows 32 bits,
    // found by fuzzing: tests/engine/fuzz_regressions.rs). A panic there means a damaged
    // file, not a crash of the app.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_xlsx_with_calamine(name, source, progress)
    }))
    .unwrap_or_else(|_| Err(unreadable(name, "an Excel workbook", "its content is damaged")))
}

/// Reads an `.xlsx` workbook with calamine, streaming each sheet cell by cell.
pub(super) fn read_xlsx_with_calamine<R: Read + Seek>(
    name: &str,
    source: R,
    progress: &mut Progress<'_>,
) -> Result<RawWorkbook> {
    let mut book: Xlsx<_> =
        Xlsx::new(source).map_err(|e| unreadable(name, "an Excel workbook", e))?;
    let mut out = new_workbook(name, FileFormat::Xlsx);
    let mut budget = CellBudget::default();
    // The total of the progress: the rows the sheets to read declare.
    let mut total = 0;
    for sheet in book.sheets_metadata().to_vec() {
        if matches!(role(&sheet), Role::Data | Role::Metadata)
            && let Ok(cells) = book.worksheet_cells_reader(&sheet.name)
        {
            let dimensions = cells.dimensions();
            total += u64::from(dimensions.end.0.saturating_sub(dimensions.start.0)) + 1;
        }
    }
    progress.start(total)?;
    for sheet in book.sheets_metadata().to_vec() {
        let role = role(&sheet);
        match role {
            Role::Skip => continue,
            Role::Hidden => {
                out.notices.push(hidden_notice(&sheet.name));
                continue;
            }
            Role::Data | Role::Metadata => {}
        }
        let mut builder = SheetBuilder::new(name, &sheet.name);
        {
            let mut cells = book
                .worksheet_cells_reader(&sheet.name)
                .map_err(|e| unreadable(name, "an Excel workbook", e))?;
            check_dimension(name, &sheet.name, cells.dimensions())?;
            let mut last_row = None;
            while let Some(record) = cells
                .next_cell_with_formula_metadata()
                .map_err(|e| unreadable(name, "an Excel workbook", e))?
            {
                let (row, column) = record.pos;
                if last_row != Some(row) {
                    last_row = Some(row);
                    progress.row()?;
                }
                let cell = match (record.value, record.formula) {
                    (DataRef::Empty, Some(formula)) => Cell::FormulaWithoutValue(
                        match formula {
                            XlsxFormulaMetadata::Normal { formula }
                            | XlsxFormulaMetadata::Shared { formula, .. } => formula,
                            _ => String::new(),
                        }
                        .into(),
                    ),
                    (value, _) => cell_from_ref(value),
                };
                builder.push(&mut budget, row, column, cell)?;
            }
        }
        if role == Role::Metadata {
            out.metadata = builder.into_pairs()?;
            continue;
        }
        if let Ok(regions) = book.merge_cells_by_sheet_name(&sheet.name) {
            out.notices.extend(merged_notice(&sheet.name, &regions));
        }
        out.sheets.push(builder.finish()?);
    }
    Ok(out)
}

/// Refuses a sheet whose declared `<dimension>` is beyond the limits, before reading a cell.
pub(super) fn check_dimension(name: &str, sheet: &str, dimension: Dimensions) -> Result<()> {
    let (last_row, last_column) = dimension.end;
    if u64::from(last_row) + 1 > u64::from(MAX_ROWS) || last_column >= MAX_COLUMNS {
        return Err(invalid(format!(
            "{name} is refused: sheet {sheet} declares cells up to {}{}, beyond what idbulk reads \
             (at most {} rows and {} columns). Delete the unused rows and columns (select them, \
             right-click, Delete), save, and upload again.",
            column_letters(last_column),
            u64::from(last_row) + 1,
            thousands(u64::from(MAX_ROWS)),
            MAX_COLUMNS
        )));
    }
    Ok(())
}

/// Reads an `.xls` workbook, after the BIFF pre-scan bounded what calamine will build.
pub(crate) fn read_xls(
    name: &str,
    bytes: &[u8],
    progress: &mut Progress<'_>,
) -> Result<RawWorkbook> {
    prescan::check_xls(name, bytes)?;
    let mut book: Xls<_> = Xls::new(Cursor::new(bytes)).map_err(|e| match e {
        XlsError::Password => invalid(format!(
            "{name} is protected by a password, so idbulk cannot read it. Remove the password in \
             Excel, save it as .xlsx and upload it again."
        )),
        e => unreadable(name, "an Excel 97-2003 workbook", e),
    })?;
    let mut out = new_workbook(name, FileFormat::Xls);
    read_grids(name, &mut book, &mut out, progress, |book, sheet| {
        book.merge_cells_by_sheet_name(sheet).unwrap_or_default()
    })?;
    Ok(out)
}

/// Reads an `.ods` spreadsheet, after the content pre-scan bounded what calamine will build.
pub(crate) fn read_ods(
    name: &str,
    bytes: &[u8],
    progress: &mut Progress<'_>,
) -> Result<RawWorkbook> {
    prescan::check_ods(name, bytes)?;
    let mut book: Ods<_> = Ods::new(Cursor::new(bytes))
        .map_err(|e| unreadable(name, "an OpenDocument spreadsheet", e))?;
    let mut out = new_workbook(name, FileFormat::Ods);
    read_grids(name, &mut book, &mut out, progress, |_, _| Vec::new())?;
    Ok(out)
}

/// Reads every sheet of a workbook calamine holds as grids of values and of formulas.
fn read_grids<RS: std::io::Read + std::io::Seek, R: Reader<RS>>(
    name: &str,
    book: &mut R,
    out: &mut RawWorkbook,
    progress: &mut Progress<'_>,
    merged: impl Fn(&R, &str) -> Vec<Dimensions>,
) -> Result<()>
where
    R::Error: std::fmt::Display,
{
    let mut budget = CellBudget::default();
    progress.start(0)?;
    for sheet in book.sheets_metadata().to_vec() {
        let role = role(&sheet);
        match role {
            Role::Skip => continue,
            Role::Hidden => {
                out.notices.push(hidden_notice(&sheet.name));
                continue;
            }
            Role::Data | Role::Metadata => {}
        }
        let values =
            book.worksheet_range(&sheet.name).map_err(|e| unreadable(name, "a workbook", e))?;
        let formulas = book.worksheet_formula(&sheet.name).unwrap_or_else(|_| Range::empty());
        let mut builder = SheetBuilder::new(name, &sheet.name);
        let (row0, col0) = values.start().unwrap_or((0, 0));
        // calamine read the grid when the file was opened: only the conversion is left.
        progress.grow(values.height() as u64);
        let mut last_row = None;
        for (r, c, value) in values.used_cells() {
            if last_row != Some(r) {
                last_row = Some(r);
                progress.row()?;
            }
            builder.push(&mut budget, row0 + r as u32, col0 + c as u32, cell_from_data(value))?;
        }
        let (frow0, fcol0) = formulas.start().unwrap_or((0, 0));
        for (r, c, formula) in formulas.used_cells() {
            let at = (frow0 + r as u32, fcol0 + c as u32);
            let has_value = values.get_value(at).is_some_and(|v| *v != Data::Empty);
            if !has_value && !formula.is_empty() {
                let text = formula.strip_prefix("of:=").unwrap_or(formula).to_string();
                builder.push(&mut budget, at.0, at.1, Cell::FormulaWithoutValue(text.into()))?;
            }
        }
        if role == Role::Metadata {
            out.metadata = builder.into_pairs()?;
            continue;
        }
        out.notices.extend(merged_notice(&sheet.name, &merged(book, &sheet.name)));
        out.sheets.push(builder.finish()?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::test_support::{patch_zip, xlsx};
    use rust_xlsxwriter::{ExcelDateTime as XlDate, Format, Formula};

    /// The reader without progress reporting.
    fn read_xlsx(name: &str, bytes: &[u8]) -> Result<RawWorkbook> {
        super::read_xlsx(name, Cursor::new(bytes), &mut Progress::new(name, &mut |_, _| true))
    }

    fn read(bytes: &[u8]) -> RawWorkbook {
        read_xlsx("t.xlsx", bytes).unwrap()
    }

    #[test]
    fn values_keep_their_type_and_position() {
        let bytes = xlsx(|wb| {
            let ws = wb.add_worksheet().set_name("User").unwrap();
            ws.write(0, 0, "Identifier").unwrap();
            ws.write(0, 1, "Count").unwrap();
            ws.write(0, 2, "Flag").unwrap();
            ws.write(0, 3, "Start").unwrap();
            ws.write(1, 0, "00123").unwrap();
            ws.write(1, 1, 42).unwrap();
            ws.write(1, 2, true).unwrap();
            let date = Format::new().set_num_format("yyyy-mm-dd");
            let noon = Format::new().set_num_format("yyyy-mm-dd hh:mm");
            ws.write_with_format(1, 3, XlDate::from_ymd(2024, 1, 31).unwrap(), &date).unwrap();
            ws.write_with_format(
                2,
                3,
                XlDate::from_ymd(2024, 2, 29).unwrap().and_hms(12, 30, 0).unwrap(),
                &noon,
            )
            .unwrap();
            ws.write(2, 0, "").unwrap();
        });
        let wb = read(&bytes);
        let sheet = &wb.sheets[0];
        assert_eq!(sheet.rows[0].row, 2);
        assert_eq!(
            sheet.rows[0].cells.to_vec(),
            [
                Cell::Text("00123".into()),
                Cell::Float(42.0),
                Cell::Bool(true),
                Cell::DateTime(CellDateTime::from_iso("2024-01-31").unwrap())
            ]
        );
        assert_eq!(sheet.rows[1].cells.to_vec()[0], Cell::Empty);
        assert!(
            matches!(&sheet.rows[1].cells.to_vec()[3], Cell::DateTime(d) if d.iso() == "2024-02-29T12:30:00")
        );
    }

    #[test]
    fn errors_and_formulas_without_values_are_kept_as_such() {
        let bytes = xlsx(|wb| {
            let ws = wb.add_worksheet();
            ws.write(0, 0, "A").unwrap();
            ws.write_formula(1, 0, Formula::new("=1/0").set_result("#DIV/0!")).unwrap();
            ws.write_formula(2, 0, Formula::new("=SUM(B1:B2)").set_result("7")).unwrap();
            ws.write_formula(3, 0, Formula::new("=UPPER(\"x\")").set_result("MARKER")).unwrap();
            ws.write_formula(4, 0, Formula::new("=\"\"").set_result("")).unwrap();
        });
        // Remove the cached value of the third formula, as a non-calculating writer would.
        let bytes = patch_zip(&bytes, |name, text| {
            if name.ends_with("sheet1.xml") {
                text.replace(r#" t="str"><f>UPPER("x")</f><v>MARKER</v>"#, r#"><f>UPPER("x")</f>"#)
                    // rust_xlsxwriter writes 0 for an empty result; Excel writes an empty string.
                    .replace(
                        r#"<c r="A5"><f>""</f><v>0</v>"#,
                        r#"<c r="A5" t="str"><f>""</f><v></v>"#,
                    )
            } else {
                text
            }
        });
        let wb = read(&bytes);
        let cells: Vec<_> =
            wb.sheets[0].rows.iter().map(|r| (r.row, r.cells.to_vec()[0].clone())).collect();
        assert_eq!(
            cells,
            [
                (2, Cell::Error("#DIV/0!".into())),
                (3, Cell::Float(7.0)),
                (4, Cell::FormulaWithoutValue("UPPER(\"x\")".into())),
            ],
            "the formula whose result is \"\" is a blank row"
        );
    }

    #[test]
    fn sheets_idbulk_writes_are_skipped_or_read_as_metadata() {
        let bytes = xlsx(|wb| {
            wb.add_worksheet().set_name("User").unwrap().write(0, 0, "Identifier").unwrap();
            wb.add_worksheet()
                .set_name("Secret")
                .unwrap()
                .write(0, 0, "x")
                .unwrap()
                .set_hidden(true);
            wb.add_worksheet().set_name("Read me").unwrap().write(0, 0, "rules").unwrap();
            wb.add_worksheet()
                .set_name("_lists")
                .unwrap()
                .write(0, 0, "U1")
                .unwrap()
                .set_hidden(true);
            let meta = wb.add_worksheet().set_name("_idbulk").unwrap();
            meta.write(0, 0, "schema_version").unwrap();
            meta.write(0, 1, 1).unwrap();
            meta.set_hidden(true);
        });
        let wb = read(&bytes);
        let names: Vec<_> = wb.sheets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["User"]);
        assert_eq!(wb.metadata, [("schema_version".to_string(), "1".to_string())]);
        assert_eq!(wb.notices.len(), 1, "{:?}", wb.notices);
        assert!(wb.notices[0].message.contains("Sheet Secret is hidden"));
    }

    #[test]
    fn merged_cells_are_noticed() {
        let bytes = xlsx(|wb| {
            let ws = wb.add_worksheet().set_name("User").unwrap();
            ws.write(0, 0, "Identifier").unwrap();
            ws.merge_range(1, 0, 1, 2, "U1", &Format::new()).unwrap();
        });
        let wb = read(&bytes);
        assert_eq!(wb.notices.len(), 1);
        assert!(wb.notices[0].message.contains("merged cells (A2:C2)"), "{}", wb.notices[0]);
    }

    #[test]
    fn a_declared_dimension_beyond_the_limits_is_refused_before_reading_cells() {
        let bytes = xlsx(|wb| {
            wb.add_worksheet().set_name("User").unwrap().write(0, 0, "Identifier").unwrap();
        });
        let bytes = patch_zip(&bytes, |name, text| {
            if name.ends_with("sheet1.xml") {
                text.replace(r#"<dimension ref="A1"/>"#, r#"<dimension ref="A1:XFD1048576"/>"#)
            } else {
                text
            }
        });
        let e = read_xlsx("big.xlsx", &bytes).unwrap_err();
        assert!(e.message.contains("sheet User declares cells up to XFD1048576"), "{}", e.message);
    }

    #[test]
    fn a_cell_far_away_is_refused_while_reading_without_a_dimension() {
        let bytes = xlsx(|wb| {
            let ws = wb.add_worksheet().set_name("User").unwrap();
            ws.write(0, 0, "Identifier").unwrap();
            ws.write(5, 600, "stray").unwrap();
        });
        let bytes = patch_zip(&bytes, |name, text| {
            if name.ends_with("sheet1.xml") {
                text.replace(r#"<dimension ref="A1:WC6"/>"#, "")
            } else {
                text
            }
        });
        let e = read_xlsx("far.xlsx", &bytes).unwrap_err();
        assert!(e.message.contains("User!WC6 holds a value"), "{}", e.message);
    }

    #[test]
    fn an_overlong_cell_is_refused() {
        let bytes = xlsx(|wb| {
            let ws = wb.add_worksheet().set_name("User").unwrap();
            ws.write(0, 0, "Identifier").unwrap();
            ws.write(1, 0, "PLACEHOLDER").unwrap();
        });
        let long = "x".repeat(40_000);
        let bytes = patch_zip(&bytes, |name, text| {
            if name.ends_with("sharedStrings.xml") {
                text.replace("PLACEHOLDER", &long)
            } else {
                text
            }
        });
        let e = read_xlsx("long.xlsx", &bytes).unwrap_err();
        assert!(
            e.message.contains("sheet User, row 2, column A holds 40,000 characters"),
            "{}",
            e.message
        );
    }

    fn record(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut r = typ.to_le_bytes().to_vec();
        r.extend((data.len() as u16).to_le_bytes());
        r.extend(data);
        r
    }

    fn bof(kind: u16) -> Vec<u8> {
        let mut d = 0x0600u16.to_le_bytes().to_vec();
        d.extend(kind.to_le_bytes());
        d.extend([0; 12]);
        record(0x0809, &d)
    }

    fn cell_head(row: u16, col: u16) -> Vec<u8> {
        [row.to_le_bytes(), col.to_le_bytes(), 0u16.to_le_bytes()].concat()
    }

    fn label(row: u16, col: u16, text: &str) -> Vec<u8> {
        let mut d = cell_head(row, col);
        d.extend((text.len() as u16).to_le_bytes());
        d.push(0); // 8-bit characters
        d.extend(text.as_bytes());
        record(0x0204, &d)
    }

    fn number(row: u16, col: u16, value: f64) -> Vec<u8> {
        let mut d = cell_head(row, col);
        d.extend(value.to_le_bytes());
        record(0x0203, &d)
    }

    fn error(row: u16, col: u16, code: u8) -> Vec<u8> {
        let mut d = cell_head(row, col);
        d.extend([code, 1]);
        record(0x0205, &d)
    }

    /// A BIFF8 workbook: sheets of (name, hidden, cell records).
    pub(crate) fn xls(sheets: &[(&str, bool, Vec<Vec<u8>>)]) -> Vec<u8> {
        let bound = |pos: u32, name: &str, hidden: bool| {
            let mut d = pos.to_le_bytes().to_vec();
            d.extend([u8::from(hidden), 0, name.len() as u8, 0]);
            d.extend(name.as_bytes());
            record(0x0085, &d)
        };
        let globals_len = |positions: &[u32]| {
            let mut g = bof(0x0005);
            g.extend(record(0x0042, &1200u16.to_le_bytes()));
            for ((name, hidden, _), pos) in sheets.iter().zip(positions) {
                g.extend(bound(*pos, name, *hidden));
            }
            g.extend(record(0x000A, &[]));
            g
        };
        let mut positions = vec![0u32; sheets.len()];
        let mut offset = globals_len(&positions).len() as u32;
        let mut bodies = Vec::new();
        for (i, (_, _, cells)) in sheets.iter().enumerate() {
            positions[i] = offset;
            let mut body = bof(0x0010);
            body.extend(cells.concat());
            body.extend(record(0x000A, &[]));
            offset += body.len() as u32;
            bodies.extend(body);
        }
        let mut stream = globals_len(&positions);
        stream.extend(bodies);
        // calamine expects the workbook stream in regular sectors (at least 4096 bytes).
        stream.resize(stream.len().max(4096), 0);
        crate::import::cfb::tests::compound_file(&[("Workbook", &stream)])
    }

    #[test]
    fn xls_workbooks_read_like_xlsx() {
        let bytes = xls(&[
            (
                "User",
                false,
                vec![
                    label(0, 0, "Identifier"),
                    label(0, 1, "Count"),
                    label(1, 0, "00123"),
                    number(1, 1, 42.0),
                    label(3, 0, "U2"),
                    error(3, 1, 0x2A),
                ],
            ),
            ("Archive", true, vec![label(0, 0, "Identifier")]),
        ]);
        let wb = crate::import::read_bytes("old.xls", &bytes, &Default::default()).unwrap();
        assert_eq!(wb.format, FileFormat::Xls);
        assert_eq!(wb.sheets.len(), 1);
        let sheet = &wb.sheets[0];
        assert_eq!(sheet.name, "User");
        let rows: Vec<_> = sheet.rows.iter().map(|r| (r.row, r.cells.to_vec())).collect();
        assert_eq!(
            rows,
            [
                (2, vec![Cell::Text("00123".into()), Cell::Float(42.0)]),
                (4, vec![Cell::Text("U2".into()), Cell::Error("#N/A".into())]),
            ]
        );
        assert!(wb.notices[0].message.contains("Sheet Archive is hidden"), "{:?}", wb.notices);
    }

    #[test]
    fn xls_grids_beyond_the_limits_are_refused_before_calamine_builds_them() {
        let bytes =
            xls(&[("User", false, vec![label(0, 0, "Identifier"), number(65535, 255, 1.0)])]);
        let e = crate::import::read_bytes("old.xls", &bytes, &Default::default()).unwrap_err();
        assert!(e.message.contains("its sheets span 16,777,216 cells"), "{}", e.message);
    }

    fn ods(content: &str) -> Vec<u8> {
        crate::import::test_support::zip_of(&[
            ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"),
            ("content.xml", content.as_bytes()),
            ("META-INF/manifest.xml", b"<manifest:manifest/>"),
        ])
    }

    const ODS_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" office:version="1.2">
<office:automatic-styles><style:style style:name="ta2" style:family="table"><style:table-properties table:display="false"/></style:style></office:automatic-styles>
<office:body><office:spreadsheet>"#;
    const ODS_TAIL: &str = "</office:spreadsheet></office:body></office:document-content>";

    #[test]
    fn ods_spreadsheets_read_like_xlsx() {
        let content = format!(
            r#"{ODS_HEAD}
<table:table table:name="User">
 <table:table-row><table:table-cell office:value-type="string"><text:p>Identifier</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>Start</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>Total</text:p></table:table-cell></table:table-row>
 <table:table-row><table:table-cell office:value-type="string"><text:p>00123</text:p></table:table-cell><table:table-cell office:value-type="date" office:date-value="2024-01-31"><text:p>31/01/2024</text:p></table:table-cell><table:table-cell table:formula="of:=SUM([.A1:.A2])"/></table:table-row>
 <table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>
</table:table>
<table:table table:name="Old" table:style-name="ta2"><table:table-row><table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table>
{ODS_TAIL}"#
        );
        let wb =
            crate::import::read_bytes("users.ods", &ods(&content), &Default::default()).unwrap();
        assert_eq!(wb.format, FileFormat::Ods);
        assert_eq!(wb.sheets.len(), 1, "{:?}", wb.sheets);
        let sheet = &wb.sheets[0];
        assert_eq!(sheet.headers.len(), 3);
        assert_eq!(sheet.rows.len(), 1);
        assert_eq!(
            sheet.rows[0].cells.to_vec(),
            [
                Cell::Text("00123".into()),
                Cell::DateTime(CellDateTime::from_iso("2024-01-31").unwrap()),
                Cell::FormulaWithoutValue("SUM([.A1:.A2])".into()),
            ]
        );
        assert!(
            wb.notices.iter().any(|n| n.message.contains("Sheet Old is hidden")),
            "{:?}",
            wb.notices
        );
    }

    #[test]
    fn ods_repeated_cells_beyond_the_limits_are_refused() {
        let content = format!(
            r#"{ODS_HEAD}<table:table table:name="Bomb"><table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="400"/></table:table-row></table:table>{ODS_TAIL}"#
        );
        let e =
            crate::import::read_bytes("bomb.ods", &ods(&content), &Default::default()).unwrap_err();
        assert!(e.message.contains("400,000,000 cells"), "{}", e.message);
    }

    #[test]
    fn ods_dates_become_iso_with_a_1900_serial() {
        assert_eq!(
            cell_from_iso("2024-01-31"),
            Cell::DateTime(CellDateTime::from_iso("2024-01-31").unwrap())
        );
        assert_eq!(
            cell_from_iso("2024-01-31T00:00:00"),
            Cell::DateTime(CellDateTime::from_iso("2024-01-31").unwrap())
        );
        assert_eq!(
            cell_from_iso("2024-01-31T06:00:00.000"),
            Cell::DateTime(CellDateTime::from_iso("2024-01-31T06:00:00").unwrap())
        );
        assert_eq!(cell_from_iso("garbage"), Cell::Text("garbage".into()));
    }

    #[test]
    fn excel_durations_and_times_of_day_read_as_such() {
        use calamine::ExcelDateTimeType::{DateTime, TimeDelta};
        let d = cell_from_excel_datetime(&ExcelDateTime::new(1.5, TimeDelta, false));
        assert_eq!(d, Cell::Duration("36:00:00".into()));
        let t = cell_from_excel_datetime(&ExcelDateTime::new(0.75, DateTime, false));
        assert_eq!(t, Cell::DateTime(CellDateTime::from_iso("18:00:00").unwrap()));
        let d1904 = cell_from_excel_datetime(&ExcelDateTime::new(0.0 + 43860.0, DateTime, true));
        assert_eq!(d1904, Cell::DateTime(CellDateTime::from_iso("2024-01-31").unwrap()));
    }
}
