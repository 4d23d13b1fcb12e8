//! Building a plan: sheets to entity types, rows to intents, intents to changes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::Result;
use crate::import::{self, Cell, CellRef, RawRow, RawSheet, RawWorkbook};
use crate::schema::{AttributeKind, EntityType, Schema};
use crate::store::{ImageId, Row, Store, Text, Values, same_text, text_order};
use crate::template;
use crate::thresholds::{self, Counts, Thresholds};

use super::checks::{self, FinalState};
use super::{
    Change, FieldChange, Finding, InputFile, Mode, Op, Plan, Severity, SourceRow, TypeSummary,
    column_letter,
};

/// The stored rows a plan is computed against, with the revision they were read at.
///
/// Two snapshots are equal when they hold the same rows at the same revision: which image
/// each row is stored in is the store's bookkeeping.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The repository revision when the rows were read.
    pub revision: u64,
    /// Rows per entity type, by key.
    pub tables: BTreeMap<String, BTreeMap<Text, Row>>,
    /// Per entity type, the image each stored row is in, in key order (empty for a snapshot
    /// not read from a store): a plan hands them to apply, which then need not read them again.
    images: BTreeMap<String, Vec<(Text, ImageId)>>,
}

impl PartialEq for Snapshot {
    fn eq(&self, other: &Snapshot) -> bool {
        self.revision == other.revision && self.tables == other.tables
    }
}

impl Eq for Snapshot {}

impl Snapshot {
    /// Reads every row of the repository.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorCode::Repository`] if the repository cannot be read.
    pub fn load(store: &Store) -> Result<Snapshot> {
        Snapshot::load_with_ticks(store, &mut || true)
    }

    /// [`Snapshot::load`], calling `tick` every few thousand rows; `tick` returning `false`
    /// stops the load with [`crate::ErrorCode::Cancelled`]. The rows and the revision are
    /// read in one transaction, so they belong together even if another process writes.
    ///
    /// # Errors
    ///
    /// As [`Snapshot::load`], and [`crate::ErrorCode::Cancelled`].
    pub fn load_with_ticks(store: &Store, tick: &mut dyn FnMut() -> bool) -> Result<Snapshot> {
        const TICK_EVERY_ROWS: u64 = 4096;
        store.read(|store| {
            let (mut tables, mut images) = (BTreeMap::new(), BTreeMap::new());
            let mut rows = 0u64;
            for t in &store.schema().entity_types {
                // The rows come in key order: gathered, then built into a map in one go
                // (inserting them one by one searched the map from its root for each).
                let stored = usize::try_from(store.count(&t.name)?).unwrap_or(0);
                let (mut table, mut table_images) =
                    (Vec::with_capacity(stored), Vec::with_capacity(stored));
                store.for_each_row_and_image(t, |r, image| {
                    rows += 1;
                    if rows.is_multiple_of(TICK_EVERY_ROWS) && !tick() {
                        return Err(crate::Error::new(crate::ErrorCode::Cancelled, "Cancelled."));
                    }
                    table_images.push((r.key.clone(), image));
                    table.push((r.key.clone(), r));
                    Ok(())
                })?;
                tables.insert(t.name.clone(), table.into_iter().collect());
                images.insert(t.name.clone(), table_images);
            }
            Ok(Snapshot { revision: store.revision()?, tables, images })
        })
    }

    /// A snapshot of the given rows, as if read at `revision` (for tests, and for states
    /// computed rather than read, such as the repository before a run).
    pub fn of(revision: u64, tables: BTreeMap<String, BTreeMap<Text, Row>>) -> Snapshot {
        Snapshot { revision, tables, images: BTreeMap::new() }
    }

    /// The image a stored row is in, if the snapshot was read from a store and has the row.
    pub fn image_of(&self, entity_type: &str, key: &str) -> Option<ImageId> {
        let images = self.images.get(entity_type)?;
        // The store reads rows in key order, as `str` orders them.
        let i = images.binary_search_by(|(k, _)| text_order(k, key)).ok()?;
        Some(images[i].1)
    }

    /// The stored rows of an entity type (empty if none).
    pub fn table(&self, entity_type: &str) -> &BTreeMap<Text, Row> {
        static EMPTY: BTreeMap<Text, Row> = BTreeMap::new();
        self.tables.get(entity_type).unwrap_or(&EMPTY)
    }
}

/// What a row of an incremental file asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Complete mode: create or update to match the row.
    Upsert,
    Add,
    Modify,
    Delete,
    Merge,
}

fn parse_command(text: &str) -> Option<Action> {
    match text.trim().to_ascii_lowercase().as_str() {
        "add" | "insert" => Some(Action::Add),
        "modify" | "update" => Some(Action::Modify),
        "delete" => Some(Action::Delete),
        "merge" => Some(Action::Merge),
        _ => None,
    }
}

/// What one cell does to its attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Patch<'w> {
    /// Leave the stored value (blank cell in incremental mode, missing column, bad value).
    Keep,
    /// Set this canonical value (`""` empties it); borrowed from the cell when the cell's
    /// text is already canonical, which is nearly always, so most rows allocate nothing.
    Set(Cow<'w, str>),
}

impl Patch<'_> {
    /// The value set, if any.
    fn value(&self) -> Option<&str> {
        match self {
            Patch::Keep => None,
            Patch::Set(new) => Some(new),
        }
    }
}

/// One data row whose command and key are valid. Its values are read during the merge with
/// the stored rows ([`value_patches`]), one row at a time: holding the patches of every row
/// at once cost 50 MB at 100k rows, a fifth of a sync's peak (issue 6).
struct Intent<'w> {
    raw: &'w RawRow,
    action: Action,
}

/// An intent with its row's key (borrowed from the cell when the cell holds it as it is).
type Keyed<'w> = (Cow<'w, str>, Intent<'w>);

/// Where each attribute sits in a sheet: indexes into its headers (and cells).
pub(super) struct Columns {
    pub key: usize,
    pub command: Option<usize>,
    pub attributes: Vec<Option<usize>>,
    pub letters: Vec<String>,
    pub headers: Vec<String>,
}

impl Columns {
    /// Column letter and header of an attribute, if the sheet has it.
    pub fn attribute(&self, i: usize) -> Option<(&str, &str)> {
        self.attributes[i].map(|c| (self.letters[c].as_str(), self.headers[c].as_str()))
    }
}

/// The per-type material the checks need: the sheet's name and columns.
pub(super) struct SheetInfo {
    pub sheet: String,
    pub columns: Columns,
}

/// Builds the plan of a sync; see the module docs. Never writes, never fails: every problem
/// is a finding in the plan.
pub fn build(
    schema: &Schema,
    stored: &Snapshot,
    workbook: &RawWorkbook,
    mode: Mode,
    file: InputFile,
    limits: &Thresholds,
) -> Plan {
    Prepared::new(schema, workbook, mode).finish(stored, file, limits)
}

