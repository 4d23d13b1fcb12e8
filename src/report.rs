//! Headcount reports: how many people per worker type, organisation or site, before and after
//! the last run (SPEC section 8), and their export to `.xlsx` and `.csv`.
//!
//! # Overview
//!
//! [`headcount`] counts people per group in two states of the repository:
//!
//! - **after**: the rows as stored now;
//! - **before**: the rows as they were before the last recorded run, rebuilt from the run's
//!   before/after images ([`crate::history`]): the current rows with that run's changes
//!   reverted, latest change first. If the last run was an undo, "before" is the state the undo
//!   started from. With no run recorded yet, before and after are the same.
//!
//! Each [`Group`] has its count before, after, and the difference. Worker types carry their
//! external flag and category; organisations carry their parent, their depth in the tree, and a
//! **rolled-up** count: the people of the organisation and of every organisation below it
//! through the parent attribute (the whole subtree, computed in each state with that state's
//! parents; a loop of parents is counted once). People with no value form the "(none)" group,
//! shown only when it holds someone before or after. A key people refer to that no row has
//! (deleted since, or dangling) is still a group, named by its key.
//!
//! [`Report::table`] lays a report out as rows and columns; the CLI, [`write_xlsx`] and
//! [`write_csv`] all print that one table, so they never disagree.
//!
//! # Generic over the schema
//!
//! The person type, the attribute naming each person's group and the group's own attributes
//! come from the schema's [`Roles`](crate::schema::Roles). A report whose roles are absent is
//! refused with a usage error naming them.
//!
//! # Files
//!
//! The workbook is a report, not a template: a title, the generation date, what "before" means,
//! a formatted table (bold header, number formats, widths fitted to the content, autofilter,
//! frozen header), a totals row, and a column chart of before versus after. Text that a
//! spreadsheet would run as a formula is written with the quote prefix. The CSV file is UTF-8
//! with a byte-order mark (so Excel shows accents), comma-separated with CRLF line ends, with the
//! same columns and the totals row last; formula-like text gets a leading `'`
//! ([`crate::value::csv_export`]). Both are written to a temporary file in the destination
//! folder and renamed over the target, so a crash leaves the old file or a complete new one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{
    Chart, ChartLegendPosition, ChartSolidFill, ChartType, Color, DocProperties, ExcelDateTime,
    Format, FormatAlign, FormatBorder, Workbook, XlsxError,
};
use serde::{Deserialize, Serialize};

use crate::document::write_atomically;
#[cfg(doc)]
use crate::error::ErrorCode;
use crate::error::{Error, Result};
use crate::history::{self, RecordedChange, Run, RunKind};
use crate::plan::Snapshot;
use crate::schema::Schema;
use crate::store::{Row, Store, Text, sql_error};
use crate::value::{csv_export, looks_like_formula};
use crate::verify::{Parts, cell};

/// What people are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// Per worker type (`roles.worker_type`, through `roles.person_worker_type`).
    UserType,
    /// Per organisation (`roles.organization`, through `roles.person_organization`), direct
    /// and rolled up through `roles.organization_parent`.
    Organization,
    /// Per site (`roles.site`, through `roles.person_site`).
    Site,
}

impl ReportKind {
    /// The kind's name, as the CLI takes it.
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::UserType => "usertype",
            ReportKind::Organization => "organization",
            ReportKind::Site => "site",
        }
    }
}

/// A count before and after the last run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Count {
    /// People before the last run.
    pub before: u64,
    /// People now.
    pub after: u64,
    /// `after - before`.
    pub difference: i64,
}

impl Count {
    fn new(before: u64, after: u64) -> Count {
        Count { before, after, difference: after as i64 - before as i64 }
    }
}

/// What a group carries besides its counts, by report kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(untagged)]
pub enum GroupDetails {
    /// A worker type.
    WorkerType {
        /// `roles.worker_type_external`: `null` when blank or not in the schema.
        is_external: Option<bool>,
        /// `roles.worker_type_category`: `null` when blank or not in the schema.
        category: Option<String>,
    },
    /// An organisation.
    Organization {
        /// The parent's key, `null` for a root (or without `roles.organization_parent`).
        parent: Option<String>,
        /// 0 for a root, 1 for its children, and so on (the table indents by it).
        depth: usize,
        /// The people of the organisation and of its whole subtree.
        rolled_up: Count,
    },
    /// A site: nothing more.
    Site {},
}

/// One row of a report: a worker type, organisation or site, or "(none)".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Group {
    /// The group's key; `null` for the people with no value.
    pub key: Option<String>,
    /// The group's display name, its key if it has no row, or `(none)`.
    pub name: String,
    /// Whether a row of the group's entity type with this key is stored now.
    pub exists: bool,
    /// Kind-specific details (flattened into the group in JSON).
    #[serde(flatten)]
    pub details: GroupDetails,
    /// People whose own value is this group.
    pub headcount: Count,
}

