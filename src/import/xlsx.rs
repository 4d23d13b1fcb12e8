//! `.xlsx` sheets streamed straight into raw sheets, without calamine's per-cell machinery.
//!
//! Reading is 75-85 % of a sync of an Excel file (issue 6), and calamine reads each sheet
//! twice here: once for the cells and once more, whole, for its merged regions. This reader
//! makes one pass over each sheet's XML with `quick-xml`, turning `<c>` elements into
//! [`Cell`]s as calamine would (same shared strings, number formats, dates, 1904 system,
//! booleans, errors, inline strings, formulas without a cached value) and collecting
//! `<mergeCell>`s on the way.
//!
//! It reads what Excel, LibreOffice and rust_xlsxwriter write. Anything else (parts under
//! another folder or in another letter case, an unknown cell type or element, a malformed
//! reference) makes it step aside with [`Stop::Fallback`], and the file is read again by
//! calamine, which then accepts it or words the refusal: this reader never refuses a file
//! calamine would read, and never reads one differently (the tests compare them). The limits
//! are checked with the same functions and messages as the calamine path.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Read};

use calamine::{
    CellErrorType, Dimensions, ExcelDateTime, ExcelDateTimeType, SheetType, SheetVisible,
};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use zip::ZipArchive;

use super::sheet::{CellBudget, SheetBuilder};
use super::spreadsheet::{
    Role, cell_from_excel_datetime, check_dimension, hidden_notice, merged_notice, new_workbook,
    role,
};
use super::{Cell, FileFormat, Progress, RawWorkbook};
use crate::error::Error;

/// Why the streaming reader stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The file is refused (a limit, or the caller cancelled): the same error calamine's path
    /// would give.
    Refused(Error),
    /// Something this reader does not handle: read the file with calamine instead.
    Fallback(#[cfg_attr(not(test), allow(dead_code))] &'static str),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Refused(e)
    }
}

impl From<quick_xml::Error> for Stop {
    fn from(_: quick_xml::Error) -> Stop {
        Stop::Fallback("malformed XML")
    }
}

impl From<quick_xml::events::attributes::AttrError> for Stop {
    fn from(_: quick_xml::events::attributes::AttrError) -> Stop {
        Stop::Fallback("malformed XML attribute")
    }
}

type Result<T, E = Stop> = std::result::Result<T, E>;

/// How a number format shows a number (calamine's `CellFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Other,
    DateTime,
    TimeDelta,
}

/// Reads an `.xlsx` workbook, or says to fall back to calamine.
pub(crate) fn read(name: &str, bytes: &[u8], progress: &mut Progress<'_>) -> Result<RawWorkbook> {
    let mut zip =
        ZipArchive::new(Cursor::new(bytes)).map_err(|_| Stop::Fallback("damaged archive"))?;
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(std::borrow::Cow::into_owned))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Stop::Fallback("damaged archive"))?;
    // Parts are looked up by exact name; one that exists only in another case is calamine's.
    let part = |path: &str| -> Result<bool> {
        if names.iter().any(|n| n == path) {
            Ok(true)
        } else if names.iter().any(|n| n.replace('\\', "/").eq_ignore_ascii_case(path)) {
            Err(Stop::Fallback("part name in another case"))
        } else {
            Ok(false)
        }
    };
    let root = relationships(&mut zip, "_rels/.rels")?;
    let main = root
        .values()
        .find(|(_, t)| t.ends_with("/officeDocument"))
        .map(|(target, _)| target.trim_start_matches('/'));
    if main != Some("xl/workbook.xml")
        || !part("xl/workbook.xml")?
        || !part("xl/_rels/workbook.xml.rels")?
    {
        return Err(Stop::Fallback("workbook not at xl/workbook.xml"));
    }
    let rels = relationships(&mut zip, "xl/_rels/workbook.xml.rels")?;
    let book = workbook(&mut zip, &rels)?;
    let strings =
        if part("xl/sharedStrings.xml")? { shared_strings(&mut zip)? } else { Vec::new() };
    let formats = if part("xl/styles.xml")? { styles(&mut zip)? } else { Vec::new() };
    for sheet in &book.sheets {
        if !part(&sheet.path)? {
            return Err(Stop::Fallback("sheet part missing"));
        }
    }

    let mut out = new_workbook(name, FileFormat::Xlsx);
    let mut budget = CellBudget::default();
    // Progress is measured in bytes of sheet XML, whose sizes the archive declares.
    let mut total = 0;
    for sheet in &book.sheets {
        if matches!(role(&sheet.meta), Role::Data | Role::Metadata) {
            let entry = zip.by_name(&sheet.path).map_err(|_| Stop::Fallback("sheet part"))?;
            total += entry.size();
        }
    }
    progress.start(total)?;
    let context = Context { strings: &strings, formats: &formats, is_1904: book.is_1904 };
    let mut done = 0;
    for sheet in &book.sheets {
        let role = role(&sheet.meta);
        match role {
            Role::Skip => continue,
            Role::Hidden => {
                out.notices.push(hidden_notice(&sheet.meta.name));
                continue;
            }
            Role::Data | Role::Metadata => {}
        }
        let entry = zip.by_name(&sheet.path).map_err(|_| Stop::Fallback("sheet part"))?;
        let mut builder = SheetBuilder::new(name, &sheet.meta.name);
        let counted = Counted { inner: entry, read: 0 };
        let mut stream = SheetStream::new(name, &sheet.meta.name, counted, &context);
        let merged = stream.read(&mut budget, &mut builder, progress, done)?;
        done += stream.xml.get_ref().get_ref().read;
        if role == Role::Metadata {
            out.metadata = builder.into_pairs();
            continue;
        }
        out.notices.extend(merged_notice(&sheet.meta.name, &merged));
        out.sheets.push(builder.finish());
    }
    Ok(out)
}

