//! Pre-scans of `.xls` and `.ods` files: how large a grid calamine would build, before it does.
//!
//! calamine reads every sheet of these formats when the workbook is opened, into dense grids
//! spanning from the first to the last cell that holds something. Two cells far apart (`A1`
//! and `IV65536`) make a grid of millions of cells from a file of a few hundred bytes. These
//! scans walk the records (BIFF) or the XML (ODS) without keeping anything but a bounding box
//! per sheet, and refuse the file when the grids would exceed [`MAX_GRID_CELLS`] together, or a
//! sheet would exceed [`MAX_ROWS`] or [`MAX_COLUMNS`].

use std::io::{BufRead, BufReader, Cursor};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use zip::ZipArchive;

use super::cfb::CompoundFile;
use super::invalid;
use super::limits::{MAX_COLUMNS, MAX_GRID_CELLS, MAX_ROWS, thousands};
use super::location::column_letters;
use crate::error::Result;

/// The extent of one sheet: the highest 0-based row and column holding something.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Extent {
    pub(crate) last_row: Option<u64>,
    pub(crate) last_column: Option<u64>,
}

impl Extent {
    fn include(&mut self, row: u64, column: u64) {
        self.last_row = Some(self.last_row.map_or(row, |r| r.max(row)));
        self.last_column = Some(self.last_column.map_or(column, |c| c.max(column)));
    }

    /// Cells in the grid from `A1` to the last cell (an upper bound of calamine's grid).
    fn area(&self) -> u64 {
        match (self.last_row, self.last_column) {
            (Some(r), Some(c)) => (r + 1).saturating_mul(c + 1),
            _ => 0,
        }
    }
}

/// Refuses sheets whose extent breaks the limits. `sheets` are (sheet label, extent).
fn check_extents(name: &str, sheets: &[(String, Extent)]) -> Result<()> {
    let mut total: u64 = 0;
    for (sheet, extent) in sheets {
        let rows = extent.last_row.map_or(0, |r| r + 1);
        let columns = extent.last_column.map_or(0, |c| c + 1);
        if rows > u64::from(MAX_ROWS) || columns > u64::from(MAX_COLUMNS) {
            return Err(invalid(format!(
                "{name} is refused: {sheet} uses cells up to {}{}, beyond what idbulk reads (at \
                 most {} rows and {} columns). Delete the unused rows and columns, or copy the \
                 data into a new workbook.",
                column_letters(u32::try_from(columns.saturating_sub(1)).unwrap_or(u32::MAX)),
                rows,
                thousands(u64::from(MAX_ROWS)),
                MAX_COLUMNS
            )));
        }
        total = total.saturating_add(extent.area());
    }
    if total > MAX_GRID_CELLS {
        return Err(invalid(format!(
            "{name} is refused: its sheets span {} cells, more than the {} idbulk reads. \
             Delete unused rows and columns or split the file.",
            thousands(total),
            thousands(MAX_GRID_CELLS)
        )));
    }
    Ok(())
}

/// What the BIFF scan learned about an `.xls` workbook.
#[derive(Debug, Default)]
pub(crate) struct BiffSummary {
    /// A `FILEPASS` record: the workbook is encrypted with a password.
    pub(crate) encrypted: bool,
    /// One extent per worksheet substream, in file order.
    pub(crate) sheets: Vec<Extent>,
}

