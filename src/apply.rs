//! Apply: write a plan in one transaction, all or nothing, and record it; undo a run.
//!
//! Apply re-checks everything the plan promised: the repository must still be at the revision
//! the plan was built on (otherwise the plan is stale and must be rebuilt), the thresholds are
//! evaluated again with the limits in force now, and a blocked plan needs a force with a
//! non-empty reason, which is recorded. The rows and the history record are written in the
//! same `BEGIN IMMEDIATE` transaction, so a crash leaves the repository as before or as after.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::{Error, ErrorCode, Result};
use crate::history::{self, ImageChange, NewRun, RecordedChange, Run, RunCounts, RunKind};
use crate::plan::{self, Change, FieldChange, Op, Plan, Snapshot, TypeSummary};
use crate::store::{ImageId, Row, RowEncoder, RowWrite, Store};
use crate::thresholds::{self, Counts, Evaluation, Thresholds};

/// Whether to apply a plan a threshold blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "force")]
pub enum Force {
    /// Refuse a blocked plan.
    No,
    /// Apply it anyway; the reason is recorded with the run.
    Yes {
        /// Why, in the user's words.
        reason: String,
    },
}

/// Called as rows are written with (rows done, rows in all); returning `false` cancels the
/// apply, which then rolls back and writes nothing.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64) -> bool;

