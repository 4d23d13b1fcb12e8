//! Bad input (SPEC section 9): every kind of file or cell that must be refused, through the
//! CLI as a user meets it, `idbulk plan` then `idbulk sync`.
//!
//! Each test builds its input in code and hands it to [`assert_refused`], which checks for both
//! commands that the exit status is 1 (the input has errors), that the message names the file,
//! or the sheet, row and column, and that the repository file is byte for byte what it was
//! (SHA-256 of the `.db` file with no connection open) and holds the same rows.
//!
//! Contents:
//!
//! 1. Files that are not what their name says, or not readable: a PDF or a PNG renamed
//!    `.xlsx`, an empty file, a truncated workbook, a zip bomb, a password-protected workbook,
//!    a web page saved as `.xls`, a sheet or a cell beyond the limits.
//! 2. Excel damage in cells: formulas without a cached value, error cells, IDs in scientific
//!    notation, keys that lost their leading zeros, text turned into a date.
//! 3. Rows that cannot be applied: duplicate keys, manager cycles, a user managing themselves,
//!    deleting a user others still refer to, references to nothing, invisible characters in a
//!    key, `NULL_NULL` where it may not go, unknown or blank commands.
//! 4. Formula-like values survive export then import, in xlsx and CSV, as an empty plan.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook, Worksheet};
use sha2::{Digest, Sha256};

use crate::support::{USER_HEADERS, Workspace, read_workbook, row, write_workbook};

/// The 0-based column of a `User` header, for cells written with a type.
fn column(header: &str) -> u16 {
    USER_HEADERS.iter().position(|h| *h == header).unwrap() as u16
}

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `idbulk plan` then `idbulk sync` on `file`: both must exit 1 and print every text of
/// `expected`, and the repository must be unchanged, byte for byte and row for row.
/// Returns what `plan` printed.
fn assert_refused(ws: &Workspace, file: &Path, mode: &str, expected: &[&str]) -> String {
    let rows = ws.dump(); // opens and closes the repository: no connection is left open
    let wal = ws.db.with_extension("db-wal");
    assert!(!wal.exists(), "no connection holds the repository while it is hashed");
    let hash = sha256(&ws.db);
    let mut printed = Vec::new();
    for command in ["plan", "sync"] {
        let out = ws.idbulk(&[command, file.to_str().unwrap(), "--mode", mode]);
        let text = format!("{}{}", out.stdout, out.stderr);
        assert_eq!(out.status, 1, "`idbulk {command}` exits 1 for an input error:\n{text}");
        for e in expected {
            assert!(text.contains(e), "`idbulk {command}` says {e:?}:\n{text}");
        }
        printed.push(text);
    }
    assert!(!wal.exists(), "the CLI closed the repository");
    assert_eq!(sha256(&ws.db), hash, "the repository file is byte for byte unchanged");
    assert_eq!(ws.dump(), rows, "the repository holds the same rows");
    printed.swap_remove(0)
}

/// A workbook with one `User` sheet: the incremental headers, then `rows` as text cells, then
/// whatever `special` writes (typed cells, formulas).
fn user_workbook(path: &Path, rows: &[&[&str]], special: impl FnOnce(&mut Worksheet)) {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet().set_name("User").unwrap();
    for (c, h) in USER_HEADERS.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (r, cells) in rows.iter().enumerate() {
        for (c, v) in cells.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
            }
        }
    }
    special(ws);
    wb.save(path).unwrap();
}

/// An incremental `User` sheet of text cells, saved as `name` in the workspace.
fn incremental(ws: &Workspace, name: &str, rows: &[&[&str]]) -> std::path::PathBuf {
    let path = ws.path(name);
    user_workbook(&path, rows, |_| {});
    path
}