/// The part of a plan that needs the file alone: sheets and columns mapped, each row's
/// command and key read and its rows sorted by key, with the findings about them. Made while
/// the stored rows are still loading ([`super::read_with_snapshot`]), then
/// [`Prepared::finish`]ed with them: on two cores the load takes longer than the read, and
/// this work filled the wait (issue 6).
pub struct Prepared<'w> {
    schema: &'w Schema,
    workbook: &'w RawWorkbook,
    mode: Mode,
    findings: Vec<Finding>,
    /// Per entity type, in the schema's order: its sheet, if the file has one.
    types: Vec<Option<SheetRead<'w>>>,
}

/// A sheet of the file for one entity type, as [`Prepared`] reads it.
struct SheetRead<'w> {
    sheet: &'w RawSheet,
    /// Its columns and rows, when the columns can be used.
    rows: Option<(Columns, TypeIntents<'w>)>,
}

impl<'w> Prepared<'w> {
    /// Reads what the plan of `workbook` needs of the file alone.
    pub fn new(schema: &'w Schema, workbook: &'w RawWorkbook, mode: Mode) -> Prepared<'w> {
        let mut findings = Vec::new();
        let mut sheets = map_sheets(schema, workbook, &mut findings);
        let types = (0..schema.entity_types.len())
            .map(|ti| {
                let et = &schema.entity_types[ti];
                let sheet = sheets.remove(&ti)?;
                let rows = map_columns(et, sheet, mode, &mut findings).map(|columns| {
                    let intents = TypeIntents::read(et, sheet, &columns, mode, &mut findings);
                    (columns, intents)
                });
                Some(SheetRead { sheet, rows })
            })
            .collect();
        Prepared { schema, workbook, mode, findings, types }
    }

    /// The plan: the file compared with the stored rows, then the final state checked.
    pub fn finish(self, stored: &Snapshot, file: InputFile, limits: &Thresholds) -> Plan {
        let Prepared { schema, workbook, mode, mut findings, types } = self;
        check_metadata(schema, stored, workbook, mode, &mut findings);

        // Every type's changes in key order, the types in the schema's order: the plan's
        // order, and the final-state checks find a change by a binary search of its type's.
        // (A map keyed by a copy of each key cost a tenth of a plan in sorting and copying,
        // issue 6.)
        let mut changes: Vec<Change> = Vec::new();
        let mut summaries = Vec::new();
        let mut sheet_infos: BTreeMap<usize, SheetInfo> = BTreeMap::new();
        let mut counts = Vec::new();
        for ((ti, et), read) in schema.entity_types.iter().enumerate().zip(types) {
            let table = stored.table(&et.name);
            let mut summary = TypeSummary {
                entity_type: et.name.clone(),
                stored: table.len() as u64,
                initial_load: table.is_empty(),
                ..TypeSummary::default()
            };
            let mut empty_sheet = false;
            if let Some(SheetRead { sheet, rows }) = read {
                summary.in_file = true;
                if let Some((columns, intents)) = rows {
                    let typed = TypeChanges::compute(
                        et,
                        table,
                        sheet,
                        &columns,
                        mode,
                        intents,
                        &mut findings,
                        plan_threads,
                    );
                    summary.unchanged = typed.unchanged;
                    empty_sheet =
                        mode == Mode::Complete && sheet.rows.is_empty() && !table.is_empty();
                    if empty_sheet {
                        findings.push(Finding {
                            severity: Severity::Warning,
                            code: "empty_sheet",
                            sheet: Some(sheet.name.clone()),
                            row: None,
                            column: None,
                            header: None,
                            value: None,
                            message: format!(
                                "The sheet {} has no data rows: in complete mode this deletes all {} stored {} rows.",
                                sheet.name,
                                table.len(),
                                et.name
                            ),
                            fix: "Use the full template (it has every row), remove the sheet to leave the type untouched, or force the plan if you really mean to empty it.".into(),
                        });
                    }
                    let mut typed_changes = typed.changes;
                    // Already in key order but for complete mode's deletes, which come last:
                    // an unstable sort checks that in one pass and allocates nothing. Keys are
                    // distinct within a type (one change per key group, a delete per key no
                    // group has).
                    typed_changes.sort_unstable_by(|a, b| text_order(&a.key, &b.key));
                    changes.reserve(typed_changes.len());
                    for mut c in typed_changes {
                        // For apply (see `Change::before_image`): found once the changes are
                        // known.
                        if c.op != Op::Create {
                            c.before_image = stored.image_of(&et.name, &c.key);
                        }
                        match c.op {
                            Op::Create => summary.created += 1,
                            Op::Update => summary.updated += 1,
                            Op::Delete => summary.deleted += 1,
                        }
                        changes.push(c);
                    }
                    sheet_infos.insert(ti, SheetInfo { sheet: sheet.name.clone(), columns });
                }
            }
            counts.push((
                et.name.clone(),
                Counts {
                    stored: summary.stored,
                    created: summary.created,
                    updated: summary.updated,
                    deleted: summary.deleted,
                    empty_sheet,
                },
            ));
            summaries.push(summary);
        }

        let state = FinalState::new(schema, stored, &changes);
        checks::run(&state, &sheet_infos, &mut findings);

        let sheet_order: BTreeMap<&str, usize> =
            workbook.sheets.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
        findings.sort_by(|a, b| {
            let sheet = |f: &Finding| f.sheet.as_deref().and_then(|s| sheet_order.get(s).copied());
            let column = |f: &Finding| f.column.as_ref().map(|c| (c.len(), c.clone()));
            (sheet(a), a.row, column(a), a.code, &a.message).cmp(&(
                sheet(b),
                b.row,
                column(b),
                b.code,
                &b.message,
            ))
        });
        findings.dedup();
        Plan {
            mode,
            file,
            base_revision: stored.revision,
            summaries,
            changes,
            findings,
            thresholds: thresholds::evaluate(limits, &counts),
        }
    }
}