/// A reader that counts the bytes read through it (for progress).
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// An XML reader configured as calamine configures its own, so texts read the same.
fn xml_reader<R: BufRead>(inner: R) -> Reader<R> {
    let mut xml = Reader::from_reader(inner);
    let config = xml.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    xml
}

/// An XML reader over one part of the archive.
type PartReader<'z, 'b> = Reader<BufReader<zip::read::ZipFile<'z, Cursor<&'b [u8]>>>>;

/// The XML of one part of the archive.
fn part_reader<'z, 'b>(
    zip: &'z mut ZipArchive<Cursor<&'b [u8]>>,
    path: &str,
) -> Result<PartReader<'z, 'b>> {
    let file = zip.by_name(path).map_err(|_| Stop::Fallback("part missing"))?;
    Ok(xml_reader(BufReader::with_capacity(64 * 1024, file)))
}

/// The value of attribute `key`, raw (not unescaped).
fn raw_attr<'a>(e: &'a BytesStart<'_>, key: &str) -> Result<Option<std::borrow::Cow<'a, str>>> {
    for attr in e.attributes().with_checks(false) {
        let attr = attr?;
        if attr.key.as_ref() == key {
            return Ok(Some(attr.value));
        }
    }
    Ok(None)
}

/// The value of attribute `key`, with XML entities unescaped.
fn attr(e: &BytesStart<'_>, key: &str) -> Result<Option<String>> {
    for attr in e.attributes().with_checks(false) {
        let attr = attr?;
        if attr.key.as_ref() == key {
            return Ok(Some(unescape_attr(&attr.value)?));
        }
    }
    Ok(None)
}

/// An attribute value with its XML entities resolved (as calamine decodes sheet names).
fn unescape_attr(raw: &str) -> Result<String> {
    quick_xml::escape::unescape(raw)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| Stop::Fallback("attribute escape"))
}

/// Relationships of a `.rels` part: id -> (target, type).
fn relationships(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    path: &str,
) -> Result<HashMap<String, (String, String)>> {
    let mut xml = part_reader(zip, path)?;
    let mut out = HashMap::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "Relationship" => {
                if let Some(id) = raw_attr(&e, "Id")? {
                    let target = raw_attr(&e, "Target")?.unwrap_or_default().into_owned();
                    let typ = raw_attr(&e, "Type")?.unwrap_or_default().into_owned();
                    out.insert(id.into_owned(), (target, typ));
                }
            }
            Event::End(e) if e.local_name().as_ref() == "Relationships" => return Ok(out),
            Event::Eof => return Err(Stop::Fallback("truncated relationships")),
            _ => {}
        }
    }
}

struct SheetEntry {
    meta: calamine::Sheet,
    path: String,
}

struct Book {
    sheets: Vec<SheetEntry>,
    is_1904: bool,
}

/// The sheets of `xl/workbook.xml` (name, state, part) and its date system.
fn workbook(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    rels: &HashMap<String, (String, String)>,
) -> Result<Book> {
    let mut xml = part_reader(zip, "xl/workbook.xml")?;
    let mut book = Book { sheets: Vec::new(), is_1904: false };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "sheet" => {
                let mut name = String::new();
                let mut rel_id = None;
                let mut visible = SheetVisible::Visible;
                for a in e.attributes().with_checks(false) {
                    let a = a?;
                    let key = a.key.as_ref();
                    if key == "name" {
                        name = unescape_attr(&a.value)?;
                    } else if key == "state" {
                        visible = match a.value.as_ref() {
                            "visible" => SheetVisible::Visible,
                            "hidden" => SheetVisible::Hidden,
                            "veryHidden" => SheetVisible::VeryHidden,
                            _ => return Err(Stop::Fallback("sheet state")),
                        };
                    } else if key == "id" || key.ends_with(":id") {
                        rel_id = Some(a.value.into_owned());
                    }
                }
                let (target, typ) = rel_id
                    .and_then(|id| rels.get(&id))
                    .ok_or(Stop::Fallback("sheet relationship"))?;
                let path = match target.strip_prefix('/') {
                    Some(absolute) => absolute.to_string(),
                    None => format!("xl/{target}"),
                };
                let typ = match typ.rsplit('/').next() {
                    Some("worksheet") => SheetType::WorkSheet,
                    Some("chartsheet") => SheetType::ChartSheet,
                    Some("dialogsheet") => SheetType::DialogSheet,
                    _ => return Err(Stop::Fallback("sheet type")),
                };
                book.sheets.push(SheetEntry { meta: calamine::Sheet { name, typ, visible }, path });
            }
            Event::Start(e) if e.local_name().as_ref() == "workbookPr" => {
                if let Some(v) = raw_attr(&e, "date1904")? {
                    book.is_1904 = v == "1" || v == "true";
                }
            }
            Event::End(e) if e.local_name().as_ref() == "workbook" => return Ok(book),
            Event::Eof => return Err(Stop::Fallback("truncated workbook")),
            _ => {}
        }
    }
}

