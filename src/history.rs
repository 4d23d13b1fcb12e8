//! History: every run recorded with what every row it changed was before and is after.
//!
//! A run is a sync or an undo. Its record holds the time, mode, file name and SHA-256, counts,
//! the threshold evaluation, the force reason, and one `change` row per row written, pointing
//! at the row's images before and after in the store's `image` table (`before_image`,
//! `after_image`; see [`crate::store`]). The store keeps every image a row ever had, so
//! recording a change copies no image: the one after is the row's new image, the one before
//! is the image it had.
//!
//! Changes recorded by earlier file formats keep their own copies: a whole image after, and
//! before, a whole image or (format 3) an update's changed values (`before_changed`). Either
//! way [`changes`] gives both images whole, which is enough to undo a run, to show what it
//! did, and to rebuild the repository as it was before the last run (reports compare before
//! and after).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, ErrorCode, Result};
use crate::plan::{Mode, Op, TypeSummary};
use crate::store::{
    ImageId, ImageReader, Row, Store, bind, decode_changed_into, in_statements, placeholders,
    sql_error,
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
    pub run_id: i64,
    pub seq: usize,
    pub entity_type: &'a str,
    pub key: &'a str,
    pub op: Op,
    /// The image before; `None` for a create.
    pub before_image: Option<ImageId>,
    /// The image after; `None` for a delete.
    pub after_image: Option<ImageId>,
}

/// Records changes of the run [`record_run`] recorded, in the same transaction, a few
/// multi-row statements for many changes (see [`crate::store`]'s batches).
pub(crate) fn record_changes(
    tx: &rusqlite::Transaction<'_>,
    path: &std::path::Path,
    changes: &[ImageChange<'_>],
) -> Result<()> {
    in_statements(
        tx,
        path,
        changes,
        |n| {
            format!(
                "INSERT INTO change (run_id, seq, entity_type, key, op, before_image, after_image)
                 VALUES {}",
                placeholders(n, 7)
            )
        },
        |stmt, _, chunk| {
            let mut p = 0;
            for c in chunk {
                bind(stmt, &mut p, c.run_id)?;
                bind(stmt, &mut p, c.seq as i64)?;
                bind(stmt, &mut p, c.entity_type)?;
                bind(stmt, &mut p, c.key)?;
                bind(stmt, &mut p, c.op.name())?;
                bind(stmt, &mut p, c.before_image)?;
                bind(stmt, &mut p, c.after_image)?;
            }
            stmt.raw_execute().map(drop)
        },
    )
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
    let rows = stmt
        .query_map([run_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .map_err(sql)?;
    let mut out = Vec::new();
    // One image reader per entity type the run changed.
    let mut readers: HashMap<String, ImageReader<'_>> = HashMap::new();
    for row in rows {
        let (entity_type, key, op, before, after, before_changed) = row.map_err(sql)?;
        let et = store.schema().entity_type(&entity_type).ok_or_else(|| {
            Error::new(
                ErrorCode::Repository,
                format!("Run {run_id} changed {entity_type}, which the schema no longer has."),
            )
        })?;
        if !readers.contains_key(&entity_type) {
            let reader = ImageReader::new(store.conn(), store.path(), et)?;
            readers.insert(entity_type.clone(), reader);
        }
        let reader = &readers[&entity_type];
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
        out.push(RecordedChange { op: parse_op(&op), before, after, entity_type, key });
    }
    Ok(out)
}

/// Rows of `run_id` that a later run changed again: `(entity type, key, later run)`.
///
/// # Errors
///
/// [`ErrorCode::Repository`] if the repository cannot be read.
pub fn touched_later(store: &Store, run_id: i64) -> Result<Vec<(String, String, i64)>> {
    let sql = |e| sql_error(store.path(), e);
    let mut stmt = store
        .conn()
        .prepare(
            // The rows the later runs changed, first (the history has no index by row, see
            // migration 5): SQLite then matches this run's rows against them by an index of
            // its own, built for the query, instead of reading every later change per row.
            "WITH later AS MATERIALIZED (
                 SELECT entity_type, key, MIN(run_id) AS run_id FROM change
                 WHERE run_id > ?1 GROUP BY entity_type, key)
             SELECT DISTINCT c.entity_type, c.key, l.run_id
             FROM change c JOIN later l ON l.entity_type = c.entity_type AND l.key = c.key
             WHERE c.run_id = ?1
             ORDER BY c.entity_type, c.key",
        )
        .map_err(sql)?;
    let rows = stmt.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(sql)?;
    rows.map(|r| r.map_err(sql)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    /// What [`changes`] answers for a repository with one run changing Site `S1` from
    /// `before` to `after`, recorded with the columns given, as an earlier build (full images)
    /// or this one (changed values) would.
    fn recorded(before: Option<&str>, before_changed: Option<&str>) -> Result<Vec<RecordedChange>> {
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
                w.tx()
                    .execute(
                        "INSERT INTO change (run_id, seq, entity_type, key, op, before, after,
                                             before_changed)
                         VALUES (1, 0, 'Site', 'S1', 'update', ?1, ?2, ?3)",
                        params![before, r#"{"DisplayName":"Lyon","City":"Lyon"}"#, before_changed],
                    )
                    .unwrap();
                Ok(())
            })
            .unwrap();
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
}