/// The run a report compares against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct LastRun {
    /// The run's number.
    pub id: i64,
    /// Sync or undo.
    pub kind: RunKind,
    /// When it was applied (RFC 3339, UTC).
    pub started_at: String,
    /// The file it applied, for a sync.
    pub file_name: Option<String>,
    /// For an undo, the run it reverted.
    pub undo_of: Option<i64>,
}

impl From<&Run> for LastRun {
    fn from(run: &Run) -> LastRun {
        LastRun {
            id: run.id,
            kind: run.kind,
            started_at: run.started_at.clone(),
            file_name: run.file_name.clone(),
            undo_of: run.undo_of,
        }
    }
}

/// A headcount report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Report {
    /// What people are grouped by.
    pub kind: ReportKind,
    /// The entity type of the groups (e.g. `UserType`).
    pub entity_type: String,
    /// `Headcount per <entity type>`.
    pub title: String,
    /// The day the report was made.
    pub generated_on: NaiveDate,
    /// The repository revision counted as "after".
    pub revision: u64,
    /// The run whose before-state is counted as "before"; `null` when none was recorded.
    pub last_run: Option<LastRun>,
    /// The groups: by key, or in tree order for organisations; "(none)" last.
    pub groups: Vec<Group>,
    /// Every person, before and after.
    pub total: Count,
}

impl Report {
    /// What "before" means, in a sentence.
    pub fn baseline(&self) -> String {
        match &self.last_run {
            None => "No run has been recorded yet, so before and after are the same.".into(),
            Some(run) => {
                let what = match (run.kind, run.undo_of, &run.file_name) {
                    (RunKind::Undo, Some(of), _) => format!("the undo of run {of}"),
                    (_, _, Some(file)) => format!("the sync of {file}"),
                    _ => "a sync".into(),
                };
                format!(
                    "Before = the repository before run {} ({what}, {}); after = now.",
                    run.id, run.started_at
                )
            }
        }
    }

    /// The report as a table: the columns every output prints.
    pub fn table(&self) -> Table {
        let mut headers = vec!["Key", "Name"];
        let counts: &[&str] = match self.kind {
            ReportKind::UserType => {
                headers.extend(["External", "Category"]);
                &["Before", "After", "Difference"]
            }
            ReportKind::Organization => {
                headers.push("Parent");
                &[
                    "Direct before",
                    "Direct after",
                    "Direct difference",
                    "Rolled-up before",
                    "Rolled-up after",
                    "Rolled-up difference",
                ]
            }
            ReportKind::Site => &["Before", "After", "Difference"],
        };
        let before_column = headers.len();
        headers.extend(counts);
        let text = |v: &Option<String>| v.clone().map_or(TableCell::Empty, TableCell::Text);
        let count = |c: &Count| {
            [
                TableCell::Count(c.before),
                TableCell::Count(c.after),
                TableCell::Difference(c.difference),
            ]
        };
        let rows = self
            .groups
            .iter()
            .map(|g| {
                let mut cells = vec![text(&g.key), TableCell::Text(g.name.clone())];
                let mut depth = 0;
                let mut rolled = None;
                match &g.details {
                    GroupDetails::WorkerType { is_external, category } => {
                        cells.push(is_external.map_or(TableCell::Empty, TableCell::Flag));
                        cells.push(text(category));
                    }
                    GroupDetails::Organization { parent, depth: d, rolled_up } => {
                        cells.push(text(parent));
                        depth = *d;
                        rolled = Some(rolled_up);
                    }
                    GroupDetails::Site {} => {}
                }
                cells.extend(count(&g.headcount));
                if let Some(r) = rolled {
                    cells.extend(count(r));
                }
                TableRow { cells, depth }
            })
            .collect();
        let mut total = vec![TableCell::Text("Total".into())];
        total.resize(before_column, TableCell::Empty);
        total.extend(count(&self.total));
        total.resize(headers.len(), TableCell::Empty);
        Table {
            headers,
            rows,
            total,
            name_column: 1,
            before_column,
            after_column: before_column + 1,
        }
    }
}

/// One cell of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableCell {
    /// Nothing.
    Empty,
    /// Text.
    Text(String),
    /// Yes or no.
    Flag(bool),
    /// A number of people.
    Count(u64),
    /// A signed difference of people.
    Difference(i64),
}

impl TableCell {
    /// The cell as text: `Yes`/`No` for flags, `+3`/`-3`/`0` for differences.
    pub fn text(&self) -> String {
        match self {
            TableCell::Empty => String::new(),
            TableCell::Text(t) => t.clone(),
            TableCell::Flag(b) => if *b { "Yes" } else { "No" }.into(),
            TableCell::Count(n) => n.to_string(),
            TableCell::Difference(d) if *d > 0 => format!("+{d}"),
            TableCell::Difference(d) => d.to_string(),
        }
    }
}

/// One data row of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// One cell per header.
    pub cells: Vec<TableCell>,
    /// How far to indent the name (organisation tree depth).
    pub depth: usize,
}

