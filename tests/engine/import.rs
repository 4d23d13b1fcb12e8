//! Reading uploaded files (`idbulk::import`), from the outside, with workbooks built in code.
//!
//! Contents:
//!
//! 1. Raw rows: a workbook reads back into the cells Excel shows, at Excel's row numbers,
//!    with leading-zero keys, numbers in text columns, booleans and dates as typed.
//! 2. Dates: the 1904 date system gives the same days as the 1900 one.
//! 3. Excel damage: error cells and formulas without a cached value are kept as such and
//!    refused by `canonical`, never turned into values.
//! 4. Sheets: hidden sheets are skipped with a notice; idbulk's own sheets are not data.
//! 5. Round trip: a full template exported by idbulk (xlsx and CSV) reads back into exactly
//!    the stored values (SPEC section 9).
//! 6. Sniffing through `read`: the content decides, not the extension.

use std::io::{Cursor, Read, Write};

use idbulk::import::{
    Cell, CellDateTime, CsvOptions, FileFormat, MatchedBy, RawWorkbook, canonical, canonical_key,
    read, read_bytes,
};
use idbulk::schema::AttributeKind;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

fn xlsx(build: impl FnOnce(&mut Workbook)) -> Vec<u8> {
    let mut workbook = Workbook::new();
    build(&mut workbook);
    workbook.save_to_buffer().unwrap()
}

/// The workbook with `from` replaced by `to` in the named part, as if another program had
/// written it (rust_xlsxwriter always stores formula results and the 1900 date system).
fn patched(zip: &[u8], part: &str, from: &str, to: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut found = false;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let name = file.name().unwrap().to_string();
        let mut data = String::new();
        file.read_to_string(&mut data).unwrap();
        if name == part {
            assert!(data.contains(from), "{part} does not contain {from}:\n{data}");
            data = data.replace(from, to);
            found = true;
        }
        writer.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        writer.write_all(data.as_bytes()).unwrap();
    }
    assert!(found, "no part {part}");
    writer.finish().unwrap().into_inner()
}