/// The shared strings table.
fn shared_strings(zip: &mut ZipArchive<Cursor<&[u8]>>) -> Result<Vec<String>> {
    let mut xml = part_reader(zip, "xl/sharedStrings.xml")?;
    let mut strings = Vec::new();
    let mut buf = Vec::new();
    let mut inner = Vec::new();
    let mut text_buf = Vec::new();
    let mut started = false;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "sst" => started = true,
            Event::Start(e) if started && e.local_name().as_ref() == "si" => {
                strings.push(read_string(&mut xml, "si", &mut inner, &mut text_buf)?);
            }
            Event::End(e) if e.local_name().as_ref() == "sst" => return Ok(strings),
            Event::Eof => return Err(Stop::Fallback("truncated shared strings")),
            _ => {}
        }
    }
}

/// A simple or rich-text string up to the end of `closing` (`<si>` or `<is>`, by local
/// name), as calamine reads it: runs concatenated, phonetic runs left out, whitespace trimmed
/// unless `xml:space="preserve"`, `_xHHHH_` escapes decoded.
fn read_string<R: BufRead>(
    xml: &mut Reader<R>,
    closing: &str,
    buf: &mut Vec<u8>,
    text_buf: &mut Vec<u8>,
) -> Result<String> {
    let mut out = String::new();
    let mut phonetic = false;
    loop {
        buf.clear();
        match xml.read_event_into(buf)? {
            Event::Start(e) if e.local_name().as_ref() == "rPh" => phonetic = true,
            Event::End(e) if e.local_name().as_ref() == "rPh" => phonetic = false,
            Event::End(e) if e.local_name().as_ref() == closing => return Ok(out),
            Event::Start(e) if e.local_name().as_ref() == "t" && !phonetic => {
                let preserve = raw_attr(&e, "xml:space")?.is_some_and(|v| v == "preserve");
                let mut value = String::new();
                read_text(xml, "t", text_buf, &mut value)?;
                let value = if preserve {
                    value.as_str()
                } else {
                    value.trim_matches([' ', '\t', '\r', '\n'])
                };
                unescape_excel(value, &mut out);
            }
            Event::Eof => return Err(Stop::Fallback("truncated string")),
            _ => {}
        }
    }
}

/// Appends the text content up to the end of `closing` (a local name): texts with their
/// line ends normalised, CDATA, and entity references resolved.
fn read_text<R: BufRead>(
    xml: &mut Reader<R>,
    closing: &str,
    buf: &mut Vec<u8>,
    out: &mut String,
) -> Result<()> {
    loop {
        buf.clear();
        match xml.read_event_into(buf)? {
            Event::Text(t) => out.push_str(&t.xml10_content()),
            Event::CData(t) => out.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if let Some(s) = quick_xml::escape::resolve_xml_entity(r.as_ref()) {
                    out.push_str(s);
                } else if let Some(c) = r.resolve_char_ref()? {
                    out.push(c);
                } else {
                    return Err(Stop::Fallback("unknown entity"));
                }
            }
            Event::End(e) if e.local_name().as_ref() == closing => return Ok(()),
            Event::Eof => return Err(Stop::Fallback("truncated text")),
            _ => {}
        }
    }
}

/// Decodes Excel's `_xHHHH_` escapes (UTF-16 code units; `_x005F_` escapes an underscore)
/// as calamine does, appending to `out`.
fn unescape_excel(text: &str, out: &mut String) {
    let unit_at = |i: usize| -> Option<u16> {
        let b = text.as_bytes().get(i..i + 7)?;
        if b[0] != b'_'
            || b[1] != b'x'
            || b[6] != b'_'
            || !b[2..6].iter().all(u8::is_ascii_hexdigit)
        {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&b[2..6]).ok()?, 16).ok()
    };
    let mut copied = 0;
    let mut i = 0;
    while let Some(offset) = text[i..].find('_') {
        let at = i + offset;
        let Some(unit) = unit_at(at) else {
            i = at + 1;
            continue;
        };
        out.push_str(&text[copied..at]);
        let mut next = at + 7;
        let c = match unit {
            0xD800..=0xDBFF => match unit_at(next) {
                Some(low @ 0xDC00..=0xDFFF) => {
                    next += 7;
                    char::from_u32(
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00),
                    )
                }
                _ => None,
            },
            0xDC00..=0xDFFF => None,
            _ => char::from_u32(u32::from(unit)),
        };
        out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        copied = next;
        i = next;
    }
    out.push_str(&text[copied..]);
}

