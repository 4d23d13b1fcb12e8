//! The plan: exactly what a sync would change, computed without writing anything.
//!
//! [`build()`] is a pure function of the stored rows (a [`Snapshot`]), the uploaded workbook
//! (raw rows from [`crate::import`]), the mode and the thresholds. It joins the two sides on
//! the key, decides one [`Op`] per row, then runs every check of SPEC section 5 on the *final*
//! state (so the order of rows in the file never matters): missing, duplicated or unsafe keys,
//! values of the wrong kind, references to keys that will not exist, manager cycles, deletes of
//! rows still referenced, and the accident detectors. Findings name sheet, row, column, value
//! and the fix. A plan with errors cannot be applied; warnings travel with it. It comes in two
//! steps, [`Prepared::new`] (what needs the file alone) and [`Prepared::finish`] (with the
//! stored rows), so that [`from_file`] does the first while the stored rows load.
//!
//! Output order is deterministic: changes by entity type (schema order) then key; findings by
//! sheet, row, column.

mod build;
mod checks;
pub mod view;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use build::{Prepared, Snapshot, build, check_changes, summarise};

use crate::store::{ImageId, Row};
use crate::thresholds::Evaluation;

/// How the file's rows are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Each sheet is the whole truth for its entity type: absent rows are deleted.
    Complete,
    /// Only the rows in the file are touched, each as its `Command` column says.
    Incremental,
}

impl Mode {
    /// The mode's name as shown and stored.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Complete => "complete",
            Mode::Incremental => "incremental",
        }
    }

    /// Parses a mode name.
    pub fn parse(text: &str) -> Option<Mode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "complete" => Some(Mode::Complete),
            "incremental" => Some(Mode::Incremental),
            _ => None,
        }
    }
}

/// What happens to one row.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ts_rs::TS,
)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// A new row.
    Create,
    /// A stored row whose values change.
    Update,
    /// A stored row removed.
    Delete,
}

impl Op {
    /// The operation's name as shown.
    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// Where a row came from: the sheet and the row number as Excel shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct SourceRow {
    /// The sheet (or CSV file's entity type).
    pub sheet: String,
    /// The 1-based row number.
    pub row: u32,
}

/// One attribute's old and new value (`""` = empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct FieldChange {
    /// The attribute name.
    pub attribute: String,
    /// The stored value before (empty for a create).
    pub old: String,
    /// The value after (empty for a delete).
    pub new: String,
}

/// One row the plan creates, updates or deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The entity type.
    pub entity_type: String,
    /// The row's key.
    pub key: String,
    /// What happens to it.
    pub op: Op,
    /// The spreadsheet row it came from (none for a complete-mode delete: the row is absent).
    pub source: Option<SourceRow>,
    /// Changed attributes: every non-empty value for a create or delete, the differing ones for
    /// an update.
    pub fields: Vec<FieldChange>,
    /// The stored row before (none for a create).
    #[serde(skip)]
    pub before: Option<Row>,
    /// The image the stored row is in (none for a create, or when the stored rows were not
    /// read from a store): apply takes it as the row's image before instead of reading it.
    #[serde(skip)]
    pub before_image: Option<ImageId>,
    /// The row after (none for a delete).
    #[serde(skip)]
    pub after: Option<Row>,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Blocks the plan until the file is fixed.
    Error,
    /// Shown, and applied with the plan.
    Warning,
}

