//! Properties of planning and applying that must hold for any data (proptest):
//!
//! - planning a repository against an export of itself gives an empty plan;
//! - applying plan(A to B) to A gives B;
//! - shuffling the file's rows changes neither the plan nor its findings;
//! - export then import (xlsx and CSV) gives an empty plan, whatever the values.

use std::collections::BTreeMap;

use idbulk::import::{
    self, Cell, CsvOptions, FileFormat, RawHeader, RawRow, RawSheet, RawWorkbook,
};
use idbulk::plan::{self, InputFile, Mode, Plan, Snapshot};
use idbulk::template::{self, TemplateKind};
use idbulk::thresholds::Thresholds;
use idbulk::{Row, Schema, Store};
use proptest::prelude::*;

/// A small, valid Directory repository: sites, worker types, users whose managers come
/// earlier (so there is no cycle), organisations pointing at stored users.
#[derive(Debug, Clone)]
struct Repo {
    tables: BTreeMap<String, Vec<Row>>,
}

fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z ]{0,12}",
        Just("=SUM(A1:A2)".to_string()),
        Just("+33 1 23 45 67 89".to_string()),
        Just("-42".to_string()),
        Just("@handle".to_string()),
        Just("'=quoted".to_string()),
        Just("Zoë Ångström-Øster".to_string()),
        Just("a\nb".to_string()),
        Just("x".repeat(3000)),
        Just("00123".to_string()),
    ]
}

fn date_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (1990i32..2040, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
    ]
}

fn repo() -> impl Strategy<Value = Repo> {
    let sites = proptest::collection::btree_set("[A-Z]{3}", 1..5);
    let users = proptest::collection::vec(
        (
            text_value(),
            "[A-Za-z]{1,10}",
            proptest::option::of(0usize..50),
            date_value(),
            any::<bool>(),
        ),
        0..25,
    );
    (sites, users).prop_map(|(sites, users)| {
        let schema = Schema::directory();
        let site_t = schema.entity_type("Site").unwrap();
        let type_t = schema.entity_type("UserType").unwrap();
        let user_t = schema.entity_type("User").unwrap();
        let sites: Vec<String> = sites.into_iter().collect();
        let mut tables = BTreeMap::new();
        tables.insert(
            "Site".to_string(),
            sites
                .iter()
                .map(|k| {
                    let mut r = Row::empty(k.clone(), site_t);
                    r.values.set(0, &format!("{k} office"));
                    r
                })
                .collect(),
        );
        let mut emp = Row::empty("EMP", type_t);
        emp.values.set(0, "Employee");
        emp.values.set(1, "false");
        tables.insert("UserType".to_string(), vec![emp]);
        let mut rows: Vec<Row> = Vec::new();
        for (i, (first, last, manager, end, has_site)) in users.into_iter().enumerate() {
            let mut r = Row::empty(format!("{:05}", i + 1), user_t);
            let set = |r: &mut Row, name: &str, v: String| {
                let idx = user_t.attribute_index(name).unwrap();
                r.values.set(idx, &v);
            };
            set(&mut r, "FirstName", first);
            set(&mut r, "LastName", last);
            set(&mut r, "UserType", "EMP".into());
            if let Some(m) = manager.filter(|_| i > 0) {
                set(&mut r, "Manager", format!("{:05}", m % i + 1));
            }
            if has_site {
                set(&mut r, "Site", sites[i % sites.len()].clone());
            }
            set(&mut r, "ContractEndDate", end);
            rows.push(r);
        }
        tables.insert("User".to_string(), rows);
        Repo { tables }
    })
}

fn store_of(repo: &Repo) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(&dir.path().join("r.db"), &Schema::directory()).unwrap();
    let schema = store.schema().clone();
    store
        .write(|w| {
            for t in &schema.entity_types {
                for r in repo.tables.get(&t.name).into_iter().flatten() {
                    w.insert(t, r)?;
                }
            }
            Ok(())
        })
        .unwrap();
    (dir, store)
}

