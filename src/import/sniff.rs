//! Sniffing: what a file really is, from its bytes, never from its name (SPEC section 9).
//!
//! The order matters: container formats first (zip, then OLE2), then well-known magic numbers
//! of things people upload by mistake, then markup that Excel itself saves under spreadsheet
//! extensions (HTML, MHTML, SpreadsheetML 2003), and last the text test that admits CSV.

use std::io::{Cursor, Read, Seek};

use zip::ZipArchive;

use super::cfb::{self, CompoundFile};
use super::{invalid, limits};
use crate::error::{Error, Result};

/// What a file turned out to be, when it is something idbulk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    /// `.xlsx` or `.xlsm`.
    Xlsx,
    /// `.xls` (BIFF5 or BIFF8 in an OLE2 file).
    Xls,
    /// `.ods`.
    Ods,
    /// Text, to be read as CSV.
    Text,
}

const ODS_MIMETYPE: &str = "application/vnd.oasis.opendocument.spreadsheet";

/// Decides what `bytes` hold. `name` is only used in messages.
pub(crate) fn sniff(name: &str, bytes: &[u8]) -> Result<Sniffed> {
    if bytes.is_empty() {
        return Err(invalid(format!("{name} is empty (0 bytes): choose the file again.")));
    }
    if is_zip(bytes) {
        return sniff_zip(name, Cursor::new(bytes));
    }
    if bytes.starts_with(&cfb::MAGIC) {
        return sniff_compound_file(name, bytes);
    }
    if let Some(what) = magic(bytes) {
        return Err(not_a_spreadsheet(name, what));
    }
    if let Some(error) = markup(name, bytes) {
        return Err(error);
    }
    if looks_binary(bytes) {
        return Err(invalid(format!(
            "{name} is neither a spreadsheet nor a text (CSV) file. Upload an .xlsx, .xlsm, \
             .xls, .ods or .csv file; a CSV file in UTF-16 needs its byte-order mark (Excel's \
             \"Unicode Text\" has one)."
        )));
    }
    Ok(Sniffed::Text)
}

/// Whether a file starting with `head` is a zip archive.
pub(crate) fn is_zip(head: &[u8]) -> bool {
    head.len() >= 4 && head[..2] == *b"PK" && matches!(head[2..4], [3, 4] | [5, 6] | [7, 8])
}

fn not_a_spreadsheet(name: &str, what: &str) -> Error {
    invalid(format!(
        "{name} is {what}, not a spreadsheet. Upload an .xlsx, .xlsm, .xls, .ods or .csv file."
    ))
}

fn save_as_xlsx(name: &str, what: &str) -> Error {
    invalid(format!(
        "{name} is {what}, which idbulk does not read: open it in Excel or LibreOffice and save \
         it as an Excel workbook (.xlsx)."
    ))
}

fn password_protected(name: &str) -> Error {
    invalid(format!(
        "{name} is protected by a password, so idbulk cannot read it. Open it, remove the \
         password (in Excel: File > Info > Protect Workbook > Encrypt with Password, then clear \
         the password), save it and upload it again."
    ))
}

fn damaged(name: &str, detail: &str) -> Error {
    invalid(format!(
        "{name} is damaged or incomplete ({detail}); was the download or copy interrupted? Save \
         the workbook again and upload the new file."
    ))
}

