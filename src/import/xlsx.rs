//! `.xlsx` sheets streamed straight into raw sheets, without calamine's per-cell machinery.
//!
//! Reading is 75-85 % of a sync of an Excel file (issue 6), and calamine reads each sheet
//! twice here: once for the cells and once more, whole, for its merged regions. This reader
//! makes one pass over each sheet's XML, turning `<c>` elements into [`Cell`]s as calamine
//! would (same shared strings, number formats, dates, 1904 system, booleans, errors, inline
//! strings, formulas without a cached value) and collecting `<mergeCell>`s on the way.
//!
//! Two readers share the work. A hand-written scanner ([`fast_row`], and [`fast_shared_strings`]
//! for the shared strings) reads the common shapes, several times faster than an event per tag;
//! whatever it does not know, a row or a string at a time, it leaves to the `quick-xml` code
//! ([`xml_cells`], [`read_string`]), which reads the same bytes as it always did.
//!
//! It reads what Excel, LibreOffice and rust_xlsxwriter write. Anything else (parts under
//! another folder or in another letter case, an unknown cell type or element, a malformed
//! reference) makes it step aside with [`Stop::Fallback`], and the file is read again by
//! calamine, which then accepts it or words the refusal: this reader never refuses a file
//! calamine would read, and never reads one differently (the tests compare them). The limits
//! are checked with the same functions and messages as the calamine path.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};

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
pub(crate) fn read<R: Read + Seek>(
    name: &str,
    source: R,
    progress: &mut Progress<'_>,
) -> Result<RawWorkbook> {
    let mut zip = ZipArchive::new(source).map_err(|_| Stop::Fallback("damaged archive"))?;
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
    let strings = if part("xl/sharedStrings.xml")? {
        shared_strings(&mut zip)?
    } else {
        SharedStrings::default()
    };
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
        done += stream.bytes_read();
        if role == Role::Metadata {
            out.metadata = builder.into_pairs()?;
            continue;
        }
        out.notices.extend(merged_notice(&sheet.meta.name, &merged));
        out.sheets.push(builder.finish()?);
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
type PartReader<'z, R> = Reader<BufReader<zip::read::ZipFile<'z, R>>>;

/// The XML of one part of the archive.
fn part_reader<'z, R: Read + Seek>(
    zip: &'z mut ZipArchive<R>,
    path: &str,
) -> Result<PartReader<'z, R>> {
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
fn relationships<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
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
fn workbook<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
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
fn shared_strings<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Result<SharedStrings> {
    // Read whole: the table is a fraction of the sheets it serves (a tenth of the 100k
    // benchmark's bytes), it is freed before they are read, and its declared size, which the
    // zip reader enforces, was checked against the limits. The strings themselves live as
    // long as the sheets are read.
    let mut bytes = Vec::new();
    zip.by_name("xl/sharedStrings.xml")
        .map_err(|_| Stop::Fallback("part missing"))?
        .read_to_end(&mut bytes)
        .map_err(|_| Stop::Fallback("damaged shared strings"))?;
    match fast_shared_strings(&bytes)? {
        Some(strings) => Ok(strings),
        None => xml_shared_strings(xml_reader(&bytes[..])),
    }
}

/// The shared-string table: every string in one buffer, with where each ends. A large table
/// holds hundreds of thousands of strings; a `Text` each took twice the memory (issue 6).
#[derive(Debug, Default)]
struct SharedStrings {
    text: String,
    ends: Vec<u32>,
}

impl SharedStrings {
    fn push(&mut self, s: &str) -> Result<()> {
        self.text.push_str(s);
        // The part's declared size is limited to 2 GiB (limits), so this always fits.
        let end = u32::try_from(self.text.len()).map_err(|_| Stop::Fallback("strings size"))?;
        self.ends.push(end);
        Ok(())
    }

    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..end)
    }
}

/// The shared strings scanned by hand, as [`xml_shared_strings`] reads them; `None` for a
/// table it leaves to quick-xml (a namespace prefix, a comment, something between strings).
/// A string with rich text or phonetic runs is read by quick-xml from its own bytes.
fn fast_shared_strings(bytes: &[u8]) -> Result<Option<SharedStrings>> {
    let Some(start) = memchr::memmem::find(bytes, b"<sst") else {
        return Ok(None);
    };
    let mut scan = Scan { bytes, i: start + 4 };
    if !is_tag(&bytes[start..], b"sst")
        || scan.start_tag(|_, _| Ok(()))? != Some(false)
        || has_comment_or_instruction(scan.rest())
    {
        return Ok(None);
    }
    let mut strings = SharedStrings::default();
    let si_end = memchr::memmem::Finder::new(b"</si>");
    let (mut text, mut buf, mut text_buf) = (String::new(), Vec::new(), Vec::new());
    loop {
        scan.skip_whitespace();
        if scan.eat(b"</sst>") {
            return Ok(Some(strings));
        }
        if !is_tag(scan.rest(), b"si") {
            return Ok(None);
        }
        let Some(len) = si_end.find(scan.rest()) else {
            return Ok(None);
        };
        let si = &scan.rest()[..len + b"</si>".len()];
        scan.i += si.len();
        let mut one = Scan { bytes: si, i: 3 };
        match one.simple_string(b"</si>", &mut text)? {
            Some(s) if one.i == si.len() => strings.push(&s)?,
            _ => {
                let mut xml = xml_reader(si);
                xml.read_event_into(&mut buf)?;
                strings.push(&read_string(&mut xml, "si", &mut buf, &mut text_buf)?)?;
            }
        }
    }
}

