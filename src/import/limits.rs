//! Limits on what an uploaded file may ask of the machine (SPEC section 9).
//!
//! Every limit is checked *before* the data it protects is materialised, so a hostile or
//! damaged file is refused quickly and in bounded memory:
//!
//! | limit | checked on | before |
//! |---|---|---|
//! | [`MAX_FILE_BYTES`] | the file's size | reading it |
//! | [`MAX_ZIP_ENTRIES`] | the zip's end-of-central-directory record | parsing the directory |
//! | [`MAX_UNCOMPRESSED_BYTES`] | the declared sizes of every zip entry | decompressing any |
//! | [`MAX_COMPRESSION_RATIO`] | each entry declaring more than [`RATIO_CHECKED_ABOVE`] | decompressing it |
//! | [`MAX_ROWS`], [`MAX_COLUMNS`] | `.xlsx`: the sheet's `<dimension>`, then each cell read | keeping it |
//! | [`MAX_CELLS`] | `.xlsx`, CSV: non-empty cells kept; any sheet: data rows times columns | keeping them; aligning a row |
//! | [`MAX_GRID_CELLS`] | `.xls`, `.ods`: the bounding box of every sheet, from a pre-scan | calamine builds its dense grids |
//! | [`MAX_CELL_CHARS`] | each text cell | keeping it |
//!
//! Declared zip sizes can be trusted as upper bounds: the `zip` crate fails a read as soon as
//! an entry inflates past its declared size. `.xlsx` sheets are streamed cell by cell, so
//! their memory grows with the cells that hold something, never with the declared grid.

use std::io::{Read, Seek};

use zip::ZipArchive;

use super::invalid;
use crate::error::Result;

/// The largest file read: 512 MiB. A workbook of a million identities is far smaller.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// The most entries a workbook archive may hold. Real workbooks hold tens; each entry of the
/// central directory costs memory before anything else can be checked.
pub const MAX_ZIP_ENTRIES: u64 = 10_000;

/// The most bytes all entries of a workbook archive may expand to: 2 GiB. idbulk's own full
/// template of a million identities expands to about 1.2 GiB (inline strings), and must be
/// readable back; sheets are streamed, so this bounds time, not memory.
pub const MAX_UNCOMPRESSED_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The highest compression ratio (expanded / compressed) allowed for a large entry. Sheet XML
/// compresses about 10 to 20 times; a zip bomb a thousand times.
pub const MAX_COMPRESSION_RATIO: u64 = 100;

/// Entries declaring at most this many bytes (16 MiB) are not ratio-checked: a small part
/// made of repeated bytes is harmless.
pub const RATIO_CHECKED_ABOVE: u64 = 16 * 1024 * 1024;

/// The most rows a sheet may have (Excel's own limit is 1,048,576; CSV files have none).
pub const MAX_ROWS: u32 = 2_000_000;

/// The most columns a sheet may use. A schema has tens of columns.
pub const MAX_COLUMNS: u32 = 500;

/// The most non-empty cells an `.xlsx` workbook or a CSV file may hold: thirty million, a
/// million identities of thirty columns (issue 6 asks for a million). Both are streamed, so
/// memory grows with the cells kept: 24 bytes each, plus any text longer than 24 bytes. A
/// sheet's data rows times its columns may not exceed it either, as each row is aligned to
/// hold a cell per column.
pub const MAX_CELLS: u64 = 30_000_000;

/// The largest area the sheets of an `.xls` or `.ods` workbook may span together (ten
/// million cells). calamine reads those formats into dense grids that cost memory for every
/// cell of the area, empty or not, so their limit is lower.
pub const MAX_GRID_CELLS: u64 = 10_000_000;

/// The most characters in one cell: Excel's own limit.
pub const MAX_CELL_CHARS: usize = 32_767;

/// Refuses a file larger than [`MAX_FILE_BYTES`] or empty.
pub(crate) fn check_file_size(name: &str, size: u64) -> Result<()> {
    if size == 0 {
        return Err(invalid(format!("{name} is empty (0 bytes): choose the file again.")));
    }
    if size > MAX_FILE_BYTES {
        return Err(invalid(format!(
            "{name} is {}, larger than the {} idbulk reads: split it into smaller files.",
            human_bytes(size),
            human_bytes(MAX_FILE_BYTES)
        )));
    }
    Ok(())
}