/// Matches sheets to entity types: by name (case-insensitively), or for a lone CSV file whose
/// name names no type, by its headers.
fn map_sheets<'w>(
    schema: &Schema,
    workbook: &'w RawWorkbook,
    findings: &mut Vec<Finding>,
) -> BTreeMap<usize, &'w RawSheet> {
    let mut out: BTreeMap<usize, &RawSheet> = BTreeMap::new();
    for sheet in &workbook.sheets {
        let et = workbook.entity_type_of(schema, sheet).map(|(t, _)| t);
        let Some(et) = et else {
            findings.push(sheet_finding(
                Severity::Warning,
                "unknown_sheet",
                &sheet.name,
                format!(
                    "The sheet \"{}\" is not an entity type of this repository; it is ignored.",
                    sheet.name
                ),
                format!(
                    "Name sheets after entity types ({}).",
                    schema
                        .entity_types
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            continue;
        };
        let ti = schema.entity_types.iter().position(|t| t.name == et.name).unwrap_or_default();
        if let Some(first) = out.get(&ti) {
            findings.push(sheet_finding(
                Severity::Error,
                "duplicate_sheet",
                &sheet.name,
                format!(
                    "The sheets \"{}\" and \"{}\" both hold {} rows.",
                    first.name, sheet.name, et.name
                ),
                "Keep one sheet per entity type.".into(),
            ));
            continue;
        }
        out.insert(ti, sheet);
    }
    out
}

fn sheet_finding(
    severity: Severity,
    code: &'static str,
    sheet: &str,
    message: String,
    fix: String,
) -> Finding {
    Finding { sheet: Some(sheet.to_string()), ..Finding::new(severity, code, message, fix) }
}

/// The stale-template detector: the hidden metadata sheet says which schema version and
/// repository revision the template was exported at.
fn check_metadata(
    schema: &Schema,
    stored: &Snapshot,
    workbook: &RawWorkbook,
    mode: Mode,
    findings: &mut Vec<Finding>,
) {
    let get = |name: &str| {
        workbook.metadata.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
    };
    let file_warning = |code, message: String, fix: &str| {
        Finding::new(Severity::Warning, code, message, fix.into())
    };
    if let Some(v) = get("schema_version").and_then(|v| v.parse::<u32>().ok())
        && v != schema.version
    {
        findings.push(file_warning(
            "stale_template",
            format!(
                "This template was made for schema version {v}; the repository now uses version {}.",
                schema.version
            ),
            "Download a fresh template and copy your changes into it.",
        ));
    }
    let full = get("kind").is_some_and(|k| k.eq_ignore_ascii_case("full"));
    if mode == Mode::Complete
        && full
        && let Some(rev) = get("repository_revision").and_then(|v| v.parse::<u64>().ok())
        && rev != stored.revision
    {
        let when = get("exported_at").map(|w| format!(" (exported {w})")).unwrap_or_default();
        findings.push(file_warning(
            "stale_template",
            format!(
                "This full template was exported at repository revision {rev}{when}; the repository has changed since (revision {}). In complete mode, changes made since then would be undone.",
                stored.revision
            ),
            "Check the preview carefully, or download a fresh full template and redo your edits.",
        ));
    }
}

/// Finds the key, `Command` and attribute columns by header, case-insensitively, and reports
/// unknown, duplicate, missing and renamed columns. `None` when the sheet cannot be used.
fn map_columns(
    et: &EntityType,
    sheet: &RawSheet,
    mode: Mode,
    findings: &mut Vec<Finding>,
) -> Option<Columns> {
    let letters: Vec<String> = sheet.headers.iter().map(|h| column_letter(h.column)).collect();
    let headers: Vec<String> = sheet.headers.iter().map(|h| h.text.trim().to_string()).collect();
    let header_row = header_row(sheet);
    let mut key = None;
    let mut command = None;
    let mut attributes = vec![None; et.attributes.len()];
    let mut unknown = Vec::new();
    let mut usable = true;
    for (i, text) in headers.iter().enumerate() {
        let slot: Option<&mut Option<usize>> = if text.eq_ignore_ascii_case(&et.key) {
            Some(&mut key)
        } else if text.eq_ignore_ascii_case(template::COMMAND_COLUMN) {
            Some(&mut command)
        } else {
            et.attributes
                .iter()
                .position(|a| a.name.eq_ignore_ascii_case(text))
                .map(|ai| &mut attributes[ai])
        };
        match slot {
            Some(slot) => {
                if let Some(first) = *slot {
                    findings.push(Finding {
                        severity: Severity::Error,
                        code: "duplicate_column",
                        sheet: Some(sheet.name.clone()),
                        row: Some(header_row),
                        column: Some(letters[i].clone()),
                        header: Some(text.clone()),
                        value: None,
                        message: format!(
                            "The header \"{text}\" appears twice, in columns {} and {}.",
                            letters[first], letters[i]
                        ),
                        fix: "Delete or rename one of the two columns.".into(),
                    });
                    usable = false;
                } else {
                    *slot = Some(i);
                }
            }
            None if text.is_empty() => {}
            None => unknown.push(i),
        }
    }
    let missing: Vec<&str> = et
        .attributes
        .iter()
        .zip(&attributes)
        .filter(|(_, c)| c.is_none())
        .map(|(a, _)| a.name.as_str())
        .collect();
    for &i in &unknown {
        let renamed = if missing.is_empty() {
            String::new()
        } else {
            format!(" Was it renamed from {}?", missing.join(" or "))
        };
        findings.push(Finding {
            severity: Severity::Warning,
            code: if missing.is_empty() { "unknown_column" } else { "renamed_column" },
            sheet: Some(sheet.name.clone()),
            row: Some(header_row),
            column: Some(letters[i].clone()),
            header: Some(headers[i].clone()),
            value: None,
            message: format!(
                "The column \"{}\" is not an attribute of {}; it is ignored.{renamed}",
                headers[i], et.name
            ),
            fix: "Restore the header as the template had it, or delete the column.".into(),
        });
    }
    // Incremental files routinely carry only the columns they change; in complete mode a
    // missing column is more likely an accident.
    if !missing.is_empty() && !sheet.headers.is_empty() && mode == Mode::Complete {
        let effect = "their stored values are kept (and are empty in new rows)";
        findings.push(sheet_finding(
            Severity::Warning,
            "missing_column",
            &sheet.name,
            format!("The sheet {} has no column for {}: {effect}.", sheet.name, missing.join(", ")),
            "Use the template's headers if you meant to change them.".into(),
        ));
    }
    if key.is_none() {
        findings.push(sheet_finding(
            Severity::Error,
            "missing_key_column",
            &sheet.name,
            format!(
                "The sheet {} has no \"{}\" column, so its rows cannot be matched.",
                sheet.name, et.key
            ),
            format!("Add the key column \"{}\" (the template has it in column B).", et.key),
        ));
        usable = false;
    }
    if mode == Mode::Incremental && command.is_none() {
        findings.push(sheet_finding(
            Severity::Error,
            "missing_command_column",
            &sheet.name,
            format!(
                "The sheet {} has no \"{}\" column, which incremental mode needs on every row.",
                sheet.name,
                template::COMMAND_COLUMN
            ),
            "Use the empty template, or add a Command column (Add, Modify, Delete or Merge)."
                .into(),
        ));
        usable = false;
    }
    let key = key?;
    usable.then_some(Columns { key, command, attributes, letters, headers })
}

/// Changes of one entity type, before the cross-type checks.
struct TypeChanges {
    changes: Vec<Change>,
    unchanged: u64,
}

/// A sheet's rows whose command and key are valid, sorted by key, and the keys of those that
/// are not (see [`TypeIntents::read`]).
struct TypeIntents<'w> {
    /// In key order, rows of the same key in row order.
    intents: Vec<Keyed<'w>>,
    /// The keys rows hold that do not reach `intents` because of an error: in complete mode
    /// such a key is not absent, so its stored row must not be planned for deletion.
    mentioned: HashSet<String>,
}

impl<'w> TypeIntents<'w> {
    /// Reads each row's command and key, which needs the file alone: the findings about
    /// them go to `findings`. An `Add` whose key looks like a stored one after Excel dropped
    /// its zeros is found later, with the stored keys ([`TypeChanges::compute`]).
    fn read(
        et: &EntityType,
        sheet: &'w RawSheet,
        columns: &Columns,
        mode: Mode,
        findings: &mut Vec<Finding>,
    ) -> TypeIntents<'w> {
        // In row order; sorted by key below (a stable sort keeps duplicates in row order).
        // A sorted vector rather than a map: the rows of a template already come in key
        // order, which is checked in one pass.
        let mut intents: Vec<Keyed> = Vec::with_capacity(sheet.rows.len());
        let mut ignored_commands = 0u32;
        // The keys rows hold that do not reach `intents` because of an error: in complete mode
        // such a key is not absent, so its stored row must not be planned for deletion.
        let mut mentioned: HashSet<String> = HashSet::new();
        for raw in &sheet.rows {
            let cell_at = |i: usize| raw.cells.get(i).unwrap_or(CellRef::Empty);
            let place = RowPlace { sheet, columns, row: raw.row };
            let mut finding = |severity, code, col, value, message, fix| {
                findings.push(place.finding(severity, code, col, value, message, fix))
            };
            // The command.
            let action = match (mode, columns.command) {
                (Mode::Complete, Some(c)) => {
                    if cell_at(c) != CellRef::Empty {
                        ignored_commands += 1;
                    }
                    Action::Upsert
                }
                (Mode::Complete, None) => Action::Upsert,
                (Mode::Incremental, c) => {
                    let text = c.map(|c| cell_text(cell_at(c))).unwrap_or_default();
                    match parse_command(&text) {
                        Some(a) => a,
                        None => {
                            let (code, message) = if text.trim().is_empty() {
                                ("missing_command", "The Command cell is blank.".to_string())
                            } else {
                                ("unknown_command", format!("\"{text}\" is not a command."))
                            };
                            finding(
                                Severity::Error,
                                code,
                                c,
                                (!text.is_empty()).then(|| text.clone()),
                                message,
                                "Write Add, Modify, Delete or Merge (Insert and Update are accepted too).".into(),
                            );
                            continue;
                        }
                    }
                }
            };
            // The key.
            let key_cell = cell_at(columns.key);
            if is_null_null(key_cell) {
                finding(
                    Severity::Error,
                    "null_key",
                    Some(columns.key),
                    Some(import::NULL_NULL.into()),
                    format!("NULL_NULL cannot be a key: every {} needs its {}.", et.name, et.key),
                    "Type the row's key.".into(),
                );
                continue;
            }
            let key = match canonical_key_cow(key_cell) {
                Ok(k) if k.trim().is_empty() => {
                    finding(
                        Severity::Error,
                        "missing_key",
                        Some(columns.key),
                        None,
                        format!("The {} is blank, so this row cannot be matched.", et.key),
                        format!("Type the {} of the row (keys never change).", et.key),
                    );
                    continue;
                }
                Ok(k) => k,
                Err(problem) => {
                    finding(
                        Severity::Error,
                        "bad_key",
                        Some(columns.key),
                        Some(cell_text(key_cell)),
                        sentence(&problem.message),
                        problem.fix.clone(),
                    );
                    continue;
                }
            };
            if let Some(why) = unsafe_key(&key) {
                mentioned.insert(key.to_string());
                finding(
                    Severity::Error,
                    "unsafe_key",
                    Some(columns.key),
                    Some(key.escape_debug().to_string()),
                    format!("The key {:?} {why}.", key),
                    "Retype the key without invisible characters or surrounding spaces.".into(),
                );
                continue;
            }
            intents.push((key, Intent { raw, action }));
        }
        if ignored_commands > 0 {
            findings.push(sheet_finding(
                Severity::Warning,
                "command_ignored",
                &sheet.name,
                format!("{ignored_commands} rows have a Command, which complete mode ignores: every row is taken as it stands and absent rows are deleted."),
                "Choose incremental mode to apply commands row by row.".into(),
            ));
        }

        // A template's rows come in key order: checked first, since the stable sort takes a
        // buffer half the size of the rows before it looks at them (a twentieth of a plan in
        // faulting in fresh pages, issue 6).
        if !intents.is_sorted_by(|a, b| text_order(&a.0, &b.0).is_le()) {
            intents.sort_by(|a, b| text_order(&a.0, &b.0));
        }
        TypeIntents { intents, mentioned }
    }
}

