//! CSV files: decoded, split with the `csv` crate, numbered as a spreadsheet shows them.
//!
//! - **Encoding.** A byte-order mark decides (UTF-8, UTF-16 LE or BE). Without one, the
//!   configured [`TextEncoding`] applies; when none is configured, valid UTF-8 is UTF-8 and
//!   anything else is read as Windows-1252 with a [`Notice`] (accents may be wrong if the file
//!   was in another code page). Malformed UTF-8 or UTF-16 where it is required is an error.
//! - **Separator.** A `sep=X` first line (Excel's own hint) wins, since it describes this very
//!   file; else the configured separator; else the most frequent of `,` `;` and tab outside
//!   quotes in the header line (a tie or none gives `,`). The `sep=` line is not a row: Excel
//!   hides it too.
//! - **Skipped lines.** [`CsvOptions::skip_lines`] physical lines are skipped after any `sep=`
//!   line; they still count in row numbers, as a spreadsheet would show them.
//! - **Row numbers.** The row a spreadsheet shows: one per record, so a quoted cell spanning
//!   three lines is still one row; an empty line is an (empty) row. With no skipped lines the
//!   header is row 1.
//! - **Records.** Ragged records are kept as they are (the planner compares the cell count
//!   with the header); fully blank records are left out. Quoted cells may hold separators,
//!   quotes (`""`) and newlines.
//! - **Cells.** A record's fields are text, packed in one string ([`RowCells::Texts`]): an
//!   empty field reads as [`super::CellRef::Empty`], any other as [`super::CellRef::Text`]
//!   with the one formula-injection `'` that export added removed again
//!   ([`crate::value::csv_import`]). Header texts are kept as written (export does not quote
//!   them).

use std::borrow::Cow;

use super::limits::{MAX_CELL_CHARS, MAX_CELLS, MAX_COLUMNS, MAX_ROWS, thousands};
use super::location::Location;
use super::sheet::check_cell_length;
use super::{
    CsvOptions, FileFormat, Notice, Progress, RawHeader, RawRow, RawSheet, RawWorkbook, RowCells,
    TextEncoding, invalid,
};
use crate::error::Result;
use crate::store::Values;
use crate::value::csv_import;

/// Reads CSV bytes into a workbook of one sheet named after the file stem.
pub(crate) fn read(
    name: &str,
    bytes: &[u8],
    options: &CsvOptions,
    progress: &mut Progress<'_>,
) -> Result<RawWorkbook> {
    let mut notices = Vec::new();
    let text = decode(name, bytes, options.encoding, &mut notices)?;
    let mut rest: &str = &text;
    let mut separator = options.separator;
    let (first, after) = rest.split_once('\n').unwrap_or((rest, ""));
    if let Some(declared) = sep_line(first) {
        separator = Some(declared);
        rest = after;
    }
    for _ in 0..options.skip_lines {
        rest = rest.split_once('\n').map_or("", |(_, after)| after);
    }
    let separator = separator.unwrap_or_else(|| detect_separator(rest));
    let stem = std::path::Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    progress.start(rest.len() as u64)?;
    let sheet = parse(name, &stem, rest, separator, options.skip_lines, progress)?;
    Ok(RawWorkbook {
        file_name: name.to_string(),
        format: FileFormat::Csv,
        sheets: vec![sheet],
        metadata: Vec::new(),
        notices,
        csv_entity_type: None,
    })
}