/// How each cell style (`s` attribute) shows numbers, from `xl/styles.xml`.
fn styles(zip: &mut ZipArchive<Cursor<&[u8]>>) -> Result<Vec<Format>> {
    let mut xml = part_reader(zip, "xl/styles.xml")?;
    let mut custom: HashMap<String, String> = HashMap::new();
    let mut formats = Vec::new();
    let mut buf = Vec::new();
    let mut section = "";
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) => match e.local_name().as_ref() {
                "numFmts" => section = "numFmts",
                "cellXfs" => section = "cellXfs",
                "numFmt" if section == "numFmts" => {
                    if let (Some(id), Some(code)) =
                        (raw_attr(&e, "numFmtId")?, attr(&e, "formatCode")?)
                    {
                        custom.insert(id.into_owned(), code);
                    }
                }
                "xf" if section == "cellXfs" => {
                    formats.push(match raw_attr(&e, "numFmtId")? {
                        None => Format::Other,
                        Some(id) => match custom.get(id.as_ref()) {
                            Some(code) => custom_format(code),
                            None => builtin_format(&id),
                        },
                    });
                }
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "numFmts" | "cellXfs" => section = "",
                "styleSheet" => return Ok(formats),
                _ => {}
            },
            Event::Eof => return Err(Stop::Fallback("truncated styles")),
            _ => {}
        }
    }
}

/// Whether a custom number format shows a date, a duration or a number (calamine's rules:
/// the first section only; a date or time letter outside quotes and brackets; `[h]`, `[m]`
/// or `[s]` for a duration).
fn custom_format(format: &str) -> Format {
    let mut escaped = false;
    let mut is_quote = false;
    let mut brackets = 0u8;
    let mut prev = ' ';
    let mut hms = false;
    let mut ap = false;
    for s in format.chars() {
        match (s, escaped, is_quote, ap, brackets) {
            (_, true, ..) => escaped = false,
            ('_' | '\\' | '*', ..) => escaped = true,
            ('"', _, true, _, _) => is_quote = false,
            (_, _, true, _, _) => (),
            ('"', _, _, _, _) => is_quote = true,
            (';', ..) => return Format::Other,
            ('[', ..) => brackets += 1,
            (']', .., 1) if hms => return Format::TimeDelta,
            (']', ..) => brackets = brackets.saturating_sub(1),
            ('a' | 'A', _, _, false, 0) => ap = true,
            ('p' | 'm' | '/' | 'P' | 'M', _, _, true, 0) => return Format::DateTime,
            ('d' | 'm' | 'h' | 'y' | 's' | 'D' | 'M' | 'H' | 'Y' | 'S', _, _, false, 0) => {
                return Format::DateTime;
            }
            _ => {
                if !(hms && s.eq_ignore_ascii_case(&prev)) {
                    hms = prev == '[' && matches!(s, 'm' | 'h' | 's' | 'M' | 'H' | 'S');
                }
            }
        }
        prev = s;
    }
    Format::Other
}

/// Built-in number formats that show dates (ECMA-376 18.8.30, as calamine lists them).
fn builtin_format(id: &str) -> Format {
    match id {
        "14" | "15" | "16" | "17" | "18" | "19" | "20" | "21" | "22" | "45" | "47" => {
            Format::DateTime
        }
        "27" | "28" | "29" | "30" | "31" | "32" | "33" | "34" | "35" | "36" | "50" | "51"
        | "52" | "53" | "54" | "55" | "56" | "57" | "58" => Format::DateTime,
        "46" => Format::TimeDelta,
        _ => Format::Other,
    }
}