/// The shared strings read with quick-xml.
fn xml_shared_strings<B: BufRead>(mut xml: Reader<B>) -> Result<SharedStrings> {
    let mut strings = SharedStrings::default();
    let mut buf = Vec::new();
    let mut inner = Vec::new();
    let mut text_buf = Vec::new();
    let mut started = false;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "sst" => started = true,
            Event::Start(e) if started && e.local_name().as_ref() == "si" => {
                strings.push(&read_string(&mut xml, "si", &mut inner, &mut text_buf)?)?;
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
fn styles<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Result<Vec<Format>> {
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
    strings: &'a SharedStrings,
    formats: &'a [Format],
    is_1904: bool,
}

/// One sheet's XML, read once.
struct SheetStream<'a, 'c, R: Read> {
    file: &'a str,
    sheet: &'a str,
    xml: Reader<BufReader<Counted<R>>>,
    context: &'a Context<'c>,
    bufs: Buffers,
}

/// Buffers reused from cell to cell by the quick-xml path.
#[derive(Default)]
struct Buffers {
    buf: Vec<u8>,
    cell_buf: Vec<u8>,
    text_buf: Vec<u8>,
    string_buf: Vec<u8>,
    text: String,
}

/// The position the next cell without a reference takes: 0-based row and column.
type At = (u32, u32);

/// How many bytes of sheet XML the fast path asks the decompressor for at a time.
const CHUNK: usize = 256 * 1024;

impl<'a, 'c, R: Read> SheetStream<'a, 'c, R> {
    fn new(file: &'a str, sheet: &'a str, inner: Counted<R>, context: &'a Context<'c>) -> Self {
        SheetStream {
            file,
            sheet,
            xml: xml_reader(BufReader::with_capacity(64 * 1024, inner)),
            context,
            bufs: Buffers::default(),
        }
    }

    /// Bytes of the sheet's XML read so far.
    fn bytes_read(&self) -> u64 {
        self.xml.get_ref().get_ref().read
    }

    /// Reads the cells into `builder`; returns the merged regions.
    fn read(
        &mut self,
        budget: &mut CellBudget,
        builder: &mut SheetBuilder<'_>,
        progress: &mut Progress<'_>,
        done_before: u64,
    ) -> Result<Vec<Dimensions>> {
        // Up to <sheetData>: the declared dimension is checked before any cell is read. Empty
        // elements are not expanded here, so that an empty `<sheetData/>` is told apart.
        self.xml.config_mut().expand_empty_elements = false;
        let mut dimension = Dimensions::default();
        let sheet_data = loop {
            self.bufs.buf.clear();
            match self.xml.read_event_into(&mut self.bufs.buf)? {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "dimension" => {
                    let r = raw_attr(&e, "ref")?.ok_or(Stop::Fallback("dimension"))?;
                    dimension = range(&r).ok_or(Stop::Fallback("dimension"))?;
                }
                Event::Start(e) if e.local_name().as_ref() == "sheetData" => {
                    break if e.name().as_ref() == "sheetData" {
                        SheetData::Plain
                    } else {
                        SheetData::Prefixed
                    };
                }
                Event::Empty(e) if e.local_name().as_ref() == "sheetData" => {
                    break SheetData::Empty;
                }
                Event::Eof => return Err(Stop::Fallback("not a worksheet")),
                _ => {}
            }
        };
        self.xml.config_mut().expand_empty_elements = true;
        check_dimension(self.file, self.sheet, dimension)?;
        let mut at: At = (0, 0);
        match sheet_data {
            SheetData::Empty => Ok(merged_regions(&mut self.xml, &mut self.bufs.buf)),
            SheetData::Prefixed => {
                let on_row = &mut |xml: &Reader<BufReader<Counted<R>>>| {
                    progress.at_byte(done_before + xml.get_ref().get_ref().read).map_err(Stop::from)
                };
                let cells =
                    Cells { context: self.context, budget: &mut *budget, builder: &mut *builder };
                xml_cells(
                    &mut self.xml,
                    &mut self.bufs,
                    cells,
                    &mut at,
                    Until::SheetDataEnd,
                    on_row,
                )?;
                Ok(merged_regions(&mut self.xml, &mut self.bufs.buf))
            }
            SheetData::Plain => {
                let (rest, ended) =
                    self.fast_cells(budget, builder, progress, done_before, &mut at)?;
                // What follows is read by quick-xml: the bytes already taken from the
                // decompressor, then the rest of the part. It is told which elements are open,
                // or it would call their end tags unmatched.
                let open: &[u8] = if ended { b"<worksheet>" } else { b"<worksheet><sheetData>" };
                let source = self.xml.get_mut();
                let rest = Cursor::new([open, &rest].concat());
                let mut xml = xml_reader(BufReader::new(rest.chain(source)));
                if !ended {
                    let cells = Cells {
                        context: self.context,
                        budget: &mut *budget,
                        builder: &mut *builder,
                    };
                    xml_cells(
                        &mut xml,
                        &mut self.bufs,
                        cells,
                        &mut at,
                        Until::SheetDataEnd,
                        &mut |xml: &Reader<_>| {
                            let read = xml.get_ref().get_ref().get_ref().1.get_ref().read;
                            progress.at_byte(done_before + read).map_err(Stop::from)
                        },
                    )?;
                }
                Ok(merged_regions(&mut xml, &mut self.bufs.buf))
            }
        }
    }

    /// The fast path over the content of `<sheetData>`: whole `<row>` elements are cut out of
    /// the decompressed bytes and scanned by hand ([`fast_row`]), which is several times
    /// quicker than an event per tag. A row it does not handle (a formula, rich text, an
    /// escape it does not know) is read by quick-xml from the same bytes; anything between rows
    /// other than whitespace (a comment, a prefixed element) hands the rest of the sheet to
    /// quick-xml. Returns the bytes read past where it stopped, and whether that was
    /// `</sheetData>`.
    fn fast_cells(
        &mut self,
        budget: &mut CellBudget,
        builder: &mut SheetBuilder<'_>,
        progress: &mut Progress<'_>,
        done_before: u64,
        at: &mut At,
    ) -> Result<(Vec<u8>, bool)> {
        const END: &[u8] = b"</sheetData>";
        let mut pending: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut pos = 0;
        let mut eof = false;
        let mut row_cells: Vec<(u32, u32, Cell)> = Vec::new();
        let mut text = String::new();
        let row_end = memchr::memmem::Finder::new(b"</row>");
        loop {
            while pending.get(pos).is_some_and(u8::is_ascii_whitespace) {
                pos += 1;
            }
            let rest = &pending[pos..];
            if rest.starts_with(END) {
                return Ok((pending[pos + END.len()..].to_vec(), true));
            }
            if is_tag(rest, b"row") {
                if let Some(len) = row_extent(rest, &row_end) {
                    let row = &rest[..len];
                    if has_comment_or_instruction(row) {
                        // A comment or CDATA could hide a `</row>`: quick-xml reads from here.
                        return Ok((rest.to_vec(), false));
                    }
                    progress.at_byte(done_before + self.bytes_read())?;
                    let cells = Cells {
                        context: self.context,
                        budget: &mut *budget,
                        builder: &mut *builder,
                    };
                    if !fast_row(row, cells.context, at, &mut row_cells, &mut text)? {
                        let mut xml = xml_reader(row);
                        xml_cells(
                            &mut xml,
                            &mut self.bufs,
                            cells,
                            at,
                            Until::Eof,
                            &mut |_| Ok(()),
                        )?;
                    } else {
                        for (r, c, cell) in row_cells.drain(..) {
                            cells.builder.push(cells.budget, r, c, cell)?;
                        }
                    }
                    pos += len;
                    continue;
                }
            } else if rest.len() >= END.len() || (eof && !rest.is_empty()) {
                return Ok((rest.to_vec(), false));
            }
            // The element is cut by the end of the bytes read so far: read more.
            if eof {
                return Err(Stop::Fallback("truncated sheet"));
            }
            pending.drain(..pos);
            pos = 0;
            let start = pending.len();
            pending.resize(start + CHUNK, 0);
            let n = self
                .xml
                .get_mut()
                .read(&mut pending[start..])
                .map_err(|_| Stop::Fallback("damaged sheet part"))?;
            pending.truncate(start + n);
            eof = n == 0;
        }
    }
}

/// What a sheet's `<sheetData>` start tag said.
enum SheetData {
    /// `<sheetData/>`: no cells.
    Empty,
    /// `<sheetData>`: the fast path reads the cells.
    Plain,
    /// `<x:sheetData>`: elements carry a namespace prefix, which only quick-xml reads.
    Prefixed,
}

/// Where the cells read go.
struct Cells<'x, 'f> {
    context: &'x Context<'x>,
    budget: &'x mut CellBudget,
    builder: &'x mut SheetBuilder<'f>,
}

/// Where [`xml_cells`] stops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// At `</sheetData>` (the end of the input is a truncated sheet).
    SheetDataEnd,
    /// At the end of the input (one row's bytes).
    Eof,
}

/// Reads `<row>` and `<c>` elements with quick-xml into `cells`.
fn xml_cells<B: BufRead>(
    xml: &mut Reader<B>,
    bufs: &mut Buffers,
    cells: Cells<'_, '_>,
    at: &mut At,
    until: Until,
    on_row: &mut dyn FnMut(&Reader<B>) -> Result<()>,
) -> Result<()> {
    let (row, col) = at;
    loop {
        bufs.buf.clear();
        match xml.read_event_into(&mut bufs.buf)? {
            Event::Start(e) if e.local_name().as_ref() == "row" => {
                if let Some(r) = raw_attr(&e, "r")? {
                    *row = reference(&r).ok_or(Stop::Fallback("row reference"))?.0;
                }
                on_row(xml)?;
            }
            Event::End(e) if e.local_name().as_ref() == "row" => {
                *row = row.saturating_add(1);
                *col = 0;
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
                        *col = p.1;
                        p
                    }
                    None => (*row, *col),
                };
                let cell =
                    xml_cell(xml, bufs, cells.context, style, typ.unwrap_or(CellType::Number))?;
                *col = col.saturating_add(1);
                cells.builder.push(cells.budget, pos.0, pos.1, cell)?;
            }
            Event::End(e)
                if until == Until::SheetDataEnd && e.local_name().as_ref() == "sheetData" =>
            {
                return Ok(());
            }
            Event::Eof if until == Until::Eof => return Ok(()),
            Event::Eof => return Err(Stop::Fallback("truncated sheet")),
            _ => {}
        }
    }
}