/// A report laid out as columns: see [`Report::table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Column headers.
    pub headers: Vec<&'static str>,
    /// One row per group.
    pub rows: Vec<TableRow>,
    /// The totals row.
    pub total: Vec<TableCell>,
    /// The column of names (the chart's categories).
    pub name_column: usize,
    /// The column of "before" counts (the chart's first series).
    pub before_column: usize,
    /// The column of "after" counts (the chart's second series).
    pub after_column: usize,
}

/// Counts people per group now and before the last run; see the [module overview](self).
///
/// Everything is read in one read transaction, so the rows and the history agree.
///
/// # Errors
///
/// [`ErrorCode::Usage`] when the schema lacks the roles the report needs,
/// [`ErrorCode::Repository`] or [`ErrorCode::Busy`] when the repository cannot be read.
///
/// # Examples
///
/// ```
/// use idbulk::report::{self, ReportKind};
///
/// let dir = tempfile::tempdir().expect("a temporary folder");
/// let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("a date");
/// let store = idbulk::demo::create(&dir.path().join("repository.db"), today)?;
/// let sites = report::headcount(&store, ReportKind::Site, today)?;
/// assert_eq!(sites.total.after, idbulk::demo::PEOPLE as u64);
/// assert_eq!(sites.total.difference, 0, "no run yet: nothing changed");
/// # Ok::<(), idbulk::Error>(())
/// ```
pub fn headcount(store: &Store, by: ReportKind, today: NaiveDate) -> Result<Report> {
    let read = store.conn().unchecked_transaction().map_err(|e| sql_error(store.path(), e))?;
    let after = Snapshot::load(store)?;
    let last = history::last(store)?;
    let before = match &last {
        Some(run) => before_run(&after, &history::changes(store, run.id)?),
        None => after.clone(),
    };
    drop(read);
    build(store.schema(), by, &before, &after, last.as_ref().map(LastRun::from), today)
}

/// The rows as they were before a run: `after` with the run's `changes` reverted, last change
/// first (a row's before-image is put back; a row the run created is removed).
pub fn before_run(after: &Snapshot, changes: &[RecordedChange]) -> Snapshot {
    // Not `after.clone()`: which image each row is in belongs to the state read, not this one.
    let mut before = Snapshot::of(after.revision, after.tables.clone());
    for change in changes.iter().rev() {
        let table = before.tables.entry(change.entity_type.clone()).or_default();
        match &change.before {
            Some(row) => {
                table.insert(change.key.as_str().into(), row.clone());
            }
            None => {
                table.remove(change.key.as_str());
            }
        }
    }
    before
}

/// Builds a report from two states of the repository; pure (see [`headcount`]).
///
/// # Errors
///
/// [`ErrorCode::Usage`] when the schema lacks the roles the report needs.
pub fn build(
    schema: &Schema,
    by: ReportKind,
    before: &Snapshot,
    after: &Snapshot,
    last_run: Option<LastRun>,
    today: NaiveDate,
) -> Result<Report> {
    let parts = Parts::of(schema);
    let (group_type, person_attr, roles) = match by {
        ReportKind::UserType => {
            (parts.worker_type, parts.person_worker_type, "worker_type and person_worker_type")
        }
        ReportKind::Organization => {
            (parts.organization, parts.person_organization, "organization and person_organization")
        }
        ReportKind::Site => (parts.site, parts.person_site, "site and person_site"),
    };
    let (Some(person), Some(group_type), Some(pa)) = (parts.person, group_type, person_attr) else {
        return Err(Error::usage(format!(
            "This repository's schema does not declare the roles a {} report needs (person, {roles}).",
            by.name()
        )));
    };
    let direct = |rows: &'_ Snapshot| -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for row in rows.table(&person.name).values() {
            *counts.entry(cell(row, pa).to_string()).or_default() += 1;
        }
        counts
    };
    let (direct_before, direct_after) = (direct(before), direct(after));
    let (rows_before, rows_after) = (before.table(&group_type.name), after.table(&group_type.name));
    let mut keys: BTreeSet<&str> = rows_before
        .keys()
        .chain(rows_after.keys())
        .map(Text::as_str)
        .chain(direct_before.keys().chain(direct_after.keys()).map(String::as_str))
        .collect();
    keys.remove("");
    let row_of = |key: &str| rows_after.get(key).or_else(|| rows_before.get(key));

    let parent_attr = parts.organization_parent.filter(|_| by == ReportKind::Organization);
    let order: Vec<(&str, usize)> = match parent_attr {
        Some(pi) => tree_order(&keys, |k| row_of(k).map(|r| cell(r, pi))),
        None => keys.iter().map(|k| (*k, 0)).collect(),
    };
    let (rolled_before, rolled_after) = match parent_attr {
        Some(pi) => {
            (rolled_up(rows_before, pi, &direct_before), rolled_up(rows_after, pi, &direct_after))
        }
        None => (direct_before.clone(), direct_after.clone()),
    };
    let get = |counts: &BTreeMap<String, u64>, key: &str| counts.get(key).copied().unwrap_or(0);
    let details = |key: &str, row: Option<&Row>, depth: usize| -> GroupDetails {
        let attr = |ai: Option<usize>| {
            row.zip(ai).map(|(r, ai)| cell(r, ai)).filter(|v| !v.is_empty()).map(str::to_string)
        };
        match by {
            ReportKind::UserType => GroupDetails::WorkerType {
                is_external: attr(parts.worker_type_external).and_then(|v| v.parse().ok()),
                category: attr(parts.worker_type_category),
            },
            ReportKind::Organization => GroupDetails::Organization {
                parent: attr(parts.organization_parent),
                depth,
                rolled_up: Count::new(get(&rolled_before, key), get(&rolled_after, key)),
            },
            ReportKind::Site => GroupDetails::Site {},
        }
    };
    let mut groups: Vec<Group> = order
        .into_iter()
        .map(|(key, depth)| {
            let row = row_of(key);
            Group {
                key: Some(key.to_string()),
                name: row.map_or_else(|| key.to_string(), |r| r.display_name(group_type)),
                exists: rows_after.contains_key(key),
                details: details(key, row, depth),
                headcount: Count::new(get(&direct_before, key), get(&direct_after, key)),
            }
        })
        .collect();
    let nobody = Count::new(get(&direct_before, ""), get(&direct_after, ""));
    if nobody.before > 0 || nobody.after > 0 {
        groups.push(Group {
            key: None,
            name: "(none)".into(),
            exists: false,
            details: match details("", None, 0) {
                GroupDetails::Organization { parent, depth, .. } => {
                    GroupDetails::Organization { parent, depth, rolled_up: nobody }
                }
                other => other,
            },
            headcount: nobody,
        });
    }
    Ok(Report {
        kind: by,
        entity_type: group_type.name.clone(),
        title: format!("Headcount per {}", group_type.name),
        generated_on: today,
        revision: after.revision,
        last_run,
        total: Count::new(
            before.table(&person.name).len() as u64,
            after.table(&person.name).len() as u64,
        ),
        groups,
    })
}

