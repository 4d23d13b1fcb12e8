//! Row writes in batches: a few multi-row statements for many rows.
//!
//! Writing a row one statement at a time cost more in SQLite's statement machinery (binding,
//! stepping, resetting, finding the prepared statement again) than in the B-tree work itself
//! (`perf` of an apply, issue 6). A batch reads the images before of all its rows in one
//! statement (but those the caller already knows), adds their images after in another, and
//! points their records at them in a third. Statements are prepared for power-of-two row
//! counts, so a handful serve any count.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{CachedStatement, Connection};

#[cfg(doc)]
use super::Store;
use super::{ImageId, Writer, sql_error};
use crate::error::{Error, Result};

/// The most rows one statement reads or writes: large enough that the per-statement cost
/// vanishes, small enough to stay far below SQLite's limit of bound parameters.
const ROWS_PER_STATEMENT: usize = 128;

/// Prepared statements a connection keeps: the shapes of a batch's statements (four kinds,
/// eight row counts each) and the others, so that none is prepared again from batch to batch.
pub(super) const STATEMENT_CACHE: usize = 64;

/// One row write of a batch ([`Writer::write_rows`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowWrite<'a> {
    /// The entity type's name.
    pub entity_type: &'a str,
    /// The row's key.
    pub key: &'a str,
    /// Whether the row must exist already (an update or a delete) or must not (a create).
    pub exists: bool,
    /// For a row that exists, the image it is stored in, when the caller read it at the
    /// revision this transaction started from ([`Writer::revision_before`]): the write then
    /// takes it as the image before instead of reading it again (a sixth of an apply's time,
    /// issue 6). `None` reads it, and checks that the row exists.
    pub known_image: Option<ImageId>,
    /// The row's image after, encoded by a [`super::RowEncoder`]; `None` deletes the row.
    pub after: Option<&'a str>,
}

impl RowWrite<'_> {
    /// What the write does, in words, for errors.
    fn verb(&self) -> &'static str {
        match (self.exists, self.after.is_some()) {
            (false, _) => "created",
            (true, true) => "updated",
            (true, false) => "deleted",
        }
    }
}

/// The images a row went from and to, as the history records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImageStep {
    /// The image the row had; `None` for a create.
    pub before: Option<ImageId>,
    /// The image it has now; `None` for a delete.
    pub after: Option<ImageId>,
}