/// The merged regions, which follow the cells (calamine would read them in a second pass).
fn merged_regions<B: BufRead>(xml: &mut Reader<B>, buf: &mut Vec<u8>) -> Vec<Dimensions> {
    let mut merged = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(buf) {
            Ok(Event::Start(e)) if e.local_name().as_ref() == "mergeCell" => {
                if let Ok(Some(region)) = raw_attr(&e, "ref").map(|r| r.and_then(|r| range(&r))) {
                    merged.push(region);
                }
            }
            // Like calamine's second pass, a damaged tail loses the notice, not the data.
            Ok(Event::Eof) | Err(_) => return merged,
            Ok(_) => {}
        }
    }
}

/// The rest of a `<c>` element, after its start tag, read with quick-xml.
fn xml_cell<B: BufRead>(
    xml: &mut Reader<B>,
    bufs: &mut Buffers,
    context: &Context<'_>,
    style: Option<usize>,
    typ: CellType,
) -> Result<Cell> {
    // `None` is calamine's `DataRef::Empty`: no value at all, which with a formula means
    // a formula without a cached result (an empty string result is a value).
    let mut value: Option<Cell> = None;
    let mut formula: Option<String> = None;
    loop {
        bufs.cell_buf.clear();
        match xml.read_event_into(&mut bufs.cell_buf)? {
            Event::Start(e) => match e.local_name().as_ref() {
                "f" => {
                    let shared = raw_attr(&e, "t")?.is_some_and(|t| t == "shared");
                    if shared && raw_attr(&e, "si")?.and_then(|i| i.parse::<usize>().ok()).is_none()
                    {
                        return Err(Stop::Fallback("shared formula without index"));
                    }
                    let has_ref = raw_attr(&e, "ref")?.is_some();
                    bufs.text.clear();
                    read_text(xml, "f", &mut bufs.text_buf, &mut bufs.text)?;
                    // A shared formula's followers have no text of their own.
                    formula =
                        Some(if shared && !has_ref { String::new() } else { bufs.text.clone() });
                }
                "is" => {
                    let s = read_string(xml, "is", &mut bufs.text_buf, &mut bufs.string_buf)?;
                    value = Some(if s.is_empty() { Cell::Empty } else { Cell::Text(s.into()) });
                }
                "v" => {
                    bufs.text.clear();
                    read_text(xml, "v", &mut bufs.text_buf, &mut bufs.text)?;
                    value = cell_value(context, &bufs.text, style, typ)?;
                }
                _ => return Err(Stop::Fallback("unexpected element in a cell")),
            },
            Event::End(e) if e.local_name().as_ref() == "c" => break,
            Event::Eof => return Err(Stop::Fallback("truncated cell")),
            _ => {}
        }
    }
    Ok(match (value, formula) {
        (Some(cell), _) => cell,
        (None, Some(formula)) => Cell::FormulaWithoutValue(formula.into()),
        (None, None) => Cell::Empty,
    })
}