/// The repository as the workbook a complete-mode user would upload (all cells text).
fn workbook_of(repo: &Repo) -> RawWorkbook {
    let schema = Schema::directory();
    let sheets = schema
        .entity_types
        .iter()
        .filter_map(|t| {
            let rows = repo.tables.get(&t.name)?;
            let headers = t
                .headers()
                .enumerate()
                .map(|(i, h)| RawHeader { column: i as u32, text: h.to_string() })
                .collect();
            let rows = rows
                .iter()
                .enumerate()
                .map(|(i, r)| RawRow {
                    row: i as u32 + 2,
                    cells: std::iter::once(r.key.as_str())
                        .chain(&r.values)
                        .map(|v| if v.is_empty() { Cell::Empty } else { Cell::Text(v.into()) })
                        .collect(),
                })
                .collect();
            Some(RawSheet { name: t.name.clone(), headers, rows })
        })
        .collect();
    RawWorkbook {
        file_name: "upload.xlsx".into(),
        format: FileFormat::Xlsx,
        sheets,
        metadata: Vec::new(),
        notices: Vec::new(),
        csv_entity_type: None,
    }
}

fn plan_of(store: &Store, workbook: &RawWorkbook) -> Plan {
    let mut limits = Thresholds::default();
    for c in idbulk::thresholds::Counter::ALL {
        limits.set(idbulk::thresholds::CONNECTION, c, idbulk::thresholds::Limit::OFF);
    }
    plan::build(
        store.schema(),
        &Snapshot::load(store).unwrap(),
        workbook,
        Mode::Complete,
        InputFile::from_bytes("upload.xlsx", b""),
        &limits,
    )
}

fn dump(store: &Store) -> BTreeMap<String, Vec<Row>> {
    store.schema().entity_types.iter().map(|t| (t.name.clone(), store.rows(t).unwrap())).collect()
}

