//! History: every run recorded with what every row it changed was before and is after.
//!
//! A run is a sync or an undo. Its record holds the time, mode, file name and SHA-256, counts,
//! the threshold evaluation, the force reason, and its changes: for each row written, its
//! entity type, key, operation, and the ids of its images before and after in the store's
//! `image` table (see [`crate::store`]). The store keeps every image a row ever had, so
//! recording a change copies no image: the one after is the row's new image, the one before
//! is the image it had.
//!
//! Changes are recorded a few hundred to a row of `change_pack` (file format 7): a JSON array
//! of `[entity type, key, op, before image, after image]`, the pack's first change numbered
//! `first_seq`. One B-tree insert per change was a third of an apply (issue 6). For SQL (a
//! support engineer's query, the tests), the `change_row` view reads packs and the `change`
//! rows of earlier formats alike, one row per change; this module parses packs itself, since
//! SQLite's JSON functions took twice as long to take each change apart.
//!
//! Changes recorded by earlier file formats are rows of `change`, and before format 4 keep
//! their own copies: a whole image after, and before, a whole image or (format 3) an update's
//! changed values (`before_changed`). Either way [`changes`] gives both images whole, which is
//! enough to undo a run, to show what it did, and to rebuild the repository as it was before
//! the last run (reports compare before and after).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, ErrorCode, Result};
use crate::plan::{Mode, Op, TypeSummary};
use crate::store::{
    ImageId, ImageReader, Row, Store, decode_changed_into, push_json_string, sql_error,
};
use crate::thresholds::Evaluation;

/// What kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A spreadsheet applied.
    Sync,
    /// The inverse of an earlier run.
    Undo,
}

impl RunKind {
    fn name(self) -> &'static str {
        match self {
            RunKind::Sync => "sync",
            RunKind::Undo => "undo",
        }
    }
}

/// The counts and checks of a run, kept as JSON in its record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct RunCounts {
    /// Rows created.
    pub created: u64,
    /// Rows updated.
    pub updated: u64,
    /// Rows deleted.
    pub deleted: u64,
}

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Run {
    /// The run's number.
    pub id: i64,
    /// When it was applied (RFC 3339, UTC).
    pub started_at: String,
    /// Sync or undo.
    pub kind: RunKind,
    /// Complete or incremental (for an undo, the mode of the run it reverted).
    pub mode: Option<String>,
    /// The uploaded file's name.
    pub file_name: Option<String>,
    /// The uploaded file's SHA-256.
    pub file_sha256: Option<String>,
    /// Rows created, updated, deleted.
    pub counts: RunCounts,
    /// Counts per entity type.
    pub summaries: serde_json::Value,
    /// The thresholds as evaluated when applying.
    pub thresholds: serde_json::Value,
    /// The reason typed to force a blocked plan.
    pub force_reason: Option<String>,
    /// For an undo, the run it reverted.
    pub undo_of: Option<i64>,
    /// The run that undid this one, if any.
    pub undone_by: Option<i64>,
    /// Repository revision before the run.
    pub revision_before: u64,
    /// Repository revision after the run.
    pub revision_after: u64,
}

/// One row a run changed, with its images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct RecordedChange {
    /// The entity type.
    pub entity_type: String,
    /// The row's key.
    pub key: String,
    /// Create, update or delete.
    pub op: Op,
    /// The row before (none for a create).
    pub before: Option<Row>,
    /// The row after (none for a delete).
    pub after: Option<Row>,
}

/// What to record for a run (see [`crate::apply`]).
pub(crate) struct NewRun<'a> {
    pub kind: RunKind,
    pub started_at: String,
    pub mode: Option<Mode>,
    pub file_name: Option<&'a str>,
    pub file_sha256: Option<&'a str>,
    pub counts: RunCounts,
    pub summaries: &'a [TypeSummary],
    pub thresholds: &'a Evaluation,
    pub force_reason: Option<&'a str>,
    pub undo_of: Option<i64>,
    pub revision_before: u64,
}