impl TypeChanges {
    #[allow(clippy::too_many_arguments)]
    fn compute(
        et: &EntityType,
        table: &BTreeMap<Text, Row>,
        sheet: &RawSheet,
        columns: &Columns,
        mode: Mode,
        read: TypeIntents<'_>,
        findings: &mut Vec<Finding>,
        threads_for: fn(usize) -> usize,
    ) -> TypeChanges {
        let TypeIntents { mut intents, mut mentioned } = read;
        // Built on first need: only a key that is not stored is compared with the stored ones.
        let zeros = std::cell::OnceCell::new();
        let zeros = || zeros.get_or_init(|| LeadingZeros::index(table.keys()));
        // A key that looks like a stored key after Excel dropped its leading zeros, found
        // beside the stored keys in key order (a walk rather than a lookup per row). An `Add`
        // of it is refused: a new key must not collide with a stored one. Any other row that
        // is not stored means the stored key, so in complete mode that one is not absent.
        let mut stored_keys = table.keys().peekable();
        intents.retain(|(key, intent)| {
            let is_stored = walk_to(&mut stored_keys, key, |k| k);
            let add = intent.action == Action::Add;
            if is_stored && !add {
                return true;
            }
            let Some(stored) = zeros().twin(key) else { return true };
            mentioned.insert(key.to_string());
            let (message, fix) = if add {
                (
                    format!(
                        "The key {key} looks like the stored {stored} after Excel dropped its leading zeros."
                    ),
                    format!(
                        "If you meant {stored}, format the column as Text and type it; a new key must not collide with it."
                    ),
                )
            } else {
                mentioned.insert(stored.to_string());
                (
                    format!(
                        "The key {key} looks like {stored} after Excel dropped its leading zeros."
                    ),
                    format!(
                        "Format the column as Text and type {stored}, or use the template (its key column is text)."
                    ),
                )
            };
            let place = RowPlace { sheet, columns, row: intent.raw.row };
            let value = Some(key.to_string());
            let code = "lost_leading_zeros";
            findings.push(place.finding(Severity::Error, code, Some(columns.key), value, message, fix));
            false
        });
        // Sized up front: `chunk_by` cannot tell how many groups it makes, and growing the
        // vector a doubling at a time copied it over fresh pages (issue 6).
        let mut groups: Vec<&[Keyed]> = Vec::with_capacity(intents.len());
        groups.extend(intents.chunk_by(|a, b| same_text(&a.0, &b.0)));
        let parts = threads_for(groups.len());
        let merged = merge_in_parts(et, table, &groups, sheet, columns, mode, parts);
        let mut changes = Vec::with_capacity(merged.iter().map(|m| m.changes.len()).sum());
        let mut unchanged = 0;
        // The parts in key order, so the plan is the same whatever the number of threads.
        for part in merged {
            changes.extend(part.changes);
            findings.extend(part.findings);
            unchanged += part.unchanged;
        }
        if mode == Mode::Complete {
            // Complete mode: a stored row absent from the sheet is deleted. A key present on any
            // row, even a row with errors, is not absent.
            let mut given = intents.iter().map(|(k, _)| -> &str { k }).peekable();
            for (key, old) in table {
                if !walk_to(&mut given, key, |k| k) && !mentioned.contains(key.as_str()) {
                    changes.push(delete(et, old, None));
                }
            }
        }
        TypeChanges { changes, unchanged }
    }
}