/// Keys in tree order (roots by key, each followed by its subtree, children by key) with their
/// depth; keys on a loop of parents come after, from their smallest key.
fn tree_order<'a>(
    keys: &BTreeSet<&'a str>,
    parent_of: impl Fn(&str) -> Option<&'a str>,
) -> Vec<(&'a str, usize)> {
    let mut children: BTreeMap<&str, Vec<&'a str>> = BTreeMap::new();
    let mut roots = Vec::new();
    for &key in keys {
        match parent_of(key).filter(|p| *p != key && keys.contains(p)) {
            Some(parent) => children.entry(parent).or_default().push(key),
            None => roots.push(key),
        }
    }
    let mut order = Vec::with_capacity(keys.len());
    let mut visited: BTreeSet<&str> = BTreeSet::new();
    for start in roots.into_iter().chain(keys.iter().copied()) {
        let mut stack = vec![(start, 0)];
        while let Some((key, depth)) = stack.pop() {
            if !visited.insert(key) {
                continue;
            }
            order.push((key, depth));
            // Reversed so the smallest child is popped, and listed, first.
            for &child in children.get(key).into_iter().flatten().rev() {
                stack.push((child, depth + 1));
            }
        }
    }
    order
}

/// Per organisation of `orgs`, the people of its whole subtree through attribute `pi`; keys
/// that are not organisations keep their direct count.
fn rolled_up(
    orgs: &BTreeMap<Text, Row>,
    pi: usize,
    direct: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (key, row) in orgs {
        let parent = cell(row, pi);
        if !parent.is_empty() && parent != key {
            children.entry(parent).or_default().push(key);
        }
    }
    let mut rolled = direct.clone();
    for key in orgs.keys() {
        let mut seen = BTreeSet::from([key.as_str()]);
        let mut stack = vec![key.as_str()];
        let mut sum = 0;
        while let Some(k) = stack.pop() {
            sum += direct.get(k).copied().unwrap_or(0);
            for &child in children.get(k).into_iter().flatten() {
                if seen.insert(child) {
                    stack.push(child);
                }
            }
        }
        rolled.insert(key.to_string(), sum);
    }
    rolled
}

/// A report file's format, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// An Excel workbook.
    Xlsx,
    /// A CSV file, UTF-8 with BOM.
    Csv,
}

impl ExportFormat {
    /// The format a file name asks for: `.xlsx` or `.csv`, in any case.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Usage`] for any other extension.
    pub fn of(path: &Path) -> Result<ExportFormat> {
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("xlsx") => Ok(ExportFormat::Xlsx),
            Some("csv") => Ok(ExportFormat::Csv),
            _ => Err(Error::usage(format!(
                "{} should end in .xlsx or .csv: those are the formats a report is exported to.",
                path.display()
            ))),
        }
    }
}