/// A cell reference (`AB12`) as 0-based (row, column); `None` when malformed.
fn reference(text: &str) -> Option<(u32, Option<u32>)> {
    let bytes = text.as_bytes();
    let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let digits = &bytes[letters..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut col: u32 = 0;
    for b in &bytes[..letters] {
        col = col.checked_mul(26)?.checked_add(u32::from(b.to_ascii_uppercase() - b'A') + 1)?;
    }
    let mut row: u32 = 0;
    for b in digits {
        row = row.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some((row.checked_sub(1)?, col.checked_sub(1)))
}

fn cell_reference(text: &str) -> Result<(u32, u32)> {
    match reference(text) {
        Some((row, Some(col))) => Ok((row, col)),
        _ => Err(Stop::Fallback("cell reference")),
    }
}

/// A range (`A1:C5` or `A1`).
fn range(text: &str) -> Option<Dimensions> {
    let mut parts = text.split(':');
    let start = parts.next().and_then(reference)?;
    let end = match parts.next() {
        Some(end) => reference(end)?,
        None => start,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Dimensions { start: (start.0, start.1?), end: (end.0, end.1?) })
}

/// What the cells of every sheet are read against.
struct Context<'a> {
    strings: &'a [String],
    formats: &'a [Format],
    is_1904: bool,
}

/// One sheet's XML, read once.
struct SheetStream<'a, 'c, R: Read> {
    file: &'a str,
    sheet: &'a str,
    xml: Reader<BufReader<Counted<R>>>,
    context: &'a Context<'c>,
    buf: Vec<u8>,
    cell_buf: Vec<u8>,
    text_buf: Vec<u8>,
    string_buf: Vec<u8>,
    text: String,
}

impl<'a, 'c, R: Read> SheetStream<'a, 'c, R> {
    fn new(file: &'a str, sheet: &'a str, inner: Counted<R>, context: &'a Context<'c>) -> Self {
        SheetStream {
            file,
            sheet,
            xml: xml_reader(BufReader::with_capacity(64 * 1024, inner)),
            context,
            buf: Vec::with_capacity(1024),
            cell_buf: Vec::with_capacity(1024),
            text_buf: Vec::with_capacity(1024),
            string_buf: Vec::with_capacity(1024),
            text: String::new(),
        }
    }

    /// Reads the cells into `builder`; returns the merged regions.
    fn read(
        &mut self,
        budget: &mut CellBudget,
        builder: &mut SheetBuilder<'_>,
        progress: &mut Progress<'_>,
        done_before: u64,
    ) -> Result<Vec<Dimensions>> {
        // Up to <sheetData>: the declared dimension is checked before any cell is read.
        let mut dimension = Dimensions::default();
        loop {
            self.buf.clear();
            match self.xml.read_event_into(&mut self.buf)? {
                Event::Start(e) => match e.local_name().as_ref() {
                    "dimension" => {
                        let r = raw_attr(&e, "ref")?.ok_or(Stop::Fallback("dimension"))?;
                        dimension = range(&r).ok_or(Stop::Fallback("dimension"))?;
                    }
                    "sheetData" => break,
                    _ => {}
                },
                Event::Eof => return Err(Stop::Fallback("not a worksheet")),
                _ => {}
            }
        }
        check_dimension(self.file, self.sheet, dimension)?;
        let (mut row, mut col) = (0u32, 0u32);
        loop {
            self.buf.clear();
            match self.xml.read_event_into(&mut self.buf)? {
                Event::Start(e) if e.local_name().as_ref() == "row" => {
                    if let Some(r) = raw_attr(&e, "r")? {
                        row = reference(&r).ok_or(Stop::Fallback("row reference"))?.0;
                    }
                    let at = done_before + self.xml.get_ref().get_ref().read;
                    progress.at_byte(at)?;
                }
                Event::End(e) if e.local_name().as_ref() == "row" => {
                    row = row.saturating_add(1);
                    col = 0;
                }
                Event::Start(e) if e.local_name().as_ref() == "c" => {
                    let (mut position, mut style, mut typ) = (None, None, None);
                    for a in e.attributes().with_checks(false) {
                        let a = a?;
                        match a.key.as_ref() {
                            "r" => position = Some(cell_reference(&a.value)?),
                            "s" => style = Some(a.value.parse::<usize>().unwrap_or(0)),
                            "t" => typ = Some(CellType::of(&a.value)?),
                            _ => {}
                        }
                    }
                    let pos = match position {
                        Some(p) => {
                            col = p.1;
                            p
                        }
                        None => (row, col),
                    };
                    let cell = self.cell(style, typ.unwrap_or(CellType::Number))?;
                    col = col.saturating_add(1);
                    builder.push(budget, pos.0, pos.1, cell)?;
                }
                Event::End(e) if e.local_name().as_ref() == "sheetData" => break,
                Event::Eof => return Err(Stop::Fallback("truncated sheet")),
                _ => {}
            }
        }
        // After the cells: the merged regions, which calamine would read in a second pass.
        let mut merged = Vec::new();
        loop {
            self.buf.clear();
            match self.xml.read_event_into(&mut self.buf) {
                Ok(Event::Start(e)) if e.local_name().as_ref() == "mergeCell" => {
                    if let Some(region) = raw_attr(&e, "ref")?.and_then(|r| range(&r)) {
                        merged.push(region);
                    }
                }
                // Like calamine's second pass, a damaged tail loses the notice, not the data.
                Ok(Event::Eof) | Err(_) => return Ok(merged),
                Ok(_) => {}
            }
        }
    }

    /// The rest of a `<c>` element, after its start tag.
    fn cell(&mut self, style: Option<usize>, typ: CellType) -> Result<Cell> {
        // `None` is calamine's `DataRef::Empty`: no value at all, which with a formula means
        // a formula without a cached result (an empty string result is a value).
        let mut value: Option<Cell> = None;
        let mut formula: Option<String> = None;
        loop {
            self.cell_buf.clear();
            match self.xml.read_event_into(&mut self.cell_buf)? {
                Event::Start(e) => {
                    match e.local_name().as_ref() {
                        "f" => {
                            let shared = raw_attr(&e, "t")?.is_some_and(|t| t == "shared");
                            if shared
                                && raw_attr(&e, "si")?
                                    .and_then(|i| i.parse::<usize>().ok())
                                    .is_none()
                            {
                                return Err(Stop::Fallback("shared formula without index"));
                            }
                            let has_ref = raw_attr(&e, "ref")?.is_some();
                            self.text.clear();
                            read_text(&mut self.xml, "f", &mut self.text_buf, &mut self.text)?;
                            // A shared formula's followers have no text of their own.
                            formula = Some(if shared && !has_ref {
                                String::new()
                            } else {
                                self.text.clone()
                            });
                        }
                        "is" => {
                            let s = read_string(
                                &mut self.xml,
                                "is",
                                &mut self.text_buf,
                                &mut self.string_buf,
                            )?;
                            value = Some(if s.is_empty() { Cell::Empty } else { Cell::Text(s) });
                        }
                        "v" => {
                            self.text.clear();
                            read_text(&mut self.xml, "v", &mut self.text_buf, &mut self.text)?;
                            value = self.value(style, typ)?;
                        }
                        _ => return Err(Stop::Fallback("unexpected element in a cell")),
                    }
                }
                Event::End(e) if e.local_name().as_ref() == "c" => break,
                Event::Eof => return Err(Stop::Fallback("truncated cell")),
                _ => {}
            }
        }
        Ok(match (value, formula) {
            (Some(cell), _) => cell,
            (None, Some(formula)) => Cell::FormulaWithoutValue(formula),
            (None, None) => Cell::Empty,
        })
    }

    /// The value of a `<v>` element, from its text (in `self.text`); `None` for no value.
    fn value(&mut self, style: Option<usize>, typ: CellType) -> Result<Option<Cell>> {
        let v = self.text.as_str();
        let text = |s: &str| if s.is_empty() { Cell::Empty } else { Cell::Text(s.to_string()) };
        Ok(Some(match typ {
            CellType::Inline => return Ok(None),
            CellType::Shared => {
                if v.is_empty() {
                    return Ok(None);
                }
                let i = v.parse::<usize>().unwrap_or(0);
                text(self.context.strings.get(i).ok_or(Stop::Fallback("string index"))?)
            }
            CellType::Bool => match v.trim() {
                "" => return Ok(None),
                t if t == "0" || t.eq_ignore_ascii_case("false") => Cell::Bool(false),
                t if t == "1" || t.eq_ignore_ascii_case("true") => Cell::Bool(true),
                _ => return Err(Stop::Fallback("boolean")),
            },
            CellType::Error => Cell::Error(
                v.parse::<CellErrorType>().map_err(|_| Stop::Fallback("error value"))?.to_string(),
            ),
            CellType::Date => return Err(Stop::Fallback("ISO date cell")),
            CellType::Str => text(&unescape_to_string(v)),
            CellType::Number | CellType::N => {
                if v.is_empty() {
                    return Ok(None);
                }
                let Ok(n) = v.parse::<f64>() else {
                    return match typ {
                        CellType::Number => Ok(Some(Cell::Text(v.to_string()))),
                        _ => Err(Stop::Fallback("number")),
                    };
                };
                let format = match style {
                    Some(s) => self.context.formats.get(s).copied(),
                    None => Some(Format::Other),
                };
                let kind = match format {
                    Some(Format::DateTime) => ExcelDateTimeType::DateTime,
                    Some(Format::TimeDelta) => ExcelDateTimeType::TimeDelta,
                    _ => return Ok(Some(Cell::Float(n))),
                };
                cell_from_excel_datetime(&ExcelDateTime::new(n, kind, self.context.is_1904))
            }
        }))
    }
}

fn unescape_to_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    unescape_excel(text, &mut out);
    out
}