/// Whether `<!` (a comment, CDATA) or `<?` (a processing instruction) occurs in `bytes`.
fn has_comment_or_instruction(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'<', bytes).any(|i| matches!(bytes.get(i + 1), Some(b'!' | b'?')))
}

/// Whether `bytes` start with the tag `<name` (followed by a space, `>` or `/`).
fn is_tag(bytes: &[u8], name: &[u8]) -> bool {
    bytes.first() == Some(&b'<')
        && bytes[1..].starts_with(name)
        && matches!(bytes.get(name.len() + 1), Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'))
}

/// The length of the `<row>` element `bytes` start with, `None` if it is not all there yet.
fn row_extent(bytes: &[u8], row_end: &memchr::memmem::Finder<'_>) -> Option<usize> {
    // The start tag's `>`, outside quoted attribute values.
    let mut quote = None;
    let gt = bytes.iter().enumerate().skip(4).find_map(|(i, &b)| {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return Some(i),
            _ => {}
        }
        None
    })?;
    if bytes[gt - 1] == b'/' {
        return Some(gt + 1);
    }
    row_end.find(&bytes[gt + 1..]).map(|n| gt + 1 + n + b"</row>".len())
}

/// Reads one `<row>` element (all of its bytes) by hand into `out`, as quick-xml and
/// [`xml_cell`] would; `false` (with `at` untouched) for anything it does not handle.
fn fast_row(
    row_xml: &[u8],
    context: &Context<'_>,
    at: &mut At,
    out: &mut Vec<(u32, u32, Cell)>,
    text: &mut String,
) -> Result<bool> {
    out.clear();
    let (mut row, mut col) = *at;
    let mut scan = Scan { bytes: row_xml, i: 4 };
    let mut row_ref = None;
    let Some(row_closed) = scan.start_tag(|k, v| {
        if k == b"r" {
            row_ref = Some(v);
        }
        Ok(())
    })?
    else {
        return Ok(false);
    };
    if let Some(r) = row_ref {
        row = reference(utf8(r)?).ok_or(Stop::Fallback("row reference"))?.0;
    }
    if !row_closed {
        loop {
            scan.skip_whitespace();
            if scan.eat(b"</row>") {
                break;
            }
            if !is_tag(scan.rest(), b"c") {
                return Ok(false);
            }
            scan.i += 2;
            let (mut position, mut style, mut typ) = (None, None, None);
            let Some(cell_closed) = scan.start_tag(|k, v| {
                match k {
                    b"r" => position = Some(cell_reference(utf8(v)?)?),
                    b"s" => style = Some(utf8(v)?.parse::<usize>().unwrap_or(0)),
                    b"t" => typ = Some(CellType::of(utf8(v)?)?),
                    _ => {}
                }
                Ok(())
            })?
            else {
                return Ok(false);
            };
            let typ = typ.unwrap_or(CellType::Number);
            let mut value = None;
            if !cell_closed {
                loop {
                    scan.skip_whitespace();
                    if scan.eat(b"</c>") {
                        break;
                    }
                    if is_tag(scan.rest(), b"v") {
                        scan.i += 2;
                        text.clear();
                        match scan.start_tag(|_, _| Ok(()))? {
                            Some(true) => {}
                            Some(false) if scan.text_until(b"</v>", text) => {}
                            _ => return Ok(false),
                        }
                        value = cell_value(context, text, style, typ)?;
                    } else if is_tag(scan.rest(), b"is") {
                        scan.i += 3;
                        let Some(s) = scan.simple_string(b"</is>", text)? else {
                            return Ok(false);
                        };
                        value = Some(if s.is_empty() { Cell::Empty } else { Cell::Text(s.into()) });
                    } else {
                        // A formula, or something else quick-xml is left to read.
                        return Ok(false);
                    }
                }
            }
            let pos = match position {
                Some(p) => {
                    col = p.1;
                    p
                }
                None => (row, col),
            };
            col = col.saturating_add(1);
            out.push((pos.0, pos.1, value.unwrap_or(Cell::Empty)));
        }
    }
    *at = (row.saturating_add(1), 0);
    Ok(true)
}