/// Writes the report to `path` in the format its extension names; returns that format.
///
/// # Errors
///
/// As [`ExportFormat::of`], [`write_xlsx`] and [`write_csv`].
pub fn export(report: &Report, path: &Path) -> Result<ExportFormat> {
    let format = ExportFormat::of(path)?;
    match format {
        ExportFormat::Xlsx => write_xlsx(report, path)?,
        ExportFormat::Csv => write_csv(report, path)?,
    }
    Ok(format)
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Writes the report as CSV (UTF-8 with BOM, comma, CRLF), atomically: the table's header,
/// one line per group, and the totals line.
///
/// # Errors
///
/// [`ErrorCode::Usage`] when `path` is a folder, [`ErrorCode::NotFound`] when its folder does
/// not exist, [`ErrorCode::Io`] when it cannot be written (for instance, open in Excel).
pub fn write_csv(report: &Report, path: &Path) -> Result<()> {
    let bytes = csv_bytes(report)?;
    write_atomically(path, |f| f.write_all(&bytes).map_err(|e| Error::io(path, "write", &e)))
}

fn csv_bytes(report: &Report) -> Result<Vec<u8>> {
    let table = report.table();
    let csv_error =
        |e: csv::Error| Error::internal(format!("The CSV report could not be built: {e}."));
    let mut csv =
        csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(BOM.to_vec());
    csv.write_record(&table.headers).map_err(csv_error)?;
    for cells in table.rows.iter().map(|r| &r.cells).chain(std::iter::once(&table.total)) {
        // Only text can smuggle a formula in. Numbers are written as plain numbers (a
        // difference without its display `+`), so Excel reads them as numbers.
        let fields = cells.iter().map(|c| match c {
            TableCell::Text(t) => csv_export(t).into_owned(),
            TableCell::Difference(d) => d.to_string(),
            other => other.text(),
        });
        csv.write_record(fields).map_err(csv_error)?;
    }
    csv.into_inner()
        .map_err(|e| Error::internal(format!("The CSV report could not be built: {e}.")))
}

/// Name of the report's worksheet.
const SHEET: &str = "Headcount";
/// Row (zero-based) of the table's header.
const HEADER_ROW: u32 = 4;

/// Writes the report as an `.xlsx` workbook, atomically; see the [module overview](self).
///
/// # Errors
///
/// [`ErrorCode::Usage`] when `path` is a folder, [`ErrorCode::NotFound`] when its folder does
/// not exist, [`ErrorCode::Io`] when it cannot be written (for instance, open in Excel).
pub fn write_xlsx(report: &Report, path: &Path) -> Result<()> {
    crate::document::destination(path)?;
    let bytes = xlsx_bytes(report).map_err(xlsx_error)?;
    write_atomically(path, |f| f.write_all(&bytes).map_err(|e| Error::io(path, "write", &e)))
}

fn xlsx_bytes(report: &Report) -> Result<Vec<u8>, XlsxError> {
    let table = report.table();
    let mut workbook = Workbook::new();
    workbook.set_properties(
        &DocProperties::new()
            .set_title(&report.title)
            .set_subject(report.baseline())
            .set_author("idbulk"),
    );
    let sheet = workbook.add_worksheet();
    sheet.set_name(SHEET)?;

    let blue = Color::RGB(0x1F_4E_79);
    let count_format = "#,##0";
    let difference_format = "+#,##0;-#,##0;0";
    let title = Format::new().set_bold().set_font_size(16).set_font_color(blue);
    let note = Format::new().set_italic().set_font_color(Color::RGB(0x59_59_59));
    let date = Format::new().set_num_format("yyyy-mm-dd").set_align(FormatAlign::Left);
    let header = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_background_color(Color::RGB(0xDD_EB_F7))
        .set_border_bottom(FormatBorder::Thin);
    let text = Format::new();
    let inert = Format::new().set_quote_prefix();
    let count = Format::new().set_num_format(count_format);
    let difference = Format::new().set_num_format(difference_format);
    let total = Format::new().set_bold().set_border_top(FormatBorder::Double);
    let total_count = total.clone().set_num_format(count_format);
    let total_difference = total.clone().set_num_format(difference_format);

    sheet.write_string_with_format(0, 0, &report.title, &title)?;
    sheet.write_string(1, 0, "Generated on")?;
    let day = report.generated_on;
    let day = ExcelDateTime::from_ymd(day.year() as u16, day.month() as u8, day.day() as u8)?;
    sheet.write_datetime_with_format(1, 1, &day, &date)?;
    sheet.write_string_with_format(2, 0, report.baseline(), &note)?;

    let last_col = (table.headers.len() - 1) as u16;
    for (c, h) in table.headers.iter().enumerate() {
        sheet.write_string_with_format(HEADER_ROW, c as u16, *h, &header)?;
    }
    let mut widths: Vec<usize> = table.headers.iter().map(|h| h.len().min(14)).collect();
    for (i, row) in table.rows.iter().enumerate() {
        let r = HEADER_ROW + 1 + i as u32;
        for (c, value) in row.cells.iter().enumerate() {
            let col = c as u16;
            let mut shown = value.text().chars().count();
            match value {
                TableCell::Empty => {}
                TableCell::Text(t) => {
                    let base = if looks_like_formula(t) { &inert } else { &text };
                    if c == table.name_column && row.depth > 0 {
                        let indent = row.depth.min(15) as u8;
                        let indented = base.clone().set_indent(indent);
                        sheet.write_string_with_format(r, col, t, &indented)?;
                        shown += 2 * row.depth;
                    } else {
                        sheet.write_string_with_format(r, col, t, base)?;
                    }
                }
                TableCell::Flag(_) => {
                    sheet.write_string_with_format(r, col, value.text(), &text)?;
                }
                TableCell::Count(n) => {
                    sheet.write_number_with_format(r, col, *n as f64, &count)?;
                }
                TableCell::Difference(d) => {
                    sheet.write_number_with_format(r, col, *d as f64, &difference)?;
                }
            }
            widths[c] = widths[c].max(shown);
        }
    }
    let total_row = HEADER_ROW + 1 + table.rows.len() as u32;
    for (c, value) in table.total.iter().enumerate() {
        let col = c as u16;
        match value {
            TableCell::Count(n) => {
                sheet.write_number_with_format(total_row, col, *n as f64, &total_count)?
            }
            TableCell::Difference(d) => {
                sheet.write_number_with_format(total_row, col, *d as f64, &total_difference)?
            }
            TableCell::Empty => sheet.write_blank(total_row, col, &total)?,
            other => sheet.write_string_with_format(total_row, col, other.text(), &total)?,
        };
    }
    for (c, w) in widths.iter().enumerate() {
        sheet.set_column_width(c as u16, (*w).clamp(8, 50) as f64 + 2.0)?;
    }
    sheet.set_row_height(HEADER_ROW, 30)?;
    sheet.set_freeze_panes(HEADER_ROW + 1, 0)?;
    // The filter covers the groups, not the totals row (sorting must not move it).
    sheet.autofilter(HEADER_ROW, 0, HEADER_ROW + table.rows.len() as u32, last_col)?;

    if !table.rows.is_empty() {
        let (first, last) = (HEADER_ROW + 1, HEADER_ROW + table.rows.len() as u32);
        let name = table.name_column as u16;
        let mut chart = Chart::new(ChartType::Column);
        for (column, colour) in
            [(table.before_column, 0xA6_A6_A6), (table.after_column, 0x2E_75_B6)]
        {
            let column = column as u16;
            chart
                .add_series()
                .set_name((SHEET, HEADER_ROW, column))
                .set_categories((SHEET, first, name, last, name))
                .set_values((SHEET, first, column, last, column))
                .set_format(ChartSolidFill::new().set_color(Color::RGB(colour)));
        }
        chart.title().set_name(&format!("{}: before and after", report.title));
        chart.y_axis().set_name("People");
        chart.legend().set_position(ChartLegendPosition::Bottom);
        chart.set_width((table.rows.len() as u32 * 40).clamp(600, 1800)).set_height(360);
        sheet.insert_chart(HEADER_ROW, last_col + 2, &chart)?;
    }
    workbook.save_to_buffer()
}

fn xlsx_error(e: XlsxError) -> Error {
    Error::internal(format!("The report workbook could not be built: {e}."))
}

#[cfg(test)]
mod tests {
    use calamine::{Data, Reader, open_workbook_auto};

    use super::*;
    use crate::error::ErrorCode;
    use crate::plan::Op;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    fn put(schema: &Schema, rows: &mut Snapshot, t: &str, key: &str, values: &[(&str, &str)]) {
        let et = schema.entity_type(t).unwrap();
        let mut row = Row::empty(key, et);
        for (name, value) in values {
            row.values.set(et.attribute_index(name).unwrap(), value);
        }
        rows.tables.entry(t.into()).or_default().insert(key.into(), row);
    }

    /// HQ > ENG > (WEB, APP); HQ > OPS; people spread over them, one with no organisation.
    fn directory() -> (Schema, Snapshot) {
        let schema = Schema::directory();
        let mut rows = Snapshot::default();
        let s = &schema;
        put(
            s,
            &mut rows,
            "UserType",
            "EMP",
            &[("DisplayName", "Employee"), ("IsExternal", "false"), ("Category", "Permanent")],
        );
        put(
            s,
            &mut rows,
            "UserType",
            "CON",
            &[("DisplayName", "Contractor"), ("IsExternal", "true")],
        );
        for (key, name, parent) in [
            ("HQ", "Head office", ""),
            ("ENG", "Engineering", "HQ"),
            ("WEB", "Web", "ENG"),
            ("APP", "Apps", "ENG"),
            ("OPS", "=Ops", "HQ"),
        ] {
            put(s, &mut rows, "Organization", key, &[("DisplayName", name), ("Parent", parent)]);
        }
        put(s, &mut rows, "Site", "PAR", &[("DisplayName", "Paris Siège")]);
        for (key, org, ty) in [
            ("1", "HQ", "EMP"),
            ("2", "ENG", "EMP"),
            ("3", "WEB", "CON"),
            ("4", "WEB", "EMP"),
            ("5", "APP", "EMP"),
            ("6", "OPS", "CON"),
            ("7", "", "EMP"),
        ] {
            put(
                s,
                &mut rows,
                "User",
                key,
                &[("LastName", "X"), ("UserType", ty), ("Organization", org), ("Site", "PAR")],
            );
        }
        (schema, rows)
    }

    fn change(
        schema: &Schema,
        after: &Snapshot,
        key: &str,
        attr: &str,
        value: &str,
    ) -> (Snapshot, RecordedChange) {
        let et = schema.entity_type("User").unwrap();
        let old = after.table("User")[key].clone();
        let mut new = old.clone();
        new.values.set(et.attribute_index(attr).unwrap(), value);
        let mut next = after.clone();
        next.tables.get_mut("User").unwrap().insert(key.into(), new.clone());
        let c = RecordedChange {
            entity_type: "User".into(),
            key: key.into(),
            op: Op::Update,
            before: Some(old),
            after: Some(new),
        };
        (next, c)
    }

    #[test]
    fn before_run_reverts_creates_updates_and_deletes() {
        let (schema, before) = directory();
        let (mut after, update) = change(&schema, &before, "3", "UserType", "EMP");
        let gone = after.tables.get_mut("User").unwrap().remove("5").unwrap();
        let et = schema.entity_type("User").unwrap();
        let new = Row::empty("8", et);
        after.tables.get_mut("User").unwrap().insert("8".into(), new.clone());
        let changes = [
            update,
            RecordedChange {
                entity_type: "User".into(),
                key: "5".into(),
                op: Op::Delete,
                before: Some(gone),
                after: None,
            },
            RecordedChange {
                entity_type: "User".into(),
                key: "8".into(),
                op: Op::Create,
                before: None,
                after: Some(new),
            },
        ];
        assert_eq!(before_run(&after, &changes), before);
    }

    #[test]
    fn worker_types_count_before_and_after_with_their_details() {
        let (schema, before) = directory();
        let (after, _) = change(&schema, &before, "3", "UserType", "EMP");
        let r = build(&schema, ReportKind::UserType, &before, &after, None, today()).unwrap();
        let rows: Vec<_> = r
            .groups
            .iter()
            .map(|g| {
                (
                    g.key.as_deref().unwrap(),
                    g.headcount.before,
                    g.headcount.after,
                    g.headcount.difference,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [("CON", 2, 1, -1), ("EMP", 5, 6, 1)],
            "no (none) group: everyone has a type"
        );
        assert_eq!(
            r.groups[0].details,
            GroupDetails::WorkerType { is_external: Some(true), category: None }
        );
        assert_eq!(r.total, Count { before: 7, after: 7, difference: 0 });
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["kind"], "usertype");
        assert_eq!(json["groups"][1]["is_external"], false, "details are flattened into the group");
        assert_eq!(json["groups"][1]["category"], "Permanent");
        assert_eq!(json["groups"][1]["headcount"]["difference"], 1);
    }

    #[test]
    fn organisations_are_in_tree_order_with_rolled_up_subtrees() {
        let (schema, before) = directory();
        // Person 4 moves from WEB to OPS: ENG's subtree loses one, HQ's does not.
        let (after, _) = change(&schema, &before, "4", "Organization", "OPS");
        let r = build(&schema, ReportKind::Organization, &before, &after, None, today()).unwrap();
        let rows: Vec<_> = r
            .groups
            .iter()
            .map(|g| match &g.details {
                GroupDetails::Organization { depth, rolled_up, .. } => (
                    g.name.as_str(),
                    *depth,
                    (g.headcount.before, g.headcount.after),
                    (rolled_up.before, rolled_up.after),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("Head office", 0, (1, 1), (6, 6)),
                ("Engineering", 1, (1, 1), (4, 3)),
                ("Apps", 2, (1, 1), (1, 1)),
                ("Web", 2, (2, 1), (2, 1)),
                ("=Ops", 1, (1, 2), (1, 2)),
                ("(none)", 0, (1, 1), (1, 1)),
            ]
        );
    }

    #[test]
    fn a_loop_of_parents_is_counted_once_and_still_listed() {
        let (schema, mut rows) = directory();
        let s = &schema;
        put(s, &mut rows, "Organization", "X", &[("DisplayName", "X"), ("Parent", "Y")]);
        put(s, &mut rows, "Organization", "Y", &[("DisplayName", "Y"), ("Parent", "X")]);
        put(
            s,
            &mut rows,
            "User",
            "9",
            &[("LastName", "X"), ("UserType", "EMP"), ("Organization", "X")],
        );
        let r = build(&schema, ReportKind::Organization, &rows, &rows, None, today()).unwrap();
        let names: Vec<_> = r.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            ["Head office", "Engineering", "Apps", "Web", "=Ops", "X", "Y", "(none)"]
        );
        let y = r.groups.iter().find(|g| g.name == "Y").unwrap();
        assert!(matches!(
            y.details,
            GroupDetails::Organization { rolled_up: Count { after: 1, .. }, .. }
        ));
    }

    #[test]
    fn unknown_keys_and_people_without_a_value_are_groups_too() {
        let (schema, before) = directory();
        let (after, _) = change(&schema, &before, "1", "Site", "");
        let (after, _) = change(&schema, &after, "2", "Site", "GONE");
        let r = build(&schema, ReportKind::Site, &before, &after, None, today()).unwrap();
        let rows: Vec<_> = r
            .groups
            .iter()
            .map(|g| (g.key.clone(), g.name.as_str(), g.exists, g.headcount.difference))
            .collect();
        assert_eq!(
            rows,
            [
                (Some("GONE".into()), "GONE", false, 1),
                (Some("PAR".into()), "Paris Siège", true, -2),
                (None, "(none)", false, 1),
            ]
        );
    }

    #[test]
    fn a_report_needs_its_roles() {
        let text = crate::schema::DIRECTORY_TOML.replace("person_site = \"Site\"\n", "");
        let schema = Schema::from_toml(&text).unwrap();
        let err = build(
            &schema,
            ReportKind::Site,
            &Snapshot::default(),
            &Snapshot::default(),
            None,
            today(),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::Usage);
        assert!(err.message.contains("site and person_site"), "{}", err.message);
    }

    #[test]
    fn the_table_has_a_totals_row_and_signed_differences() {
        let (schema, before) = directory();
        let (after, _) = change(&schema, &before, "3", "UserType", "EMP");
        let t =
            build(&schema, ReportKind::UserType, &before, &after, None, today()).unwrap().table();
        assert_eq!(
            t.headers,
            ["Key", "Name", "External", "Category", "Before", "After", "Difference"]
        );
        let texts: Vec<String> = t.rows[0].cells.iter().map(TableCell::text).collect();
        assert_eq!(texts, ["CON", "Contractor", "Yes", "", "2", "1", "-1"]);
        let total: Vec<String> = t.total.iter().map(TableCell::text).collect();
        assert_eq!(total, ["Total", "", "", "", "7", "7", "0"]);
        assert_eq!((t.before_column, t.after_column), (4, 5));
    }

    #[test]
    fn csv_has_a_bom_accents_and_inert_formulas() {
        let (schema, rows) = directory();
        let r = build(&schema, ReportKind::Organization, &rows, &rows, None, today()).unwrap();
        let bytes = csv_bytes(&r).unwrap();
        assert!(bytes.starts_with(BOM));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "Key,Name,Parent,Direct before,Direct after,Direct difference,Rolled-up before,Rolled-up after,Rolled-up difference"
        );
        assert!(lines.contains(&"OPS,'=Ops,HQ,1,1,0,1,1,0"), "{text}");
        assert_eq!(lines[lines.len() - 2], "Total,,,7,7,0,,,");
        let sites = build(&schema, ReportKind::Site, &rows, &rows, None, today()).unwrap();
        assert!(String::from_utf8(csv_bytes(&sites).unwrap()).unwrap().contains("Paris Siège"));
    }

    #[test]
    fn the_workbook_reads_back_with_its_table_totals_and_title() {
        let (schema, before) = directory();
        let (after, _) = change(&schema, &before, "3", "UserType", "EMP");
        let r = build(&schema, ReportKind::UserType, &before, &after, None, today()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("headcount.xlsx");
        assert_eq!(export(&r, &path).unwrap(), ExportFormat::Xlsx);
        let mut wb = open_workbook_auto(&path).unwrap();
        let range = wb.worksheet_range(SHEET).unwrap();
        let at = |r: u32, c: u32| range.get_value((r, c)).cloned().unwrap_or(Data::Empty);
        assert_eq!(at(0, 0), Data::String("Headcount per UserType".into()));
        assert!(matches!(at(1, 1), Data::DateTime(_)), "{:?}", at(1, 1));
        assert_eq!(at(HEADER_ROW, 0), Data::String("Key".into()));
        assert_eq!(at(HEADER_ROW + 1, 1), Data::String("Contractor".into()));
        assert_eq!(at(HEADER_ROW + 1, 6), Data::Float(-1.0));
        assert_eq!(at(HEADER_ROW + 3, 0), Data::String("Total".into()));
        assert_eq!(at(HEADER_ROW + 3, 5), Data::Float(7.0));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn exports_refuse_unknown_extensions_and_missing_folders() {
        let (schema, rows) = directory();
        let r = build(&schema, ReportKind::Site, &rows, &rows, None, today()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(export(&r, &dir.path().join("r.ods")).unwrap_err().code, ErrorCode::Usage);
        let missing = dir.path().join("nope").join("r.csv");
        assert_eq!(export(&r, &missing).unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(export(&r, &dir.path().join("R.CSV")).unwrap(), ExportFormat::Csv);
    }
}