/// Walks the BIFF records of a `Workbook` stream, keeping the extent of each sheet.
pub(crate) fn scan_biff(stream: &[u8]) -> BiffSummary {
    let mut summary = BiffSummary::default();
    let mut depth = 0usize;
    let mut pos = 0usize;
    let u16_at = |d: &[u8], at: usize| d.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |d: &[u8], at: usize| {
        d.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    while let (Some(typ), Some(len)) = (u16_at(stream, pos), u16_at(stream, pos + 2)) {
        let start = pos + 4;
        let Some(data) = stream.get(start..start + usize::from(len)) else { break };
        pos = start + usize::from(len);
        match typ {
            0x0809 => {
                depth += 1;
                if depth == 1 {
                    summary.sheets.push(Extent::default());
                }
            }
            0x000A => depth = depth.saturating_sub(1),
            _ if depth != 1 => {}
            0x002F => summary.encrypted = true,
            // DIMENSIONS: calamine reserves this many cells up front. BIFF8 uses 32-bit rows.
            0x0200 => {
                let (last_row, last_col) = if data.len() >= 14 {
                    (u32_at(data, 4).map(u64::from), u16_at(data, 10).map(u64::from))
                } else {
                    (u16_at(data, 2).map(u64::from), u16_at(data, 6).map(u64::from))
                };
                if let (Some(r), Some(c), Some(extent)) =
                    (last_row, last_col, summary.sheets.last_mut())
                    && r > 0
                    && c > 0
                {
                    // The record's ends are exclusive.
                    extent.include(r - 1, c - 1);
                }
            }
            // Cell records: NUMBER, LABEL, RSTRING, BOOLERR, RK, LABELSST, FORMULA.
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 => {
                if let (Some(r), Some(c), Some(extent)) =
                    (u16_at(data, 0), u16_at(data, 2), summary.sheets.last_mut())
                {
                    extent.include(u64::from(r), u64::from(c));
                }
            }
            // MULRK: a run of cells from a first to a last column.
            0x00BD => {
                if let (Some(r), Some(c), Some(extent)) = (
                    u16_at(data, 0),
                    data.len().checked_sub(2).and_then(|at| u16_at(data, at)),
                    summary.sheets.last_mut(),
                ) {
                    extent.include(u64::from(r), u64::from(c));
                }
            }
            _ => {}
        }
    }
    summary
}

/// Refuses an `.xls` file that is encrypted or whose sheets would exceed the limits.
pub(crate) fn check_xls(name: &str, bytes: &[u8]) -> Result<()> {
    let damaged = |why: &str| {
        invalid(format!("{name} is a damaged Excel 97-2003 file ({why}): save it again."))
    };
    let cf = CompoundFile::parse(bytes).map_err(damaged)?;
    let entry = cf
        .stream("Workbook")
        .or_else(|| cf.stream("Book"))
        .ok_or_else(|| damaged("it has no workbook stream"))?;
    let stream = cf.read_stream(entry).map_err(damaged)?;
    let summary = scan_biff(&stream);
    if summary.encrypted {
        return Err(invalid(format!(
            "{name} is protected by a password, so idbulk cannot read it. Open it in Excel, \
             remove the password (File > Info > Protect Workbook), save it as .xlsx and upload \
             it again."
        )));
    }
    // The first substream is the workbook globals, then one per sheet.
    let sheets: Vec<(String, Extent)> = summary
        .sheets
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, e)| (format!("sheet {i}"), *e))
        .collect();
    check_extents(name, &sheets)
}

/// Refuses an `.ods` file whose sheets would exceed the limits, reading `content.xml` as a
/// stream (its declared size was checked with the archive).
pub(crate) fn check_ods(name: &str, bytes: &[u8]) -> Result<()> {
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| invalid(format!("{name} is a damaged OpenDocument file ({e}).")))?;
    let content = archive.by_name("content.xml").map_err(|_| {
        invalid(format!("{name} is a damaged OpenDocument file (it has no content.xml)."))
    })?;
    let sheets = scan_ods_content(BufReader::new(content))
        .map_err(|e| invalid(format!("{name} is a damaged OpenDocument file ({e}).")))?;
    check_extents(name, &sheets)
}