/// What a zip archive holds; reads only its directory and a few small parts, so `archive` may
/// be the file itself.
pub(crate) fn sniff_zip<R: Read + Seek>(name: &str, mut archive: R) -> Result<Sniffed> {
    let count = limits::zip_entry_count(&mut archive)
        .ok_or_else(|| damaged(name, "its zip directory is missing"))?;
    if count > limits::MAX_ZIP_ENTRIES {
        return Err(invalid(format!(
            "{name} is refused: its archive holds {} parts, more than the {} idbulk accepts. A \
             workbook holds a few dozen; save the data into a new workbook.",
            limits::thousands(count),
            limits::thousands(limits::MAX_ZIP_ENTRIES)
        )));
    }
    let mut archive = ZipArchive::new(archive)
        .map_err(|e| damaged(name, &format!("its zip archive cannot be opened: {e}")))?;
    let has = |archive: &ZipArchive<_>, entry: &str| archive.index_for_name(entry).is_some();
    let sniffed = if has(&archive, "[Content_Types].xml") {
        if has(&archive, "xl/workbook.xml") {
            Sniffed::Xlsx
        } else if has(&archive, "xl/workbook.bin") {
            return Err(invalid(format!(
                "{name} is a binary workbook (.xlsb), which is not supported: open it in Excel \
                 and save it as .xlsx."
            )));
        } else if has(&archive, "word/document.xml") {
            return Err(not_a_spreadsheet(name, "a Word document"));
        } else if has(&archive, "ppt/presentation.xml") {
            return Err(not_a_spreadsheet(name, "a PowerPoint presentation"));
        } else {
            return Err(not_a_spreadsheet(name, "an Office document without a workbook"));
        }
    } else if let Some(mime) = small_entry(&mut archive, "mimetype", 256) {
        let mime = String::from_utf8_lossy(&mime).trim().to_string();
        if mime.starts_with(ODS_MIMETYPE) {
            Sniffed::Ods
        } else if let Some(kind) = mime.strip_prefix("application/vnd.oasis.opendocument.") {
            let what = match kind.split('-').next().unwrap_or(kind) {
                "text" => "an OpenDocument text document",
                "presentation" => "an OpenDocument presentation",
                "graphics" => "an OpenDocument drawing",
                _ => "an OpenDocument file",
            };
            return Err(not_a_spreadsheet(name, what));
        } else {
            return Err(not_a_spreadsheet(name, "a zip archive"));
        }
    } else {
        return Err(not_a_spreadsheet(name, "a zip archive"));
    };
    limits::check_zip(name, &mut archive)?;
    if sniffed == Sniffed::Ods
        && small_entry(&mut archive, "META-INF/manifest.xml", 1 << 20)
            .is_some_and(|m| String::from_utf8_lossy(&m).contains("encryption-data"))
    {
        return Err(password_protected(name));
    }
    Ok(sniffed)
}

/// The first `limit` bytes of an entry, or `None` when it is absent or unreadable.
fn small_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    entry: &str,
    limit: u64,
) -> Option<Vec<u8>> {
    let file = archive.by_name(entry).ok()?;
    let mut out = Vec::new();
    file.take(limit).read_to_end(&mut out).ok()?;
    Some(out)
}

fn sniff_compound_file(name: &str, bytes: &[u8]) -> Result<Sniffed> {
    let cf = CompoundFile::parse(bytes)
        .map_err(|why| damaged(name, &format!("it is an Office 97-2003 file but {why}")))?;
    if cf.stream("EncryptedPackage").is_some() {
        return Err(password_protected(name));
    }
    if cf.stream("Workbook").is_some() || cf.stream("Book").is_some() {
        return Ok(Sniffed::Xls);
    }
    if cf.stream("WordDocument").is_some() {
        return Err(not_a_spreadsheet(name, "a Word 97-2003 document"));
    }
    if cf.stream("PowerPoint Document").is_some() {
        return Err(not_a_spreadsheet(name, "a PowerPoint 97-2003 presentation"));
    }
    Err(not_a_spreadsheet(name, "an Office 97-2003 file without a workbook"))
}

/// Formats recognised by their first bytes.
fn magic(bytes: &[u8]) -> Option<&'static str> {
    const MAGIC: [(&[u8], &str); 9] = [
        (b"%PDF-", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF87a", "a GIF image"),
        (b"GIF89a", "a GIF image"),
        (b"{\\rtf", "an RTF document"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"Rar!\x1A\x07", "a RAR archive"),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
    ];
    MAGIC.iter().find(|(m, _)| bytes.starts_with(m)).map(|(_, what)| *what)
}

/// The first few kilobytes as text, whatever the encoding, for the markup test.
fn text_prefix(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(8192)];
    if let Some(rest) = head.strip_prefix(&[0xFF, 0xFE]) {
        encoding_rs::UTF_16LE.decode_without_bom_handling(rest).0.into_owned()
    } else if let Some(rest) = head.strip_prefix(&[0xFE, 0xFF]) {
        encoding_rs::UTF_16BE.decode_without_bom_handling(rest).0.into_owned()
    } else {
        String::from_utf8_lossy(head).into_owned()
    }
}