/// Key groups at least this many are split between threads ([`plan_threads`]): below it,
/// starting a thread costs more than it saves.
const PARALLEL_FROM_GROUPS: usize = 8192;

/// Threads a plan's rows are compared on, at most: the comparison takes 1-2 us a row, the
/// largest share of `build` (issue 6), and two cores are the machine idbulk is measured on.
const PLAN_THREADS: usize = 2;

/// How many threads compare `groups` key groups with the stored rows.
fn plan_threads(groups: usize) -> usize {
    if groups < PARALLEL_FROM_GROUPS {
        return 1;
    }
    PLAN_THREADS.min(std::thread::available_parallelism().map_or(1, usize::from))
}

/// Moves `sorted` (keys in key order, as the other side of the walk) past the keys before
/// `key`; says whether the next one is `key`. One comparison when it is, nearly every row of
/// a template (a comparison to skip and another to match cost a tenth of a plan, issue 6).
fn walk_to<T>(
    sorted: &mut std::iter::Peekable<impl Iterator<Item = T>>,
    key: &str,
    key_of: impl Fn(&T) -> &str,
) -> bool {
    loop {
        match sorted.peek().map(|next| text_order(key_of(next), key)) {
            Some(std::cmp::Ordering::Less) => drop(sorted.next()),
            found => return found == Some(std::cmp::Ordering::Equal),
        }
    }
}

/// What one part of the key groups gives: its changes and findings, in key order.
#[derive(Default)]
struct MergedPart {
    changes: Vec<Change>,
    findings: Vec<Finding>,
    unchanged: u64,
}

/// [`merge_groups`] over `parts` consecutive parts of `groups`, all but the first on threads
/// of their own; the parts come back in key order.
fn merge_in_parts(
    et: &EntityType,
    table: &BTreeMap<Text, Row>,
    groups: &[&[Keyed<'_>]],
    sheet: &RawSheet,
    columns: &Columns,
    mode: Mode,
    parts: usize,
) -> Vec<MergedPart> {
    let size = groups.len().div_ceil(parts.max(1)).max(1);
    let part = |groups: &[&[Keyed<'_>]]| {
        // The stored rows from the part's first key on: the merge skips any before it.
        let from = groups.first().map_or("", |g| g[0].0.as_ref());
        let stored =
            table.range::<str, _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded));
        merge_groups(et, stored, groups, sheet, columns, mode)
    };
    let mut chunks = groups.chunks(size);
    let Some(first) = chunks.next() else { return Vec::new() };
    std::thread::scope(|scope| {
        // A part whose thread cannot be started (the system is out of threads) waits for
        // this thread instead.
        let others: Vec<_> = chunks
            .map(|c| (c, std::thread::Builder::new().spawn_scoped(scope, move || part(c)).ok()))
            .collect();
        let mut merged = vec![part(first)];
        for (c, thread) in others {
            merged.push(match thread {
                Some(t) => t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                None => part(c),
            });
        }
        merged
    })
}

/// Compares the intents of a sheet, grouped by key and in key order, with the stored rows
/// (`stored`, in key order from the first group's key at the latest): the changes, the
/// findings about values, duplicate keys and commands that do not fit what is stored.
fn merge_groups<'s>(
    et: &EntityType,
    stored: impl Iterator<Item = (&'s Text, &'s Row)>,
    groups: &[&[Keyed<'_>]],
    sheet: &RawSheet,
    columns: &Columns,
    mode: Mode,
) -> MergedPart {
    let (mut changes, mut found, mut unchanged) = (Vec::new(), Vec::new(), 0);
    let findings = &mut found;
    let source = |row: u32| Some(SourceRow { sheet: sheet.name.clone(), row });
    // The stored rows are walked beside the intents, both in key order: a merge rather than
    // a lookup per key (most of the time of a plan of 100k rows went to comparing keys).
    let mut stored_rows = stored.peekable();
    let mut patches = Vec::with_capacity(et.attributes.len());
    for &rows in groups {
        let key = &rows[0].0;
        let stored = walk_to(&mut stored_rows, key, |(k, _)| k)
            .then(|| stored_rows.peek().map(|(_, row)| *row))
            .flatten();
        if rows.len() > 1 {
            // Every row's values are still checked, so each problem is reported at once.
            for (_, intent) in rows {
                let place = RowPlace { sheet, columns, row: intent.raw.row };
                value_patches(et, &place, mode, intent, None, findings, &mut patches);
            }
            let numbers: Vec<String> = rows.iter().map(|(_, i)| i.raw.row.to_string()).collect();
            for (_, intent) in &rows[1..] {
                let place = RowPlace { sheet, columns, row: intent.raw.row };
                findings.push(place.finding(
                    Severity::Error,
                    "duplicate_key",
                    Some(columns.key),
                    Some(key.to_string()),
                    format!(
                        "The {} {key} appears on rows {} of {}.",
                        et.key,
                        numbers.join(" and "),
                        sheet.name
                    ),
                    "Keep one row per key: merge the rows or delete the extra ones.".into(),
                ));
            }
            continue;
        }
        let intent = &rows[0].1;
        let place = RowPlace { sheet, columns, row: intent.raw.row };
        value_patches(et, &place, mode, intent, stored, findings, &mut patches);
        let not_found =
            |findings: &mut Vec<Finding>, code, severity, message: String, fix: &str| {
                let (key_column, key) = (Some(columns.key), Some(key.to_string()));
                findings.push(place.finding(severity, code, key_column, key, message, fix.into()))
            };
        // One arm per (action, stored) pair: SPEC section 4's table.
        let change = match (intent.action, stored) {
            // Complete mode and Merge on a stored row, Modify: update the cells given.
            (Action::Upsert | Action::Merge | Action::Modify, Some(old)) => {
                update(et, old, &patches, || source(intent.raw.row))
            }
            // Complete mode and Merge on a new key, Add: create it.
            (Action::Upsert | Action::Merge | Action::Add, None) => {
                Some(create(et, key, &patches, source(intent.raw.row)))
            }
            (Action::Add, Some(_)) => {
                not_found(
                    findings,
                    "already_exists",
                    Severity::Error,
                    format!("Add: {} {key} already exists.", et.name),
                    "Use Modify (or Merge) to change a stored row.",
                );
                None
            }
            (Action::Modify, None) => {
                not_found(
                    findings,
                    "not_found",
                    Severity::Error,
                    format!("Modify: there is no {} {key}.", et.name),
                    "Check the key, or use Add (or Merge) to create the row.",
                );
                None
            }
            (Action::Delete, Some(old)) => Some(delete(et, old, source(intent.raw.row))),
            (Action::Delete, None) => {
                not_found(
                    findings,
                    "delete_not_found",
                    Severity::Warning,
                    format!("Delete: there is no {} {key}; nothing to do.", et.name),
                    "Check the key if you expected it to exist.",
                );
                None
            }
        };
        match change {
            Some(c) => changes.push(c),
            None if stored.is_some() && intent.action != Action::Add => unchanged += 1,
            None => {}
        }
    }
    MergedPart { changes, findings: found, unchanged }
}

/// The patches of one row's values, into `patches` (cleared first); problems with a value are
/// findings, and leave its attribute as stored. A cell holding exactly the value `stored`
/// has is kept as stored without being checked: it changes nothing, whatever today's rules
/// would say of it (and it is most cells of a full template, issue 6).
fn value_patches<'w>(
    et: &EntityType,
    place: &RowPlace<'_>,
    mode: Mode,
    intent: &Intent<'w>,
    stored: Option<&Row>,
    findings: &mut Vec<Finding>,
    patches: &mut Vec<Patch<'w>>,
) {
    let (raw, action, columns) = (intent.raw, intent.action, place.columns);
    let cell_at = |i: usize| raw.cells.get(i).unwrap_or(CellRef::Empty);
    let mut finding = |severity, code, col, value, message, fix| {
        findings.push(place.finding(severity, code, col, value, message, fix))
    };
    patches.clear();
    for (ai, attr) in et.attributes.iter().enumerate() {
        let Some(c) = columns.attributes[ai] else {
            patches.push(Patch::Keep);
            continue;
        };
        if action == Action::Delete {
            patches.push(Patch::Keep);
            continue;
        }
        let cell = cell_at(c);
        if is_null_null(cell) {
            if attr.required && mode == Mode::Incremental {
                finding(
                    Severity::Error,
                    "null_required",
                    Some(c),
                    Some(import::NULL_NULL.into()),
                    format!("{} is required, so NULL_NULL cannot clear it.", attr.name),
                    "Type a value, or leave the cell blank to keep the stored one.".into(),
                );
                patches.push(Patch::Keep);
                continue;
            }
            if mode == Mode::Complete {
                finding(
                    Severity::Warning,
                    "null_in_complete_mode",
                    Some(c),
                    Some(import::NULL_NULL.into()),
                    "NULL_NULL in complete mode means empty, as a blank cell does.".into(),
                    "Leave the cell blank instead.".into(),
                );
            }
            patches.push(Patch::Set(Cow::Borrowed("")));
            continue;
        }
        let same = match (stored, cell) {
            (Some(old), CellRef::Text(text)) => old.values.is(ai, text),
            (Some(old), CellRef::Empty) => old.values.is(ai, ""),
            _ => false,
        };
        if same {
            patches.push(Patch::Keep);
            continue;
        }
        match canonical_cow(&attr.kind, cell) {
            Ok(v) if v.is_empty() => patches.push(match mode {
                Mode::Complete => Patch::Set(Cow::Borrowed("")),
                Mode::Incremental => Patch::Keep,
            }),
            Ok(v) => patches.push(Patch::Set(v)),
            Err(problem) => {
                finding(
                    Severity::Error,
                    "bad_value",
                    Some(c),
                    Some(cell_text(cell)),
                    sentence(&problem.message),
                    problem.fix.clone(),
                );
                patches.push(Patch::Keep);
            }
        }
    }
}

/// Where a data row's findings point: its sheet, its columns and its row number.
struct RowPlace<'a> {
    sheet: &'a RawSheet,
    columns: &'a Columns,
    row: u32,
}