fn repeat(e: &BytesStart<'_>, attribute: &str) -> u64 {
    e.try_get_attribute(attribute)
        .ok()
        .flatten()
        .and_then(|a| a.value.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .max(1)
}

/// The extent of each table of an ODS `content.xml`, honouring `number-rows-repeated` and
/// `number-columns-repeated` of cells that hold something.
pub(crate) fn scan_ods_content<R: BufRead>(
    source: R,
) -> std::result::Result<Vec<(String, Extent)>, String> {
    let mut reader = Reader::from_reader(source);
    let mut buf = Vec::new();
    let mut sheets: Vec<(String, Extent)> = Vec::new();
    let mut row: u64 = 0;
    let mut row_repeat: u64 = 1;
    let mut column: u64 = 0;
    let mut row_last_column: Option<u64> = None;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| e.to_string())?;
        let (start, is_empty) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            Event::End(e) if e.name().as_ref() == "table:table-row" => {
                if let (Some(c), Some((_, extent))) = (row_last_column, sheets.last_mut()) {
                    extent.include(row.saturating_add(row_repeat - 1), c);
                }
                row = row.saturating_add(row_repeat);
                (None, false)
            }
            Event::Eof => break,
            _ => (None, false),
        };
        if let Some(e) = start {
            match e.name().as_ref() {
                "table:table" => {
                    let label = e
                        .try_get_attribute("table:name")
                        .ok()
                        .flatten()
                        .map(|a| a.value.into_owned())
                        .unwrap_or_default();
                    sheets.push((format!("sheet {label}"), Extent::default()));
                    row = 0;
                }
                "table:table-row" => {
                    row_repeat = repeat(e, "table:number-rows-repeated");
                    column = 0;
                    row_last_column = None;
                    if is_empty {
                        row = row.saturating_add(row_repeat);
                    }
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    let repeated = repeat(e, "table:number-columns-repeated");
                    let has_value =
                        e.try_get_attribute("office:value-type").ok().flatten().is_some()
                            || e.try_get_attribute("table:formula").ok().flatten().is_some();
                    if has_value || !is_empty {
                        row_last_column = Some(column.saturating_add(repeated - 1));
                    }
                    column = column.saturating_add(repeated);
                }
                _ => {}
            }
        }
        buf.clear();
    }
    Ok(sheets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut r = typ.to_le_bytes().to_vec();
        r.extend((data.len() as u16).to_le_bytes());
        r.extend(data);
        r
    }

    fn cell(typ: u16, row: u16, col: u16) -> Vec<u8> {
        let mut d = row.to_le_bytes().to_vec();
        d.extend(col.to_le_bytes());
        d.extend([0; 10]);
        record(typ, &d)
    }

    #[test]
    fn biff_extents_follow_cell_records_per_sheet() {
        let mut s = Vec::new();
        s.extend(record(0x0809, &[0; 16])); // globals
        s.extend(record(0x000A, &[]));
        s.extend(record(0x0809, &[0; 16])); // sheet 1
        s.extend(cell(0x0203, 0, 0));
        s.extend(cell(0x00FD, 9, 3));
        s.extend(record(0x0809, &[0; 16])); // an embedded chart: ignored
        s.extend(cell(0x0203, 60000, 200));
        s.extend(record(0x000A, &[]));
        s.extend(record(0x000A, &[]));
        s.extend(record(0x0809, &[0; 16])); // sheet 2
        s.extend(cell(0x027E, 65535, 255));
        s.extend(record(0x000A, &[]));
        let summary = scan_biff(&s);
        assert!(!summary.encrypted);
        assert_eq!(summary.sheets.len(), 3);
        assert_eq!(summary.sheets[1], Extent { last_row: Some(9), last_column: Some(3) });
        assert_eq!(summary.sheets[2].area(), 65536 * 256);
    }

    #[test]
    fn biff_dimensions_and_passwords_are_seen() {
        let mut s = Vec::new();
        s.extend(record(0x0809, &[0; 16]));
        s.extend(record(0x002F, &[1, 0]));
        s.extend(record(0x000A, &[]));
        s.extend(record(0x0809, &[0; 16]));
        let mut dims = 0u32.to_le_bytes().to_vec();
        dims.extend(65536u32.to_le_bytes());
        dims.extend(0u16.to_le_bytes());
        dims.extend(256u16.to_le_bytes());
        dims.extend([0, 0]);
        s.extend(record(0x0200, &dims));
        s.extend(record(0x000A, &[]));
        s.extend([0x03, 0x02, 0xFF]); // a truncated record at the end is ignored
        let summary = scan_biff(&s);
        assert!(summary.encrypted);
        assert_eq!(summary.sheets[1], Extent { last_row: Some(65535), last_column: Some(255) });
    }

    #[test]
    fn oversized_grids_are_refused_naming_the_sheet() {
        let wide = Extent { last_row: Some(10), last_column: Some(16383) };
        let e = check_extents("a.ods", &[("sheet Users".into(), wide)]).unwrap_err();
        assert!(e.message.contains("sheet Users uses cells up to XFD11"), "{}", e.message);
        let big = Extent { last_row: Some(99_999), last_column: Some(199) };
        let e = check_extents("a.xls", &[("sheet 1".into(), big)]).unwrap_err();
        assert!(e.message.contains("20,000,000 cells"), "{}", e.message);
        let ok = Extent { last_row: Some(99_999), last_column: Some(20) };
        assert!(check_extents("a.xls", &[("sheet 1".into(), ok)]).is_ok());
    }

    #[test]
    fn ods_repeats_count_only_when_cells_hold_something() {
        let xml = br#"<office:document-content><office:body><office:spreadsheet>
            <table:table table:name="Users">
              <table:table-row><table:table-cell office:value-type="string"><text:p>Id</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16383"/></table:table-row>
              <table:table-row table:number-rows-repeated="3"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="2"/></table:table-row>
              <table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>
            </table:table>
            <table:table table:name="Bomb">
              <table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="1000"/></table:table-row>
            </table:table>
        </office:spreadsheet></office:body></office:document-content>"#;
        let sheets = scan_ods_content(&xml[..]).unwrap();
        assert_eq!(sheets[0].0, "sheet Users");
        assert_eq!(sheets[0].1, Extent { last_row: Some(3), last_column: Some(1) });
        assert_eq!(sheets[1].1, Extent { last_row: Some(999_999), last_column: Some(999) });
        assert!(check_extents("a.ods", &sheets).is_err());
    }
}