/// The number of entries a zip archive declares, read from its end-of-central-directory
/// record (and the ZIP64 one when the count overflows 16 bits), without parsing the
/// directory. `None` when there is no such record: the archive is truncated or damaged.
/// Reads only the end of the archive (and the ZIP64 record), so it works on a file as well.
pub(crate) fn zip_entry_count<R: Read + Seek>(archive: &mut R) -> Option<u64> {
    use std::io::SeekFrom;
    const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    const ZIP64_LOCATOR: [u8; 4] = [0x50, 0x4b, 0x06, 0x07];
    const ZIP64_EOCD: [u8; 4] = [0x50, 0x4b, 0x06, 0x06];
    // The record is 22 bytes plus a comment of at most 65,535 bytes, at the very end.
    let len = archive.seek(SeekFrom::End(0)).ok()?;
    let window = len.min(22 + 65_535);
    archive.seek(SeekFrom::Start(len - window)).ok()?;
    let mut tail = vec![0; usize::try_from(window).ok()?];
    archive.read_exact(&mut tail).ok()?;
    let pos = (0..=tail.len().checked_sub(22)?).rev().find(|&p| tail[p..p + 4] == EOCD)?;
    let count = u64::from(u16::from_le_bytes([tail[pos + 10], tail[pos + 11]]));
    if count != 0xFFFF {
        return Some(count);
    }
    let locator = pos.checked_sub(20)?;
    if tail[locator..locator + 4] != ZIP64_LOCATOR {
        return Some(count);
    }
    let offset = u64::from_le_bytes(tail[locator + 8..locator + 16].try_into().ok()?);
    if offset.checked_add(40)? > len {
        return None;
    }
    let mut record = [0; 40];
    archive.seek(SeekFrom::Start(offset)).ok()?;
    archive.read_exact(&mut record).ok()?;
    if record[..4] != ZIP64_EOCD {
        return None;
    }
    Some(u64::from_le_bytes(record[32..40].try_into().ok()?))
}

/// Refuses an archive that would expand beyond the limits, from the sizes its central
/// directory declares (which bound what can be read, see the module docs).
pub(crate) fn check_zip<R: Read + Seek>(name: &str, archive: &mut ZipArchive<R>) -> Result<()> {
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| {
            invalid(format!("{name} is a damaged zip archive (entry {i}: {e}): save it again."))
        })?;
        let size = entry.size();
        let compressed = entry.compressed_size().max(1);
        if size > RATIO_CHECKED_ABOVE && size / compressed > MAX_COMPRESSION_RATIO {
            return Err(invalid(format!(
                "{name} is refused: its part {} would expand {} times, to {}. This is how a \
                 \"zip bomb\" looks; a real workbook never compresses that much. Save the data \
                 into a new workbook.",
                entry.name().unwrap_or_default(),
                size / compressed,
                human_bytes(size)
            )));
        }
        total = total.saturating_add(size);
    }
    if total > MAX_UNCOMPRESSED_BYTES {
        return Err(invalid(format!(
            "{name} is refused: it would expand to {} when opened, more than the {} idbulk \
             reads. It may be damaged or a \"zip bomb\"; a workbook of identities is far \
             smaller. Split it or save the data into a new workbook.",
            human_bytes(total),
            human_bytes(MAX_UNCOMPRESSED_BYTES)
        )));
    }
    Ok(())
}

/// `1.5 GiB`, `12 MiB`, `900 bytes`: a size for people.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            let value = n as f64 / size as f64;
            let shown = if value >= 10.0 { format!("{value:.0}") } else { format!("{value:.2}") };
            let shown = if shown.contains('.') {
                shown.trim_end_matches('0').trim_end_matches('.')
            } else {
                &shown
            };
            return format!("{shown} {unit}");
        }
    }
    format!("{n} bytes")
}