impl RowPlace<'_> {
    /// A finding about the cell in column `col` (or about the row, when `None`).
    fn finding(
        &self,
        severity: Severity,
        code: &'static str,
        col: Option<usize>,
        value: Option<String>,
        message: String,
        fix: String,
    ) -> Finding {
        Finding {
            severity,
            code,
            sheet: Some(self.sheet.name.clone()),
            row: Some(self.row),
            column: col.map(|c| self.columns.letters[c].clone()),
            header: col.map(|c| self.columns.headers[c].clone()),
            value,
            message,
            fix,
        }
    }
}

/// The row number of a sheet's header: the row above its first data row, or 1.
fn header_row(sheet: &RawSheet) -> u32 {
    sheet.rows.first().map_or(1, |r| r.row.saturating_sub(1).max(1))
}

fn create(et: &EntityType, key: &str, patches: &[Patch], source: Option<SourceRow>) -> Change {
    let values = patches.iter().map(|p| p.value().unwrap_or_default());
    let row = Row { key: key.into(), values: Values::exact(values) };
    let fields = et
        .attributes
        .iter()
        .zip(&row.values)
        .filter(|(_, v)| !v.is_empty())
        .map(|(a, v)| FieldChange {
            attribute: a.name.clone(),
            old: String::new(),
            new: v.to_string(),
        })
        .collect();
    Change {
        entity_type: et.name.clone(),
        key: key.to_string(),
        op: Op::Create,
        source,
        fields,
        before: None,
        before_image: None,
        after: Some(row),
    }
}

fn update(
    et: &EntityType,
    old: &Row,
    patches: &[Patch],
    source: impl FnOnce() -> Option<SourceRow>,
) -> Option<Change> {
    // Most rows of a complete-mode file are unchanged: compare first, copy only on change
    // (and name the source row only then: a copy of the sheet's name per row, issue 6).
    let differs = |(ai, p): (usize, &Patch)| match p {
        Patch::Set(new) if !old.values.is(ai, new) => Some(ai),
        _ => None,
    };
    let first = patches.iter().enumerate().find_map(differs)?;
    let fields: Vec<FieldChange> = patches
        .iter()
        .enumerate()
        .skip(first)
        .filter_map(differs)
        .map(|ai| FieldChange {
            attribute: et.attributes[ai].name.clone(),
            old: old.values[ai].to_string(),
            new: patches[ai].value().unwrap_or_default().to_string(),
        })
        .collect();
    let values = old.values.iter().zip(patches).map(|(old, p)| p.value().unwrap_or(old));
    let row = Row { key: old.key.clone(), values: Values::exact(values) };
    Some(Change {
        entity_type: et.name.clone(),
        key: old.key.to_string(),
        op: Op::Update,
        source: source(),
        fields,
        before: Some(old.clone()),
        before_image: None,
        after: Some(row),
    })
}