/// Records a run inside the apply transaction, before its changes ([`record_changes`]);
/// returns its id.
pub(crate) fn record_run(
    tx: &rusqlite::Transaction<'_>,
    path: &std::path::Path,
    run: &NewRun<'_>,
) -> Result<i64> {
    let sql = |e| sql_error(path, e);
    let summary = serde_json::json!({
        "counts": run.counts,
        "summaries": run.summaries,
        "thresholds": run.thresholds,
    });
    tx.execute(
        "INSERT INTO run (started_at, kind, mode, file_name, file_sha256, summary, force_reason,
                          undo_of, revision_before, revision_after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            run.started_at,
            run.kind.name(),
            run.mode.map(Mode::name),
            run.file_name,
            run.file_sha256,
            summary.to_string(),
            run.force_reason,
            run.undo_of,
            run.revision_before as i64,
            (run.revision_before + 1) as i64,
        ],
    )
    .map_err(sql)?;
    Ok(tx.last_insert_rowid())
}

/// One change of a run as it is recorded: the ids of its row images in the store's `image`
/// table (see [`crate::store`]).
pub(crate) struct ImageChange<'a> {
    pub entity_type: &'a str,
    pub key: &'a str,
    pub op: Op,
    /// The image before; `None` for a create.
    pub before_image: Option<ImageId>,
    /// The image after; `None` for a delete.
    pub after_image: Option<ImageId>,
}

/// The length a pack of changes is closed at. A row of a table without rowids keeps at most
/// about a quarter of a page in the page itself, the rest in overflow pages of its own: packs
/// of a whole batch (47 KB) took half as much space again as their text (issue 6).
const PACK_BYTES: usize = 12 * 1024;