/// A problem found in the file, named the way a person finds it in Excel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// A stable code for programs (e.g. `duplicate_key`, `dangling_reference`).
    pub code: &'static str,
    /// The sheet, if the finding is in one.
    pub sheet: Option<String>,
    /// The row as Excel numbers it, if the finding is on a row.
    pub row: Option<u32>,
    /// The column letter (e.g. `C`), if the finding is in a column.
    pub column: Option<String>,
    /// The column's header (e.g. `Email`).
    pub header: Option<String>,
    /// The offending value, as read.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl Finding {
    /// A finding with no location yet; callers fill in where it is.
    pub fn new(severity: Severity, code: &'static str, message: String, fix: String) -> Finding {
        Finding {
            severity,
            code,
            sheet: None,
            row: None,
            column: None,
            header: None,
            value: None,
            message,
            fix,
        }
    }

    /// The same finding with the offending value.
    pub fn with_value(mut self, value: impl Into<String>) -> Finding {
        self.value = Some(value.into());
        self
    }

    /// Where the finding is, as `User!C12 (Email)`, `User row 12`, `User` or `file`.
    pub fn location(&self) -> String {
        match (&self.sheet, self.row, &self.column) {
            (Some(s), Some(r), Some(c)) => match &self.header {
                Some(h) => format!("{s}!{c}{r} ({h})"),
                None => format!("{s}!{c}{r}"),
            },
            (Some(s), Some(r), None) => format!("{s} row {r}"),
            (Some(s), None, Some(c)) => match &self.header {
                Some(h) => format!("{s} column {c} ({h})"),
                None => format!("{s} column {c}"),
            },
            (Some(s), None, None) => s.clone(),
            (None, ..) => "file".into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev} at {}: {}", self.location(), self.message)?;
        if !self.fix.is_empty() {
            write!(f, " Fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// Counts for one entity type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct TypeSummary {
    /// The entity type.
    pub entity_type: String,
    /// Whether the file has a sheet for it (a type absent from the file is untouched).
    pub in_file: bool,
    /// Rows stored before the sync.
    pub stored: u64,
    /// Rows to create.
    pub created: u64,
    /// Rows to update.
    pub updated: u64,
    /// Rows to delete.
    pub deleted: u64,
    /// Rows of the file that change nothing.
    pub unchanged: u64,
    /// No rows are stored yet: thresholds do not apply.
    pub initial_load: bool,
}

/// The uploaded file, as recorded in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct InputFile {
    /// The file's name (without its folder).
    pub name: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

impl InputFile {
    /// Describes a file from its name and bytes.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> InputFile {
        let (bytes, sha256) = crate::import::fingerprint(bytes);
        InputFile { name: name.to_string(), sha256, bytes }
    }
}

/// Everything a sync would do, and everything wrong with the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Complete or incremental.
    pub mode: Mode,
    /// The uploaded file.
    pub file: InputFile,
    /// The repository revision the plan was built on: apply refuses if it moved.
    pub base_revision: u64,
    /// Counts per entity type, in schema order.
    pub summaries: Vec<TypeSummary>,
    /// Rows to create, update and delete, by entity type then key.
    pub changes: Vec<Change>,
    /// Errors and warnings, by sheet, row and column.
    pub findings: Vec<Finding>,
    /// The thresholds checked against the counts.
    pub thresholds: Evaluation,
}

impl Plan {
    /// The findings that block the plan.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }

    /// The findings applied with the plan.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Warning)
    }

    /// Whether the file has errors (the plan cannot be applied).
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// Whether a threshold blocks the plan (it applies only with a force).
    pub fn is_blocked(&self) -> bool {
        self.thresholds.blocked
    }

    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The outcome a sync of this plan would meet, as a [`Verdict`].
    pub fn verdict(&self) -> Verdict {
        if self.has_errors() {
            Verdict::Invalid
        } else if self.is_blocked() {
            Verdict::Blocked
        } else {
            Verdict::Ready
        }
    }
}

/// What a plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Can be applied.
    Ready,
    /// A threshold is broken: only a force with a reason applies it.
    Blocked,
    /// The file has errors: it cannot be applied.
    Invalid,
}