fn read_xlsx(bytes: &[u8]) -> RawWorkbook {
    read_bytes("Users.xlsx", bytes, &CsvOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

// 1. Raw rows ------------------------------------------------------------------------------

#[test]
fn a_workbook_reads_back_into_the_cells_excel_shows_at_excel_row_numbers() {
    let bytes = xlsx(|wb| {
        let ws = wb.add_worksheet().set_name("User").unwrap();
        let headers = ["Command", "Identifier", "LastName", "PhoneNumber", "IsExternal", "Start"];
        for (i, h) in headers.iter().enumerate() {
            ws.write(0, i as u16, *h).unwrap();
        }
        let date = Format::new().set_num_format("yyyy-mm-dd");
        ws.write(1, 1, "00123").unwrap();
        ws.write(1, 2, "Doe").unwrap();
        ws.write(1, 3, 42).unwrap();
        ws.write(1, 4, true).unwrap();
        ws.write_with_format(1, 5, ExcelDateTime::from_ymd(2024, 1, 31).unwrap(), &date).unwrap();
        // Row 3 left blank, as after deleting a row's content; row 4 is Add of a new user.
        ws.write(3, 0, "Add").unwrap();
        ws.write(3, 1, "  00124 ").unwrap();
        ws.write(3, 2, "=not a formula").unwrap();
        ws.write(3, 3, 12.5).unwrap();
    });
    let wb = read_xlsx(&bytes);
    assert_eq!(wb.format, FileFormat::Xlsx);
    assert!(wb.notices.is_empty(), "{:?}", wb.notices);
    let sheet = &wb.sheets[0];
    assert_eq!(sheet.name, "User");
    let headers: Vec<_> = sheet.headers.iter().map(|h| (h.column, h.text.as_str())).collect();
    assert_eq!(
        headers,
        [
            (0, "Command"),
            (1, "Identifier"),
            (2, "LastName"),
            (3, "PhoneNumber"),
            (4, "IsExternal"),
            (5, "Start")
        ]
    );
    assert_eq!(sheet.rows.len(), 2, "the blank row 3 is left out");
    assert_eq!(sheet.rows[0].row, 2);
    assert_eq!(
        sheet.rows[0].cells.to_vec(),
        [
            Cell::Empty,
            text("00123"),
            text("Doe"),
            Cell::Float(42.0),
            Cell::Bool(true),
            Cell::DateTime(CellDateTime::from_iso("2024-01-31").unwrap()),
        ]
    );
    assert_eq!(sheet.rows[1].row, 4, "row numbers are Excel's, not positions in the list");
    assert_eq!(sheet.rows[1].cells.to_vec()[2], text("=not a formula"), "a string is never run");

    // The planner's next step: canonical values per kind.
    let cells = sheet.rows[0].cells.to_vec();
    assert_eq!(canonical_key(&cells[1]).unwrap(), "00123", "leading zeros survive");
    assert_eq!(canonical(&AttributeKind::Text, &cells[3]).unwrap(), "42", "not 42.0");
    assert_eq!(canonical(&AttributeKind::Bool, &cells[4]).unwrap(), "true");
    assert_eq!(canonical(&AttributeKind::Date, &cells[5]).unwrap(), "2024-01-31");
    assert_eq!(
        canonical_key(&sheet.rows[1].cells.to_vec()[1]).unwrap(),
        "00124",
        "keys are trimmed"
    );
    assert_eq!(canonical(&AttributeKind::Text, &sheet.rows[1].cells.to_vec()[3]).unwrap(), "12.5");
}

// 2. Dates ---------------------------------------------------------------------------------

#[test]
fn the_1904_date_system_gives_the_same_days() {
    let bytes = xlsx(|wb| {
        let ws = wb.add_worksheet().set_name("User").unwrap();
        ws.write(0, 0, "Identifier").unwrap();
        ws.write(0, 1, "ContractStartDate").unwrap();
        ws.write(1, 0, "U1").unwrap();
        // 2024-01-31 is day 43860 counted from 1904-01-01 (45322 from 1900).
        let date = Format::new().set_num_format("yyyy-mm-dd");
        ws.write_number_with_format(1, 1, 43860.0, &date).unwrap();
    });
    let bytes = patched(&bytes, "xl/workbook.xml", "<workbookPr ", "<workbookPr date1904=\"1\" ");
    let wb = read_xlsx(&bytes);
    let cell = &wb.sheets[0].rows[0].cells.to_vec()[1];
    assert_eq!(*cell, Cell::DateTime(CellDateTime::from_iso("2024-01-31").unwrap()));
    assert_eq!(canonical(&AttributeKind::Date, cell).unwrap(), "2024-01-31");
}

// 3. Excel damage --------------------------------------------------------------------------

#[test]
fn error_cells_and_formulas_without_values_are_kept_then_refused() {
    let bytes = xlsx(|wb| {
        let ws = wb.add_worksheet().set_name("User").unwrap();
        ws.write(0, 0, "Identifier").unwrap();
        ws.write(0, 1, "Manager").unwrap();
        ws.write(1, 0, "U1").unwrap();
        ws.write_formula(1, 1, Formula::new("=VLOOKUP(A2,Old!A:B,2,0)").set_result("#N/A"))
            .unwrap();
        ws.write(2, 0, "U2").unwrap();
        ws.write_formula(2, 1, Formula::new("=A2").set_result("CACHED")).unwrap();
    });
    // A program that writes formulas without calculating them leaves no <v>.
    let bytes = patched(
        &bytes,
        "xl/worksheets/sheet1.xml",
        r#"<c r="B3" t="str"><f>A2</f><v>CACHED</v></c>"#,
        r#"<c r="B3"><f>A2</f></c>"#,
    );
    let wb = read_xlsx(&bytes);
    let rows = &wb.sheets[0].rows;
    assert_eq!(rows[0].cells.to_vec()[1], Cell::Error("#N/A".into()));
    assert_eq!(rows[1].cells.to_vec()[1], Cell::FormulaWithoutValue("A2".into()));
    let manager = AttributeKind::Reference { target: "User".into() };
    let na = canonical(&manager, &rows[0].cells.to_vec()[1]).unwrap_err();
    assert!(na.message.contains("Excel error #N/A"), "{na}");
    let formula = canonical(&manager, &rows[1].cells.to_vec()[1]).unwrap_err();
    assert!(formula.message.contains("=A2 but no calculated value"), "{formula}");
    assert!(formula.fix.contains("save it again"), "{formula}");
}

#[test]
fn text_that_excel_turned_into_a_date_or_scientific_notation_is_refused() {
    let bytes = xlsx(|wb| {
        let ws = wb.add_worksheet().set_name("Organization").unwrap();
        ws.write(0, 0, "Identifier").unwrap();
        ws.write(0, 1, "Type").unwrap();
        let date = Format::new().set_num_format("d-mmm");
        ws.write(1, 0, 1_234_567_890_123_456.0).unwrap();
        ws.write_with_format(1, 1, ExcelDateTime::from_ymd(2024, 3, 1).unwrap(), &date).unwrap();
    });
    let wb = read_xlsx(&bytes);
    let cells = wb.sheets[0].rows[0].cells.to_vec();
    let key = canonical_key(&cells[0]).unwrap_err();
    assert!(key.message.contains("scientific notation"), "{key}");
    let kind = canonical(&AttributeKind::Text, &cells[1]).unwrap_err();
    assert_eq!(kind.message, "Excel turned this value into a date (2024-03-01)");
}

// 4. Sheets --------------------------------------------------------------------------------

#[test]
fn hidden_sheets_are_skipped_with_a_notice_and_idbulk_sheets_are_not_data() {
    let bytes = xlsx(|wb| {
        wb.add_worksheet().set_name("User").unwrap().write(0, 0, "Identifier").unwrap();
        let old = wb.add_worksheet().set_name("Site").unwrap();
        old.write(0, 0, "Identifier").unwrap();
        old.write(1, 0, "S1").unwrap();
        old.set_hidden(true);
        wb.add_worksheet().set_name("Read me").unwrap().write(0, 0, "How to").unwrap();
        let lists = wb.add_worksheet().set_name("_lists").unwrap();
        lists.write(0, 0, "U1").unwrap();
        lists.set_hidden(true);
        let meta = wb.add_worksheet().set_name("_idbulk").unwrap();
        meta.write(0, 0, "schema_version").unwrap();
        meta.write(0, 1, "1").unwrap();
        meta.write(1, 0, "exported_at").unwrap();
        meta.write(1, 1, "2024-01-31T10:00:00Z").unwrap();
        meta.set_hidden(true);
    });
    let wb = read_xlsx(&bytes);
    let names: Vec<_> = wb.sheets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["User"]);
    assert_eq!(
        wb.metadata,
        [
            ("schema_version".to_string(), "1".to_string()),
            ("exported_at".to_string(), "2024-01-31T10:00:00Z".to_string())
        ]
    );
    assert_eq!(wb.notices.len(), 1, "{:?}", wb.notices);
    assert_eq!(wb.notices[0].sheet.as_deref(), Some("Site"));
    assert!(wb.notices[0].message.contains("hidden and was not read"));
}

// 5. Round trip ----------------------------------------------------------------------------

fn demo_store(dir: &std::path::Path) -> idbulk::Store {
    let today = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    idbulk::demo::create(&dir.join("repo.db"), today).unwrap()
}

/// Every stored row of every entity type is in the workbook, and each cell's canonical
/// value is the stored value.
fn assert_round_trip(store: &idbulk::Store, wb: &RawWorkbook) {
    let schema = store.schema();
    for t in &schema.entity_types {
        let sheet = wb
            .sheets
            .iter()
            .find(|s| wb.entity_type_of(schema, s).is_some_and(|(m, _)| m.name == t.name))
            .unwrap_or_else(|| panic!("no sheet for {}", t.name));
        assert_eq!(wb.entity_type_of(schema, sheet).map(|(_, by)| by), Some(MatchedBy::Name));
        let column = |name: &str| {
            sheet.headers.iter().position(|h| h.text == name).unwrap_or_else(|| {
                panic!("{}: no column {name}", t.name);
            })
        };
        let key_at = column(&t.key);
        let stored = store.rows(t).unwrap();
        assert!(!stored.is_empty(), "the demo has {} rows", t.name);
        assert_eq!(sheet.rows.len(), stored.len(), "{}: one row per stored row", t.name);
        let by_key: std::collections::HashMap<&str, &idbulk::Row> =
            stored.iter().map(|r| (r.key.as_str(), r)).collect();
        for raw in &sheet.rows {
            let key = canonical_key(&raw.cells.to_vec()[key_at]).unwrap();
            let row =
                by_key.get(key.as_str()).unwrap_or_else(|| panic!("{}: no key {key}", t.name));
            for (a, value) in t.attributes.iter().zip(&row.values) {
                let cell = raw.cells.get(column(&a.name)).map_or(Cell::Empty, |c| c.to_cell());
                let back = canonical(&a.kind, &cell)
                    .unwrap_or_else(|p| panic!("{}!{} {}: {p}", t.name, raw.row, a.name));
                assert_eq!(&back, value, "{} row {} {}", t.name, raw.row, a.name);
            }
        }
    }
}

#[test]
fn an_exported_full_workbook_reads_back_into_the_stored_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let path = dir.path().join("full.xlsx");
    let now = chrono::Utc::now();
    idbulk::template::write_xlsx(&store, idbulk::template::TemplateKind::Full, &path, now).unwrap();
    let wb = read(&path, &CsvOptions::default()).unwrap();
    assert!(wb.notices.is_empty(), "idbulk's own hidden sheets raise no notice: {:?}", wb.notices);
    assert!(!wb.metadata.is_empty(), "the template's metadata is read");
    assert_round_trip(&store, &wb);
}