/// `12,345`: a count for people.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::test_support::{Entry, handmade_zip};
    use std::io::{Cursor, Write};

    #[test]
    fn sizes_and_counts_read_well() {
        assert_eq!(human_bytes(512 * 1024 * 1024), "512 MiB");
        assert_eq!(human_bytes(1536 * 1024 * 1024), "1.5 GiB");
        assert_eq!(human_bytes(900), "900 bytes");
        assert_eq!(human_bytes(1040 << 20), "1.02 GiB");
        assert_eq!(human_bytes(40_000), "39 KiB");
        assert_eq!(thousands(2_000_000), "2,000,000");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn empty_and_oversized_files_are_refused_before_reading() {
        assert!(check_file_size("a.csv", 0).unwrap_err().message.contains("is empty"));
        let e = check_file_size("a.xlsx", MAX_FILE_BYTES + 1).unwrap_err();
        assert!(e.message.contains("larger than the 512 MiB"), "{}", e.message);
        assert!(check_file_size("a.xlsx", MAX_FILE_BYTES).is_ok());
    }

    #[test]
    fn the_entry_count_is_read_from_the_end_record() {
        let zip = handmade_zip(&[
            Entry::stored("a", b"x"),
            Entry::stored("b", b"y"),
            Entry::stored("c", b""),
        ]);
        let count = |bytes: &[u8]| zip_entry_count(&mut Cursor::new(bytes));
        assert_eq!(count(&zip), Some(3));
        assert_eq!(count(&zip[..zip.len() - 10]), None, "truncated end record");
        assert_eq!(count(b"PK\x03\x04"), None);
    }

    #[test]
    fn a_declared_two_gigabyte_sheet_is_refused_without_inflating_it() {
        // The central directory says 2 GiB; the data is a few bytes. The check must trust the
        // declaration (which the zip reader enforces) and never try to inflate.
        let zip = handmade_zip(&[
            Entry::stored("[Content_Types].xml", b"<Types/>"),
            Entry::stored("xl/workbook.xml", b"<workbook/>"),
            Entry::stored("xl/worksheets/sheet1.xml", b"<worksheet/>").declaring(2 << 30),
        ]);
        let mut archive = ZipArchive::new(Cursor::new(&zip[..])).unwrap();
        let e = check_zip("bomb.xlsx", &mut archive).unwrap_err();
        assert!(e.message.contains("zip bomb"), "{}", e.message);
        assert!(e.message.contains("2 GiB"), "{}", e.message);
    }

    #[test]
    fn a_real_highly_compressed_sheet_is_refused_by_its_ratio() {
        // 64 MiB of zeros, deflated while being written: the archive stays about 64 KiB.
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6));
        writer.start_file("xl/worksheets/sheet1.xml", options).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..64 {
            writer.write_all(&chunk).unwrap();
        }
        let zip = writer.finish().unwrap().into_inner();
        assert!(zip.len() < 256 << 10, "the test archive itself stays small: {}", zip.len());
        let mut archive = ZipArchive::new(Cursor::new(&zip[..])).unwrap();
        let e = check_zip("bomb.xlsx", &mut archive).unwrap_err();
        assert!(e.message.contains("would expand"), "{}", e.message);
        assert!(e.message.contains("xl/worksheets/sheet1.xml"), "{}", e.message);
    }

    #[test]
    fn many_parts_adding_up_beyond_the_cap_are_refused() {
        // Each part is small enough to escape the ratio check; together they exceed 2 GiB.
        let entries: Vec<Entry> = (0..129)
            .map(|i| {
                Entry::stored(&format!("xl/worksheets/sheet{i}.xml"), b"<x/>")
                    .declaring(RATIO_CHECKED_ABOVE)
            })
            .collect();
        let zip = handmade_zip(&entries);
        let mut archive = ZipArchive::new(Cursor::new(&zip[..])).unwrap();
        let e = check_zip("many.xlsx", &mut archive).unwrap_err();
        assert!(e.message.contains("would expand to 2.02 GiB when opened"), "{}", e.message);
        assert!(e.message.contains("more than the 2 GiB"), "{}", e.message);
    }

    #[test]
    fn ordinary_archives_pass() {
        let zip = handmade_zip(&[Entry::stored("a.xml", &[b'a'; 4096])]);
        let mut archive = ZipArchive::new(Cursor::new(&zip[..])).unwrap();
        assert!(check_zip("ok.xlsx", &mut archive).is_ok());
    }
}