/// Applies a plan; returns the recorded run.
///
/// # Errors
///
/// - [`ErrorCode::InvalidInput`] if the plan has errors;
/// - [`ErrorCode::Blocked`] if a threshold is broken and `force` is [`Force::No`];
/// - [`ErrorCode::Usage`] if the force reason is blank;
/// - [`ErrorCode::Busy`] if the repository changed since the plan was built, or another
///   process holds it;
/// - [`ErrorCode::Cancelled`] if `progress` asked to stop;
/// - repository errors. In every case nothing is written.
pub fn run(
    store: &mut Store,
    plan: &Plan,
    force: &Force,
    now: chrono::DateTime<chrono::Utc>,
    progress: Progress<'_>,
) -> Result<Run> {
    if plan.has_errors() {
        let n = plan.errors().count();
        return Err(Error::invalid_input(format!(
            "The file has {n} error{}; nothing was applied. Fix {} and upload it again.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        )));
    }
    let force_reason = match force {
        Force::Yes { reason } if reason.trim().is_empty() => {
            return Err(Error::usage(
                "A forced sync needs a reason: say why these limits may be exceeded.",
            ));
        }
        Force::Yes { reason } => Some(reason.trim().to_string()),
        Force::No => None,
    };
    // Thresholds are read again: a limit changed since the plan bumps the revision anyway,
    // which the transaction below catches.
    let counts: Vec<(String, Counts)> = plan
        .summaries
        .iter()
        .map(|s| {
            let empty_sheet = plan
                .thresholds
                .checks
                .iter()
                .any(|c| c.scope == s.entity_type && c.counter == thresholds::EMPTY_SHEET);
            (
                s.entity_type.clone(),
                Counts {
                    stored: s.stored,
                    created: s.created,
                    updated: s.updated,
                    deleted: s.deleted,
                    empty_sheet,
                },
            )
        })
        .collect();
    let evaluation = thresholds::evaluate(&Thresholds::load(store)?, &counts);
    if evaluation.blocked && force_reason.is_none() {
        let broken: Vec<String> = evaluation
            .broken()
            .map(|c| format!("{} {} {} of {} stored", c.scope, c.counter, c.count, c.stored))
            .collect();
        return Err(Error::new(
            ErrorCode::Blocked,
            format!(
                "A safety threshold blocks this sync ({}); nothing was applied. Check the preview, then force it with a reason if it is intended.",
                broken.join("; ")
            ),
        ));
    }
    // Borrowed from the plan: copying every before and after row cost as much as writing.
    let changes: Vec<ChangeRef<'_>> = plan
        .changes
        .iter()
        .map(|c| ChangeRef {
            entity_type: &c.entity_type,
            key: &c.key,
            op: c.op,
            before_image: c.before_image,
            after: c.after.as_ref(),
        })
        .collect();
    write_run(
        store,
        NewRunSpec {
            kind: RunKind::Sync,
            mode: Some(plan.mode),
            file_name: Some(&plan.file.name),
            file_sha256: Some(&plan.file.sha256),
            summaries: &plan.summaries,
            evaluation: &evaluation,
            force_reason: force_reason.as_deref(),
            undo_of: None,
            base_revision: plan.base_revision,
        },
        &changes,
        now,
        progress,
    )
}

/// How many changes are written and recorded together, and how often progress is reported.
const CHANGES_PER_BATCH: usize = 1024;

/// One change to write and record, borrowed from a plan or an undo.
struct ChangeRef<'a> {
    entity_type: &'a str,
    key: &'a str,
    op: Op,
    /// The image the row is in, when known from the rows the change was computed against.
    before_image: Option<ImageId>,
    after: Option<&'a Row>,
}

/// The images after of a batch of changes, end to end, and where each change's is (`None`
/// for a delete).
#[derive(Default)]
struct EncodedBatch {
    text: String,
    spans: Vec<Option<std::ops::Range<usize>>>,
}

impl EncodedBatch {
    /// Encodes the rows after of `batch` in place of what the buffer held.
    fn encode(
        &mut self,
        encoders: &HashMap<&str, RowEncoder>,
        batch: &[ChangeRef<'_>],
    ) -> Result<()> {
        self.text.clear();
        self.spans.clear();
        for c in batch {
            let encoder = encoders
                .get(c.entity_type)
                .ok_or_else(|| Error::internal(format!("unknown entity type {}", c.entity_type)))?;
            self.spans.push(match (c.op, c.after) {
                (Op::Delete, _) => None,
                (_, Some(row)) => {
                    let start = self.text.len();
                    encoder.encode_into(row, &mut self.text);
                    Some(start..self.text.len())
                }
                (_, None) => return Err(Error::internal("a create or update without its row")),
            });
        }
        Ok(())
    }
}

struct NewRunSpec<'a> {
    kind: RunKind,
    mode: Option<plan::Mode>,
    file_name: Option<&'a str>,
    file_sha256: Option<&'a str>,
    summaries: &'a [TypeSummary],
    evaluation: &'a Evaluation,
    force_reason: Option<&'a str>,
    undo_of: Option<i64>,
    base_revision: u64,
}

fn write_run(
    store: &mut Store,
    spec: NewRunSpec<'_>,
    changes: &[ChangeRef<'_>],
    now: chrono::DateTime<chrono::Utc>,
    progress: Progress<'_>,
) -> Result<Run> {
    let schema = store.schema().clone();
    let mut counts = RunCounts::default();
    for c in changes {
        match c.op {
            Op::Create => counts.created += 1,
            Op::Update => counts.updated += 1,
            Op::Delete => counts.deleted += 1,
        }
    }
    let total = changes.len() as u64;
    let id = store.write(|w| {
        if w.revision_before() != spec.base_revision {
            return Err(Error::new(
                ErrorCode::Busy,
                format!(
                    "The repository changed since this preview was built (revision {} then, {} now); nothing was applied. Build the preview again.",
                    spec.base_revision,
                    w.revision_before()
                ),
            ));
        }
        // The run first, so that each change is recorded as it is written, in one pass.
        let id = history::record_run(
            w.tx(),
            w.path(),
            &NewRun {
                kind: spec.kind,
                started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                mode: spec.mode,
                file_name: spec.file_name,
                file_sha256: spec.file_sha256,
                counts: counts.clone(),
                summaries: spec.summaries,
                thresholds: spec.evaluation,
                force_reason: spec.force_reason,
                undo_of: spec.undo_of,
                revision_before: w.revision_before(),
            },
        )?;
        // Written and recorded in batches (see `store`'s batches), each encoded into one
        // buffer; the history points at the images the store keeps. The images of the next
        // batches are encoded on a second thread while SQLite writes this one (encoding was
        // an eighth of an apply of every row, issue 6); buffers go back to it for reuse.
        let mut encoders: HashMap<&str, RowEncoder> = HashMap::new();
        for t in &schema.entity_types {
            encoders.insert(&t.name, w.row_encoder(t)?);
        }
        let encoders = &encoders;
        let mut steps = Vec::with_capacity(CHANGES_PER_BATCH);
        std::thread::scope(|scope| {
            // Two batches ahead at most, so that memory stays bounded.
            let (send_encoded, encoded) = std::sync::mpsc::sync_channel(2);
            let (send_spare, spare) = std::sync::mpsc::channel::<EncodedBatch>();
            scope.spawn(move || {
                for batch in changes.chunks(CHANGES_PER_BATCH) {
                    let mut buffer = spare.try_recv().unwrap_or_default();
                    let result = buffer.encode(encoders, batch).map(|()| buffer);
                    // The writer hung up: it failed or was cancelled, and rolls back.
                    if send_encoded.send(result).is_err() {
                        return;
                    }
                }
            });
            for (n, batch) in changes.chunks(CHANGES_PER_BATCH).enumerate() {
                let done = n * CHANGES_PER_BATCH;
                if !progress(done as u64, total) {
                    return Err(Error::new(ErrorCode::Cancelled, "Cancelled; nothing was applied."));
                }
                let buffer: EncodedBatch = encoded
                    .recv()
                    .map_err(|_| Error::internal("the images of a batch were not encoded"))??;
                let writes: Vec<RowWrite<'_>> = batch
                    .iter()
                    .zip(&buffer.spans)
                    .map(|(c, span)| RowWrite {
                        entity_type: c.entity_type,
                        key: c.key,
                        exists: c.op != Op::Create,
                        known_image: c.before_image,
                        after: span.clone().map(|span| &buffer.text[span]),
                    })
                    .collect();
                w.write_rows(&writes, &mut steps)?;
                let recorded: Vec<ImageChange<'_>> = batch
                    .iter()
                    .zip(&steps)
                    .map(|(c, step)| ImageChange {
                        entity_type: c.entity_type,
                        key: c.key,
                        op: c.op,
                        before_image: step.before,
                        after_image: step.after,
                    })
                    .collect();
                history::record_changes(w.tx(), w.path(), id, done, &recorded)?;
                drop(writes);
                // The encoder may have finished: then the buffer is simply freed.
                let _ = send_spare.send(buffer);
            }
            Ok(())
        })?;
        progress(total, total);
        Ok(id)
    })?;
    history::get(store, id)
}

/// Reverts a run as a new, recorded run; returns it.
///
/// Refuses when a later run changed any of the same rows (naming them), when the run was
/// already undone, or when reverting would leave a reference dangling (a row created by the
/// run is now referenced by a row created later, say). Thresholds do not apply to an undo: it
/// restores a state the repository already had.
///
/// # Errors
///
/// [`ErrorCode::NotFound`] for an unknown run; [`ErrorCode::Busy`] with the conflicting rows;
/// [`ErrorCode::InvalidInput`] if the result would break references; repository errors.
pub fn undo(
    store: &mut Store,
    run_id: i64,
    now: chrono::DateTime<chrono::Utc>,
    progress: Progress<'_>,
) -> Result<Run> {
    let target = history::get(store, run_id)?;
    if let Some(by) = target.undone_by {
        return Err(Error::new(
            ErrorCode::Busy,
            format!("Run {run_id} was already undone by run {by}."),
        ));
    }
    let conflicts = history::touched_later(store, run_id)?;
    if !conflicts.is_empty() {
        let sample: Vec<String> =
            conflicts.iter().take(10).map(|(t, k, r)| format!("{t} {k} (run {r})")).collect();
        let more = if conflicts.len() > 10 {
            format!(" and {} more", conflicts.len() - 10)
        } else {
            String::new()
        };
        return Err(Error::new(
            ErrorCode::Busy,
            format!(
                "Run {run_id} cannot be undone: later runs changed the same rows: {}{more}. Undo those runs first.",
                sample.join(", ")
            ),
        ));
    }
    let recorded = history::changes(store, run_id)?;
    let inverse: Vec<RecordedChange> = recorded
        .iter()
        .rev()
        .map(|c| RecordedChange {
            entity_type: c.entity_type.clone(),
            key: c.key.clone(),
            op: match c.op {
                Op::Create => Op::Delete,
                Op::Update => Op::Update,
                Op::Delete => Op::Create,
            },
            before: c.after.clone(),
            after: c.before.clone(),
        })
        .collect();
    // Check the state the undo leaves with the planner's own final-state checks.
    let snapshot = Snapshot::load(store)?;
    let schema = store.schema().clone();
    for c in &inverse {
        let stored = snapshot.table(&c.entity_type).get(c.key.as_str());
        if stored != c.before.as_ref() {
            return Err(Error::new(
                ErrorCode::Busy,
                format!(
                    "Run {run_id} cannot be undone: {} {} is no longer as the run left it.",
                    c.entity_type, c.key
                ),
            ));
        }
    }
    let as_changes: Vec<Change> = inverse
        .iter()
        .map(|c| {
            let et = schema.entity_type(&c.entity_type);
            let fields = match (et, &c.before, &c.after) {
                (Some(et), before, after) => et
                    .attributes
                    .iter()
                    .enumerate()
                    .filter_map(|(i, a)| {
                        let old = before.as_ref().map_or("", |r| &r.values[i]);
                        let new = after.as_ref().map_or("", |r| &r.values[i]);
                        (old != new).then(|| FieldChange {
                            attribute: a.name.clone(),
                            old: old.into(),
                            new: new.into(),
                        })
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Change {
                entity_type: c.entity_type.clone(),
                key: c.key.clone(),
                op: c.op,
                source: None,
                fields,
                before: c.before.clone(),
                before_image: None,
                after: c.after.clone(),
            }
        })
        .collect();
    let problems = plan::check_changes(&schema, &snapshot, &as_changes);
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().take(10).map(|f| f.message.clone()).collect();
        return Err(Error::invalid_input(format!(
            "Run {run_id} cannot be undone without breaking the repository: {}",
            lines.join(" ")
        )));
    }
    let summaries = plan::summarise(&schema, &snapshot, &as_changes);
    write_run(
        store,
        NewRunSpec {
            kind: RunKind::Undo,
            mode: target.mode.as_deref().and_then(plan::Mode::parse),
            file_name: target.file_name.as_deref(),
            file_sha256: target.file_sha256.as_deref(),
            summaries: &summaries,
            evaluation: &Evaluation::default(),
            force_reason: None,
            undo_of: Some(run_id),
            base_revision: snapshot.revision,
        },
        &inverse
            .iter()
            .map(|c| ChangeRef {
                entity_type: &c.entity_type,
                key: &c.key,
                op: c.op,
                // Read with the rows checked above, at the revision the undo is written at.
                before_image: snapshot.image_of(&c.entity_type, &c.key),
                after: c.after.as_ref(),
            })
            .collect::<Vec<_>>(),
        now,
        progress,
    )
}