/// The text of the file, per the rules in the module docs: borrowed from the bytes when they
/// are UTF-8 (a copy of a large file would double its memory, issue 6).
fn decode<'b>(
    name: &str,
    bytes: &'b [u8],
    configured: Option<TextEncoding>,
    notices: &mut Vec<Notice>,
) -> Result<Cow<'b, str>> {
    let strict = |encoding: TextEncoding, body: &'b [u8]| -> Result<Cow<'b, str>> {
        let decoded = match encoding {
            TextEncoding::Utf8 => {
                encoding_rs::UTF_8.decode_without_bom_handling_and_without_replacement(body)
            }
            TextEncoding::Utf16Le => {
                encoding_rs::UTF_16LE.decode_without_bom_handling_and_without_replacement(body)
            }
            TextEncoding::Utf16Be => {
                encoding_rs::UTF_16BE.decode_without_bom_handling_and_without_replacement(body)
            }
            TextEncoding::Windows1252 => {
                Some(encoding_rs::WINDOWS_1252.decode_without_bom_handling(body).0)
            }
        };
        decoded.ok_or_else(|| {
            invalid(format!(
                "{name} is not valid {} text. Choose its encoding in the connection settings, or \
                 save it from Excel as \"CSV UTF-8\".",
                encoding.name()
            ))
        })
    };
    if let Some(body) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return strict(TextEncoding::Utf8, body);
    }
    if let Some(body) = bytes.strip_prefix(b"\xFF\xFE") {
        return strict(TextEncoding::Utf16Le, body);
    }
    if let Some(body) = bytes.strip_prefix(b"\xFE\xFF") {
        return strict(TextEncoding::Utf16Be, body);
    }
    if let Some(encoding) = configured {
        return strict(encoding, bytes);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(_) => {
            notices.push(Notice {
                sheet: None,
                message: format!(
                    "{name} is not UTF-8, so it was read as Windows-1252 (Western European). If \
                     accented letters look wrong, save it from Excel as \"CSV UTF-8\" or choose \
                     its encoding in the connection settings."
                ),
            });
            strict(TextEncoding::Windows1252, bytes)
        }
    }
}

/// About how many lines `text` has, from the length of its first ones (a tenth more, so that
/// lines a little longer than those rarely make the estimate short), at most the rows idbulk
/// reads.
fn estimated_rows(text: &str) -> usize {
    const SAMPLE_LINES: usize = 64;
    let (lines, bytes) = text
        .split_inclusive('\n')
        .take(SAMPLE_LINES)
        .fold((0, 0), |(lines, bytes), line| (lines + 1, bytes + line.len()));
    let Some(per_line) = bytes.checked_div(lines) else { return 0 };
    (text.len() / per_line.max(1) * 11 / 10 + 1).min(MAX_ROWS as usize)
}

/// The separator a `sep=X` line declares (`sep=\t` also means tab), ignoring case of `sep`.
fn sep_line(line: &str) -> Option<u8> {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line).trim_end_matches(['\r', '\n']);
    let prefix = line.get(..4)?;
    if !prefix.eq_ignore_ascii_case("sep=") {
        return None;
    }
    match &line[4..] {
        "\\t" => Some(b'\t'),
        value if value.len() == 1 && value.is_ascii() && value != "\"" => Some(value.as_bytes()[0]),
        _ => None,
    }
}

/// The most frequent of `,` `;` and tab outside quotes in the first non-blank line.
fn detect_separator(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in header.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(sep, _)| *sep == b) {
            c.1 += 1;
        }
    }
    // Strictly more wins, so a tie keeps the earlier candidate (the comma).
    let mut best = counts[0];
    for c in &counts[1..] {
        if c.1 > best.1 {
            best = *c;
        }
    }
    best.0
}