impl Writer<'_> {
    /// Writes rows in order; `steps` receives, for each, the images it went from and to.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorCode::Internal`] if a row to create exists, a row to update or delete
    /// does not, or a create has no values (the planner prevents all three; [`Store::write`]
    /// then rolls back everything);
    /// [`crate::ErrorCode::Repository`] if SQLite refuses the write.
    pub(crate) fn write_rows(
        &mut self,
        writes: &[RowWrite<'_>],
        steps: &mut Vec<ImageStep>,
    ) -> Result<()> {
        steps.clear();
        steps.reserve(writes.len());
        // A batch checks every row against the table as it was before the batch, so a key
        // written twice starts a new batch at its second write. From then on, an image known
        // from before the transaction may be out of date: every image before is read.
        let mut keys = HashSet::with_capacity(writes.len().min(4096));
        let mut start = 0;
        let mut trust_known = true;
        for (i, w) in writes.iter().enumerate() {
            if !keys.insert((w.entity_type, w.key)) {
                self.write_distinct_rows(&writes[start..i], trust_known, steps)?;
                keys.clear();
                keys.insert((w.entity_type, w.key));
                start = i;
                trust_known = false;
            }
        }
        self.write_distinct_rows(&writes[start..], trust_known, steps)
    }

    /// [`Writer::write_rows`] of rows with distinct keys; appends to `steps`. The images the
    /// writes say they know are taken as the images before when `trust_known`.
    fn write_distinct_rows(
        &self,
        writes: &[RowWrite<'_>],
        trust_known: bool,
        steps: &mut Vec<ImageStep>,
    ) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let path = self.path;
        let known = |w: &RowWrite<'_>| w.known_image.filter(|_| trust_known && w.exists);
        let mut before: Vec<Option<ImageId>> = writes.iter().map(known).collect();
        // The others are read, with their place in `writes`.
        let unknown: Vec<(usize, &RowWrite<'_>)> =
            writes.iter().enumerate().filter(|(_, w)| known(w).is_none()).collect();
        in_statements(
            &self.tx,
            path,
            &unknown,
            |n| {
                let rows = (0..n).map(|i| format!("({i},?,?)")).collect::<Vec<_>>().join(",");
                format!(
                    "WITH w(pos, entity_type, key) AS (VALUES {rows})
                     SELECT w.pos, r.image FROM w
                     JOIN record r ON r.entity_type = w.entity_type AND r.key = w.key"
                )
            },
            |stmt, _, chunk| {
                let mut p = 0;
                for (_, w) in chunk {
                    bind(stmt, &mut p, w.entity_type)?;
                    bind(stmt, &mut p, w.key)?;
                }
                let mut rows = stmt.raw_query();
                while let Some(r) = rows.next()? {
                    let pos: usize = r.get(0)?;
                    before[chunk[pos].0] = Some(r.get(1)?);
                }
                Ok(())
            },
        )?;
        // Every create is among them.
        for (i, w) in unknown {
            if !w.exists && w.after.is_none() {
                return Err(Error::internal(format!(
                    "{} {} cannot be created without values.",
                    w.entity_type, w.key
                )));
            }
            if w.exists != before[i].is_some() {
                let cannot = if w.exists { "does not exist" } else { "already exists" };
                return Err(Error::internal(format!(
                    "{} {} {cannot} and cannot be {}.",
                    w.entity_type,
                    w.key,
                    w.verb()
                )));
            }
        }

        // The new images take the ids after the largest, in order (one seek to the end of
        // the table per batch).
        let mut next: ImageId = self
            .tx
            .query_row("SELECT coalesce(max(id), 0) + 1 FROM image", [], |r| r.get(0))
            .map_err(|e| sql_error(path, e))?;
        let mut after = Vec::with_capacity(writes.len());
        let mut added = Vec::with_capacity(writes.len());
        for w in writes {
            after.push(w.after.map(|fields| {
                added.push((next, w, fields));
                next += 1;
                next - 1
            }));
        }
        in_statements(
            &self.tx,
            path,
            &added,
            |n| format!("INSERT INTO image (id, fields) VALUES {}", placeholders(n, 2)),
            |stmt, _, chunk| {
                let mut p = 0;
                for (id, _, fields) in chunk {
                    bind(stmt, &mut p, id)?;
                    bind(stmt, &mut p, fields)?;
                }
                stmt.raw_execute().map(drop)
            },
        )?;
        // Every key was checked above, so this creates exactly the rows to create and points
        // the others at their new images. `OR REPLACE` rather than an upsert (`ON CONFLICT DO
        // UPDATE`), which seeks the row twice: a tenth of an apply (issue 6). No foreign key
        // nor trigger watches `record`, so replacing a record is only that.
        in_statements(
            &self.tx,
            path,
            &added,
            |n| {
                format!(
                    "INSERT OR REPLACE INTO record (entity_type, key, image) VALUES {}",
                    placeholders(n, 3)
                )
            },
            |stmt, _, chunk| {
                let mut p = 0;
                for (id, w, _) in chunk {
                    bind(stmt, &mut p, w.entity_type)?;
                    bind(stmt, &mut p, w.key)?;
                    bind(stmt, &mut p, id)?;
                }
                stmt.raw_execute().map(drop)
            },
        )?;
        // Deletes are rare (a complete sync's absent rows) and a multi-row delete by key
        // scans the whole table in SQLite, so they go one by one.
        for w in writes.iter().filter(|w| w.after.is_none()) {
            self.tx
                .prepare_cached("DELETE FROM record WHERE entity_type = ?1 AND key = ?2")
                .and_then(|mut stmt| stmt.execute([w.entity_type, w.key]))
                .map_err(|e| sql_error(path, e))?;
        }
        steps.extend(
            before.into_iter().zip(after).map(|(before, after)| ImageStep { before, after }),
        );
        Ok(())
    }
}

/// Runs `items` through multi-row statements of at most [`ROWS_PER_STATEMENT`] rows: `sql(n)`
/// is the statement for `n` rows, and `run(statement, offset, rows)` binds and runs it for
/// the rows from `offset` on.
fn in_statements<T>(
    conn: &Connection,
    path: &Path,
    items: &[T],
    sql: impl Fn(usize) -> String,
    mut run: impl FnMut(&mut CachedStatement<'_>, usize, &[T]) -> rusqlite::Result<()>,
) -> Result<()> {
    let mut offset = 0;
    while offset < items.len() {
        // A power of two: at most eight statement shapes for any number of rows.
        let n = 1 << (items.len() - offset).min(ROWS_PER_STATEMENT).ilog2();
        let mut stmt = conn.prepare_cached(&sql(n)).map_err(|e| sql_error(path, e))?;
        run(&mut stmt, offset, &items[offset..offset + n]).map_err(|e| sql_error(path, e))?;
        offset += n;
    }
    Ok(())
}

/// `n` rows of `columns` anonymous parameters: `(?,?),(?,?)`.
fn placeholders(n: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(","));
    vec![row; n].join(",")
}

/// Binds the next parameter of a multi-row statement (`p` counts those bound so far).
fn bind(
    stmt: &mut CachedStatement<'_>,
    p: &mut usize,
    value: impl rusqlite::ToSql,
) -> rusqlite::Result<()> {
    *p += 1;
    stmt.raw_bind_parameter(*p, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_make_rows_of_parameters() {
        assert_eq!(placeholders(1, 1), "(?)");
        assert_eq!(placeholders(2, 3), "(?,?,?),(?,?,?)");
    }

    #[test]
    fn items_go_in_power_of_two_statements_covering_each_once() {
        let conn = Connection::open_in_memory().unwrap();
        let items: Vec<usize> = (0..300).collect();
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        in_statements(
            &conn,
            Path::new("memory"),
            &items,
            |n| format!("SELECT {n}"),
            |_, offset, chunk| {
                assert_eq!(chunk[0], offset);
                sizes.push(chunk.len());
                seen.extend_from_slice(chunk);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(sizes, [128, 128, 32, 8, 4]);
        assert_eq!(seen, items);
    }
}