fn delete(et: &EntityType, old: &Row, source: Option<SourceRow>) -> Change {
    let fields = et
        .attributes
        .iter()
        .zip(&old.values)
        .filter(|(_, v)| !v.is_empty())
        .map(|(a, v)| FieldChange {
            attribute: a.name.clone(),
            old: v.to_string(),
            new: String::new(),
        })
        .collect();
    Change {
        entity_type: et.name.clone(),
        key: old.key.to_string(),
        op: Op::Delete,
        source,
        fields,
        before: Some(old.clone()),
        before_image: None,
        after: None,
    }
}

/// [`import::canonical`], borrowing the cell's own text when it is already canonical: a text,
/// reference or e-mail cell holding text that is not an Excel-mangled number, a date typed as
/// `YYYY-MM-DD` (what nearly every cell of a template or a CSV file holds).
fn canonical_cow<'w>(
    kind: &AttributeKind,
    cell: CellRef<'w>,
) -> Result<Cow<'w, str>, import::CellProblem> {
    if let CellRef::Text(text) = cell {
        let borrowed = match kind {
            AttributeKind::Text => Some(text),
            AttributeKind::Reference { .. } | AttributeKind::Email | AttributeKind::Date => {
                Some(trimmed(text))
            }
            _ => None,
        };
        // Text that reads like a number in scientific notation gets canonical's finding.
        if let Some(value) = borrowed.filter(|v| !has_e(v) || !may_be_scientific(v)) {
            let checked = match kind {
                _ if value.is_empty() => Ok(()),
                AttributeKind::Email => import::check_email(value),
                AttributeKind::Date => import::check_iso_date(value),
                _ => Ok(()),
            };
            return checked.map(|()| Cow::Borrowed(value));
        }
    }
    canonical_of(cell, |cell| import::canonical(kind, cell)).map(Cow::Owned)
}

/// `canonical` of the cell, made a [`Cell`] first when it is packed text (the rare text that
/// is not canonical as it stands).
fn canonical_of<T>(cell: CellRef<'_>, canonical: impl FnOnce(&Cell) -> T) -> T {
    match cell {
        CellRef::Other(cell) => canonical(cell),
        cell => canonical(&cell.to_cell()),
    }
}

/// [`import::canonical_key`], borrowing the cell's own text when it is already canonical.
fn canonical_key_cow(cell: CellRef<'_>) -> Result<Cow<'_, str>, import::CellProblem> {
    if let CellRef::Text(text) = cell {
        let key = trimmed(text);
        if !has_e(key) || !may_be_scientific(key) {
            return Ok(Cow::Borrowed(key));
        }
    }
    canonical_of(cell, import::canonical_key).map(Cow::Owned)
}

/// `text.trim()`, without decoding characters when both ends are visible ASCII (nearly every
/// cell: each is asked).
fn trimmed(text: &str) -> &str {
    let visible = |b: Option<&u8>| b.is_some_and(|b| (b'!'..=b'~').contains(b));
    if visible(text.as_bytes().first()) && visible(text.as_bytes().last()) {
        text
    } else {
        text.trim()
    }
}

/// Whether text holds an `E` or `e` (a vector search: every cell is asked).
fn has_e(text: &str) -> bool {
    memchr::memchr2(b'E', b'e', text.as_bytes()).is_some()
}

/// Whether text could be a number in scientific notation (`1.23E+15`): then
/// [`import::canonical`] decides.
fn may_be_scientific(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'E' | b'e' | b'+' | b'-' | b' '))
}

fn is_null_null(cell: CellRef<'_>) -> bool {
    // The length first: every cell is asked, and few are as long.
    matches!(cell, CellRef::Text(t) if t.len() >= import::NULL_NULL.len() && trimmed(t) == import::NULL_NULL)
}

/// A cell as text, for messages and commands.
pub(super) fn cell_text(cell: CellRef<'_>) -> String {
    match cell {
        CellRef::Empty => String::new(),
        CellRef::Text(t) => t.to_string(),
        // A cell that is no text (an error, a formula without its value, a date) is shown as
        // the person sees it in Excel, never as Rust's debug form.
        CellRef::Other(other) => {
            import::canonical(&AttributeKind::Text, other).unwrap_or_else(|_| other.to_string())
        }
    }
}