fn parse(
    name: &str,
    sheet: &str,
    text: &str,
    separator: u8,
    skipped: usize,
    progress: &mut Progress<'_>,
) -> Result<RawSheet> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(separator)
        .from_reader(text.as_bytes());
    let mut headers: Option<Vec<RawHeader>> = None;
    // Sized from the length of the first lines: growing it a doubling at a time copied the
    // rows read so far over fresh pages (issue 6). A file of uneven lines grows as before.
    let mut rows = Vec::with_capacity(estimated_rows(text));
    // A spreadsheet shows one row per record, and one per empty line (which the csv crate
    // skips). So a record's row is 1 + the line breaks before it, less those inside quoted
    // cells of earlier records. (The csv crate's own line count does not fit: it counts a
    // CRLF or a skipped empty line late.)
    let mut breaks_before: u64 = 0;
    let mut counted_to: usize = 0;
    let mut embedded_breaks: u64 = 0;
    let mut cells_used: u64 = 0;
    let skipped = skipped as u64;
    // One record, read again and again (a new one per record cost an allocation each).
    let mut record = ::csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(invalid(format!(
                    "{name} could not be read as CSV: {e}. Check that it is a CSV file."
                )));
            }
        }
        // The reader's offset can sit before the terminator or empty lines it skipped.
        let mut start = record.position().map_or(counted_to, |p| p.byte() as usize);
        start = start.max(counted_to);
        while matches!(text.as_bytes().get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        breaks_before += line_breaks(&text[counted_to..start.min(text.len())]);
        counted_to = start.min(text.len());
        progress.at_byte(counted_to as u64)?;
        let row = skipped + 1 + breaks_before.saturating_sub(embedded_breaks);
        // The fields end to end, searched at once.
        embedded_breaks += line_breaks(record.as_slice());
        if row > u64::from(MAX_ROWS) {
            return Err(invalid(format!(
                "{name} is refused: it has more than {} rows, more than idbulk reads. Split it \
                 into smaller files.",
                thousands(u64::from(MAX_ROWS))
            )));
        }
        let row = row as u32;
        if record.len() > MAX_COLUMNS as usize {
            return Err(invalid(format!(
                "{name} is refused: {} has {} fields, more than the {} columns idbulk reads. \
                 Is the separator right?",
                Location::row(sheet, row).describe(),
                record.len(),
                MAX_COLUMNS
            )));
        }
        // One pass over the fields: each checked (its length only when the record could
        // hold a cell too long), and the texts packed as the record holds them end to end,
        // less the `'` export put before formula-like values (the rows of a large file are
        // most of what a sync holds: a copy a record rather than one a field, issue 6).
        let all = record.as_slice();
        let long = all.len() > MAX_CELL_CHARS;
        let mut text = String::with_capacity(all.len());
        let mut ends = Vec::with_capacity(record.len());
        let (mut blank, mut filled) = (true, 0u64);
        // Bytes of the record copied into `text`, walked, and left out (the quotes).
        let (mut copied, mut at, mut removed) = (0, 0, 0);
        for (i, field) in record.iter().enumerate() {
            if long {
                check_cell_length(name, field, || Location::cell(sheet, row, i as u32))?;
            }
            if !field.is_empty() {
                blank = blank && field.trim().is_empty();
                filled += 1;
                if csv_import(field).len() < field.len() {
                    text.push_str(&all[copied..at]);
                    (copied, removed) = (at + 1, removed + 1);
                }
            }
            at += field.len();
            // A file is at most MAX_FILE_BYTES, far below 4 GiB.
            ends.push(u32::try_from(at - removed).unwrap_or(u32::MAX));
        }
        if blank {
            continue;
        }
        text.push_str(&all[copied..]);
        match &headers {
            None => {
                headers = Some(
                    record
                        .iter()
                        .enumerate()
                        .map(|(i, f)| RawHeader { column: i as u32, text: f.to_string() })
                        .collect(),
                );
            }
            Some(_) => {
                cells_used += filled;
                if cells_used > MAX_CELLS {
                    return Err(invalid(format!(
                        "{name} is refused: it holds more than {} filled cells, more than idbulk \
                         reads. Split it into smaller files.",
                        thousands(MAX_CELLS)
                    )));
                }
                rows.push(RawRow { row, cells: RowCells::Texts(Values::packed(text, ends)) });
            }
        }
    }
    Ok(RawSheet { name: sheet.to_string(), headers: headers.unwrap_or_default(), rows })
}

