//! Templates, as a person downloading one meets them: open the workbook (here with calamine,
//! the reader the importer uses) or the CSV files, and find every stored value exactly as it is
//! stored, in the sheets and columns the specification names (SPEC section 2).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, SheetVisible, open_workbook_auto};
use chrono::{DateTime, TimeZone, Utc};
use idbulk::template::{
    self, LISTS_SHEET, METADATA_SHEET, README_SHEET, TemplateKind, TemplateMetadata,
};
use idbulk::value::csv_import;
use idbulk::{ErrorCode, Row, Schema, Store};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 30, 8, 15, 0).unwrap()
}

/// A long text: 5,000 characters, with accents, so byte and character counts differ.
fn long_text() -> String {
    "Ångström é ".repeat(500).chars().take(5000).collect()
}

/// A Directory repository full of values that spreadsheets like to damage.
fn tricky_store(dir: &Path) -> Store {
    let schema = Schema::directory();
    let mut store = Store::create(&dir.join("repository.db"), &schema).expect("a new repository");
    let t = |name: &str| schema.entity_type(name).expect("a Directory type").clone();
    let (user, org, site, user_type) = (t("User"), t("Organization"), t("Site"), t("UserType"));
    let row = |key: &str, values: &[&str]| Row { key: key.into(), values: values.iter().collect() };
    store
        .write(|w| {
            w.insert(&user_type, &row("EMP", &["Employee", "false", "Staff"]))?;
            w.insert(&user_type, &row("EXT", &["Contractor", "true", ""]))?;
            w.insert(&user_type, &row("0042", &["=SUM(A1:A9)", "", "-minus"]))?;
            w.insert(&site, &row("PAR", &["Paris", "Paris", "France"]))?;
            w.insert(&site, &row("=1+2", &["+33 1 23 45 67", "@home", "\tTabbed"]))?;
            w.insert(&site, &row("-7", &["Dash key", "trailing space ", " leading space"]))?;
            w.insert(&org, &row("HR", &["Human Resources", "00123", "", "Department"]))?;
            w.insert(&org, &row("HR-PAY", &["Payroll\nand benefits", "", "HR", "Team"]))?;
            w.insert(
                &user,
                &row(
                    "00123",
                    &[
                        "Zoë",
                        "Ångström",
                        "zoe@example.org",
                        "+33 6 12 34 56 78",
                        "EMP",
                        "HR",
                        "",
                        "PAR",
                        "Head of HR",
                        "2019-04-01",
                        "",
                    ],
                ),
            )?;
            w.insert(
                &user,
                &row(
                    "123",
                    &[
                        "Line one\nLine two",
                        "O'Brien",
                        "",
                        "=HYPERLINK(\"http://x\")",
                        "EXT",
                        "HR-PAY",
                        "00123",
                        "=1+2",
                        &long_text(),
                        "2024-02-29",
                        "2025-12-31",
                    ],
                ),
            )?;
            w.insert(
                &user,
                &row(
                    "@admin",
                    &[
                        "",
                        "Odd",
                        "",
                        "-5",
                        "0042",
                        "",
                        "123",
                        "-7",
                        "_x0041_ literal",
                        "not a date",
                        "1899-12-31",
                    ],
                ),
            )
        })
        .expect("the rows are written");
    store
}

/// A cell as canonical text, the way the importer turns cells into values.
fn canonical(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => {
            d.as_datetime().expect("a valid date").date().format("%Y-%m-%d").to_string()
        }
        other => panic!("unexpected cell {other:?}"),
    }
}

/// Every row of every entity type, as stored.
fn stored(store: &Store) -> Vec<(String, Vec<Row>)> {
    store
        .schema()
        .entity_types
        .iter()
        .map(|t| (t.name.clone(), store.rows(t).expect("readable rows")))
        .collect()
}