#[test]
fn exported_csv_files_read_back_into_the_stored_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let out = dir.path().join("csv");
    let files = idbulk::template::write_csv(
        &store,
        idbulk::template::TemplateKind::Full,
        &out,
        chrono::Utc::now(),
    )
    .unwrap();
    let mut sheets = Vec::new();
    for file in &files {
        let wb = read(file, &CsvOptions::default()).unwrap();
        assert_eq!(wb.format, FileFormat::Csv);
        assert!(wb.notices.is_empty(), "{:?}", wb.notices);
        sheets.extend(wb.sheets);
    }
    let wb = RawWorkbook {
        file_name: "csv".into(),
        format: FileFormat::Csv,
        sheets,
        metadata: vec![],
        notices: vec![],
        csv_entity_type: None,
    };
    assert_round_trip(&store, &wb);
}

// 6. Sniffing through `read` ---------------------------------------------------------------

#[test]
fn the_content_decides_not_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let csv_named_xlsx = dir.path().join("Site.xlsx");
    std::fs::write(&csv_named_xlsx, "Identifier;DisplayName\nS1;Paris\n").unwrap();
    let wb = read(&csv_named_xlsx, &CsvOptions::default()).unwrap();
    assert_eq!(wb.format, FileFormat::Csv);
    assert_eq!(wb.sheets[0].name, "Site");
    assert_eq!(wb.sheets[0].rows[0].cells.to_vec(), [text("S1"), text("Paris")]);

    let pdf = dir.path().join("X.xlsx");
    std::fs::write(&pdf, b"%PDF-1.4\n%\xC7\xEC\x8F\xA2\n").unwrap();
    let e = read(&pdf, &CsvOptions::default()).unwrap_err();
    assert_eq!(e.code, idbulk::ErrorCode::InvalidInput);
    assert!(e.message.starts_with("X.xlsx is a PDF document, not a spreadsheet."), "{}", e.message);

    let empty = dir.path().join("Empty.csv");
    std::fs::write(&empty, b"").unwrap();
    let e = read(&empty, &CsvOptions::default()).unwrap_err();
    assert!(e.message.contains("Empty.csv is empty"), "{}", e.message);
}

#[test]
fn a_csv_whose_name_names_no_type_takes_the_setting_or_its_header() {
    let schema = idbulk::Schema::directory();
    let bytes = b"Identifier,FirstName,LastName,Email\n00007,Ada,Lovelace,ada@example.com\n";
    let guessed = read_bytes("export (3).csv", bytes, &CsvOptions::default()).unwrap();
    let (t, by) = guessed.entity_type_of(&schema, &guessed.sheets[0]).unwrap();
    assert_eq!((t.name.as_str(), by), ("User", MatchedBy::Headers));
    let options = CsvOptions { entity_type: Some("user".into()), ..Default::default() };
    let chosen = read_bytes("export (3).csv", bytes, &options).unwrap();
    let (t, by) = chosen.entity_type_of(&schema, &chosen.sheets[0]).unwrap();
    assert_eq!((t.name.as_str(), by), ("User", MatchedBy::Setting));
}