/// Records changes `first_seq`, `first_seq + 1`, ... of the run [`record_run`] recorded, in
/// the same transaction, as rows of `change_pack` of about [`PACK_BYTES`] each (see the
/// module docs).
pub(crate) fn record_changes(
    tx: &rusqlite::Transaction<'_>,
    path: &std::path::Path,
    run_id: i64,
    first_seq: usize,
    changes: &[ImageChange<'_>],
) -> Result<()> {
    let mut stmt = tx
        .prepare_cached("INSERT INTO change_pack (run_id, first_seq, changes) VALUES (?1, ?2, ?3)")
        .map_err(|e| sql_error(path, e))?;
    let mut pack = String::with_capacity(PACK_BYTES + 256);
    let mut pack_seq = first_seq;
    for (i, c) in changes.iter().enumerate() {
        pack.push(if pack.is_empty() { '[' } else { ',' });
        pack.push('[');
        push_json_string(&mut pack, c.entity_type);
        pack.push(',');
        push_json_string(&mut pack, c.key);
        pack.push_str(",\"");
        pack.push_str(c.op.name());
        pack.push('"');
        for image in [c.before_image, c.after_image] {
            pack.push(',');
            push_image_id(&mut pack, image);
        }
        pack.push(']');
        if pack.len() >= PACK_BYTES || i + 1 == changes.len() {
            pack.push(']');
            stmt.execute(params![run_id, pack_seq as i64, pack]).map_err(|e| sql_error(path, e))?;
            pack.clear();
            pack_seq = first_seq + i + 1;
        }
    }
    Ok(())
}

fn parse_op(text: &str) -> Op {
    match text {
        "create" => Op::Create,
        "delete" => Op::Delete,
        _ => Op::Update,
    }
}

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Run> {
    let kind: String = r.get(2)?;
    let summary: String = r.get(6)?;
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap_or_default();
    Ok(Run {
        id: r.get(0)?,
        started_at: r.get(1)?,
        kind: if kind == "undo" { RunKind::Undo } else { RunKind::Sync },
        mode: r.get(3)?,
        file_name: r.get(4)?,
        file_sha256: r.get(5)?,
        counts: serde_json::from_value(summary["counts"].clone()).unwrap_or_default(),
        summaries: summary["summaries"].clone(),
        thresholds: summary["thresholds"].clone(),
        force_reason: r.get(7)?,
        undo_of: r.get(8)?,
        undone_by: r.get(11)?,
        revision_before: r.get::<_, i64>(9)? as u64,
        revision_after: r.get::<_, i64>(10)? as u64,
    })
}

const RUN_COLUMNS: &str =
    "r.id, r.started_at, r.kind, r.mode, r.file_name, r.file_sha256, r.summary,
     r.force_reason, r.undo_of, r.revision_before, r.revision_after,
     (SELECT u.id FROM run u WHERE u.undo_of = r.id)";

/// Every run, newest first.
///
/// # Errors
///
/// [`ErrorCode::Repository`] if the repository cannot be read.
pub fn list(store: &Store) -> Result<Vec<Run>> {
    let sql = |e| sql_error(store.path(), e);
    let mut stmt = store
        .conn()
        .prepare(&format!("SELECT {RUN_COLUMNS} FROM run r ORDER BY r.id DESC"))
        .map_err(sql)?;
    let runs = stmt.query_map([], run_from_row).map_err(sql)?;
    runs.map(|r| r.map_err(sql)).collect()
}

/// One run by number.
///
/// # Errors
///
/// [`ErrorCode::NotFound`] if there is no such run.
pub fn get(store: &Store, id: i64) -> Result<Run> {
    store
        .conn()
        .query_row(&format!("SELECT {RUN_COLUMNS} FROM run r WHERE r.id = ?1"), [id], run_from_row)
        .optional()
        .map_err(|e| sql_error(store.path(), e))?
        .ok_or_else(|| {
            Error::new(ErrorCode::NotFound, format!("There is no run {id}. See `idbulk history`."))
        })
}

/// The most recent run, if any.
///
/// # Errors
///
/// [`ErrorCode::Repository`] if the repository cannot be read.
pub fn last(store: &Store) -> Result<Option<Run>> {
    Ok(list(store)?.into_iter().next())
}

/// The rows a run changed, in the order it wrote them.
///
/// # Errors
///
/// [`ErrorCode::Repository`] if the repository cannot be read or a stored image is damaged.
pub fn changes(store: &Store, run_id: i64) -> Result<Vec<RecordedChange>> {
    let sql = |e| sql_error(store.path(), e);
    let mut images = Images { store, run_id, readers: HashMap::new() };
    let mut out = Vec::new();
    // Changes recorded a row each, by file formats up to 6.
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT c.entity_type, c.key, c.op, coalesce(c.before, b.fields),
                    coalesce(c.after, a.fields), c.before_changed
             FROM change c
             LEFT JOIN image b ON b.id = c.before_image
             LEFT JOIN image a ON a.id = c.after_image
             WHERE c.run_id = ?1 ORDER BY c.seq",
        )
        .map_err(sql)?;
    let mut rows = stmt.query([run_id]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let change = RecordedRow {
            entity_type: r.get(0).map_err(sql)?,
            key: r.get(1).map_err(sql)?,
            op: parse_op(&r.get::<_, String>(2).map_err(sql)?),
            before: r.get(3).map_err(sql)?,
            after: r.get(4).map_err(sql)?,
            before_changed: r.get(5).map_err(sql)?,
        };
        out.push(images.decode(change)?);
    }
    // Changes in packs. Taking each apart with SQLite's JSON functions doubled the time of
    // reading a large run (issue 6), so packs are parsed here and their images read a pack
    // at a time, by their positions in a list of ids (before and after of each change).
    let mut stmt = store
        .conn()
        .prepare("SELECT j.key, i.fields FROM json_each(?1) j JOIN image i ON i.id = j.value")
        .map_err(sql)?;
    let mut ids = String::new();
    each_pack(store, run_id, run_id, |_, pack| {
        ids.clear();
        ids.push('[');
        for (i, image) in pack.iter().flat_map(|c| [c.3, c.4]).enumerate() {
            if i > 0 {
                ids.push(',');
            }
            push_image_id(&mut ids, image);
        }
        ids.push(']');
        let mut fields: Vec<Option<String>> = vec![None; 2 * pack.len()];
        let mut rows = stmt.query([&ids]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            let position: usize = r.get(0).map_err(sql)?;
            fields[position] = Some(r.get(1).map_err(sql)?);
        }
        for (PackedChange(entity_type, key, op, _, _), images_of) in
            pack.into_iter().zip(fields.chunks_mut(2))
        {
            let change = RecordedRow {
                entity_type,
                key,
                op: parse_op(&op),
                before: images_of[0].take(),
                after: images_of[1].take(),
                before_changed: None,
            };
            out.push(images.decode(change)?);
        }
        Ok(())
    })?;
    Ok(out)
}