/// The `t` attribute of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellType {
    /// No `t`: a number (text that is not one is kept as text, as calamine does).
    Number,
    /// `t="n"`.
    N,
    Shared,
    Bool,
    Error,
    Str,
    Inline,
    Date,
}

impl CellType {
    fn of(t: &str) -> Result<CellType> {
        Ok(match t {
            "n" => CellType::N,
            "s" => CellType::Shared,
            "b" => CellType::Bool,
            "e" => CellType::Error,
            "str" => CellType::Str,
            "inlineStr" | "is" => CellType::Inline,
            "d" => CellType::Date,
            _ => return Err(Stop::Fallback("cell type")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::spreadsheet::read_xlsx_with_calamine;
    use crate::import::test_support::{patch_zip, xlsx};
    use proptest::prelude::*;
    use rust_xlsxwriter::{ExcelDateTime as XlDate, Format as XlFormat, Formula, Workbook};

    /// The workbook read by this reader (which must not step aside) and by calamine.
    fn both(bytes: &[u8]) -> (RawWorkbook, RawWorkbook) {
        let mut quiet = |_, _| true;
        let streamed = match read("t.xlsx", bytes, &mut Progress::new("t.xlsx", &mut quiet)) {
            Ok(wb) => wb,
            Err(Stop::Fallback(why)) => panic!("fell back to calamine: {why}"),
            Err(Stop::Refused(e)) => panic!("refused: {e}"),
        };
        let mut quiet = |_, _| true;
        let calamine =
            read_xlsx_with_calamine("t.xlsx", bytes, &mut Progress::new("t.xlsx", &mut quiet))
                .unwrap();
        (streamed, calamine)
    }

    fn every_kind(wb: &mut Workbook, constant_memory: bool) {
        let ws = if constant_memory {
            wb.add_worksheet_with_constant_memory().unwrap()
        } else {
            wb.add_worksheet()
        };
        ws.set_name("User").unwrap();
        let headers = ["Identifier", "Text", "Number", "Flag", "Date", "Time", "Span", "Formula"];
        for (c, h) in headers.iter().enumerate() {
            ws.write(0, c as u16, *h).unwrap();
        }
        let texts = [
            "00123",
            "  padded  ",
            "line\nbreak",
            "<tag> & \"quotes\" 'single'",
            "_x000D_ literal",
            "é€😀",
            "\t",
        ];
        let date = XlFormat::new().set_num_format("yyyy-mm-dd");
        let stamp = XlFormat::new().set_num_format("dd/mm/yyyy hh:mm:ss");
        let time = XlFormat::new().set_num_format("hh:mm");
        let span = XlFormat::new().set_num_format("[h]:mm:ss");
        for (i, text) in texts.iter().enumerate() {
            let r = i as u32 + 1;
            ws.write(r, 0, format!("U{r}")).unwrap();
            ws.write(r, 1, *text).unwrap();
            ws.write(r, 2, r as f64 * 1.5 - 3.0).unwrap();
            ws.write(r, 3, r.is_multiple_of(2)).unwrap();
            let day = XlDate::from_ymd(2020 + r as u16, 3, 30 + (r as u8 % 2)).unwrap();
            ws.write_with_format(r, 4, &day, if r.is_multiple_of(2) { &date } else { &stamp })
                .unwrap();
            ws.write_with_format(r, 5, 0.25 * r as f64 / 8.0, &time).unwrap();
            ws.write_with_format(r, 6, 1.5 + r as f64, &span).unwrap();
        }
        ws.write_formula(1, 7, Formula::new("=1/0").set_result("#DIV/0!")).unwrap();
        ws.write_formula(2, 7, Formula::new("=\"a\"&\"b\"").set_result("ab")).unwrap();
        ws.write_formula(3, 7, Formula::new("=TRUE()").set_result("TRUE")).unwrap();
        ws.write_formula(4, 7, Formula::new("=NA()").set_result("#N/A")).unwrap();
        ws.write(12, 2, "after a gap").unwrap();
        if !constant_memory {
            let bold = XlFormat::new().set_bold();
            ws.write_rich_string(9, 1, &[(&bold, "rich "), (&XlFormat::new(), "text")]).unwrap();
            ws.merge_range(10, 1, 10, 3, "merged", &XlFormat::new()).unwrap();
        }
        let hidden = wb.add_worksheet().set_name("Hidden").unwrap();
        hidden.write(0, 0, "x").unwrap();
        hidden.set_hidden(true);
        let meta = wb.add_worksheet().set_name("_idbulk").unwrap();
        meta.write(0, 0, "schema_version").unwrap();
        meta.write(0, 1, 3).unwrap();
        meta.set_hidden(true);
    }

    #[test]
    fn every_kind_of_cell_reads_as_calamine_reads_it() {
        for constant_memory in [false, true] {
            let bytes = xlsx(|wb| every_kind(wb, constant_memory));
            let (streamed, calamine) = both(&bytes);
            assert_eq!(streamed, calamine, "constant memory: {constant_memory}");
            assert!(streamed.sheets[0].rows.len() >= 7);
        }
    }

    #[test]
    fn the_1904_date_system_and_formulas_without_values_read_as_calamine_reads_them() {
        let bytes = xlsx(|wb| every_kind(wb, false));
        let bytes = patch_zip(&bytes, |name, text| match name {
            "xl/workbook.xml" => text.replace("<workbookPr", "<workbookPr date1904=\"1\""),
            n if n.ends_with("sheet1.xml") => text
                .replace("<v>#DIV/0!</v>", "")
                .replace("<f>\"a\"&amp;\"b\"</f><v>ab</v>", "<f>\"a\"&amp;\"b\"</f><v></v>"),
            _ => text,
        });
        let (streamed, calamine) = both(&bytes);
        assert_eq!(streamed, calamine);
        let cells: Vec<&Cell> = streamed.sheets[0].rows.iter().map(|r| &r.cells[7]).collect();
        assert!(cells.contains(&&Cell::FormulaWithoutValue("1/0".into())), "{cells:?}");
        let Cell::DateTime { iso, .. } = &streamed.sheets[0].rows[1].cells[4] else {
            panic!("a date");
        };
        assert!(iso.starts_with("2026-"), "four years later in 1904: {iso}");
    }

    #[test]
    fn merged_regions_and_hidden_sheets_give_the_same_notices() {
        let bytes = xlsx(|wb| every_kind(wb, false));
        let (streamed, _) = both(&bytes);
        let notices: Vec<&str> = streamed.notices.iter().map(|n| n.message.as_str()).collect();
        assert!(notices.iter().any(|n| n.contains("merged cells (B11:D11)")), "{notices:?}");
        assert!(notices.iter().any(|n| n.contains("Sheet Hidden is hidden")), "{notices:?}");
        assert_eq!(streamed.metadata, [("schema_version".to_string(), "3".to_string())]);
    }

    #[test]
    fn unusual_files_are_left_to_calamine() {
        let bytes = xlsx(|wb| every_kind(wb, false));
        let iso = patch_zip(&bytes, |name, text| {
            if name.ends_with("sheet1.xml") {
                text.replacen("<c r=\"C2\"", "<c r=\"C2\" t=\"d\"", 1)
            } else {
                text
            }
        });
        let mut quiet = |_, _| true;
        let result = read("t.xlsx", &iso, &mut Progress::new("t.xlsx", &mut quiet));
        assert!(matches!(result, Err(Stop::Fallback(_))), "{result:?}");
        assert!(crate::import::read_bytes("t.xlsx", &iso, &Default::default()).is_ok());
    }

    #[test]
    fn references_and_excel_escapes_decode_as_calamine_decodes_them() {
        assert_eq!(reference("A1"), Some((0, Some(0))));
        assert_eq!(reference("ab12"), Some((11, Some(27))));
        assert_eq!(reference("7"), Some((6, None)));
        assert_eq!(reference("A0"), None);
        assert_eq!(reference("A"), None);
        assert_eq!(reference("ZZZZZZZZ1"), None, "overflow");
        let mut out = String::new();
        unescape_excel("a_x000D_b_x005F_x000D__xD83D__xDE00__xD800_", &mut out);
        assert_eq!(out, "a\rb_x000D_😀\u{FFFD}");
        assert_eq!(custom_format("yyyy-mm-dd"), Format::DateTime);
        assert_eq!(custom_format("[h]:mm:ss"), Format::TimeDelta);
        assert_eq!(custom_format("0.00;\"d\""), Format::Other);
        assert_eq!(builtin_format("14"), Format::DateTime);
    }

    /// One generated cell: what to write.
    #[derive(Debug, Clone)]
    enum Gen {
        Text(String),
        Number(f64),
        Bool(bool),
        Date(u16, u8, u8, bool),
        Blank,
    }

    fn gen_cell() -> impl Strategy<Value = Gen> {
        prop_oneof![
            "[ a-zA-Z0-9_&<>\"'éx\\n]{0,12}".prop_map(Gen::Text),
            (-1e9f64..1e9).prop_map(Gen::Number),
            any::<bool>().prop_map(Gen::Bool),
            (1901u16..2100, 1u8..13, 1u8..29, any::<bool>())
                .prop_map(|(y, m, d, t)| Gen::Date(y, m, d, t)),
            Just(Gen::Blank),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn generated_workbooks_read_as_calamine_reads_them(
            rows in prop::collection::vec(prop::collection::vec(gen_cell(), 1..6), 1..12),
            constant_memory in any::<bool>(),
            gap in 0u32..3,
        ) {
            let bytes = xlsx(|wb| {
                let ws = if constant_memory {
                    wb.add_worksheet_with_constant_memory().unwrap()
                } else {
                    wb.add_worksheet()
                };
                let date = XlFormat::new().set_num_format("yyyy-mm-dd");
                let stamp = XlFormat::new().set_num_format("yyyy-mm-dd hh:mm");
                for (r, cells) in rows.iter().enumerate() {
                    let r = r as u32 * (gap + 1);
                    for (c, cell) in cells.iter().enumerate() {
                        let c = c as u16;
                        match cell {
                            Gen::Text(s) => { ws.write(r, c, s).unwrap(); }
                            Gen::Number(n) => { ws.write(r, c, *n).unwrap(); }
                            Gen::Bool(b) => { ws.write(r, c, *b).unwrap(); }
                            Gen::Date(y, m, d, with_time) => {
                                let day = XlDate::from_ymd(*y, *m, *d).unwrap();
                                if *with_time {
                                    let at = day.and_hms(13, 5, 7).unwrap();
                                    ws.write_with_format(r, c, &at, &stamp).unwrap();
                                } else {
                                    ws.write_with_format(r, c, &day, &date).unwrap();
                                }
                            }
                            Gen::Blank => { ws.write_blank(r, c, &date).unwrap(); }
                        }
                    }
                }
            });
            let (streamed, calamine) = both(&bytes);
            prop_assert_eq!(streamed, calamine);
        }
    }
}