/// A cursor over the bytes of one row.
struct Scan<'b> {
    bytes: &'b [u8],
    i: usize,
}

impl<'b> Scan<'b> {
    fn rest(&self) -> &'b [u8] {
        &self.bytes[self.i.min(self.bytes.len())..]
    }

    fn skip_whitespace(&mut self) {
        while self.bytes.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, token: &[u8]) -> bool {
        let found = self.rest().starts_with(token);
        if found {
            self.i += token.len();
        }
        found
    }

    /// The attributes of a start tag whose name was just passed, each given to `each` raw;
    /// then past its `>`. `Some(true)` for an empty element (`/>`), `None` for what it does not
    /// read (an attribute value with an escape, a malformed or cut tag).
    fn start_tag(
        &mut self,
        mut each: impl FnMut(&'b [u8], &'b [u8]) -> Result<()>,
    ) -> Result<Option<bool>> {
        loop {
            let before = self.i;
            self.skip_whitespace();
            match self.bytes.get(self.i) {
                Some(b'>') => {
                    self.i += 1;
                    return Ok(Some(false));
                }
                Some(b'/') if self.bytes.get(self.i + 1) == Some(&b'>') => {
                    self.i += 2;
                    return Ok(Some(true));
                }
                Some(_) if self.i > before => {}
                _ => return Ok(None),
            }
            let name_start = self.i;
            while self.bytes.get(self.i).is_some_and(|b| !matches!(b, b'=' | b' ' | b'>' | b'/')) {
                self.i += 1;
            }
            let name = &self.bytes[name_start..self.i];
            if name.is_empty() || !self.eat(b"=") {
                return Ok(None);
            }
            let Some(&quote @ (b'"' | b'\'')) = self.bytes.get(self.i) else {
                return Ok(None);
            };
            let value_start = self.i + 1;
            let Some(len) = memchr::memchr(quote, &self.bytes[value_start..]) else {
                return Ok(None);
            };
            let value = &self.bytes[value_start..value_start + len];
            if value.contains(&b'&') {
                return Ok(None);
            }
            self.i = value_start + len + 1;
            each(name, value)?;
        }
    }

    /// The text up to `closing`, decoded into `out`; `false` if it holds markup, a line end
    /// to normalise or an escape other than the five XML entities (quick-xml reads those).
    fn text_until(&mut self, closing: &[u8], out: &mut String) -> bool {
        let rest = self.rest();
        // Text holds no `<`: the first one must open the closing tag.
        let Some(len) = memchr::memchr(b'<', rest) else {
            return false;
        };
        if !rest[len..].starts_with(closing) {
            return false;
        }
        if !decode_text(&rest[..len], out) {
            return false;
        }
        self.i += len + closing.len();
        true
    }

    /// A string after `<is` or `<si`: `<t>` text `</t>` then `closing` and nothing else,
    /// trimmed unless `xml:space="preserve"`, Excel's escapes decoded, as [`read_string`]
    /// reads it; `None` for anything else (rich text, phonetic runs).
    fn simple_string(&mut self, closing: &[u8], text: &mut String) -> Result<Option<String>> {
        match self.start_tag(|_, _| Ok(()))? {
            Some(true) => return Ok(Some(String::new())),
            Some(false) => {}
            None => return Ok(None),
        }
        self.skip_whitespace();
        if self.eat(closing) {
            return Ok(Some(String::new()));
        }
        if !is_tag(self.rest(), b"t") {
            return Ok(None);
        }
        self.i += 2;
        let mut preserve = false;
        text.clear();
        match self.start_tag(|k, v| {
            if k == b"xml:space" {
                preserve = v == b"preserve";
            }
            Ok(())
        })? {
            Some(true) => {}
            Some(false) if self.text_until(b"</t>", text) => {}
            _ => return Ok(None),
        }
        self.skip_whitespace();
        if !self.eat(closing) {
            return Ok(None);
        }
        let value =
            if preserve { text.as_str() } else { text.trim_matches([' ', '\t', '\r', '\n']) };
        let mut out = String::with_capacity(value.len());
        unescape_excel(value, &mut out);
        Ok(Some(out))
    }
}