/// A [`CellProblem`](import::CellProblem) message (a fragment, made to be embedded) as the
/// sentence a finding's message is: capital first letter, full stop.
fn sentence(fragment: &str) -> String {
    let mut chars = fragment.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// Why a key is not text-safe, if it is not: keys are compared exactly, so characters nobody
/// can see would make two keys that look the same differ.
pub(super) fn unsafe_key(key: &str) -> Option<String> {
    if key.trim() != key {
        return Some("has spaces before or after it".into());
    }
    for (i, c) in key.chars().enumerate() {
        let name = match c {
            '\u{200B}' => "a zero-width space",
            '\u{200C}' | '\u{200D}' => "a zero-width joiner",
            '\u{2060}' | '\u{FEFF}' => "a word joiner",
            '\u{200E}' | '\u{200F}' | '\u{061C}' => "a direction mark",
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => "a bidirectional control",
            '\u{00AD}' => "a soft hyphen",
            c if c.is_control() => "a control character (line break or tab)",
            _ => continue,
        };
        return Some(format!("contains {name} (U+{:04X}) at position {}", c as u32, i + 1));
    }
    None
}

/// Stored keys that start with `0` and are all digits, by their value without the zeros: finds
/// `00123` when a file says `123`.
pub(super) struct LeadingZeros<'a>(HashMap<&'a str, &'a str>);

impl<'a> LeadingZeros<'a> {
    pub fn index(keys: impl Iterator<Item = &'a Text>) -> LeadingZeros<'a> {
        LeadingZeros(
            keys.filter(|k| {
                k.len() > 1 && k.starts_with('0') && k.bytes().all(|b| b.is_ascii_digit())
            })
            .map(|k| (k.trim_start_matches('0'), k.as_str()))
            .collect(),
        )
    }

    /// The stored key this one would be if Excel had not dropped its zeros.
    pub fn twin(&self, key: &str) -> Option<&'a str> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.0.get(key.trim_start_matches('0')).copied().filter(|k| *k != key)
    }
}

/// Runs the final-state checks (references, deletes still referenced, cycles, required values)
/// on a set of changes that did not come from a file, such as an undo; returns the errors.
pub fn check_changes(schema: &Schema, stored: &Snapshot, changes: &[Change]) -> Vec<Finding> {
    // In the order `FinalState` takes them, the last change of a row standing for it.
    let mut keyed: Vec<(usize, &Change)> = changes
        .iter()
        .rev()
        .filter_map(|c| {
            Some((schema.entity_types.iter().position(|t| t.name == c.entity_type)?, c))
        })
        .collect();
    keyed.sort_by(|(ta, a), (tb, b)| (ta, &a.key).cmp(&(tb, &b.key)));
    keyed.dedup_by(|(ta, a), (tb, b)| ta == tb && a.key == b.key);
    let keyed: Vec<Change> = keyed.into_iter().map(|(_, c)| c.clone()).collect();
    let mut findings = Vec::new();
    checks::run(&FinalState::new(schema, stored, &keyed), &BTreeMap::new(), &mut findings);
    findings.retain(|f| f.severity == Severity::Error);
    findings
}

/// Counts per entity type of a set of changes against stored rows.
pub fn summarise(schema: &Schema, stored: &Snapshot, changes: &[Change]) -> Vec<TypeSummary> {
    schema
        .entity_types
        .iter()
        .map(|t| {
            let mine = changes.iter().filter(|c| c.entity_type == t.name);
            let count = |op| mine.clone().filter(|c| c.op == op).count() as u64;
            let stored_rows = stored.table(&t.name).len() as u64;
            TypeSummary {
                entity_type: t.name.clone(),
                in_file: mine.clone().next().is_some(),
                stored: stored_rows,
                created: count(Op::Create),
                updated: count(Op::Update),
                deleted: count(Op::Delete),
                unchanged: 0,
                initial_load: stored_rows == 0,
            }
        })
        .collect()
}

#[cfg(test)]
mod canonical_cow_tests {
    use super::*;

    #[test]
    fn borrowing_gives_what_canonical_gives() {
        let kinds = [
            AttributeKind::Text,
            AttributeKind::Reference { target: "User".into() },
            AttributeKind::Email,
            AttributeKind::Date,
        ];
        let texts = [
            "plain",
            " padded ",
            "\u{a0}no-break spaces\u{a0}",
            "\ttab~",
            "~",
            "",
            "1.23E+15",
            "1.5e+03",
            "E",
            "Eve",
            "12 345",
            "a@b.c",
            " a@b.c ",
            "a@@b.c",
            "a b@c.d",
            "x@y",
            "2024-01-31",
            " 2024-02-29 ",
            "2023-02-29",
            "2024-1-31",
            "0000-01-01",
            "-1E+05",
        ];
        for kind in &kinds {
            for text in texts {
                let cell = Cell::Text(text.into());
                let expected = import::canonical(kind, &cell);
                let got = canonical_cow(kind, CellRef::from(&cell)).map(Cow::into_owned);
                assert_eq!(got, expected, "{kind:?} {text:?}");
            }
        }
        for text in texts {
            let cell = Cell::Text(text.into());
            let got = canonical_key_cow(CellRef::from(&cell)).map(Cow::into_owned);
            assert_eq!(got, import::canonical_key(&cell), "key {text:?}");
        }
    }
}

#[cfg(test)]
mod parallel_tests {
    use super::*;
    use crate::import::{RawHeader, RawRow};

    /// The changes, findings and unchanged count of `rows` rows of every kind a merge meets
    /// (updates, rows left as stored, adds of stored keys, modifies and deletes of missing
    /// ones, bad values, duplicate keys) against 3,000 stored users, compared on the number
    /// of threads `threads_for` gives.
    fn compute(
        rows: u32,
        mode: Mode,
        threads_for: fn(usize) -> usize,
    ) -> (Vec<Change>, Vec<Finding>, u64) {
        let schema = Schema::directory();
        let user = schema.entity_type("User").unwrap();
        let last = user.attribute_index("LastName").unwrap();
        let table: BTreeMap<Text, Row> = (0..3000)
            .map(|i| {
                let mut row = Row::empty(format!("{i:05}"), user);
                row.values.set(last, &format!("Stored {i}"));
                (row.key.clone(), row)
            })
            .collect();
        let headers = ["Command", "Identifier", "LastName", "ContractStartDate"];
        let commands = ["Modify", "Merge", "Add", "Delete", "Modify", "Merge", "Frobnicate"];
        let rows: Vec<RawRow> = (0..rows)
            .map(|i| {
                let key = format!("{:05}", (i * 7919) % 4000 + i % 3);
                let value = match i % 5 {
                    0 => format!("Stored {}", key.trim_start_matches('0')),
                    1 => String::new(),
                    _ => format!("Name {i}"),
                };
                let date = if i % 11 == 0 { "not a date" } else { "" };
                let cells = [commands[i as usize % commands.len()], &key, &value, date]
                    .map(|t| if t.is_empty() { Cell::Empty } else { Cell::Text(t.into()) });
                RawRow { row: i + 2, cells: Vec::from(cells).into() }
            })
            .collect();
        let sheet = RawSheet {
            name: "User".into(),
            headers: (0..)
                .zip(headers)
                .map(|(column, h)| RawHeader { column, text: h.into() })
                .collect(),
            rows,
        };
        let mut findings = Vec::new();
        let columns = map_columns(user, &sheet, mode, &mut findings).unwrap();
        // Complete mode warns that the sheet leaves most columns out.
        assert!(findings.iter().all(|f| f.severity == Severity::Warning), "{findings:?}");
        let intents = TypeIntents::read(user, &sheet, &columns, mode, &mut findings);
        let typed = TypeChanges::compute(
            user,
            &table,
            &sheet,
            &columns,
            mode,
            intents,
            &mut findings,
            threads_for,
        );
        (typed.changes, findings, typed.unchanged)
    }

    #[test]
    fn a_plan_compared_on_several_threads_is_the_one_compared_on_one() {
        let one = compute(5000, Mode::Incremental, |_| 1);
        let codes: HashSet<&str> = one.1.iter().map(|f| f.code).collect();
        for code in ["duplicate_key", "bad_value", "already_exists", "not_found", "unknown_command"]
        {
            assert!(codes.contains(code), "the rows meet {code}: {codes:?}");
        }
        assert!(
            one.0.iter().any(|c| c.op == Op::Update) && one.2 > 0,
            "updates and unchanged rows"
        );
        for threads in [|_| 2, |_| 3, |_| 7] {
            assert_eq!(compute(5000, Mode::Incremental, threads), one);
        }
        // More parts than key groups: one group each, none lost.
        let few = compute(12, Mode::Incremental, |_| 1);
        assert!(!few.0.is_empty() && !few.1.is_empty(), "{few:?}");
        assert_eq!(compute(12, Mode::Incremental, |_| 40), few);
    }

    /// Complete mode deletes every stored row no row of the sheet names, in key order: before
    /// the first key, between the parts the rows are compared in, after the last key, and all
    /// of them when the sheet has no row.
    #[test]
    fn complete_mode_deletes_the_same_rows_whatever_the_threads() {
        for rows in [0, 12, 5000] {
            let one = compute(rows, Mode::Complete, |_| 1);
            let named: HashSet<String> =
                (0..rows).map(|i| format!("{:05}", (i * 7919) % 4000 + i % 3)).collect();
            let absent: Vec<String> =
                (0..3000).map(|i| format!("{i:05}")).filter(|k| !named.contains(k)).collect();
            let deleted: Vec<&str> =
                one.0.iter().filter(|c| c.op == Op::Delete).map(|c| c.key.as_str()).collect();
            assert_eq!(deleted, absent, "{rows} rows");
            for threads in [|_| 2, |_| 3, |_| 7, |_| 40] {
                assert_eq!(compute(rows, Mode::Complete, threads), one, "{rows} rows");
            }
        }
    }
}