/// One change of a pack: `[entity type, key, op, before image, after image]`.
#[derive(serde::Deserialize)]
struct PackedChange(String, String, String, Option<ImageId>, Option<ImageId>);

/// Appends an image id to a JSON list, `null` for none.
fn push_image_id(out: &mut String, image: Option<ImageId>) {
    match image {
        // Writing to a String cannot fail.
        Some(id) => drop(write!(out, "{id}")),
        None => out.push_str("null"),
    }
}

/// Calls `each(run, changes)` for every pack of changes of the runs from `first` to `last`,
/// in order.
fn each_pack(
    store: &Store,
    first: i64,
    last: i64,
    mut each: impl FnMut(i64, Vec<PackedChange>) -> Result<()>,
) -> Result<()> {
    let sql = |e| sql_error(store.path(), e);
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT run_id, first_seq, changes FROM change_pack
             WHERE run_id BETWEEN ?1 AND ?2 ORDER BY run_id, first_seq",
        )
        .map_err(sql)?;
    let mut rows = stmt.query([first, last]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let run: i64 = r.get(0).map_err(sql)?;
        let first_seq: i64 = r.get(1).map_err(sql)?;
        let text: String = r.get(2).map_err(sql)?;
        let pack = serde_json::from_str(&text).map_err(|e| {
            Error::new(
                ErrorCode::Repository,
                format!(
                    "The history of run {run} is damaged: its changes from {first_seq} on cannot be read ({e}). Restore a backup to undo or inspect it."
                ),
            )
        })?;
        each(run, pack)?;
    }
    Ok(())
}

/// A change as recorded, its images as stored.
struct RecordedRow {
    entity_type: String,
    key: String,
    op: Op,
    before: Option<String>,
    after: Option<String>,
    before_changed: Option<String>,
}

/// Reads the images of a run's changes, with one image reader per entity type it changed.
struct Images<'s> {
    store: &'s Store,
    run_id: i64,
    readers: HashMap<String, ImageReader<'s>>,
}

impl Images<'_> {
    /// The change with both its images whole.
    fn decode(&mut self, change: RecordedRow) -> Result<RecordedChange> {
        let RecordedRow { entity_type, key, op, before, after, before_changed } = change;
        let run_id = self.run_id;
        let et = self.store.schema().entity_type(&entity_type).ok_or_else(|| {
            Error::new(
                ErrorCode::Repository,
                format!("Run {run_id} changed {entity_type}, which the schema no longer has."),
            )
        })?;
        if !self.readers.contains_key(&entity_type) {
            let reader = ImageReader::new(self.store.conn(), self.store.path(), et)?;
            self.readers.insert(entity_type.clone(), reader);
        }
        let reader = &self.readers[&entity_type];
        let image =
            |json: Option<String>| json.map(|j| reader.decode(key.as_str().into(), &j)).transpose();
        let after = image(after)?;
        let before = match (image(before)?, &after, before_changed) {
            // A full image, or none (a create).
            (before, _, None) => before,
            // An update recorded by format 3: the row after, with the values it changed set
            // back.
            (None, Some(after), Some(changed)) => {
                let mut before = after.clone();
                decode_changed_into(et, &mut before, &changed)?;
                Some(before)
            }
            // Changed values beside a full image, or without the row they apply to.
            (_, _, Some(_)) => {
                return Err(Error::new(
                    ErrorCode::Repository,
                    format!(
                        "The history of {entity_type} {key} in run {run_id} is damaged (its images do not fit together)."
                    ),
                ));
            }
        };
        Ok(RecordedChange { op, before, after, entity_type, key })
    }
}

