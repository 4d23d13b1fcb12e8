//! Inputs the fuzzers (`fuzz/`, `scripts/fuzz`) found to crash the engine, rebuilt in code as
//! regression tests: each must now be refused with a clear message (exit status 1) and leave
//! the repository untouched. (A panic inside a third-party reader may still print its message
//! on stderr before the refusal; what matters is that the command ends with the refusal.)

use std::io::{Cursor, Read, Write};
use std::path::Path;

use crate::support::{USER_HEADERS, Workspace, row, write_workbook};

/// A one-row incremental `User` workbook whose first worksheet's XML went through `edit`.
fn workbook_with_sheet_xml(path: &Path, edit: impl Fn(String) -> String) {
    let mut cells = vec![String::new(); USER_HEADERS.len()];
    cells[0] = "Modify".into();
    cells[1] = "00001".into();
    write_workbook(path, &[("User".into(), vec![row(&USER_HEADERS), cells])]);
    let bytes = std::fs::read(path).unwrap();
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut part = archive.by_index(i).unwrap();
        let name = part.name().unwrap().to_string();
        let mut data = Vec::new();
        part.read_to_end(&mut data).unwrap();
        if name == "xl/worksheets/sheet1.xml" {
            let text = String::from_utf8(data).unwrap();
            let edited = edit(text.clone());
            assert_ne!(edited, text, "the edit changed the sheet");
            data = edited.into_bytes();
        }
        out.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(&data).unwrap();
    }
    std::fs::write(path, out.finish().unwrap().into_inner()).unwrap();
}

fn assert_refused_cleanly(ws: &Workspace, file: &Path) {
    let before = ws.dump();
    for command in ["plan", "sync"] {
        let out = ws.idbulk(&[command, file.to_str().unwrap(), "--mode", "incremental"]);
        let text = format!("{}{}", out.stdout, out.stderr);
        assert_eq!(out.status, 1, "`idbulk {command}` refuses the file (exit 1):\n{text}");
        let name = file.file_name().unwrap().to_str().unwrap();
        // Which words depends on the reader that refused it: calamine panics on some of these
        // inputs in debug builds and wraps a number in release builds, meeting a limit.
        let read = format!("idbulk: {name} could not be read");
        let refused = format!("idbulk: {name} is refused");
        assert!(text.contains(&read) || text.contains(&refused), "{text}");
    }
    assert_eq!(ws.dump(), before, "the repository is unchanged");
}

/// Fuzzing `xlsx_import` (crash-e8035fb2): a cell reference whose row number does not fit in
/// 32 bits (`r="A99999999999"`) overflowed a multiplication in calamine's reference parser
/// (a panic in debug builds, a wrapped row number in release builds). The streaming reader
/// reads it, and calamine is reached when the rest of the sheet is not well-formed XML.
#[test]
fn a_cell_reference_beyond_32_bits_is_refused_not_panicked_on() {
    let ws = Workspace::demo();
    let streamed = ws.path("huge-reference.xlsx");
    workbook_with_sheet_xml(&streamed, |xml| xml.replacen(r#" r="A2""#, r#" r="A99999999999""#, 1));
    assert_refused_cleanly(&ws, &streamed);

    let fallback = ws.path("huge-reference-malformed.xlsx");
    workbook_with_sheet_xml(&fallback, |xml| {
        xml.replacen(r#" r="A2""#, r#" r="A99999999999""#, 1).replacen(
            "</sheetData>",
            "</sheetData><bad attr=unquoted/>",
            1,
        )
    });
    assert_refused_cleanly(&ws, &fallback);
}
