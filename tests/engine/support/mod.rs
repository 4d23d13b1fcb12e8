//! Shared helpers for the integration tests: a demo repository in a temporary folder, the
//! `idbulk` binary, and workbooks built in code.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use calamine::{Data, Reader, open_workbook_auto};
use idbulk::{Row, Store};

/// A temporary folder with a demo repository in it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Workspace {
    /// A fresh demo repository, created through the CLI as a user would.
    pub fn demo() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("repository.db");
        let ws = Workspace { dir, db };
        let out = ws.idbulk(&["init", "--demo"]);
        assert_eq!(out.status, 0, "init --demo failed: {}", out.stderr);
        ws
    }

    /// A path inside the workspace.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs the CLI against this workspace's repository.
    pub fn idbulk(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_idbulk"))
            .args(args)
            .arg("--db")
            .arg(&self.db)
            .env_remove("IDBULK_DB")
            .output()
            .expect("the idbulk binary runs");
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs the CLI with `--json` and parses what it printed.
    pub fn idbulk_json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.idbulk(&all);
        let json = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", out.stdout, out.stderr));
        (out.status, json)
    }

    /// Opens the repository.
    pub fn store(&self) -> Store {
        Store::open(&self.db).unwrap()
    }

    /// Every row of an entity type.
    pub fn rows(&self, entity_type: &str) -> Vec<Row> {
        let store = self.store();
        let et = store.schema().entity_type(entity_type).unwrap().clone();
        store.rows(&et).unwrap()
    }

    /// One row's named attribute.
    pub fn value(&self, entity_type: &str, key: &str, attribute: &str) -> String {
        let store = self.store();
        let et = store.schema().entity_type(entity_type).unwrap().clone();
        let row =
            store.get(&et, key).unwrap().unwrap_or_else(|| panic!("{entity_type} {key} exists"));
        row.get(&et, attribute).to_string()
    }

    /// The whole repository's rows, for before/after comparisons.
    pub fn dump(&self) -> Vec<(String, Vec<Row>)> {
        let store = self.store();
        store
            .schema()
            .entity_types
            .iter()
            .map(|t| (t.name.clone(), store.rows(t).unwrap()))
            .collect()
    }
}

/// The columns of an incremental `User` sheet of the Directory schema, as the empty template
/// has them.
pub const USER_HEADERS: [&str; 13] = [
    "Command",
    "Identifier",
    "FirstName",
    "LastName",
    "Email",
    "PhoneNumber",
    "UserType",
    "Organization",
    "Manager",
    "Site",
    "JobTitle",
    "ContractStartDate",
    "ContractEndDate",
];

/// What a CLI run printed and returned.
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A sheet as text cells: the header row first.
pub type Sheet = (String, Vec<Vec<String>>);

/// Writes a workbook whose cells are all text (as a person typing in a Text-formatted sheet).
pub fn write_workbook(path: &Path, sheets: &[Sheet]) {
    let mut wb = rust_xlsxwriter::Workbook::new();
    for (name, rows) in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(name).unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                if !value.is_empty() {
                    ws.write_string(r as u32, c as u16, value).unwrap();
                }
            }
        }
    }
    wb.save(path).unwrap();
}

/// Reads every visible data sheet of a workbook as text (dates as `YYYY-MM-DD`).
pub fn read_workbook(path: &Path) -> Vec<Sheet> {
    let mut wb = open_workbook_auto(path).unwrap();
    let names: Vec<String> = wb
        .sheets_metadata()
        .iter()
        .filter(|s| s.visible == calamine::SheetVisible::Visible && s.name != "Read me")
        .map(|s| s.name.clone())
        .collect();
    names
        .into_iter()
        .map(|name| {
            let range = wb.worksheet_range(&name).unwrap();
            let rows = range
                .rows()
                .map(|r| {
                    r.iter()
                        .map(|c| match c {
                            Data::Empty => String::new(),
                            Data::String(s) => s.clone(),
                            Data::Bool(b) => {
                                if *b {
                                    "TRUE".into()
                                } else {
                                    "FALSE".into()
                                }
                            }
                            Data::Int(i) => i.to_string(),
                            Data::Float(f) => f.to_string(),
                            Data::DateTime(d) => d
                                .as_datetime()
                                .map(|d| d.format("%Y-%m-%d").to_string())
                                .unwrap_or_default(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect();
            (name, rows)
        })
        .collect()
}

/// The column index of a header in a sheet.
pub fn col(sheet: &Sheet, header: &str) -> usize {
    sheet.1[0].iter().position(|h| h == header).unwrap_or_else(|| panic!("no column {header}"))
}

/// A text row from string slices.
pub fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Everything a sync may change: every row of every entity type, the number of recorded runs
/// and the revision counter. Crash and fault tests compare it before and after.
#[derive(Debug, PartialEq, Eq)]
pub struct State {
    pub rows: Vec<(String, Vec<Row>)>,
    pub runs: usize,
    pub revision: u64,
}

/// The [`State`] of the repository at `db`, after checking SQLite finds it sound.
pub fn state(db: &Path) -> State {
    let store = Store::open(db).unwrap();
    let problems = store.integrity_problems().unwrap();
    assert!(problems.is_empty(), "{} fails SQLite's integrity checks: {problems:?}", db.display());
    State {
        rows: store
            .schema()
            .entity_types
            .iter()
            .map(|t| (t.name.clone(), store.rows(t).unwrap()))
            .collect(),
        runs: idbulk::history::list(&store).unwrap().len(),
        revision: store.revision().unwrap(),
    }
}