/// A plan without the spreadsheet row numbers, which shuffling legitimately changes.
fn without_rows(plan: &Plan) -> (Vec<String>, Vec<String>) {
    let changes = plan
        .changes
        .iter()
        .map(|c| format!("{} {} {:?} {:?}", c.entity_type, c.key, c.op, c.fields))
        .collect();
    let mut findings: Vec<String> = plan
        .findings
        .iter()
        .map(|f| format!("{} {:?} {}", f.code, f.value, f.severity as u8))
        .collect();
    findings.sort();
    (changes, findings)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_repository_planned_against_itself_is_an_empty_plan(a in repo()) {
        let (_dir, store) = store_of(&a);
        let plan = plan_of(&store, &workbook_of(&a));
        prop_assert!(plan.changes.is_empty(), "{:?}", plan.changes);
        prop_assert!(!plan.has_errors(), "{:?}", plan.findings);
    }

    #[test]
    fn applying_the_plan_from_a_to_b_gives_b_and_its_undo_gives_a(a in repo(), b in repo()) {
        let (_dir, mut store) = store_of(&a);
        let before = dump(&store);
        let images_before = rusqlite::Connection::open(store.path())
            .unwrap()
            .query_row("SELECT COUNT(*) FROM image", [], |r| r.get::<_, i64>(0))
            .unwrap() as u64;
        let plan = plan_of(&store, &workbook_of(&b));
        prop_assert!(!plan.has_errors(), "{:?}", plan.findings.iter().map(|f| f.to_string()).collect::<Vec<_>>());
        // Random edits are large by nature: force past the repository's default limits.
        let force = idbulk::apply::Force::Yes { reason: "property test".into() };
        let run = idbulk::apply::run(&mut store, &plan, &force, chrono::Utc::now(), &mut |_, _| true).unwrap();
        let (_dir_b, expected) = store_of(&b);
        let after = dump(&store);
        prop_assert_eq!(&after, &dump(&expected));
        // The history gives every changed row back whole, as it was and as it became.
        let image = |rows: &BTreeMap<String, Vec<Row>>, t: &str, key: &str| {
            rows[t].iter().find(|r| *r.key == *key).cloned()
        };
        for c in idbulk::history::changes(&store, run.id).unwrap() {
            prop_assert_eq!(&c.before, &image(&before, &c.entity_type, &c.key), "{} {}", c.entity_type, c.key);
            prop_assert_eq!(&c.after, &image(&after, &c.entity_type, &c.key), "{} {}", c.entity_type, c.key);
        }
        // Images are written once: the run adds one per row it creates or updates, and its
        // history points at them and at the images the rows had.
        let conn = rusqlite::Connection::open(store.path()).unwrap();
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        let written = run.counts.created + run.counts.updated;
        prop_assert_eq!(count("SELECT COUNT(*) FROM image") as u64, images_before + written);
        prop_assert_eq!(
            count("SELECT COUNT(*) FROM change_row WHERE before IS NOT NULL OR after IS NOT NULL OR before_changed IS NOT NULL"),
            0,
            "no change keeps a copy of an image"
        );
        idbulk::apply::undo(&mut store, run.id, chrono::Utc::now(), &mut |_, _| true).unwrap();
        prop_assert_eq!(dump(&store), before);
    }

    #[test]
    fn shuffling_the_rows_changes_neither_plan_nor_findings(a in repo(), b in repo(), seed in any::<u64>()) {
        let (_dir, store) = store_of(&a);
        let mut workbook = workbook_of(&b);
        // Add trouble so findings exist too: a duplicate key and a dangling manager.
        if let Some(users) = workbook.sheets.iter_mut().find(|s| s.name == "User")
            && let Some(first) = users.rows.first().cloned()
        {
            let mut dup = first.clone();
            dup.row = 999;
            users.rows.push(dup);
            let mut dangling = first;
            dangling.row = 1000;
            dangling.cells.to_vec()[0] = Cell::Text("99999".into());
            dangling.cells.to_vec()[8] = Cell::Text("88888".into());
            users.rows.push(dangling);
        }
        let plan = plan_of(&store, &workbook);
        let mut shuffled = workbook.clone();
        let mut state = seed | 1;
        for sheet in &mut shuffled.sheets {
            let n = sheet.rows.len();
            for i in (1..n).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                sheet.rows.swap(i, (state % (i as u64 + 1)) as usize);
            }
            // The shuffled rows sit at new row numbers, as they would in the sheet.
            for (i, r) in sheet.rows.iter_mut().enumerate() { r.row = i as u32 + 2; }
        }
        shuffled.sheets.reverse();
        prop_assert_eq!(without_rows(&plan), without_rows(&plan_of(&store, &shuffled)));
    }

    #[test]
    fn export_then_import_is_an_empty_plan_in_xlsx_and_csv(a in repo()) {
        let (dir, store) = store_of(&a);
        let now = chrono::Utc::now();
        let xlsx = dir.path().join("full.xlsx");
        template::write_xlsx(&store, TemplateKind::Full, &xlsx, now).unwrap();
        let wb = import::read(&xlsx, &CsvOptions::default()).unwrap();
        let plan = plan_of(&store, &wb);
        prop_assert!(plan.changes.is_empty() && !plan.has_errors(), "xlsx: {:?}",
            plan.findings.iter().map(|f| f.to_string()).chain(plan.changes.iter().map(|c| format!("{c:?}"))).collect::<Vec<_>>());

        let csv_dir = dir.path().join("csv");
        for file in template::write_csv(&store, TemplateKind::Full, &csv_dir, now).unwrap() {
            let wb = import::read(&file, &CsvOptions::default()).unwrap();
            let plan = plan_of(&store, &wb);
            prop_assert!(plan.changes.is_empty() && !plan.has_errors(), "{}: {:?}", file.display(),
                plan.findings.iter().map(|f| f.to_string()).chain(plan.changes.iter().map(|c| format!("{c:?}"))).collect::<Vec<_>>());
        }
    }
}