/// Line breaks in `text`: CRLF, LF and a lone CR each count once. Found with `memchr`'s
/// vector search: every byte of the file is asked (byte by byte, a fifth of the read).
fn line_breaks(text: &str) -> u64 {
    let bytes = text.as_bytes();
    memchr::memchr2_iter(b'\n', b'\r', bytes)
        .filter(|&i| bytes[i] == b'\n' || bytes.get(i + 1) != Some(&b'\n'))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{Cell, CellRef};

    #[test]
    fn the_rows_are_estimated_from_the_first_lines_and_bounded() {
        assert_eq!(estimated_rows(""), 0);
        let even = "a,b,c\n".repeat(1000);
        let estimate = estimated_rows(&even);
        assert!((1000..=1101).contains(&estimate), "{estimate}");
        // Short lines first, then a long one: too many, a reservation the rows never touch.
        let uneven = format!("{}{}", "a\n".repeat(64), "x".repeat(10_000));
        assert_eq!(estimated_rows(&uneven), (10_128 / 2) * 11 / 10 + 1);
        // Never more than the rows idbulk reads, however short the lines.
        assert!(estimated_rows(&"\n".repeat(2_000_000)) <= MAX_ROWS as usize);
    }

    /// The reader without progress reporting.
    fn read(name: &str, bytes: &[u8], options: &CsvOptions) -> Result<RawWorkbook> {
        super::read(name, bytes, options, &mut Progress::new(name, &mut |_, _| true))
    }

    fn read_csv(name: &str, bytes: &[u8], options: &CsvOptions) -> RawWorkbook {
        read(name, bytes, options).unwrap_or_else(|e| panic!("{e}"))
    }

    fn sheet_of(bytes: &[u8]) -> RawSheet {
        read_csv("User.csv", bytes, &CsvOptions::default()).sheets.remove(0)
    }

    fn texts(sheet: &RawSheet) -> Vec<(u32, Vec<String>)> {
        sheet
            .rows
            .iter()
            .map(|r| (r.row, r.cells.iter().map(|c| c.to_string()).collect()))
            .collect()
    }

    fn header_texts(sheet: &RawSheet) -> Vec<&str> {
        sheet.headers.iter().map(|h| h.text.as_str()).collect()
    }

    #[test]
    fn utf8_with_and_without_bom() {
        for bytes in [&b"\xEF\xBB\xBFId,Name\n1,Ren\xC3\xA9e\n"[..], b"Id,Name\n1,Ren\xC3\xA9e\n"] {
            let wb = read_csv("User.csv", bytes, &CsvOptions::default());
            assert!(wb.notices.is_empty());
            assert_eq!(header_texts(&wb.sheets[0]), ["Id", "Name"], "the BOM is not in the header");
            assert_eq!(texts(&wb.sheets[0]), [(2, vec!["1".to_string(), "Renée".to_string()])]);
        }
    }

    #[test]
    fn utf16_with_a_bom_in_both_byte_orders() {
        let text = "Id\tName\r\n1\tZoë\r\n";
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        for bytes in [le, be] {
            let sheet = sheet_of(&bytes);
            assert_eq!(header_texts(&sheet), ["Id", "Name"]);
            assert_eq!(texts(&sheet), [(2, vec!["1".to_string(), "Zoë".to_string()])]);
        }
    }

    #[test]
    fn windows_1252_is_the_fallback_with_a_notice() {
        let wb = read_csv("User.csv", b"Id;Name\n1;Ren\xE9e \x80\n", &CsvOptions::default());
        assert_eq!(texts(&wb.sheets[0]), [(2, vec!["1".to_string(), "Renée €".to_string()])]);
        assert_eq!(wb.notices.len(), 1);
        assert!(wb.notices[0].message.contains("read as Windows-1252"), "{}", wb.notices[0]);
        let configured =
            CsvOptions { encoding: Some(TextEncoding::Windows1252), ..Default::default() };
        assert!(read_csv("User.csv", b"Id\n\xE9\n", &configured).notices.is_empty());
    }

    #[test]
    fn a_required_encoding_that_does_not_fit_is_an_error() {
        let utf8 = CsvOptions { encoding: Some(TextEncoding::Utf8), ..Default::default() };
        let e = read("User.csv", b"Id\n\xE9\n", &utf8).unwrap_err();
        assert!(e.message.contains("User.csv is not valid UTF-8 text"), "{}", e.message);
        let e = read("User.csv", b"\xEF\xBB\xBFId\n\xE9\n", &CsvOptions::default()).unwrap_err();
        assert!(e.message.contains("not valid UTF-8"), "a UTF-8 BOM promises UTF-8");
        let e = read("User.csv", b"\xFF\xFEI\0d\0\n", &CsvOptions::default()).unwrap_err();
        assert!(e.message.contains("not valid UTF-16LE"), "{}", e.message);
    }

    #[test]
    fn a_sep_line_is_honoured_and_not_a_row() {
        let sheet = sheet_of(b"sep=|\r\nId|Name,with comma\r\n1|a;b\r\n");
        assert_eq!(header_texts(&sheet), ["Id", "Name,with comma"]);
        assert_eq!(texts(&sheet), [(2, vec!["1".to_string(), "a;b".to_string()])]);
        let configured = CsvOptions { separator: Some(b';'), ..Default::default() };
        let wb = read_csv("User.csv", b"SEP=,\nId,Name\n", &configured);
        assert_eq!(header_texts(&wb.sheets[0]), ["Id", "Name"], "the file's own line wins");
        assert_eq!(sep_line("sep=\\t"), Some(b'\t'));
        assert_eq!(sep_line("sep=ab"), None);
    }

    #[test]
    fn the_separator_is_detected_from_the_header() {
        assert_eq!(header_texts(&sheet_of(b"Id;Name;City\n1;a,b;c\n")), ["Id", "Name", "City"]);
        assert_eq!(header_texts(&sheet_of(b"Id\tName\n1\tx\n")), ["Id", "Name"]);
        let quoted = sheet_of(b"\"Id;x\",Name\n1,2\n");
        assert_eq!(
            header_texts(&quoted),
            ["Id;x", "Name"],
            "separators inside quotes do not count"
        );
        assert_eq!(header_texts(&sheet_of(b"Identifier\nU1\n")), ["Identifier"]);
        assert_eq!(detect_separator("a;b,c"), b',', "a tie keeps the comma");
    }

    #[test]
    fn a_configured_separator_applies() {
        let options = CsvOptions { separator: Some(b'|'), ..Default::default() };
        let wb = read_csv("User.csv", b"Id|Name,x\n1|2\n", &options);
        assert_eq!(header_texts(&wb.sheets[0]), ["Id", "Name,x"]);
    }

    #[test]
    fn rows_are_numbered_as_a_spreadsheet_shows_them() {
        let sheet = sheet_of(b"Id,Note\n1,\"two\nlines\"\n\n2,x\n,\n3,\"a\r\nb\r\nc\"\n4,y\n");
        let rows: Vec<u32> = sheet.rows.iter().map(|r| r.row).collect();
        // Row 2 spans two lines, row 3 is an empty line, row 5 is blank (",").
        assert_eq!(rows, [2, 4, 6, 7]);
        assert_eq!(sheet.rows[0].cells.to_vec()[1], Cell::Text("two\nlines".into()));
        assert_eq!(sheet.rows[2].cells.to_vec()[1], Cell::Text("a\r\nb\r\nc".into()));
    }

    #[test]
    fn old_mac_line_endings_number_rows_too() {
        let sheet = sheet_of(b"Id,Note\r1,x\r\r2,\"a\rb\"\r3,y\r");
        let rows: Vec<u32> = sheet.rows.iter().map(|r| r.row).collect();
        assert_eq!(rows, [2, 4, 5]);
        assert_eq!(line_breaks("a\r\nb\nc\rd"), 3);
        assert_eq!(line_breaks("\r\r\n\n\r"), 4, "CR, CRLF, LF, a CR at the very end");
        assert_eq!(line_breaks("no break at all"), 0);
    }

    #[test]
    fn skipped_lines_count_in_row_numbers() {
        let options = CsvOptions { skip_lines: 2, ..Default::default() };
        let wb = read_csv("User.csv", b"Export of 2024-01-31\n;;;\nId;Name\n1;x\n", &options);
        let sheet = &wb.sheets[0];
        assert_eq!(header_texts(sheet), ["Id", "Name"]);
        assert_eq!(sheet.rows[0].row, 4);
        let with_sep = read_csv(
            "User.csv",
            b"sep=;\ntitle\nId;Name\n1;x\n",
            &CsvOptions { skip_lines: 1, ..Default::default() },
        );
        assert_eq!(with_sep.sheets[0].rows[0].row, 3, "the sep= line is not shown, so not counted");
        let too_many = CsvOptions { skip_lines: 10, ..Default::default() };
        let empty = read_csv("User.csv", b"a\nb\n", &too_many);
        assert!(empty.sheets[0].headers.is_empty() && empty.sheets[0].rows.is_empty());
    }

    #[test]
    fn ragged_rows_are_kept_as_they_are() {
        let sheet = sheet_of(b"Id,Name,City\n1,a\n2,b,c,extra\n");
        assert_eq!(sheet.rows[0].cells.len(), 2);
        assert_eq!(sheet.rows[1].cells.len(), 4);
    }

    #[test]
    fn a_records_texts_are_packed_with_each_export_quote_removed() {
        // Quotes removed first, in the middle and last; a quoted field with separators and
        // escaped quotes; an empty field between them; a lone `'` and one before plain text
        // are kept.
        let sheet = sheet_of(b"A,B,C,D,E,F,G\n'=1,\"x, \"\"y\"\"\",'-2,,',b'c,'@z\n");
        assert_eq!(
            texts(&sheet),
            [(2, ["=1", "x, \"y\"", "-2", "", "'", "b'c", "@z"].map(String::from).to_vec())]
        );
        let cells = &sheet.rows[0].cells;
        assert_eq!(cells.len(), 7);
        assert_eq!(cells.get(3), Some(CellRef::Empty));
        assert_eq!(cells.get(6), Some(CellRef::Text("@z")));
        assert_eq!(cells.get(7), None);
    }

    #[test]
    fn the_export_quote_is_removed_and_empty_fields_are_empty() {
        let sheet = sheet_of(b"Id,Phone,Note,Plain\nU1,'+33 1 23,'x,\n");
        assert_eq!(
            sheet.rows[0].cells.to_vec(),
            [
                Cell::Text("U1".into()),
                Cell::Text("+33 1 23".into()),
                Cell::Text("'x".into()),
                Cell::Empty
            ]
        );
    }

    #[test]
    fn the_sheet_is_named_after_the_file_stem() {
        let wb = read_csv("Organization.csv", b"Identifier\nO1\n", &CsvOptions::default());
        assert_eq!(wb.sheets[0].name, "Organization");
        assert_eq!(wb.format, FileFormat::Csv);
    }

    #[test]
    fn an_overlong_field_is_refused_naming_the_cell() {
        let mut bytes = b"Id,Note\n1,".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 40_000));
        let e = read("User.csv", &bytes, &CsvOptions::default()).unwrap_err();
        assert!(e.message.contains("sheet User, row 2, column B holds 40,000"), "{}", e.message);
    }

    #[test]
    fn a_record_with_too_many_fields_is_refused() {
        let bytes = format!("Id\n{}\n", ",".repeat(MAX_COLUMNS as usize));
        let e = read("User.csv", bytes.as_bytes(), &CsvOptions::default()).unwrap_err();
        assert!(e.message.contains("sheet User, row 2 has 501 fields"), "{}", e.message);
    }
}