/// HTML, MHTML and XML that Excel saves under spreadsheet names (or that a person renamed).
fn markup(name: &str, bytes: &[u8]) -> Option<Error> {
    let prefix = text_prefix(bytes);
    let head = prefix.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let head = head.to_ascii_lowercase();
    if head.starts_with("<?xml") || head.starts_with("<workbook") {
        if head.contains("urn:schemas-microsoft-com:office:spreadsheet")
            || head.contains("progid=\"excel.sheet\"")
        {
            return Some(save_as_xlsx(name, "an Excel 2003 XML spreadsheet (SpreadsheetML)"));
        }
        if head.contains("<html") {
            return Some(save_as_xlsx(name, "a web page (HTML)"));
        }
        return Some(not_a_spreadsheet(name, "an XML document"));
    }
    let html_start = ["<!doctype html", "<html", "<table", "<head", "<body", "<meta"];
    if html_start.iter().any(|s| head.starts_with(s))
        || (head.starts_with("<!--") && head.contains("<html"))
    {
        return Some(save_as_xlsx(name, "a web page (HTML)"));
    }
    if head.starts_with("mime-version:") {
        return Some(save_as_xlsx(name, "a web archive (MHTML)"));
    }
    None
}

/// Whether bytes without a UTF-16 byte-order mark are binary rather than text: any NUL byte,
/// or more than 1% control characters in the first 64 KiB.
fn looks_binary(bytes: &[u8]) -> bool {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return false;
    }
    if bytes.contains(&0) {
        return true;
    }
    let head = &bytes[..bytes.len().min(64 * 1024)];
    // Tab, line feed, form feed, carriage return and DOS's end-of-file mark occur in text.
    let controls =
        head.iter().filter(|&&b| (b < 0x20 && !matches!(b, 9 | 10 | 12 | 13 | 26)) || b == 0x7F);
    controls.count() * 100 > head.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::cfb::tests::compound_file;
    use crate::import::test_support::{Entry, handmade_zip, xlsx, zip_of};

    fn refused(name: &str, bytes: &[u8]) -> String {
        let e = sniff(name, bytes).unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidInput);
        e.message
    }

    #[test]
    fn real_workbooks_are_recognised_whatever_their_name() {
        let book = xlsx(|wb| {
            wb.add_worksheet().write(0, 0, "Identifier").unwrap();
        });
        assert_eq!(sniff("users.csv", &book).unwrap(), Sniffed::Xlsx);
        let ods = zip_of(&[("mimetype", ODS_MIMETYPE.as_bytes()), ("content.xml", b"<x/>")]);
        assert_eq!(sniff("users.xlsx", &ods).unwrap(), Sniffed::Ods);
        let xls = compound_file(&[("Workbook", &[0; 100])]);
        assert_eq!(sniff("users.xlsx", &xls).unwrap(), Sniffed::Xls);
        assert_eq!(sniff("users.xls", b"Identifier;LastName\n1;Doe\n").unwrap(), Sniffed::Text);
    }

    #[test]
    fn look_alikes_are_named_for_what_they_are() {
        let pdf = refused("X.xlsx", b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj");
        assert!(pdf.starts_with("X.xlsx is a PDF document, not a spreadsheet."), "{pdf}");
        let png = refused("X.xlsx", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        assert!(png.contains("is a PNG image"), "{png}");
        let html = refused(
            "X.xls",
            b"\xEF\xBB\xBF  <html xmlns:o=\"urn:schemas-microsoft-com:office:office\"><table>",
        );
        assert!(html.contains("is a web page (HTML)") && html.contains("save"), "{html}");
        let table = refused("X.xls", b"<TABLE><TR><TD>Identifier</TD></TR></TABLE>");
        assert!(table.contains("web page"), "{table}");
        let xml2003 = refused(
            "X.xls",
            b"<?xml version=\"1.0\"?>\n<?mso-application progid=\"Excel.Sheet\"?>\n<Workbook xmlns=\"urn:schemas-microsoft-com:office:spreadsheet\">",
        );
        assert!(xml2003.contains("Excel 2003 XML spreadsheet"), "{xml2003}");
        assert!(xml2003.contains("save it as an Excel workbook (.xlsx)"), "{xml2003}");
        let xml = refused("X.csv", b"<?xml version=\"1.0\"?><users/>");
        assert!(xml.contains("an XML document"), "{xml}");
        let mht = refused("X.xls", b"MIME-Version: 1.0\r\nContent-Type: multipart/related");
        assert!(mht.contains("web archive"), "{mht}");
        let utf16_html: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<html><body>".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert!(refused("X.xls", &utf16_html).contains("web page"));
    }

    #[test]
    fn binary_and_empty_files_are_refused() {
        assert!(refused("X.csv", b"").contains("is empty"));
        let exe = refused("X.csv", b"MZ\x90\0\x03\0\0\0\x04\0");
        assert!(exe.contains("neither a spreadsheet nor a text"), "{exe}");
        let controls: Vec<u8> = (0..200).map(|i| if i % 10 == 0 { 1 } else { b'a' }).collect();
        assert!(refused("X.csv", &controls).contains("neither"));
        let utf16_no_bom: Vec<u8> = "a,b\n".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        assert!(refused("X.csv", &utf16_no_bom).contains("byte-order mark"));
    }

    #[test]
    fn other_zips_and_office_files_are_refused_by_name() {
        let xlsb = zip_of(&[("[Content_Types].xml", b"<Types/>"), ("xl/workbook.bin", b"\0")]);
        let m = refused("X.xlsx", &xlsb);
        assert!(
            m.contains("binary workbook .xlsb") || m.contains("binary workbook (.xlsb)"),
            "{m}"
        );
        assert!(m.contains("save it as .xlsx"), "{m}");
        let docx = zip_of(&[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w/>")]);
        assert!(refused("X.xlsx", &docx).contains("is a Word document"));
        let odt = zip_of(&[("mimetype", b"application/vnd.oasis.opendocument.text")]);
        assert!(refused("X.ods", &odt).contains("OpenDocument text document"));
        let plain = zip_of(&[("notes.txt", b"hello")]);
        assert!(refused("X.xlsx", &plain).contains("is a zip archive, not a spreadsheet"));
        let doc = compound_file(&[("WordDocument", &[0; 10])]);
        assert!(refused("X.xls", &doc).contains("Word 97-2003 document"));
    }

    #[test]
    fn password_protected_workbooks_are_refused_with_the_way_out() {
        let encrypted =
            compound_file(&[("EncryptionInfo", &[4, 0, 4, 0]), ("EncryptedPackage", &[9; 700])]);
        let m = refused("Salaries.xlsx", &encrypted);
        assert!(m.starts_with("Salaries.xlsx is protected by a password"), "{m}");
        assert!(m.contains("Encrypt with Password"), "{m}");
        let ods = zip_of(&[
            ("mimetype", ODS_MIMETYPE.as_bytes()),
            ("META-INF/manifest.xml", b"<manifest:encryption-data manifest:checksum-type=\"x\"/>"),
        ]);
        assert!(refused("X.ods", &ods).contains("protected by a password"));
    }

    #[test]
    fn truncated_and_damaged_containers_are_refused() {
        let book = xlsx(|wb| {
            wb.add_worksheet().write(0, 0, "Identifier").unwrap();
        });
        let m = refused("X.xlsx", &book[..book.len() / 2]);
        assert!(m.contains("damaged or incomplete"), "{m}");
        let xls = compound_file(&[("Workbook", &[0; 2000])]);
        let m = refused("X.xls", &xls[..600]);
        assert!(m.contains("damaged or incomplete"), "{m}");
    }

    #[test]
    fn archives_with_too_many_parts_are_refused_before_their_directory_is_read() {
        let entries: Vec<Entry> =
            (0..=limits::MAX_ZIP_ENTRIES).map(|i| Entry::stored(&format!("{i}"), b"")).collect();
        let m = refused("X.xlsx", &handmade_zip(&entries));
        assert!(m.contains("10,001 parts"), "{m}");
    }
}