/// The files in a folder, by name.
fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("a readable folder")
        .map(|e| e.expect("a folder entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn out_dir(dir: &Path) -> PathBuf {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).expect("an output folder");
    out
}

#[test]
fn a_full_xlsx_template_gives_back_every_stored_value_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = tricky_store(dir.path());
    let path = out_dir(dir.path()).join("full.xlsx");
    template::write_xlsx(&store, TemplateKind::Full, &path, now()).unwrap();

    let mut workbook = open_workbook_auto(&path).unwrap();
    let names: Vec<String> = workbook.sheet_names().to_vec();
    assert_eq!(
        names,
        ["User", "Organization", "Site", "UserType", README_SHEET, LISTS_SHEET, METADATA_SHEET]
    );
    let hidden: Vec<&str> = workbook
        .sheets_metadata()
        .iter()
        .filter(|s| s.visible != SheetVisible::Visible)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(hidden, [LISTS_SHEET, METADATA_SHEET]);

    for (name, rows) in stored(&store) {
        let entity_type = store.schema().entity_type(&name).unwrap();
        let range = workbook.worksheet_range(&name).unwrap();
        let mut sheet = range.rows();
        let header: Vec<String> = sheet.next().unwrap().iter().map(canonical).collect();
        assert_eq!(header, template::sheet_headers(entity_type), "header of {name}");
        let read: Vec<Row> = sheet
            .map(|cells| {
                assert_eq!(cells[0], Data::Empty, "Command is empty in a full template");
                let values = cells[2..].iter().map(canonical).collect();
                Row { key: canonical(&cells[1]).into(), values }
            })
            .collect();
        assert_eq!(read, rows, "{name} must come back exactly as stored");
    }

    // Cell types: keys and text stay strings, dates are real dates, booleans are booleans.
    let users = workbook.worksheet_range("User").unwrap();
    assert_eq!(users.get((1, 1)), Some(&Data::String("00123".into())), "leading zeros kept");
    assert!(matches!(users.get((1, 11)), Some(Data::DateTime(_))), "{:?}", users.get((1, 11)));
    assert_eq!(
        users.get((3, 12)),
        Some(&Data::String("1899-12-31".into())),
        "a date Excel cannot hold safely stays text"
    );
    let types = workbook.worksheet_range("UserType").unwrap();
    assert_eq!(types.get((2, 3)), Some(&Data::Bool(false)));

    // The drop-down source lists every stored key of each referenced type.
    let lists = workbook.worksheet_range(LISTS_SHEET).unwrap();
    let header: Vec<String> = lists.rows().next().unwrap().iter().map(canonical).collect();
    assert_eq!(header, ["User", "Organization", "Site", "UserType"]);
    let sites: Vec<String> =
        lists.rows().skip(1).map(|r| canonical(&r[2])).filter(|k| !k.is_empty()).collect();
    assert_eq!(sites, ["-7", "=1+2", "PAR"]);

    // The metadata lets the importer spot a stale template.
    let pairs: Vec<(String, String)> = workbook
        .worksheet_range(METADATA_SHEET)
        .unwrap()
        .rows()
        .map(|r| (canonical(&r[0]), canonical(&r[1])))
        .collect();
    let metadata = TemplateMetadata::from_pairs(&pairs).expect("metadata reads back");
    assert_eq!(
        metadata,
        TemplateMetadata::new(store.schema(), TemplateKind::Full, store.revision().unwrap(), now())
    );

    let read_me = workbook.worksheet_range(README_SHEET).unwrap();
    let text: Vec<String> = read_me.rows().flat_map(|r| r.iter().map(canonical)).collect();
    let text = text.join("\n");
    for needle in
        ["Complete mode", "Incremental mode", "NULL_NULL", "Sheet \"Organization\"", "YYYY-MM-DD"]
    {
        assert!(text.contains(needle), "the Read me mentions {needle}");
    }
}

#[test]
fn an_empty_xlsx_template_has_only_the_headers() {
    let dir = tempfile::tempdir().unwrap();
    let store = tricky_store(dir.path());
    let path = out_dir(dir.path()).join("empty.xlsx");
    template::write_xlsx(&store, TemplateKind::Empty, &path, now()).unwrap();
    let mut workbook = open_workbook_auto(&path).unwrap();
    for entity_type in &store.schema().entity_types {
        let range = workbook.worksheet_range(&entity_type.name).unwrap();
        let rows: Vec<Vec<String>> =
            range.rows().map(|r| r.iter().map(canonical).collect()).collect();
        assert_eq!(
            rows,
            [template::sheet_headers(entity_type)],
            "{} holds headers only",
            entity_type.name
        );
    }
    // The drop-downs still offer the stored keys: incremental rows refer to existing rows.
    let lists = workbook.worksheet_range(LISTS_SHEET).unwrap();
    assert_eq!(lists.height(), 4, "header plus the three stored users");
    let pairs: Vec<(String, String)> = workbook
        .worksheet_range(METADATA_SHEET)
        .unwrap()
        .rows()
        .map(|r| (canonical(&r[0]), canonical(&r[1])))
        .collect();
    assert_eq!(TemplateMetadata::from_pairs(&pairs).unwrap().kind, TemplateKind::Empty);
}