/// Reads the file at `path` and builds its plan against the repository: what `idbulk plan`
/// and the app's preview both do. `reading` gets the import's progress (see
/// [`crate::import::read_bytes_with_progress`]) and may cancel it.
///
/// # Errors
///
/// The import's errors (unreadable, unsupported or hostile file; [`crate::ErrorCode::Cancelled`]
/// when `reading` says stop) and repository read errors. Problems *in* the file are findings
/// of the plan, not errors.
pub fn from_file(
    store: &crate::Store,
    path: &std::path::Path,
    mode: Mode,
    csv: &crate::import::CsvOptions,
    reading: &mut dyn FnMut(u64, u64) -> bool,
) -> crate::Result<Plan> {
    // Parsed and fingerprinted for the history: an .xlsx from its file, anything else from its
    // bytes, freed before the plan is built (issue 6).
    let upload = crate::import::Upload::open(path)?;
    let name = crate::import::file_name(path);
    let (schema, limits) = (store.schema(), crate::thresholds::Thresholds::load(store)?);
    let (plan, _stored) =
        read_with_snapshot(store, &name, upload, csv, reading, |workbook, rows| {
            let prepared = Prepared::new(schema, workbook, mode);
            let (input, stored) = rows.wait()?;
            Ok(prepared.finish(stored, input, &limits))
        })?;
    Ok(plan)
}