/// The zip archive with `edit(part name, bytes)` applied to every part, rewritten as another
/// program would write it.
fn rezip(zip: &[u8], edit: impl Fn(&str, Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut part = archive.by_index(i).unwrap();
        let name = part.name().unwrap().to_string();
        let mut data = Vec::new();
        part.read_to_end(&mut data).unwrap();
        out.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(&edit(&name, data)).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// `edit` applied to the text of the first worksheet of an `.xlsx` file, in place.
fn edit_first_sheet(path: &Path, edit: impl Fn(String) -> String) {
    let bytes = std::fs::read(path).unwrap();
    let edited = rezip(&bytes, |name, data| {
        if name == "xl/worksheets/sheet1.xml" {
            let text = String::from_utf8(data).unwrap();
            let new = edit(text.clone());
            assert_ne!(new, text, "the edit changed the sheet:\n{text}");
            new.into_bytes()
        } else {
            data
        }
    });
    std::fs::write(path, edited).unwrap();
}

/// A full template of the workspace's repository, as the user downloads it.
fn full_template(ws: &Workspace, name: &str) -> std::path::PathBuf {
    let path = ws.path(name);
    let out = ws.idbulk(&["template", "--full", "-o", path.to_str().unwrap()]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    path
}

// 1. Files -----------------------------------------------------------------------------------

#[test]
fn a_pdf_renamed_xlsx_is_named_for_what_it_is() {
    let ws = Workspace::demo();
    let file = ws.path("Users.xlsx");
    std::fs::write(&file, b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
        .unwrap();
    assert_refused(&ws, &file, "complete", &["Users.xlsx is a PDF document, not a spreadsheet"]);
}

#[test]
fn a_png_renamed_xlsx_is_named_for_what_it_is() {
    let ws = Workspace::demo();
    let file = ws.path("Users.xlsx");
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0".to_vec();
    png.extend([0x1f, 0xf3, 0xff, 0x61]);
    std::fs::write(&file, png).unwrap();
    assert_refused(&ws, &file, "incremental", &["Users.xlsx is a PNG image, not a spreadsheet"]);
}

#[test]
fn an_empty_file_is_refused() {
    let ws = Workspace::demo();
    let file = ws.path("Users.xlsx");
    std::fs::write(&file, b"").unwrap();
    assert_refused(&ws, &file, "complete", &["Users.xlsx is empty (0 bytes)"]);
}

#[test]
fn a_truncated_workbook_is_refused_as_damaged() {
    let ws = Workspace::demo();
    let full = std::fs::read(full_template(&ws, "full.xlsx")).unwrap();
    let file = ws.path("Users.xlsx");
    std::fs::write(&file, &full[..full.len() / 2]).unwrap();
    assert_refused(
        &ws,
        &file,
        "complete",
        &["Users.xlsx is damaged or incomplete", "was the download or copy interrupted?"],
    );
}

/// The archive with the uncompressed size of one part declared as `size`, in its central
/// directory record and its local header, the rest untouched: what a zip bomb claims.
fn declare_size(zip: &mut [u8], part: &str, size: u32) {
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as usize;
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
    let end = zip.len() - 22; // end of central directory record, no comment
    assert_eq!(&zip[end..end + 4], b"PK\x05\x06");
    let (entries, mut at) = (u16_at(zip, end + 10), u32_at(zip, end + 16));
    for _ in 0..entries {
        assert_eq!(&zip[at..at + 4], b"PK\x01\x02");
        let name_len = u16_at(zip, at + 28);
        let next = at + 46 + name_len + u16_at(zip, at + 30) + u16_at(zip, at + 32);
        if &zip[at + 46..at + 46 + name_len] == part.as_bytes() {
            let local = u32_at(zip, at + 42);
            zip[at + 24..at + 28].copy_from_slice(&size.to_le_bytes());
            zip[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
            return;
        }
        at = next;
    }
    panic!("no part {part} in the archive");
}

#[test]
fn a_zip_bomb_is_refused_from_its_declared_sizes() {
    let ws = Workspace::demo();
    let mut bytes = std::fs::read(full_template(&ws, "full.xlsx")).unwrap();
    declare_size(&mut bytes, "xl/worksheets/sheet1.xml", 4_000_000_000);
    let file = ws.path("Users.xlsx");
    std::fs::write(&file, bytes).unwrap();
    assert_refused(
        &ws,
        &file,
        "complete",
        &["Users.xlsx is refused", "xl/worksheets/sheet1.xml would expand", "zip bomb"],
    );
}

/// A minimal OLE2 compound file (version 3, 512-byte sectors) holding the given streams, the
/// container Excel puts a password-protected workbook in (`EncryptionInfo`, `EncryptedPackage`).
fn compound_file(streams: &[(&str, &[u8])]) -> Vec<u8> {
    const SECTOR: usize = 512;
    const END: u32 = 0xFFFF_FFFE;
    // Sector 0 holds the allocation table, sector 1 the directory, then each stream.
    assert!(streams.len() < 4, "one directory sector holds four entries");
    let mut fat: Vec<u32> = vec![0xFFFF_FFFD, END];
    let mut data = Vec::new();
    let mut starts = Vec::new();
    for (_, bytes) in streams {
        let sectors = bytes.len().div_ceil(SECTOR).max(1);
        starts.push(fat.len() as u32);
        for i in 0..sectors {
            let next = fat.len() as u32 + 1;
            fat.push(if i + 1 == sectors { END } else { next });
        }
        let mut padded = bytes.to_vec();
        padded.resize(sectors * SECTOR, 0);
        data.extend(padded);
    }
    fat.resize(SECTOR / 4, 0xFFFF_FFFF);
    let mut header = vec![0u8; SECTOR];
    header[..8].copy_from_slice(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
    for (at, v) in [(0x18, 0x3Eu16), (0x1A, 3), (0x1C, 0xFFFE), (0x1E, 9), (0x20, 6)] {
        header[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    // One FAT sector (sector 0), the directory at sector 1, no mini stream, no DIFAT chain.
    for (at, v) in [(0x2C, 1u32), (0x30, 1), (0x38, 0), (0x3C, END), (0x44, END), (0x4C, 0)] {
        header[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    for i in 1..109 {
        header[0x4C + 4 * i..0x50 + 4 * i].copy_from_slice(&u32::MAX.to_le_bytes());
    }
    let entry = |name: &str, kind: u8, start: u32, size: usize| {
        let mut raw = vec![0u8; 128];
        let units: Vec<u16> = name.encode_utf16().chain([0]).collect();
        for (i, u) in units.iter().enumerate() {
            raw[2 * i..2 * i + 2].copy_from_slice(&u.to_le_bytes());
        }
        raw[0x40..0x42].copy_from_slice(&((units.len() * 2) as u16).to_le_bytes());
        raw[0x42] = kind;
        raw[0x74..0x78].copy_from_slice(&start.to_le_bytes());
        raw[0x78..0x80].copy_from_slice(&(size as u64).to_le_bytes());
        raw
    };
    let mut directory = entry("Root Entry", 5, END, 0);
    for ((name, bytes), start) in streams.iter().zip(starts) {
        directory.extend(entry(name, 2, start, bytes.len()));
    }
    directory.resize(SECTOR, 0);
    let mut out = header;
    out.extend(fat.iter().flat_map(|v| v.to_le_bytes()));
    out.extend(directory);
    out.extend(data);
    out
}

#[test]
fn a_password_protected_workbook_is_refused_with_the_way_out() {
    let ws = Workspace::demo();
    let file = ws.path("Salaries.xlsx");
    let info = [4u8, 0, 4, 0, 0x40, 0, 0, 0];
    let package: Vec<u8> = (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(
        &file,
        compound_file(&[("EncryptionInfo", &info), ("EncryptedPackage", &package)]),
    )
    .unwrap();
    assert_refused(
        &ws,
        &file,
        "incremental",
        &["Salaries.xlsx is protected by a password", "Encrypt with Password"],
    );
}

#[test]
fn a_web_page_saved_as_xls_is_refused_with_the_way_out() {
    let ws = Workspace::demo();
    let file = ws.path("Users.xls");
    let html = "<html xmlns:o=\"urn:schemas-microsoft-com:office:office\"\r\n\
        xmlns:x=\"urn:schemas-microsoft-com:office:excel\">\r\n<head><meta name=ProgId \
        content=Excel.Sheet></head>\r\n<body><table><tr><td>Identifier</td><td>LastName</td></tr>\
        <tr><td>00001</td><td>Doe</td></tr></table></body></html>\r\n";
    std::fs::write(&file, html).unwrap();
    assert_refused(
        &ws,
        &file,
        "complete",
        &["Users.xls is a web page (HTML)", "save it as an Excel workbook (.xlsx)"],
    );
}

#[test]
fn a_sheet_declaring_a_giant_grid_is_refused_before_its_cells_are_read() {
    let ws = Workspace::demo();
    let file = ws.path("Users.xlsx");
    user_workbook(&file, &[&["Modify", "00010", "", "", "", "", "", "", "", "MAD"]], |_| {});
    edit_first_sheet(&file, |xml| {
        let start = xml.find("<dimension ref=\"").unwrap() + "<dimension ref=\"".len();
        let end = start + xml[start..].find('"').unwrap();
        format!("{}A1:XFD1048576{}", &xml[..start], &xml[end..])
    });
    assert_refused(
        &ws,
        &file,
        "incremental",
        &["Users.xlsx is refused: sheet User declares cells up to XFD1048576"],
    );
}

#[test]
fn a_cell_longer_than_excel_allows_is_refused_naming_it() {
    let ws = Workspace::demo();
    let file = ws.path("User.csv");
    let long = "x".repeat(40_000);
    std::fs::write(&file, format!("Command,Identifier,JobTitle\nModify,00010,{long}\n")).unwrap();
    assert_refused(
        &ws,
        &file,
        "incremental",
        &["User.csv is refused: sheet User, row 2, column C holds 40,000 characters"],
    );
}

// 2. Excel damage in cells -------------------------------------------------------------------

#[test]
fn a_formula_without_a_cached_value_is_refused_naming_the_cell() {
    let ws = Workspace::demo();
    let file = ws.path("Users.xlsx");
    user_workbook(&file, &[&["Modify", "00010"], &["Modify", "00011"]], |sheet| {
        // The first keeps its cached value (and is fine); the second loses it below.
        let title = column("JobTitle");
        sheet.write_formula(1, title, Formula::new("=\"Lead\"").set_result("Lead")).unwrap();
        sheet.write_formula(2, title, Formula::new("=UPPER(\"clerk\")")).unwrap();
    });
    // rust_xlsxwriter stores 0 as the result of a formula it was given none for; a program
    // that does not calculate stores nothing.
    edit_first_sheet(&file, |xml| {
        xml.replace("<f>UPPER(\"clerk\")</f><v>0</v>", "<f>UPPER(\"clerk\")</f>")
    });
    let plan = assert_refused(
        &ws,
        &file,
        "incremental",
        &["User!K3 (JobTitle) [=UPPER(\"clerk\")]: The cell holds the formula =UPPER(\"clerk\") \
             but no calculated value (the file was saved by a program that does not calculate \
             formulas). Fix:"],
    );
    assert!(!plan.contains("User!K2"), "a formula with its value is read as the value:\n{plan}");
}

#[test]
fn an_error_cell_is_refused_naming_the_cell() {
    let ws = Workspace::demo();
    let file = ws.path("Users.xlsx");
    user_workbook(&file, &[&["Modify", "00010"]], |sheet| {
        let manager = column("Manager");
        sheet
            .write_formula(
                1,
                manager,
                Formula::new("=VLOOKUP(\"x\",A:A,1,FALSE)").set_result("#N/A"),
            )
            .unwrap();
    });
    assert_refused(
        &ws,
        &file,
        "incremental",
        &["User!I2 (Manager) [#N/A]: The cell shows the Excel error #N/A. Fix:"],
    );
}

#[test]
fn an_id_shown_in_scientific_notation_is_refused_in_xlsx_and_csv() {
    let ws = Workspace::demo();
    // In a workbook, Excel stores the long ID as a number.
    let xlsx = ws.path("Users.xlsx");
    user_workbook(&xlsx, &[&["Add", "", "Ada", "Lovelace", "", "", "EMP"]], |sheet| {
        sheet.write_number(1, column("Identifier"), 1_234_567_890_123_456.0).unwrap();
    });
    assert_refused(
        &ws,
        &xlsx,
        "incremental",
        &["User!B2 (Identifier) [1234567890123456]: The number 1.234567890123456E+15 looks \
             like an ID shown in scientific notation"],
    );
    // Saved as CSV, Excel writes what it shows.
    let csv = ws.path("User.csv");
    std::fs::write(&csv, "Command,Identifier,LastName,UserType\nAdd,1.23457E+15,Lovelace,EMP\n")
        .unwrap();
    assert_refused(
        &ws,
        &csv,
        "incremental",
        &[
            "User!B2 (Identifier) [1.23457E+15]: \"1.23457E+15\" looks like an ID shown in scientific",
        ],
    );
}

#[test]
fn a_key_that_lost_its_leading_zeros_is_refused_as_a_key_and_as_a_reference() {
    let ws = Workspace::demo();
    assert!(!ws.value("User", "00123", "LastName").is_empty(), "the demo stores 00123");
    let file = ws.path("Users.xlsx");
    user_workbook(&file, &[&["Modify"], &["Modify", "00124"]], |sheet| {
        // Typed into a General column, 00123 becomes the number 123.
        sheet.write_number(1, column("Identifier"), 123.0).unwrap();
        sheet.write_number(2, column("Manager"), 10.0).unwrap();
    });
    assert_refused(
        &ws,
        &file,
        "incremental",
        &[
            "User!B2 (Identifier) [123]",
            "The key 123 looks like 00123 after Excel dropped its leading zeros.",
            "User!I3 (Manager) [10]",
            "User 10 does not exist; it looks like 00010",
        ],
    );
}

#[test]
fn text_that_excel_turned_into_a_date_is_refused_naming_the_cell() {
    let ws = Workspace::demo();
    let file = ws.path("Users.xlsx");
    user_workbook(&file, &[&["Modify", "00010"]], |sheet| {
        // "3-1" typed as a phone extension becomes the 1st of March.
        let date = Format::new().set_num_format("d-mmm");
        let march = ExcelDateTime::from_ymd(2024, 3, 1).unwrap();
        sheet.write_with_format(1, column("PhoneNumber"), &march, &date).unwrap();
    });
    assert_refused(
        &ws,
        &file,
        "incremental",
        &[
            "User!F2 (PhoneNumber) [2024-03-01]: Excel turned this value into a date (2024-03-01). Fix:",
        ],
    );
}

// 3. Rows that cannot be applied -------------------------------------------------------------

#[test]
fn a_duplicate_key_names_both_rows() {
    let ws = Workspace::demo();
    let file = incremental(
        &ws,
        "Users.xlsx",
        &[
            &["Modify", "00010", "", "", "", "", "", "", "", "MAD"],
            &["Modify", "00020", "", "", "", "", "", "", "", "MAD"],
            &["Modify", "00010", "", "", "", "", "", "", "", "LON"],
        ],
    );
    assert_refused(
        &ws,
        &file,
        "incremental",
        &["User!B4 (Identifier) [00010]", "The Identifier 00010 appears on rows 2 and 4 of User."],
    );
}

#[test]
fn a_manager_cycle_is_named_round_the_circle() {
    let ws = Workspace::demo();
    for (who, not) in [("00101", "00100"), ("00100", "00101")] {
        assert_ne!(ws.value("User", who, "Manager"), not, "both rows below change something");
    }
    // Listed in the file the other way round: the cycle is named from its smallest key, and
    // reported on the first row of the file that takes part in it.
    let file = incremental(
        &ws,
        "Users.xlsx",
        &[
            &["Modify", "00101", "", "", "", "", "", "", "00100"],
            &["Modify", "00100", "", "", "", "", "", "", "00101"],
        ],
    );
    assert_refused(
        &ws,
        &file,
        "incremental",
        &[
            "User!I2 (Manager) [00100]",
            "Manager would go round in a circle: 00100 -> 00101 -> 00100.",
        ],
    );
}

#[test]
fn a_user_managing_themselves_is_refused() {
    let ws = Workspace::demo();
    let file =
        incremental(&ws, "Users.xlsx", &[&["Modify", "00005", "", "", "", "", "", "", "00005"]]);
    assert_refused(
        &ws,
        &file,
        "incremental",
        &["User!I2 (Manager) [00005]", "User 00005 would have itself as its Manager."],
    );
}

#[test]
fn deleting_a_user_others_still_refer_to_names_them() {
    let ws = Workspace::demo();
    // A manager with a handful of reports, so the message can name every one of them.
    let users = ws.rows("User");
    let orgs = ws.rows("Organization");
    let store = ws.store();
    let (user_type, org_type) = (
        store.schema().entity_type("User").unwrap().clone(),
        store.schema().entity_type("Organization").unwrap().clone(),
    );
    drop(store);
    let referrers = |key: &str| -> Vec<String> {
        let mut who: Vec<String> = orgs
            .iter()
            .filter(|o| o.get(&org_type, "Manager") == key)
            .map(|o| format!("Organization {} (Manager)", o.key))
            .chain(
                users
                    .iter()
                    .filter(|u| u.get(&user_type, "Manager") == key)
                    .map(|u| format!("User {} (Manager)", u.key)),
            )
            .collect();
        who.sort();
        who
    };
    let (manager, who) = users
        .iter()
        .map(|u| (u.key.clone(), referrers(&u.key)))
        .find(|(_, who)| (2..=5).contains(&who.len()))
        .expect("the demo has a manager of two to five people");
    let file = incremental(&ws, "Users.xlsx", &[&["Delete", &manager]]);
    let mut expected = vec![
        "User row 2".to_string(),
        format!(
            "User {manager} cannot be deleted: {} still refer to it: {}.",
            who.len(),
            who.join(", ")
        ),
    ];
    expected.extend(who);
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_refused(&ws, &file, "incremental", &expected);
}

#[test]
fn a_reference_to_a_key_that_does_not_exist_is_refused() {
    let ws = Workspace::demo();
    let file = incremental(
        &ws,
        "Users.xlsx",
        &[&["Modify", "00010", "", "", "", "", "", "", "", "ATLANTIS"]],
    );
    assert_refused(
        &ws,
        &file,
        "incremental",
        &[
            "User!J2 (Site) [ATLANTIS]",
            "Site refers to Site ATLANTIS, which does not exist and is not created by this file.",
        ],
    );
}

#[test]
fn a_key_with_a_zero_width_space_is_refused() {
    let ws = Workspace::demo();
    let file = incremental(
        &ws,
        "Users.xlsx",
        &[&["Add", "000\u{200B}10", "Ada", "Lovelace", "", "", "EMP"]],
    );
    assert_refused(
        &ws,
        &file,
        "incremental",
        &["User!B2 (Identifier)", "contains a zero-width space (U+200B) at position 4"],
    );
}

#[test]
fn null_null_on_the_key_or_a_required_attribute_is_refused_in_incremental_mode() {
    let ws = Workspace::demo();
    let file = incremental(
        &ws,
        "Users.xlsx",
        &[
            &["Modify", "NULL_NULL", "", "", "", "", "", "", "", "MAD"],
            &["Modify", "00010", "", "NULL_NULL"],
            &["Merge", "00011", "", "", "", "", "NULL_NULL"],
        ],
    );
    assert_refused(
        &ws,
        &file,
        "incremental",
        &[
            "User!B2 (Identifier) [NULL_NULL]",
            "NULL_NULL cannot be a key",
            "User!D3 (LastName) [NULL_NULL]",
            "LastName is required, so NULL_NULL cannot clear it.",
            "User!G4 (UserType) [NULL_NULL]",
            "UserType is required, so NULL_NULL cannot clear it.",
        ],
    );
}

#[test]
fn an_unknown_or_blank_command_is_refused_naming_the_row() {
    let ws = Workspace::demo();
    let file = incremental(
        &ws,
        "Users.xlsx",
        &[
            &["Frobnicate", "00010", "", "", "", "", "", "", "", "MAD"],
            &["", "00011", "", "", "", "", "", "", "", "MAD"],
            &["Modify", "00012", "", "", "", "", "", "", "", "MAD"],
        ],
    );
    let plan = assert_refused(
        &ws,
        &file,
        "incremental",
        &[
            "User!A2 (Command) [Frobnicate]",
            "\"Frobnicate\" is not a command.",
            "User!A3 (Command)",
            "The Command cell is blank.",
            "Write Add, Modify, Delete or Merge",
        ],
    );
    assert!(!plan.contains("User!A4"), "the valid row is not blamed:\n{plan}");
}

// 4. Formula-like values ---------------------------------------------------------------------

#[test]
fn formula_like_values_survive_export_then_import_in_xlsx_and_csv() {
    let ws = Workspace::demo();
    let values = ["=1+1", "+33 1 23 45 67", "-5", "@SUM(A1:A2)", "'=already quoted", "\tTabbed"];
    let keys = ["00010", "00011", "00012", "00013", "00014", "00015"];
    let rows: Vec<Vec<String>> = keys
        .iter()
        .zip(values)
        .map(|(k, v)| {
            let mut r = row(&["Modify", k]);
            r.resize(USER_HEADERS.len(), String::new());
            r[column("JobTitle") as usize] = v.to_string();
            r
        })
        .collect();
    let file = ws.path("titles.xlsx");
    let mut sheet = vec![row(&USER_HEADERS)];
    sheet.extend(rows);
    write_workbook(&file, &[("User".into(), sheet)]);
    let out = ws.idbulk(&["sync", file.to_str().unwrap(), "--mode", "incremental"]);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    for (k, v) in keys.iter().zip(values) {
        assert_eq!(ws.value("User", k, "JobTitle"), v, "stored exactly as typed");
    }

    // xlsx: the values are inert text cells, and reading them back changes nothing.
    let xlsx = full_template(&ws, "full.xlsx");
    let users = read_workbook(&xlsx).into_iter().find(|s| s.0 == "User").unwrap();
    let title = users.1[0].iter().position(|h| h == "JobTitle").unwrap();
    let exported: Vec<&str> = users.1.iter().skip(1).take(20).map(|r| r[title].as_str()).collect();
    for v in values {
        assert!(exported.contains(&v), "{v:?} exported as text: {exported:?}");
    }
    let (status, plan) = ws.idbulk_json(&["plan", xlsx.to_str().unwrap(), "--mode", "complete"]);
    assert_eq!(status, 0, "{plan:#}");
    assert_eq!(plan["plan"]["changes"], serde_json::json!([]), "xlsx round trip: {plan:#}");

    // CSV: each formula-like value gets the one leading ' that import removes again.
    let folder = ws.path("csv");
    let out = ws.idbulk(&["template", "--full", "--format", "csv", "-o", folder.to_str().unwrap()]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let csv = folder.join("User.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.contains(",'=1+1,") && text.contains(",''=already quoted,"), "{text:.2000}");
    let (status, plan) = ws.idbulk_json(&["plan", csv.to_str().unwrap(), "--mode", "complete"]);
    assert_eq!(status, 0, "{plan:#}");
    assert_eq!(plan["plan"]["changes"], serde_json::json!([]), "CSV round trip: {plan:#}");
}