/// Decodes element text: UTF-8 with the five predefined entities. `false` for markup, a
/// carriage return (XML normalises line ends), a character reference or an unknown entity.
fn decode_text(raw: &[u8], out: &mut String) -> bool {
    let Ok(raw) = std::str::from_utf8(raw) else {
        return false;
    };
    let mut rest = raw;
    while let Some(i) = memchr::memchr3(b'&', b'<', b'\r', rest.as_bytes()) {
        out.push_str(&rest[..i]);
        if rest.as_bytes()[i] != b'&' {
            return false;
        }
        let after = &rest[i + 1..];
        let Some(end) = after.find(';') else {
            return false;
        };
        // The predefined entities, as quick-xml resolves them on its path.
        let Some(entity) = quick_xml::escape::resolve_xml_entity(&after[..end]) else {
            return false;
        };
        out.push_str(entity);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    true
}

/// Attribute bytes as text; what is not UTF-8 is malformed XML.
fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| Stop::Fallback("malformed XML"))
}

/// The value of a `<v>` element from its text; `None` for no value.
fn cell_value(
    context: &Context<'_>,
    v: &str,
    style: Option<usize>,
    typ: CellType,
) -> Result<Option<Cell>> {
    let text = |s: &str| if s.is_empty() { Cell::Empty } else { Cell::Text(s.into()) };
    Ok(Some(match typ {
        CellType::Inline => return Ok(None),
        CellType::Shared => {
            if v.is_empty() {
                return Ok(None);
            }
            let i = v.parse::<usize>().unwrap_or(0);
            match context.strings.get(i).ok_or(Stop::Fallback("string index"))? {
                "" => Cell::Empty,
                s => Cell::Text(s.into()),
            }
        }
        CellType::Bool => match v.trim() {
            "" => return Ok(None),
            t if t == "0" || t.eq_ignore_ascii_case("false") => Cell::Bool(false),
            t if t == "1" || t.eq_ignore_ascii_case("true") => Cell::Bool(true),
            _ => return Err(Stop::Fallback("boolean")),
        },
        CellType::Error => Cell::Error(
            v.parse::<CellErrorType>()
                .map_err(|_| Stop::Fallback("error value"))?
                .to_string()
                .into(),
        ),
        CellType::Date => return Err(Stop::Fallback("ISO date cell")),
        CellType::Str => text(&unescape_to_string(v)),
        CellType::Number | CellType::N => {
            if v.is_empty() {
                return Ok(None);
            }
            let Ok(n) = v.parse::<f64>() else {
                return match typ {
                    CellType::Number => Ok(Some(Cell::Text(v.into()))),
                    _ => Err(Stop::Fallback("number")),
                };
            };
            let format = match style {
                Some(s) => context.formats.get(s).copied(),
                None => Some(Format::Other),
            };
            let kind = match format {
                Some(Format::DateTime) => ExcelDateTimeType::DateTime,
                Some(Format::TimeDelta) => ExcelDateTimeType::TimeDelta,
                _ => return Ok(Some(Cell::Float(n))),
            };
            cell_from_excel_datetime(&ExcelDateTime::new(n, kind, context.is_1904))
        }
    }))
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
        let streamed =
            match read("t.xlsx", Cursor::new(bytes), &mut Progress::new("t.xlsx", &mut quiet)) {
                Ok(wb) => wb,
                Err(Stop::Fallback(why)) => panic!("fell back to calamine: {why}"),
                Err(Stop::Refused(e)) => panic!("refused: {e}"),
            };
        let mut quiet = |_, _| true;
        let calamine = read_xlsx_with_calamine(
            "t.xlsx",
            Cursor::new(bytes),
            &mut Progress::new("t.xlsx", &mut quiet),
        )
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
        let cells: Vec<Cell> =
            streamed.sheets[0].rows.iter().map(|r| r.cells.to_vec()[7].clone()).collect();
        assert!(cells.contains(&Cell::FormulaWithoutValue("1/0".into())), "{cells:?}");
        let Cell::DateTime(date) = &streamed.sheets[0].rows[1].cells.to_vec()[4] else {
            panic!("a date");
        };
        let iso = date.iso();
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
        let result = read("t.xlsx", Cursor::new(&iso), &mut Progress::new("t.xlsx", &mut quiet));
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

    #[test]
    fn the_hand_scanner_reads_typical_rows_itself() {
        let mut strings = SharedStrings::default();
        strings.push("shared").unwrap();
        let context = Context { strings: &strings, formats: &[Format::Other], is_1904: false };
        let (mut out, mut text) = (Vec::new(), String::new());
        let mut at = (0, 0);
        let row = br#"<row r="3" spans="1:4" x14ac:dyDescent="0.25"><c r="A3" t="s"><v>0</v></c><c r="C3" s="0"><v>1.5</v></c>
            <c t="inlineStr"><is><t xml:space="preserve"> R&amp;D &lt;x&gt; </t></is></c><c r="F3" s="0"/><c t="b"><v>1</v></c></row>"#;
        assert!(fast_row(row, &context, &mut at, &mut out, &mut text).unwrap());
        assert_eq!(
            out,
            [
                (2, 0, Cell::Text("shared".into())),
                (2, 2, Cell::Float(1.5)),
                (2, 3, Cell::Text(" R&D <x> ".into())),
                (2, 5, Cell::Empty),
                (2, 6, Cell::Bool(true)),
            ]
        );
        assert_eq!(at, (3, 0), "the next row follows");
        // What it leaves to quick-xml, with the position untouched.
        for odd in [
            &br#"<row r="4"><c r="A4"><f>1+1</f><v>2</v></c></row>"#[..],
            br#"<row r="4"><c r="A4" t="inlineStr"><is><r><t>rich</t></r></is></c></row>"#,
            br#"<row r="4"><c r="A4" t="str"><v>a&#10;b</v></c></row>"#,
            b"<row r=\"4\"><c r=\"A4\" t=\"str\"><v>a\r\nb</v></c></row>",
            br#"<row r="4"><c r="A4" a="&amp;"><v>1</v></c></row>"#,
            br#"<row r="4"><x:c r="A4"><v>1</v></x:c></row>"#,
        ] {
            assert!(!fast_row(odd, &context, &mut at, &mut out, &mut text).unwrap());
            assert_eq!(at, (3, 0));
        }
    }

    /// A named change to a part's XML.
    type Edit = fn(String) -> String;

    /// `base` with `edit` applied to the part `part` (which it must change).
    fn edited(base: &[u8], part: &str, what: &str, edit: Edit) -> Vec<u8> {
        patch_zip(base, |name, text| {
            if name != part {
                return text;
            }
            let edited = edit(text.clone());
            assert_ne!(edited, text, "{what}: the edit applies");
            edited
        })
    }

    #[test]
    fn rows_cut_across_reads_of_the_decompressor_read_as_calamine_reads_them() {
        // Several times CHUNK of sheet XML, so that rows straddle the reads.
        for constant_memory in [false, true] {
            let bytes = xlsx(|wb| {
                let ws = if constant_memory {
                    wb.add_worksheet_with_constant_memory().unwrap()
                } else {
                    wb.add_worksheet()
                };
                for r in 0..6000u32 {
                    ws.write(r, 0, format!("{r:08}")).unwrap();
                    ws.write(r, 1, format!("R&D <{r}> \"q\" 'a' _x000D_")).unwrap();
                    ws.write(r, 2, f64::from(r) * 0.5).unwrap();
                    ws.write(r, 3, r % 3 == 0).unwrap();
                    if r % 7 == 0 {
                        ws.write(r, 5, "  spaced  ").unwrap();
                    }
                }
            });
            let (streamed, calamine) = both(&bytes);
            assert_eq!(streamed, calamine, "constant memory: {constant_memory}");
            assert_eq!(streamed.sheets[0].rows.len(), 5999, "a header and 5999 rows");
        }
    }

    #[test]
    fn markup_the_hand_scanner_leaves_to_quick_xml_reads_as_calamine_reads_it() {
        let base = xlsx(|wb| {
            every_kind(wb, true);
            wb.add_worksheet().set_name("Empty").unwrap();
        });
        let edits: [(&str, Edit); 5] = [
            ("a comment hiding a row end", |t| {
                t.replacen("<c r=\"B3\"", "<!-- </row> --><c r=\"B3\"", 1)
            }),
            ("whitespace between elements", |t| {
                t.replace("><c ", ">\n  <c ").replace("</row>", "\n</row>\n")
            }),
            ("a namespace prefix", |t| {
                t.replace(
                    "<sheetData>",
                    "<x:sheetData xmlns:x=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">",
                )
                .replace("</sheetData>", "</x:sheetData>")
            }),
            ("a line end and a character reference", |t| {
                t.replacen("line\nbreak", "line\r\nbreak", 1).replacen("padded", "pad&#100;ed", 1)
            }),
            ("a comment between rows", |t| t.replacen("<row r=\"5\"", "<!-- x --><row r=\"5\"", 1)),
        ];
        for (what, edit) in edits {
            let bytes = edited(&base, "xl/worksheets/sheet1.xml", what, edit);
            let (streamed, calamine) = both(&bytes);
            assert_eq!(streamed, calamine, "{what}");
            assert!(streamed.sheets[0].rows.len() >= 7, "{what}");
        }
    }

    #[test]
    fn shared_strings_the_hand_scanner_leaves_to_quick_xml_read_as_calamine_reads_them() {
        let base = xlsx(|wb| every_kind(wb, false));
        let edits: [(&str, Edit); 4] = [
            ("whitespace between strings", |t| t.replace("<si>", "\n  <si>")),
            ("a comment", |t| t.replacen("<si>", "<!-- </si> --><si>", 1)),
            ("a line end in a string", |t| t.replacen("line\nbreak", "line\r\nbreak", 1)),
            ("a phonetic run", |t| {
                t.replacen("<t>00123</t>", "<t>00123</t><rPh sb=\"0\" eb=\"1\"><t>x</t></rPh>", 1)
            }),
        ];
        for (what, edit) in edits {
            let bytes = edited(&base, "xl/sharedStrings.xml", what, edit);
            let (streamed, calamine) = both(&bytes);
            assert_eq!(streamed, calamine, "{what}");
        }
        let strings = fast_shared_strings(
            br#"<?xml version="1.0"?><sst count="3"><si><t>a &amp; b</t></si><si><t xml:space="preserve"> c </t></si><si><r><t>ri</t></r><r><t>ch</t></r></si></sst>"#,
        )
        .unwrap()
        .unwrap();
        let strings: Vec<&str> = (0..3).filter_map(|i| strings.get(i)).collect();
        assert_eq!(strings, ["a & b", " c ", "rich"]);
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