/// Reads an upload and loads the stored rows it will be compared with, at the same time: the
/// file on a second thread, the repository on this one (a SQLite connection stays on its
/// thread). On two cores this hides the load behind the read, a tenth of a sync (issue 6).
///
/// `then` runs on the reader's thread once the file is read, with the workbook and an
/// [`Arrival`] to wait for the stored rows (and the upload's [`InputFile`]) with: it does what
/// needs the file alone first (a [`Prepared`] plan), then waits and finishes the plan. The
/// workbook is freed on that thread when `then` returns, so the memory the read took is
/// reused there (mimalloc keeps a heap per thread). An upload in memory is fingerprinted by
/// whichever thread is free first, the reader once it has parsed it or this one once the rows
/// are loaded (which of the two finishes first depends on the file and the repository), and
/// its bytes are freed as soon as both are done with them; an `.xlsx` is fingerprinted by the
/// reader ([`crate::import::Upload::read_fingerprinted`]).
///
/// `reading` gets the import's progress as [`crate::import::read_bytes_with_progress`]
/// describes, always on this thread; returning `false` cancels both.
///
/// # Errors
///
/// The import's errors, repository read errors, [`crate::ErrorCode::Cancelled`], and those
/// `then` returns.
pub fn read_with_snapshot<T: Send>(
    store: &crate::Store,
    name: &str,
    upload: crate::import::Upload,
    csv: &crate::import::CsvOptions,
    reading: &mut dyn FnMut(u64, u64) -> bool,
    then: impl FnOnce(&crate::import::RawWorkbook, Arrival<'_>) -> crate::Result<T> + Send,
) -> crate::Result<(T, Snapshot)> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::import::{self, Upload};

    /// The upload as the reader holds it: an `.xlsx` file, or bytes this thread may
    /// fingerprint too.
    enum Held {
        File(Upload),
        Memory(Arc<Vec<u8>>),
    }
    let (held, mut in_memory) = match upload {
        Upload::Bytes(bytes) => {
            let bytes = Arc::new(bytes);
            (Held::Memory(Arc::clone(&bytes)), Some(bytes))
        }
        file => (Held::File(file), None),
    };
    // Taken by the first thread to ask: the fingerprint, if it was not taken already.
    let claimed = AtomicBool::new(false);
    let claim =
        |bytes: &[u8]| (!claimed.swap(true, Ordering::Relaxed)).then(|| import::fingerprint(bytes));
    let cancelled = AtomicBool::new(false);
    // Whether the caller said stop, which the reader may learn only after it has finished.
    let mut stopped = false;
    let (report, reports) = std::sync::mpsc::channel::<(u64, u64)>();
    // The stored rows, with the upload's fingerprint when this thread took it.
    let (hand_over, loaded) = std::sync::mpsc::channel::<(Snapshot, Option<(u64, String)>)>();
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let (report, loaded, held) = (report, loaded, held);
            let progress = &mut |done, total| {
                // The receiver outlives this thread (it is joined below): a send cannot fail.
                let _ = report.send((done, total));
                !cancelled.load(Ordering::Relaxed)
            };
            let read = match held {
                Held::File(upload) => {
                    upload.read_fingerprinted(name, csv, progress).map(|(w, f)| (w, Some(f)))
                }
                Held::Memory(bytes) => {
                    import::read_bytes_with_progress(name, &bytes, csv, progress)
                        .map(|workbook| (workbook, claim(&bytes)))
                }
            };
            // Hanging up tells the other thread the read is over.
            drop(report);
            let (workbook, ours) = read?;
            let stored = std::cell::OnceCell::new();
            let arrival = Arrival { name, loaded: &loaded, ours, stored: &stored };
            let out = then(&workbook, arrival)?;
            // Freed here, on the thread that allocated it (mimalloc keeps a heap per thread).
            drop(workbook);
            // The rows come back to the caller, who may not have waited for them.
            let stored = match stored.into_inner() {
                Some(stored) => stored,
                None => loaded.recv().map_err(|_| import::cancelled(name))?.0,
            };
            Ok((out, stored))
        });
        // Hands the reader's latest progress to the caller; says whether to go on.
        let mut forward = |latest: Option<(u64, u64)>| {
            if cancelled.load(Ordering::Relaxed) {
                return false;
            }
            if let Some((done, total)) = latest
                && !reading(done, total)
            {
                stopped = true;
                cancelled.store(true, Ordering::Relaxed);
                return false;
            }
            true
        };
        let load_error =
            match Snapshot::load_with_ticks(store, &mut || forward(reports.try_iter().last())) {
                // The reader takes the rows when its read is done; if it stopped on an error
                // it has hung up, and that error is the one reported.
                Ok(stored) => {
                    // Free now: the fingerprint, unless the reader has taken it.
                    let fingerprint = in_memory.take().and_then(|bytes| claim(&bytes));
                    let _ = hand_over.send((stored, fingerprint));
                    None
                }
                Err(e) => {
                    // No use reading a file that cannot be compared with anything.
                    cancelled.store(true, Ordering::Relaxed);
                    Some(e)
                }
            };
        drop(hand_over);
        // The rest of the read: each report as it comes, until the reader hangs up.
        for latest in reports.iter() {
            forward(Some(latest));
        }
        let outcome = match reader.join() {
            Ok(outcome) => outcome,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match (outcome, load_error) {
            (Ok(_), None) if stopped => Err(crate::import::cancelled(name)),
            (Ok(both), None) => Ok(both),
            // A repository that cannot be read stopped the reader: say why.
            (_, Some(e)) if e.code != crate::ErrorCode::Cancelled => Err(e),
            // Otherwise the reader's error: it names the file, and words a cancel best.
            (Err(e), _) | (Ok(_), Some(e)) => Err(e),
        }
    })
}

/// What [`read_with_snapshot`]'s `then` waits for: the stored rows, loaded on another
/// thread, and the upload's fingerprint.
pub struct Arrival<'a> {
    name: &'a str,
    loaded: &'a std::sync::mpsc::Receiver<(Snapshot, Option<(u64, String)>)>,
    /// The fingerprint, when the reader took it.
    ours: Option<(u64, String)>,
    /// Where the rows are kept once they have come, to go back to the caller.
    stored: &'a std::cell::OnceCell<Snapshot>,
}

impl<'a> Arrival<'a> {
    /// Waits for the stored rows; gives them with the upload as the history records it.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorCode::Cancelled`] (naming the file) when the rows will not come: their
    /// load failed or was cancelled, which [`read_with_snapshot`] then reports.
    pub fn wait(self) -> crate::Result<(InputFile, &'a Snapshot)> {
        let (rows, theirs) = self.loaded.recv().map_err(|_| crate::import::cancelled(self.name))?;
        // Exactly one thread took the fingerprint: the reader, or the other before sending.
        let (bytes, sha256) = self
            .ours
            .or(theirs)
            .ok_or_else(|| crate::Error::internal("the upload was not fingerprinted"))?;
        let input = InputFile { name: self.name.to_string(), sha256, bytes };
        Ok((input, self.stored.get_or_init(|| rows)))
    }
}