#[test]
fn numbers_of_any_schema_come_back_as_numbers() {
    let schema = Schema::from_toml(
        "name='Fleet'\nversion=2\n[[entity_type]]\nname='Car'\nkey='Plate'\nattributes=[\
         {name='Seats', kind='integer'}, {name='Price', kind='decimal'}, {name='Electric', kind='bool'}]",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(&dir.path().join("fleet.db"), &schema).unwrap();
    let car = schema.entity_type("Car").unwrap().clone();
    let rows = [
        Row { key: "AB-123-CD".into(), values: ["5", "23999.99", "true"].into() },
        Row { key: "007".into(), values: ["-2", "0.1", ""].into() },
        Row { key: "X".into(), values: ["12345678901234567", "1e3", "yes"].into() },
    ];
    store.write(|w| rows.iter().try_for_each(|r| w.insert(&car, r))).unwrap();
    let path = dir.path().join("fleet.xlsx");
    template::write_xlsx(&store, TemplateKind::Full, &path, now()).unwrap();
    let mut workbook = open_workbook_auto(&path).unwrap();
    let range = workbook.worksheet_range("Car").unwrap();
    assert_eq!(range.get((2, 2)), Some(&Data::Float(5.0)));
    assert_eq!(range.get((2, 3)), Some(&Data::Float(23999.99)));
    assert_eq!(range.get((2, 4)), Some(&Data::Bool(true)));
    let read: Vec<Row> = range
        .rows()
        .skip(1)
        .map(|c| Row {
            key: canonical(&c[1]).into(),
            values: c[2..].iter().map(canonical).collect(),
        })
        .collect();
    assert_eq!(read, store.rows(&car).unwrap(), "values that are not numbers stay text, unchanged");
}

#[test]
fn csv_templates_give_back_every_stored_value_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = tricky_store(dir.path());
    let out = dir.path().join("csv");
    let files = template::write_csv(&store, TemplateKind::Full, &out, now()).unwrap();
    let names: Vec<String> =
        files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["User.csv", "Organization.csv", "Site.csv", "UserType.csv"]);
    assert_eq!(files_in(&out), names.iter().cloned().collect(), "nothing else left in the folder");

    for ((name, rows), file) in stored(&store).into_iter().zip(&files) {
        let bytes = std::fs::read(file).unwrap();
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").expect("UTF-8 with BOM");
        assert!(body.ends_with(b"\r\n"), "CRLF line ends");
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body);
        let mut records = reader.records().map(|r| r.unwrap());
        let header: Vec<String> = records.next().unwrap().iter().map(String::from).collect();
        assert_eq!(header, template::sheet_headers(store.schema().entity_type(&name).unwrap()));
        let read: Vec<Row> = records
            .map(|r| {
                let cells: Vec<&str> = r.iter().map(csv_import).collect();
                assert_eq!(cells[0], "", "Command is empty");
                Row {
                    key: cells[1].into(),
                    values: cells[2..].iter().map(|c| c.to_string()).collect(),
                }
            })
            .collect();
        assert_eq!(read, rows, "{name}.csv must come back exactly as stored");
    }
    let sites = std::fs::read_to_string(&files[2]).unwrap();
    assert!(sites.contains("\r\n,'=1+2,'+33 1 23 45 67,'@home,'\tTabbed\r\n"), "inert: {sites:?}");

    let empty = dir.path().join("empty-csv");
    let files = template::write_csv(&store, TemplateKind::Empty, &empty, now()).unwrap();
    let site = std::fs::read(&files[2]).unwrap();
    assert_eq!(site, b"\xEF\xBB\xBFCommand,Identifier,DisplayName,City,Country\r\n");
}

#[test]
fn writing_over_an_old_template_is_atomic_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = tricky_store(dir.path());
    let out = out_dir(dir.path());
    let path = out.join("template.xlsx");
    template::write_xlsx(&store, TemplateKind::Empty, &path, now()).unwrap();
    template::write_xlsx(&store, TemplateKind::Full, &path, now()).unwrap();
    assert_eq!(files_in(&out), BTreeSet::from(["template.xlsx".to_string()]));
    let good = std::fs::read(&path).unwrap();

    // A value longer than an Excel cell holds stops the export before anything is replaced.
    let site = store.schema().entity_type("Site").unwrap().clone();
    let huge = Row { key: "HUGE".into(), values: ["x".repeat(40_000).as_str(), "", ""].into() };
    store.write(|w| w.insert(&site, &huge)).unwrap();
    let err = template::write_xlsx(&store, TemplateKind::Full, &path, now()).unwrap_err();
    assert_eq!(err.code, ErrorCode::Usage);
    assert!(err.message.contains("Site HUGE") && err.message.contains("CSV"), "{}", err.message);
    assert_eq!(std::fs::read(&path).unwrap(), good, "the old template is untouched");
    assert_eq!(
        files_in(&out),
        BTreeSet::from(["template.xlsx".to_string()]),
        "no temporary file left"
    );

    // CSV has no such limit.
    let files = template::write_csv(&store, TemplateKind::Full, &out, now()).unwrap();
    assert_eq!(files.len(), 4);
    assert_eq!(files_in(&out).len(), 5, "the workbook and four CSV files, nothing else");
}

#[test]
fn a_template_names_the_problem_when_it_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = tricky_store(dir.path());
    let err =
        template::write_xlsx(&store, TemplateKind::Full, &dir.path().join("missing/t.xlsx"), now())
            .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound, "{}", err.message);
    assert!(err.message.contains("missing"), "{}", err.message);
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = template::write_csv(&store, TemplateKind::Full, &file, now()).unwrap_err();
    assert_eq!(err.code, ErrorCode::Usage, "{}", err.message);
}