/// Rows of `run_id` that a later run changed again: `(entity type, key, later run)`, in the
/// order of entity type and key, each with the first later run that changed it.
///
/// # Errors
///
/// [`ErrorCode::Repository`] if the repository cannot be read.
pub fn touched_later(store: &Store, run_id: i64) -> Result<Vec<(String, String, i64)>> {
    // The later runs' rows first: usually there are none (undo of the last run), and then
    // this run's changes need not be read at all.
    let mut later: HashMap<(String, String), i64> = HashMap::new();
    each_changed_row(store, run_id + 1, i64::MAX, |run, entity_type, key| {
        later.entry((entity_type, key)).and_modify(|first| *first = run.min(*first)).or_insert(run);
    })?;
    let mut touched = BTreeMap::new();
    if !later.is_empty() {
        each_changed_row(store, run_id, run_id, |_, entity_type, key| {
            let row = (entity_type, key);
            if let Some(&run) = later.get(&row) {
                touched.insert(row, run);
            }
        })?;
    }
    Ok(touched.into_iter().map(|((entity_type, key), run)| (entity_type, key, run)).collect())
}

/// Calls `each(run, entity type, key)` for every change of the runs from `first` to `last`,
/// recorded a row each or in packs.
fn each_changed_row(
    store: &Store,
    first: i64,
    last: i64,
    mut each: impl FnMut(i64, String, String),
) -> Result<()> {
    let sql = |e| sql_error(store.path(), e);
    let mut stmt = store
        .conn()
        .prepare("SELECT run_id, entity_type, key FROM change WHERE run_id BETWEEN ?1 AND ?2")
        .map_err(sql)?;
    let mut rows = stmt.query([first, last]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        each(r.get(0).map_err(sql)?, r.get(1).map_err(sql)?, r.get(2).map_err(sql)?);
    }
    each_pack(store, first, last, |run, pack| {
        for PackedChange(entity_type, key, ..) in pack {
            each(run, entity_type, key);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    /// A new repository whose run 1 `record` wrote (in the run's transaction).
    fn run_1(
        record: impl FnOnce(&mut crate::store::Writer<'_>) -> Result<()>,
    ) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join("r.db"), &Schema::directory()).unwrap();
        store
            .write(|w| {
                w.tx()
                    .execute_batch(
                        "INSERT INTO run (id, started_at, kind, summary, revision_before,
                                          revision_after)
                         VALUES (1, '2026-01-01T00:00:00Z', 'sync', '{}', 0, 1)",
                    )
                    .unwrap();
                record(w)
            })
            .unwrap();
        (dir, store)
    }

    /// What [`changes`] answers for a repository with one run changing Site `S1` from
    /// `before` to `after`, recorded with the columns given, as an earlier build (full images)
    /// or format 3 (changed values) would.
    fn recorded(before: Option<&str>, before_changed: Option<&str>) -> Result<Vec<RecordedChange>> {
        let (_dir, store) = run_1(|w| {
            w.tx()
                .execute(
                    "INSERT INTO change (run_id, seq, entity_type, key, op, before, after,
                                         before_changed)
                     VALUES (1, 0, 'Site', 'S1', 'update', ?1, ?2, ?3)",
                    params![before, r#"{"DisplayName":"Lyon","City":"Lyon"}"#, before_changed],
                )
                .unwrap();
            Ok(())
        });
        changes(&store, 1)
    }

    #[test]
    fn changed_values_that_do_not_fit_their_images_are_damage() {
        let both = recorded(Some(r#"{"DisplayName":"Paris"}"#), Some(r#"{"City":""}"#));
        let e = both.unwrap_err();
        assert_eq!(e.code, ErrorCode::Repository);
        assert!(e.message.contains("Site S1 in run 1 is damaged"), "{}", e.message);
    }

    #[test]
    fn an_update_reads_back_whole_from_full_images_or_from_its_changed_values() {
        let old_style =
            recorded(Some(r#"{"DisplayName":"Paris","Country":"France"}"#), None).unwrap();
        let new_style =
            recorded(None, Some(r#"{"DisplayName":"Paris","City":"","Country":"France"}"#))
                .unwrap();
        assert_eq!(old_style, new_style);
        let [change] = &new_style[..] else { panic!("one change: {new_style:?}") };
        assert_eq!(change.before.as_ref().unwrap().values, ["Paris", "", "France"]);
        assert_eq!(change.after.as_ref().unwrap().values, ["Lyon", "Lyon", ""]);
    }

    #[test]
    fn touched_later_names_each_row_with_the_first_later_run_that_changed_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join("r.db"), &Schema::directory()).unwrap();
        // Run 1 changes three sites; runs 2 and 3 change two of them again, run 4 another.
        // Runs 1 and 2 are recorded a row per change, as file formats up to 6 did; runs 3
        // and 4 as this build does, a pack per batch.
        let runs: [(i64, &[&str]); 4] =
            [(1, &["S1", "S2", "S3"]), (2, &["S2"]), (3, &["S3", "S2"]), (4, &["S9"])];
        store
            .write(|w| {
                for (run, keys) in runs {
                    w.tx()
                        .execute(
                            "INSERT INTO run (id, started_at, kind, summary, revision_before,
                                              revision_after)
                             VALUES (?1, '2026-01-01T00:00:00Z', 'sync', '{}', ?1 - 1, ?1)",
                            [run],
                        )
                        .unwrap();
                    if run >= 3 {
                        let packed: Vec<ImageChange<'_>> = keys
                            .iter()
                            .map(|key| ImageChange {
                                entity_type: "Site",
                                key,
                                op: Op::Update,
                                before_image: Some(1),
                                after_image: Some(2),
                            })
                            .collect();
                        record_changes(w.tx(), w.path(), run, 0, &packed)?;
                        continue;
                    }
                    for (seq, key) in keys.iter().enumerate() {
                        w.tx()
                            .execute(
                                "INSERT INTO change (run_id, seq, entity_type, key, op,
                                                     before_image, after_image)
                                 VALUES (?1, ?2, 'Site', ?3, 'update', 1, 2)",
                                params![run, seq as i64, key],
                            )
                            .unwrap();
                    }
                }
                Ok(())
            })
            .unwrap();
        let later = |run| touched_later(&store, run).unwrap();
        let row = |key: &str, run| ("Site".to_string(), key.to_string(), run);
        assert_eq!(later(1), [row("S2", 2), row("S3", 3)]);
        assert_eq!(later(2), [row("S2", 3)]);
        assert_eq!(later(3), []);
        assert_eq!(later(4), []);
    }

    /// A packed change: key, op, images before and after.
    type Packed<'a> = (&'a str, Op, Option<ImageId>, Option<ImageId>);

    /// A repository with image 1 (a Site in Lyon) whose run 1 recorded `batches`, each with
    /// one call to [`record_changes`].
    fn packed_run(batches: &[&[Packed<'_>]]) -> (tempfile::TempDir, Store) {
        run_1(|w| {
            w.tx()
                .execute(
                    "INSERT INTO image (id, fields) VALUES (1, '{\"DisplayName\":\"Lyon\"}')",
                    [],
                )
                .unwrap();
            let mut seq = 0;
            for batch in batches {
                let changes: Vec<ImageChange<'_>> = batch
                    .iter()
                    .map(|&(key, op, before_image, after_image)| ImageChange {
                        entity_type: "Site",
                        key,
                        op,
                        before_image,
                        after_image,
                    })
                    .collect();
                record_changes(w.tx(), w.path(), 1, seq, &changes)?;
                seq += batch.len();
            }
            Ok(())
        })
    }

    #[test]
    fn packed_changes_read_back_in_order_across_packs() {
        let (_dir, store) = packed_run(&[
            &[("S1", Op::Create, None, Some(1)), (r#"S "2" \ é"#, Op::Update, Some(1), Some(1))],
            &[],
            &[("S3", Op::Delete, Some(1), None)],
        ]);
        let read: Vec<(String, Op, bool, bool)> = changes(&store, 1)
            .unwrap()
            .into_iter()
            .map(|c| (c.key, c.op, c.before.is_some(), c.after.is_some()))
            .collect();
        let expected = [
            ("S1", Op::Create, false, true),
            (r#"S "2" \ é"#, Op::Update, true, true),
            ("S3", Op::Delete, true, false),
        ];
        assert_eq!(read, expected.map(|(k, op, b, a)| (k.to_string(), op, b, a)));
        let lyon = changes(&store, 1).unwrap().remove(0).after.unwrap();
        assert_eq!(lyon.values, ["Lyon", "", ""]);
        assert!(store.integrity_problems().unwrap().is_empty());
    }

    #[test]
    fn a_long_batch_is_split_into_packs_that_stay_in_their_page() {
        let keys: Vec<String> = (0..1000).map(|i| format!("{i:04} {}", "x".repeat(40))).collect();
        let batch: Vec<Packed<'_>> =
            keys.iter().map(|k| (k.as_str(), Op::Update, Some(1), Some(1))).collect();
        let (_dir, store) = packed_run(&[&batch]);
        let packs: Vec<(i64, usize)> = store
            .conn()
            .prepare("SELECT first_seq, length(changes) FROM change_pack ORDER BY first_seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(packs.len() > 4, "{packs:?}");
        assert_eq!(packs[0].0, 0);
        assert!(packs.iter().all(|&(_, len)| len < PACK_BYTES + 100), "{packs:?}");
        let read: Vec<String> = changes(&store, 1).unwrap().into_iter().map(|c| c.key).collect();
        assert_eq!(read, keys, "every change once, in order, across the packs");
    }

    #[test]
    fn a_damaged_pack_is_reported_not_read_wrong() {
        let (_dir, store) = packed_run(&[&[("S1", Op::Create, None, Some(1))]]);
        let damage = |pack: &str| {
            store
                .conn()
                .execute("UPDATE change_pack SET changes = ?1 WHERE run_id = 1", [pack])
                .unwrap();
            (changes(&store, 1).err(), store.integrity_problems().unwrap())
        };
        let (e, problems) = damage(r#"[["Site","S1","create",null,7]]"#);
        assert!(e.is_none(), "a lost image reads as no image: {e:?}");
        assert_eq!(problems, ["the history of Site S1 in run 1 has lost an image"]);
        let (e, problems) = damage(r#"[["Site","S1""#);
        let e = e.unwrap();
        assert_eq!(e.code, ErrorCode::Repository);
        assert!(e.message.starts_with("The history of run 1 is damaged"), "{}", e.message);
        assert_eq!(problems, ["the history of run 1 is damaged: changes from 0 on are not JSON"]);
        let (e, problems) = damage(r#"{"Site":"S1"}"#);
        assert_eq!(e.unwrap().code, ErrorCode::Repository);
        assert_eq!(problems, ["the history of run 1 is damaged: changes from 0 on are not a list"]);
        let (e, problems) = damage(r#"[["Site","S1","create",null,1],"S2"]"#);
        assert_eq!(e.unwrap().code, ErrorCode::Repository);
        assert_eq!(problems, ["the history of run 1 is damaged: change 1 is not a list"]);
    }
}