/// The name Excel gives a 0-based column index: 0 -> `A`, 25 -> `Z`, 26 -> `AA`.
pub fn column_letter(index: u32) -> String {
    let mut n = index as u64 + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        out.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::Upload;

    /// The demo repository and its full template, as bytes.
    fn demo_and_full_template(dir: &std::path::Path) -> (crate::Store, Vec<u8>) {
        use chrono::TimeZone;
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let store = crate::demo::create(&dir.join("r.db"), today).unwrap();
        let path = dir.join("full.xlsx");
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
        crate::template::write_xlsx(&store, crate::template::TemplateKind::Full, &path, now)
            .unwrap();
        (store, std::fs::read(&path).unwrap())
    }

    #[test]
    fn the_file_and_the_stored_rows_are_read_together_as_one_after_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let (store, bytes) = demo_and_full_template(dir.path());
        let csv = crate::import::CsvOptions::default();
        let mut reports = Vec::new();
        // `then` gets the file, then waits for the stored rows and the file's fingerprint;
        // what it returns comes back with the stored rows.
        let both = |workbook: &crate::import::RawWorkbook, rows: Arrival| {
            let (input, stored) = rows.wait()?;
            Ok((workbook.clone(), input, stored.clone()))
        };
        let ((workbook, input, given), snapshot) = read_with_snapshot(
            &store,
            "full.xlsx",
            Upload::Bytes(bytes.clone()),
            &csv,
            &mut |d, t| {
                reports.push((d, t));
                true
            },
            both,
        )
        .unwrap();
        assert_eq!(workbook, crate::import::read_bytes("full.xlsx", &bytes, &csv).unwrap());
        assert_eq!(input, InputFile::from_bytes("full.xlsx", &bytes));
        assert_eq!(snapshot, Snapshot::load(&store).unwrap());
        assert_eq!(given, snapshot);
        assert!(!snapshot.table("User").is_empty());
        // Every report reached the caller, in order, ending at the total.
        assert!(reports.windows(2).all(|w| w[0].0 <= w[1].0), "{reports:?}");
        let &(done, total) = reports.last().unwrap();
        assert!(total > 0 && done == total, "{reports:?}");
        // An .xlsx read from its file is fingerprinted from the file.
        let upload = Upload::open(&dir.path().join("full.xlsx")).unwrap();
        assert!(matches!(upload, Upload::Xlsx(_)));
        let input_of = |_: &_, rows: Arrival| Ok(rows.wait()?.0);
        let (input, _) =
            read_with_snapshot(&store, "full.xlsx", upload, &csv, &mut |_, _| true, input_of)
                .unwrap();
        assert_eq!(input, InputFile::from_bytes("full.xlsx", &bytes));
        // A `then` that does not wait still gets the stored rows back to its caller.
        let count = |workbook: &crate::import::RawWorkbook, _: Arrival| Ok(workbook.sheets.len());
        let (sheets, snapshot) = read_with_snapshot(
            &store,
            "full.xlsx",
            Upload::Bytes(bytes),
            &csv,
            &mut |_, _| true,
            count,
        )
        .unwrap();
        assert!(sheets > 0);
        assert_eq!(snapshot, Snapshot::load(&store).unwrap());
    }

    #[test]
    fn a_plan_carries_the_image_each_changed_row_is_stored_in_and_apply_records_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = demo_and_full_template(dir.path());
        let stored_image = |store: &crate::Store, key: &str| -> i64 {
            let sql = "SELECT image FROM record WHERE entity_type = 'User' AND key = ?1";
            store.conn().query_row(sql, [key], |r| r.get(0)).unwrap()
        };
        let (a, b) = (stored_image(&store, "00010"), stored_image(&store, "00011"));
        let user_type = Snapshot::load(&store).unwrap().table("UserType").keys().next().cloned();
        let file = dir.path().join("User.csv");
        std::fs::write(
            &file,
            format!(
                "Command,Identifier,FirstName,LastName,UserType\nModify,00010,Ann\n\
                 Modify,00011,Bo\nAdd,99999,Cy,Doe,{}\n",
                user_type.unwrap()
            ),
        )
        .unwrap();
        let csv = crate::import::CsvOptions::default();
        let plan = from_file(&store, &file, Mode::Incremental, &csv, &mut |_, _| true).unwrap();
        assert!(!plan.has_errors(), "{:?}", plan.findings);
        let carried: Vec<(&str, Option<i64>)> =
            plan.changes.iter().map(|c| (c.key.as_str(), c.before_image)).collect();
        assert_eq!(carried, [("00010", Some(a)), ("00011", Some(b)), ("99999", None)]);

        let run = crate::apply::run(
            &mut store,
            &plan,
            &crate::apply::Force::No,
            chrono::Utc::now(),
            &mut |_, _| true,
        )
        .unwrap();
        let sql = "SELECT key, before_image FROM change_row WHERE run_id = ?1 ORDER BY seq";
        let mut stmt = store.conn().prepare(sql).unwrap();
        let recorded: Vec<(String, Option<i64>)> = stmt
            .query_map([run.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected = [("00010", Some(a)), ("00011", Some(b)), ("99999", None)];
        assert_eq!(recorded, expected.map(|(k, i)| (k.to_string(), i)));
        drop(stmt);
        assert!(store.integrity_problems().unwrap().is_empty());
    }

    #[test]
    fn cancelling_the_read_stops_it_with_the_readers_words() {
        let dir = tempfile::tempdir().unwrap();
        let (store, bytes) = demo_and_full_template(dir.path());
        let csv = crate::import::CsvOptions::default();
        let keep = |workbook: &crate::import::RawWorkbook, _: Arrival| Ok(workbook.clone());
        let e = read_with_snapshot(
            &store,
            "full.xlsx",
            Upload::Bytes(bytes),
            &csv,
            &mut |_, _| false,
            keep,
        )
        .unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::Cancelled);
        assert!(e.message.contains("full.xlsx"), "{}", e.message);
        // A file the reader refuses is refused the same way as without the second thread.
        let e = read_with_snapshot(
            &store,
            "x.xlsx",
            Upload::Bytes(vec![]),
            &csv,
            &mut |_, _| true,
            keep,
        )
        .unwrap_err();
        let alone = crate::import::read_bytes("x.xlsx", b"", &csv).unwrap_err();
        assert_eq!((e.code, e.message), (alone.code, alone.message));
    }

    #[test]
    fn column_letters_follow_excel() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(16383), "XFD");
    }

    #[test]
    fn findings_say_where_they_are() {
        let mut f = Finding {
            severity: Severity::Error,
            code: "bad_value",
            sheet: Some("User".into()),
            row: Some(12),
            column: Some("D".into()),
            header: Some("Email".into()),
            value: Some("nope".into()),
            message: "\"nope\" is not an e-mail address.".into(),
            fix: "Type an address like name@example.com.".into(),
        };
        assert_eq!(
            f.to_string(),
            "error at User!D12 (Email): \"nope\" is not an e-mail address. Fix: Type an address like name@example.com."
        );
        f.column = None;
        assert_eq!(f.location(), "User row 12");
    }

    #[test]
    fn input_files_are_fingerprinted() {
        let f = InputFile::from_bytes("a.csv", b"abc");
        assert_eq!(f.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(f.bytes, 3);
    }
}

#[cfg(test)]
mod planner_tests;
