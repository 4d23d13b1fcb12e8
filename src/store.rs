//! The identity repository: one SQLite file.
//!
//! # Layout
//!
//! A row's values are an **image**, kept in `image(id, fields)`: a JSON array of the id of a
//! **layout** (a list of attribute names kept once in `layout(id, names)`) and the canonical
//! text values in that layout's order, trailing empty ones left out (file format 6, see
//! `layout`); images written before are JSON objects from attribute name to value, and read
//! as such. Tying values to attributes by name rather than by column means an administrator
//! can add attributes or entity types to the schema without a migration; an attribute the
//! schema no longer declares is simply not read.
//!
//! The rows of every entity type are `record(entity_type, key, image)`: which image each key
//! has now. Images are only ever added: a write adds the row's new image and points its record
//! at it, and the image it had stays, as the history's image before (see `history`). So an
//! update of one row in ten writes its new image at the end of `image` and a small record,
//! instead of rewriting every page of a table of whole rows (file format 4; issue 6).
//!
//! The schema itself is kept in `meta`, with a **revision** counter that every write bumps: a
//! plan remembers the revision it was built on, and apply refuses if it moved.
//!
//! # Safety
//!
//! WAL journal, `synchronous = FULL`, `foreign_keys = ON`, a busy timeout, and every write in a
//! `BEGIN IMMEDIATE` transaction (taken up front, so two writers never deadlock half-way). A
//! crash during a write leaves the file as before it or as after it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::error::{Error, ErrorCode, Result};
use crate::schema::{EntityType, Schema};

mod batch;
mod layout;
mod values;
pub(crate) use batch::RowWrite;
pub(crate) use layout::{ImageReader, RowEncoder};
pub use values::Values;
pub(crate) use values::{same_text, text_order};

/// One stored row: its key and its attribute values in the entity type's attribute order.
/// An empty string is an empty value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Row {
    /// The row's key (unique within its entity type, immutable).
    #[ts(as = "String")]
    pub key: Text,
    /// Canonical text values, one per attribute of the entity type, `""` when empty.
    #[ts(as = "Vec<String>")]
    pub values: Values,
}

/// A value as the engine holds it: a string kept inline when short (see `compact_str` in
/// Cargo.toml), so the millions of small values of a large repository cost no allocation.
pub type Text = compact_str::CompactString;

impl Row {
    /// A row with every attribute empty.
    pub fn empty(key: impl Into<Text>, entity_type: &EntityType) -> Row {
        Row { key: key.into(), values: Values::empty(entity_type.attributes.len()) }
    }

    /// The value of a named attribute (`""` when empty or unknown).
    pub fn get<'a>(&'a self, entity_type: &EntityType, attribute: &str) -> &'a str {
        entity_type.attribute_index(attribute).and_then(|i| self.values.get(i)).unwrap_or("")
    }

    /// A name for people: the entity type's display attributes joined by a space, else the key.
    pub fn display_name(&self, entity_type: &EntityType) -> String {
        let parts: Vec<&str> =
            entity_type
                .display
                .iter()
                .map(|d| {
                    if *d == entity_type.key { self.key.as_str() } else { self.get(entity_type, d) }
                })
                .filter(|v| !v.is_empty())
                .collect();
        if parts.is_empty() { self.key.to_string() } else { parts.join(" ") }
    }
}

/// How many rows each entity type holds, and the repository revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export, rename = "RepositorySummary")]
pub struct Summary {
    /// Where the repository file is.
    pub path: String,
    /// Name and version of the schema.
    pub schema: String,
    /// The revision counter, bumped by every write.
    pub revision: u64,
    /// `(entity type, row count)` in schema order.
    pub counts: Vec<(String, u64)>,
}

/// An open repository.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    schema: Schema,
}

/// The schema version of the repository file this build writes. Opening a file with a newer
/// one is refused rather than risking damage.
pub const FILE_FORMAT_VERSION: i64 = 7;

/// The page size of repositories this build creates (see `connect`).
const PAGE_SIZE: u32 = 65_536;

/// The page cache of a connection, in KiB (see `connect`).
const CACHE_KIB: u32 = 2 * 1024;

/// Migrations, in order: entry `i` takes the file from format `i` to `i + 1`.
const MIGRATIONS: [&str; 7] = [
    // 1: rows and metadata.
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE record (
         entity_type TEXT NOT NULL,
         key TEXT NOT NULL,
         fields TEXT NOT NULL,
         PRIMARY KEY (entity_type, key)
     ) WITHOUT ROWID;",
    // 2: history of runs (with before/after images) and thresholds.
    "CREATE TABLE run (
         id INTEGER PRIMARY KEY,
         started_at TEXT NOT NULL,
         kind TEXT NOT NULL,
         mode TEXT,
         file_name TEXT,
         file_sha256 TEXT,
         summary TEXT NOT NULL,
         force_reason TEXT,
         undo_of INTEGER REFERENCES run(id),
         revision_before INTEGER NOT NULL,
         revision_after INTEGER NOT NULL
     );
     CREATE TABLE change (
         run_id INTEGER NOT NULL REFERENCES run(id),
         seq INTEGER NOT NULL,
         entity_type TEXT NOT NULL,
         key TEXT NOT NULL,
         op TEXT NOT NULL,
         before TEXT,
         after TEXT,
         PRIMARY KEY (run_id, seq)
     ) WITHOUT ROWID;
     CREATE INDEX change_by_row ON change (entity_type, key);
     CREATE TABLE threshold (
         scope TEXT NOT NULL,
         counter TEXT NOT NULL,
         absolute INTEGER NOT NULL,
         percent REAL NOT NULL,
         PRIMARY KEY (scope, counter)
     ) WITHOUT ROWID;",
    // 3: an update's before image as the values it changed (`before` is then NULL), see
    // `history`. Changes recorded before keep their full images.
    "ALTER TABLE change ADD COLUMN before_changed TEXT;",
    // 4: row images apart from the records that point at them, and changes recorded as the
    // images they point at (`before` and `after` are then NULL), see the module docs. The
    // images of the rows there are now are numbered in key order, the order a scan reads them.
    // The links to images are not declared foreign keys: SQLite then journals every page an
    // update of `record` touches, in case the statement has to be undone (a third of an
    // apply's time), and looks up both images of every change recorded (a sixth). They are
    // checked by `Store::integrity_problems` instead.
    "CREATE TABLE image (id INTEGER PRIMARY KEY, fields TEXT NOT NULL);
     INSERT INTO image (id, fields)
         SELECT row_number() OVER (ORDER BY entity_type, key), fields FROM record;
     CREATE TABLE record_image (
         entity_type TEXT NOT NULL,
         key TEXT NOT NULL,
         image INTEGER NOT NULL,
         PRIMARY KEY (entity_type, key)
     ) WITHOUT ROWID;
     INSERT INTO record_image (entity_type, key, image)
         SELECT entity_type, key, row_number() OVER (ORDER BY entity_type, key) FROM record;
     DROP TABLE record;
     ALTER TABLE record_image RENAME TO record;
     ALTER TABLE change ADD COLUMN before_image INTEGER;
     ALTER TABLE change ADD COLUMN after_image INTEGER;",
    // 5: no index of the history by row. Only undo's check for rows a later run changed again
    // used it, and that check now reads the later runs' changes instead (as fast, and
    // instant for the last run); keeping it up cost a tenth of an apply (issue 6).
    "DROP INDEX change_by_row;",
    // 6: images by position in a layout of attribute names kept once (see `layout`). Images
    // written before stay objects by name, and are read as such.
    "CREATE TABLE layout (id INTEGER PRIMARY KEY, names TEXT NOT NULL UNIQUE);",
    // 7: a run's changes recorded a few hundred to a row, as a JSON array of
    // `[entity type, key, op, before image, after image]` (see `history`): a B-tree insert
    // per change was a third of an apply (issue 6). `change_row` reads both tables as one,
    // a row per change, so that SQL queries of the history stay as simple as they were
    // (`json_extract` rather than `->>`, which SQLite tools before 3.38 cannot parse).
    "CREATE TABLE change_pack (
         run_id INTEGER NOT NULL REFERENCES run(id),
         first_seq INTEGER NOT NULL,
         changes TEXT NOT NULL,
         PRIMARY KEY (run_id, first_seq)
     ) WITHOUT ROWID;
     CREATE VIEW change_row AS
         SELECT run_id, seq, entity_type, key, op, before, after, before_changed,
                before_image, after_image
         FROM change
         UNION ALL
         SELECT p.run_id, p.first_seq + j.key, json_extract(j.value, '$[0]'),
                json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]'), NULL, NULL, NULL,
                json_extract(j.value, '$[3]'), json_extract(j.value, '$[4]')
         FROM change_pack p, json_each(p.changes) j;",
];

/// The repository file used when none is named: `$IDBULK_DB` if set, else `repository.db` in
/// the operating system's data folder for idbulk.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("IDBULK_DB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    directories::ProjectDirs::from("org", "idbulk", "idbulk")
        .map(|d| d.data_dir().join("repository.db"))
        .unwrap_or_else(|| PathBuf::from("idbulk-repository.db"))
}

impl Store {
    /// Creates a new, empty repository with this schema.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Usage`] if a repository already exists there, [`ErrorCode::Io`] if the
    /// folder cannot be created, [`ErrorCode::Repository`] if SQLite refuses the file.
    pub fn create(path: &Path, schema: &Schema) -> Result<Store> {
        if path.exists() && std::fs::metadata(path).map(|m| m.len() > 0).unwrap_or(true) {
            return Err(Error::usage(format!(
                "A repository already exists at {}. Choose another path or remove it first.",
                path.display()
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create the folder", &e))?;
        }
        let mut conn = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE | create_flag())?;
        migrate(&mut conn, path)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(path, e))?;
        for (name, value) in [("schema", schema.to_toml()), ("revision", "0".to_string())] {
            tx.execute("INSERT INTO meta (name, value) VALUES (?1, ?2)", params![name, value])
                .map_err(|e| sql_error(path, e))?;
        }
        tx.commit().map_err(|e| sql_error(path, e))?;
        Ok(Store { conn, path: path.to_path_buf(), schema: schema.clone() })
    }

    /// Opens an existing repository, upgrading its file format if it is older.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::NotFound`] when there is no file, [`ErrorCode::Repository`] when the file
    /// is not an idbulk repository, is damaged, or was written by a newer idbulk.
    pub fn open(path: &Path) -> Result<Store> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::new(
                ErrorCode::NotFound,
                format!(
                    "There is no repository at {}. Create one with `idbulk init --demo` (or `idbulk init`).",
                    path.display()
                ),
            ),
            _ => Error::io(path, "open the repository", &e),
        })?;
        if !meta.is_file() {
            return Err(Error::new(
                ErrorCode::Repository,
                format!("{} is not a file, so it cannot be a repository.", path.display()),
            ));
        }
        check_not_empty(path, meta.len())?;
        let mut conn = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        migrate(&mut conn, path)?;
        let schema_text: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE name = 'schema'", [], |r| r.get(0))
            .optional()
            .map_err(|e| sql_error(path, e))?;
        let Some(schema_text) = schema_text else {
            return Err(Error::new(
                ErrorCode::Repository,
                format!("{} is an SQLite file but not an idbulk repository.", path.display()),
            ));
        };
        let schema = Schema::from_toml(&schema_text).map_err(|e| {
            Error::new(ErrorCode::Repository, format!("The repository's schema is damaged: {e}"))
        })?;
        Ok(Store { conn, path: path.to_path_buf(), schema })
    }

    /// The schema this repository holds.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Where the repository file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for engine modules that run their own queries.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The revision counter, bumped by every write.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the file cannot be read.
    pub fn revision(&self) -> Result<u64> {
        let text: String = self
            .conn
            .query_row("SELECT value FROM meta WHERE name = 'revision'", [], |r| r.get(0))
            .map_err(|e| sql_error(&self.path, e))?;
        text.parse().map_err(|_| {
            Error::new(ErrorCode::Repository, "The repository's revision counter is damaged.")
        })
    }

    /// Runs `f` inside one read transaction: everything it reads comes from the same state of
    /// the repository, even if another process writes meanwhile (WAL readers see a snapshot).
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the transaction cannot start, or the error `f` returned.
    pub fn read<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        // Inside a read already (verification loads a Snapshot, itself read in one): the outer
        // transaction gives the same guarantee, and SQLite does not nest them.
        if !self.conn.is_autocommit() {
            return f(self);
        }
        // Deferred: the read lock is taken by the first SELECT and held to the end.
        let tx = self.conn.unchecked_transaction().map_err(|e| sql_error(&self.path, e))?;
        let out = f(self)?;
        tx.finish().map_err(|e| sql_error(&self.path, e))?;
        Ok(out)
    }

    /// A setting kept in the repository (connection paths, backup retention), or `None` if it
    /// was never saved. Settings are not data: saving one does not bump the revision, so a
    /// plan built before stays valid.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the file cannot be read.
    pub fn setting(&self, name: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE name = ?1", [format!("setting.{name}")], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| sql_error(&self.path, e))
    }

    /// Saves a setting (see [`Store::setting`]).
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the file cannot be written (read-only, disk full, busy).
    pub fn set_setting(&mut self, name: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![format!("setting.{name}"), value],
            )
            .map(drop)
            .map_err(|e| sql_error(&self.path, e))
    }

    /// How many rows an entity type holds.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the file cannot be read.
    pub fn count(&self, entity_type: &str) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM record WHERE entity_type = ?1", [entity_type], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(|e| sql_error(&self.path, e))
    }

    /// Row counts per entity type, schema name and revision.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the file cannot be read.
    pub fn summary(&self) -> Result<Summary> {
        let counts = self
            .schema
            .entity_types
            .iter()
            .map(|t| Ok((t.name.clone(), self.count(&t.name)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Summary {
            path: self.path.display().to_string(),
            schema: self.schema.to_string(),
            revision: self.revision()?,
            counts,
        })
    }

    /// Calls `f` with every row of an entity type, in key order, without holding them all.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the file cannot be read; an error `f` returns stops the scan.
    pub fn for_each_row(
        &self,
        entity_type: &EntityType,
        mut f: impl FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        self.for_each_row_and_image(entity_type, |row, _| f(row))
    }

    /// [`Store::for_each_row`], with the id of the image each row is stored in.
    ///
    /// # Errors
    ///
    /// As [`Store::for_each_row`].
    pub fn for_each_row_and_image(
        &self,
        entity_type: &EntityType,
        mut f: impl FnMut(Row, ImageId) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.key, i.fields, r.image FROM record r JOIN image i ON i.id = r.image
                 WHERE r.entity_type = ?1 ORDER BY r.key",
            )
            .map_err(|e| sql_error(&self.path, e))?;
        let reader = ImageReader::new(&self.conn, &self.path, entity_type)?;
        let mut rows = stmt.query([&entity_type.name]).map_err(|e| sql_error(&self.path, e))?;
        while let Some(r) = rows.next().map_err(|e| sql_error(&self.path, e))? {
            let key = r.get_ref(0).map_err(|e| sql_error(&self.path, e))?;
            let key = Text::from(key.as_str().map_err(|_| {
                Error::new(
                    ErrorCode::Repository,
                    format!("A stored {} key is damaged (it is not text).", entity_type.name),
                )
            })?);
            // Borrowed from SQLite's buffer: the JSON text is only parsed, never kept.
            let fields = r.get_ref(1).map_err(|e| sql_error(&self.path, e))?;
            let fields = fields.as_str().map_err(|_| {
                Error::new(
                    ErrorCode::Repository,
                    format!(
                        "The stored {} {key} is damaged (its fields are not text).",
                        entity_type.name
                    ),
                )
            })?;
            let row = reader.decode(key, fields)?;
            let image = r.get(2).map_err(|e| sql_error(&self.path, e))?;
            f(row, image)?;
        }
        Ok(())
    }

    /// Every row of an entity type, in key order.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the file cannot be read.
    pub fn rows(&self, entity_type: &EntityType) -> Result<Vec<Row>> {
        let mut out = Vec::new();
        self.for_each_row(entity_type, |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// One row by key.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the file cannot be read.
    pub fn get(&self, entity_type: &EntityType, key: &str) -> Result<Option<Row>> {
        let fields: Option<String> = self
            .conn
            .query_row(
                "SELECT i.fields FROM record r JOIN image i ON i.id = r.image
                 WHERE r.entity_type = ?1 AND r.key = ?2",
                params![entity_type.name, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql_error(&self.path, e))?;
        let Some(fields) = fields else { return Ok(None) };
        ImageReader::new(&self.conn, &self.path, entity_type)?
            .decode(Text::from(key), &fields)
            .map(Some)
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction, bumps the revision, and commits.
    /// If `f` fails, nothing is written.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Busy`] if another process holds the repository past the busy timeout,
    /// [`ErrorCode::Repository`] if SQLite refuses the write (read-only file, disk full), or
    /// the error `f` returned.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut Writer<'_>) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&path, e))?;
        let revision: u64 = tx
            .query_row("SELECT value FROM meta WHERE name = 'revision'", [], |r| {
                r.get::<_, String>(0)
            })
            .map_err(|e| sql_error(&path, e))?
            .parse()
            .map_err(|_| Error::new(ErrorCode::Repository, "The revision counter is damaged."))?;
        let mut writer =
            Writer { tx, path: &path, revision_before: revision, layouts: Default::default() };
        let out = f(&mut writer)?;
        let Writer { tx, .. } = writer;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'revision'",
            [(revision + 1).to_string()],
        )
        .map_err(|e| sql_error(&path, e))?;
        tx.commit().map_err(|e| sql_error(&path, e))?;
        Ok(out)
    }

    /// Runs SQLite's `integrity_check` and `foreign_key_check`; returns the problems found
    /// (empty when the file is sound).
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the checks cannot run at all.
    pub fn integrity_problems(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let mut stmt =
            self.conn.prepare("PRAGMA integrity_check").map_err(|e| sql_error(&self.path, e))?;
        let lines =
            stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| sql_error(&self.path, e))?;
        for line in lines {
            let line = line.map_err(|e| sql_error(&self.path, e))?;
            if line != "ok" {
                problems.push(line);
            }
        }
        let mut stmt =
            self.conn.prepare("PRAGMA foreign_key_check").map_err(|e| sql_error(&self.path, e))?;
        let fk = stmt
            .query_map([], |r| {
                // A table without rowids (the history's `change`) has no row number to give.
                let table = r.get::<_, String>(0)?;
                Ok(match r.get::<_, Option<i64>>(1)? {
                    Some(row) => format!("{table} row {row} breaks a link"),
                    None => format!("a row of {table} breaks a link"),
                })
            })
            .map_err(|e| sql_error(&self.path, e))?;
        for line in fk {
            problems.push(line.map_err(|e| sql_error(&self.path, e))?);
        }
        // The links to images, not declared (see migration 4), from records and from the
        // history: rows of `change` and changes packed in `change_pack` (migration 7), whose
        // JSON is read only where it is whole, so that damage is reported, not an error.
        let mut stmt = self
            .conn
            .prepare(
                "WITH packs AS (
                     SELECT run_id, first_seq, changes,
                            json_type(iif(json_valid(changes), changes, NULL)) IS 'array' AS whole
                     FROM change_pack),
                 packed AS (
                     SELECT p.run_id, p.first_seq + j.key AS seq,
                            iif(j.type = 'array', j.value, NULL) AS change
                     FROM packs p, json_each(iif(p.whole, p.changes, '[]')) j),
                 history (run_id, entity_type, key, before_image, after_image) AS (
                     SELECT run_id, entity_type, key, before_image, after_image FROM change
                     UNION ALL
                     SELECT run_id, json_extract(change, '$[0]'), json_extract(change, '$[1]'),
                            json_extract(change, '$[3]'), json_extract(change, '$[4]')
                     FROM packed WHERE change IS NOT NULL)
                 SELECT r.entity_type || ' ' || r.key || ' has lost its values (image '
                        || r.image || ' is missing)'
                 FROM record r WHERE NOT EXISTS (SELECT 1 FROM image i WHERE i.id = r.image)
                 UNION ALL
                 SELECT 'the history of run ' || run_id || ' is damaged: changes from '
                        || first_seq || ' on are '
                        || iif(json_valid(changes), 'not a list', 'not JSON')
                 FROM packs WHERE NOT whole
                 UNION ALL
                 SELECT 'the history of run ' || run_id || ' is damaged: change ' || seq
                        || ' is not a list'
                 FROM packed WHERE change IS NULL
                 UNION ALL
                 SELECT 'the history of ' || c.entity_type || ' ' || c.key || ' in run '
                        || c.run_id || ' has lost an image'
                 FROM history c
                 WHERE NOT EXISTS (SELECT 1 FROM image i WHERE i.id = c.before_image)
                       AND c.before_image IS NOT NULL
                    OR NOT EXISTS (SELECT 1 FROM image i WHERE i.id = c.after_image)
                       AND c.after_image IS NOT NULL",
            )
            .map_err(|e| sql_error(&self.path, e))?;
        let lost = stmt.query_map([], |r| r.get(0)).map_err(|e| sql_error(&self.path, e))?;
        for line in lost {
            problems.push(line.map_err(|e| sql_error(&self.path, e))?);
        }
        Ok(problems)
    }
}

impl Store {
    /// Lets the repository file grow by at most `pages` more pages on this connection
    /// (SQLite's `max_page_count`): a write that needs more fails exactly as on a full disk,
    /// with [`ErrorCode::Repository`]. The fault tests (`tests/engine/faults.rs`) use it
    /// because they cannot fill a real disk; the app and the CLI never call it.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the file cannot be read.
    pub fn limit_growth(&self, pages: u64) -> Result<()> {
        let count: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| sql_error(&self.path, e))?;
        let limit = u64::try_from(count).unwrap_or(0).saturating_add(pages);
        let _set: i64 = self
            .conn
            .query_row(&format!("PRAGMA max_page_count = {limit}"), [], |r| r.get(0))
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(())
    }
}

/// The id of a row image in the `image` table (see the module docs).
pub type ImageId = i64;

/// Writes inside one transaction; see [`Store::write`].
pub struct Writer<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
    revision_before: u64,
    /// The layouts found or added by this transaction, by their names (see `layout`).
    layouts: std::collections::HashMap<String, layout::LayoutId>,
}

impl Writer<'_> {
    /// The revision the repository had when this transaction began.
    pub fn revision_before(&self) -> u64 {
        self.revision_before
    }

    /// Inserts a new row.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Internal`] if the key already exists (the planner prevents it),
    /// [`ErrorCode::Repository`] if SQLite refuses the write.
    pub fn insert(&mut self, entity_type: &EntityType, row: &Row) -> Result<()> {
        let fields = self.row_encoder(entity_type)?.encode(row);
        self.write_one(entity_type, &row.key, false, Some(&fields))
    }

    /// Replaces the values of an existing row.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Internal`] if the row does not exist, [`ErrorCode::Repository`] if SQLite
    /// refuses the write.
    pub fn update(&mut self, entity_type: &EntityType, row: &Row) -> Result<()> {
        let fields = self.row_encoder(entity_type)?.encode(row);
        self.write_one(entity_type, &row.key, true, Some(&fields))
    }

    /// Deletes a row by key.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Internal`] if the row does not exist, [`ErrorCode::Repository`] if SQLite
    /// refuses the write.
    pub fn delete(&mut self, entity_type: &EntityType, key: &str) -> Result<()> {
        self.write_one(entity_type, key, true, None)
    }

    /// [`Writer::write_rows`] of one row.
    fn write_one(
        &mut self,
        entity_type: &EntityType,
        key: &str,
        exists: bool,
        after: Option<&str>,
    ) -> Result<()> {
        let write =
            RowWrite { entity_type: &entity_type.name, key, exists, known_image: None, after };
        self.write_rows(&[write], &mut Vec::new())
    }

    /// The transaction, for engine modules that write their own tables (history, settings).
    pub(crate) fn tx(&self) -> &rusqlite::Transaction<'_> {
        &self.tx
    }

    /// Where the repository is, for error messages.
    pub(crate) fn path(&self) -> &Path {
        self.path
    }
}

/// An image as formats 4 and 5 wrote it, a JSON object of the non-empty values by attribute
/// name: for the tests of reading images written then (images are arrays in a layout now,
/// see `layout`).
#[cfg(test)]
pub(crate) fn encode_row(entity_type: &EntityType, row: &Row) -> String {
    let mut out = String::new();
    encode_object_into(
        entity_type,
        row.values.iter().map(|v| (!v.is_empty()).then_some(v)),
        &mut out,
    );
    out
}

/// Appends to `out` a JSON object of the values given, by attribute name, in attribute order;
/// `None` leaves an attribute out.
#[cfg(test)]
fn encode_object_into<'v>(
    entity_type: &EntityType,
    values: impl Iterator<Item = Option<&'v str>>,
    out: &mut String,
) {
    out.push('{');
    let mut first = true;
    for (attr, value) in entity_type.attributes.iter().zip(values) {
        let Some(value) = value else { continue };
        if !first {
            out.push(',');
        }
        first = false;
        push_json_string(out, &attr.name);
        out.push(':');
        push_json_string(out, value);
    }
    out.push('}');
}

/// The values an update changed, as they were before it, as file format 3 recorded an
/// update's image before (`change.before_changed`): a JSON object like an image of format 4, by
/// attribute name, of every attribute whose value differs between `before` and `after`, an
/// emptied one included (as `""`). With `after`, it gives `before` back
/// ([`decode_changed_into`]). Format 4 records images instead (see the module docs); this
/// stays to test the reading of histories written before.
#[cfg(test)]
pub(crate) fn encode_changed_into(
    entity_type: &EntityType,
    before: &Row,
    after: &Row,
    out: &mut String,
) {
    let changed = before.values.iter().zip(after.values.iter()).map(|(b, a)| (b != a).then_some(b));
    out.clear();
    encode_object_into(entity_type, changed, out);
}

/// Sets the values of `row` that `changed` (an update's `change.before_changed`, recorded by
/// file format 3) holds: the row after an update becomes the row before it. Attributes the
/// schema no longer has are skipped, as [`decode_row`] skips them.
///
/// # Errors
///
/// [`ErrorCode::Repository`] if `changed` is not a JSON object.
pub(crate) fn decode_changed_into(
    entity_type: &EntityType,
    row: &mut Row,
    changed: &str,
) -> Result<()> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(changed);
    ChangedSeed(entity_type, &mut row.values).deserialize(&mut de).and_then(|()| de.end()).map_err(
        |_| {
            Error::new(
                ErrorCode::Repository,
                format!(
                    "The history of {} {} is damaged (its changed values are not JSON).",
                    entity_type.name, row.key
                ),
            )
        },
    )
}

/// Deserialises a changed-values object onto the values it updates.
struct ChangedSeed<'t, 'v>(&'t EntityType, &'v mut Values);

impl<'de> serde::de::DeserializeSeed<'de> for ChangedSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ChangedSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of attribute values")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            let StoredValue(value) = map.next_value()?;
            if let Some(i) = self.0.attributes.iter().position(|a| a.name == *name) {
                self.1.set(i, &value);
            }
        }
        Ok(())
    }
}

/// Appends `text` as a JSON string, escaped as `serde_json` does (quote, backslash and
/// control characters; everything else as is).
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    // Nearly every value needs no escape: one pass without branches finds out (a fifth of the
    // time of writing every row was spent here, byte by byte, issue 6).
    let plain =
        text.bytes().fold(true, |plain, b| plain & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.push_str(text);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// The row `key` whose image is `fields`, a JSON object by attribute name as formats 4 and 5
/// wrote images (see `layout` for those written since); attributes the schema no longer
/// declares are dropped. `spans` is a buffer reused from row to row ([`decode_plain_fields`]).
pub(crate) fn decode_row(
    entity_type: &EntityType,
    key: Text,
    fields: &str,
    spans: &mut Vec<(usize, usize)>,
) -> Result<Row> {
    use serde::de::DeserializeSeed;
    if let Some(values) = decode_plain_fields(entity_type, fields, spans) {
        return Ok(Row { key, values });
    }
    let mut de = serde_json::Deserializer::from_str(fields);
    let values = FieldsSeed(entity_type, fields.len())
        .deserialize(&mut de)
        .and_then(|values| de.end().map(|()| values))
        .map_err(|_| {
            Error::new(
                ErrorCode::Repository,
                format!(
                    "The stored {} {key} is damaged (its fields are not JSON).",
                    entity_type.name
                ),
            )
        })?;
    Ok(Row { key, values })
}

/// Reads a `fields` object of the shape formats 4 and 5 wrote for nearly every image,
/// `{"name":"value",...}` with no whitespace, no escape and only strings, without serde: it
/// was half of loading the stored rows (issue 6). `None` for any other shape, which
/// serde_json then reads (and refuses if it is not JSON). Attributes are matched as
/// [`FieldsSeed`] matches them ([`attribute_from`]).
///
/// The values are found first (`spans`: where each attribute's value is in `fields`), then
/// copied into a string of their size at once: built as it went, a row's string was
/// allocated larger, then copied out, and the blocks left behind slowed the plan that
/// followed (issue 6).
fn decode_plain_fields(
    entity_type: &EntityType,
    fields: &str,
    spans: &mut Vec<(usize, usize)>,
) -> Option<Values> {
    let bytes = fields.as_bytes();
    clear_spans(spans, entity_type.attributes.len());
    match bytes {
        [b'{', b'}'] => return Some(values_at(fields, spans)),
        [b'{', ..] => {}
        _ => return None,
    }
    let (mut at, mut next) = (1, 0);
    loop {
        let name = plain_json_string(fields, &mut at)?;
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at += 1;
        let start = at + 1;
        let value = plain_json_string(fields, &mut at)?;
        if let Some(i) = attribute_from(entity_type, next, name) {
            next = i + 1;
            spans[i] = (start, start + value.len());
        }
        match bytes.get(at) {
            Some(b',') => at += 1,
            Some(b'}') if at + 1 == bytes.len() => return Some(values_at(fields, spans)),
            _ => return None,
        }
    }
}

/// Readies `spans` for a row of `n` values, every one empty until found.
fn clear_spans(spans: &mut Vec<(usize, usize)>, n: usize) {
    spans.clear();
    spans.resize(n, (0, 0));
}

/// The values at `spans` (where each attribute's value is in `text`), packed at their size.
fn values_at(text: &str, spans: &[(usize, usize)]) -> Values {
    Values::exact(spans.iter().map(|&(start, end)| &text[start..end]))
}

/// The index of the attribute named `name`, looked for from `next` on and then from the
/// start: values are written in attribute order, so the one after the last found is the
/// likely match.
fn attribute_from(entity_type: &EntityType, next: usize, name: &str) -> Option<usize> {
    let attributes = &entity_type.attributes;
    (next..attributes.len()).chain(0..next).find(|&i| attributes[i].name == name)
}

/// The JSON string starting at `at` in `text` when it holds no escape and no control
/// character (then its text is the string itself); `at` moves past it.
fn plain_json_string<'t>(text: &'t str, at: &mut usize) -> Option<&'t str> {
    let bytes = text.as_bytes();
    if bytes.get(*at) != Some(&b'"') {
        return None;
    }
    let start = *at + 1;
    let len = bytes.get(start..)?.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    let end = start + len;
    if bytes[end] != b'"' {
        return None;
    }
    *at = end + 1;
    // Between two ASCII quotes, so on character boundaries.
    text.get(start..end)
}

/// Deserialises a `fields` object straight into the values in attribute order, without an
/// intermediate map: keys are borrowed from the text when they hold no escape.
/// The second field is the JSON text's length, which sizes the values' buffer: the values of
/// a row are a little shorter than the text holding them (the names, quotes and commas).
struct FieldsSeed<'t>(&'t EntityType, usize);

impl<'de> serde::de::DeserializeSeed<'de> for FieldsSeed<'_> {
    type Value = Values;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Values, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FieldsSeed<'_> {
    type Value = Values;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of attribute values")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Values, A::Error> {
        let mut values = values::Builder::new(self.0.attributes.len(), self.1);
        let mut next = 0;
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            let found = attribute_from(self.0, next, &name);
            let StoredValue(value) = map.next_value()?;
            let Some(i) = found else { continue };
            next = i + 1;
            values.put(i, &value);
        }
        Ok(values.finish())
    }
}

/// One attribute's value in a `fields` object: a string as is, `null` as empty, anything else
/// (written by hand or by another tool) as its JSON text. Borrowed from the text when it
/// holds no escape, so the value is copied once, into the row's values (issue 6).
struct StoredValue<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for StoredValue<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StoredValue<'de>, D::Error> {
        struct ValueVisitor;
        impl<'de> serde::de::Visitor<'de> for ValueVisitor {
            type Value = StoredValue<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an attribute value")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<StoredValue<'de>, E> {
                Ok(StoredValue(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<StoredValue<'de>, E> {
                Ok(StoredValue(Cow::Owned(v.to_string())))
            }

            fn visit_string<E>(self, v: String) -> Result<StoredValue<'de>, E> {
                Ok(StoredValue(Cow::Owned(v)))
            }

            fn visit_unit<E>(self) -> Result<StoredValue<'de>, E> {
                Ok(StoredValue(Cow::Borrowed("")))
            }

            fn visit_bool<E>(self, v: bool) -> Result<StoredValue<'de>, E> {
                Ok(StoredValue(Cow::Borrowed(if v { "true" } else { "false" })))
            }

            fn visit_i64<E>(self, v: i64) -> Result<StoredValue<'de>, E> {
                Ok(StoredValue(Cow::Owned(v.to_string())))
            }

            fn visit_u64<E>(self, v: u64) -> Result<StoredValue<'de>, E> {
                Ok(StoredValue(Cow::Owned(v.to_string())))
            }

            fn visit_f64<E>(self, v: f64) -> Result<StoredValue<'de>, E> {
                // As serde_json prints it (`1.0`, not `1`).
                let text =
                    serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string());
                Ok(StoredValue(Cow::Owned(text)))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<StoredValue<'de>, A::Error> {
                use serde::Deserialize;
                let value = serde_json::Value::deserialize(
                    serde::de::value::SeqAccessDeserializer::new(seq),
                )?;
                Ok(StoredValue(Cow::Owned(value.to_string())))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<StoredValue<'de>, A::Error> {
                use serde::Deserialize;
                let value = serde_json::Value::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(StoredValue(Cow::Owned(value.to_string())))
            }
        }
        d.deserialize_any(ValueVisitor)
    }
}

/// An object key, borrowed from the text when it holds no escape (serde's `Cow` always
/// copies).
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an attribute name")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

fn create_flag() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_CREATE
}

/// Refuses an empty file before SQLite would take it for a new, empty database.
///
/// The file is only `stat`ed, never opened: closing any descriptor of a database file drops
/// every POSIX lock this process holds on it, which would let another connection of ours
/// corrupt it (SQLite's "how to corrupt" guide, section 2.2). SQLite itself recognises files
/// that are not databases on first read.
fn check_not_empty(path: &Path, len: u64) -> Result<()> {
    if len == 0 {
        return Err(Error::new(
            ErrorCode::Repository,
            format!(
                "{} is an empty file, not a repository. Remove it and run `idbulk init`.",
                path.display()
            ),
        ));
    }
    Ok(())
}

fn connect(path: &Path, flags: OpenFlags) -> Result<Connection> {
    // Without SQLite's own lock around every call on the connection: a rusqlite `Connection`
    // is never used by two threads at once (it is not `Sync`), and taking that lock for each
    // bind, step and column read cost 3-4 % of an apply (issue 6). It was already so for a
    // repository just created; now for every one opened.
    let flags = flags | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, e))?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(|e| sql_error(path, e))?;
    // Before anything writes: switching to WAL rewrites the file header, and a file from a
    // newer idbulk must be refused exactly as it was found.
    refuse_newer(&conn, path)?;
    // 64 KiB pages for a new file (a no-op on an existing one): a sync that updates one row in
    // ten dirties every page of the record table whatever their size, and SQLite writes each
    // page with its own system call, twice (log, then checkpoint). Larger pages cut an apply
    // of 10,000 updates among 100,000 rows from 0.59 s to 0.36 s (issue 6); reads of whole
    // tables, the common case here, do not suffer from them. Must precede the switch to WAL.
    conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE};"))
        .map_err(|e| sql_error(path, e))?;
    // journal_mode answers with a row, so it is read rather than executed.
    let _mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| sql_error(path, e))?;
    // A 2 MiB page cache, SQLite's default, said aloud: whole-table reads (a plan's stored
    // rows, an export) read each page once, and a sync writes rows in key order, so a page
    // spilled mid-transaction is not dirtied again. 32 MiB added its size to the peak memory
    // of a 100k sync (after 256 MB) for no measurable speed, at 100k or 1M rows (issue 6).
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA cache_size = -{CACHE_KIB};"
    ))
    .map_err(|e| sql_error(path, e))?;
    conn.set_prepared_statement_cache_capacity(batch::STATEMENT_CACHE);
    Ok(conn)
}

/// Refuses a file whose format is newer than [`FILE_FORMAT_VERSION`]; returns its format.
fn refuse_newer(conn: &Connection, path: &Path) -> Result<i64> {
    let version: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| sql_error(path, e))?;
    if version > FILE_FORMAT_VERSION {
        return Err(Error::new(
            ErrorCode::Repository,
            format!(
                "{} was written by a newer idbulk (file format {version}, this one knows {FILE_FORMAT_VERSION}). Update idbulk to open it; nothing was changed.",
                path.display()
            ),
        ));
    }
    Ok(version)
}

/// Brings the file behind `conn` to [`FILE_FORMAT_VERSION`], in one transaction.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let version = refuse_newer(conn, path)?;
    if version == FILE_FORMAT_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_error(path, e))?;
    for step in &MIGRATIONS[version as usize..] {
        tx.execute_batch(step).map_err(|e| sql_error(path, e))?;
    }
    tx.pragma_update(None, "user_version", FILE_FORMAT_VERSION).map_err(|e| sql_error(path, e))?;
    tx.commit().map_err(|e| sql_error(path, e))
}

/// Writes a repository as file format `format` wrote it, holding `rows` (entity type, key,
/// JSON fields) at revision 7: for the tests of migrations and of restoring old backups.
#[cfg(test)]
pub(crate) fn create_in_format(
    path: &Path,
    schema: &Schema,
    format: usize,
    rows: &[(&str, &str, &str)],
) {
    assert!((1..4).contains(&format), "the formats that kept whole rows in `record`");
    // With the same page size and journal as a repository idbulk created then.
    let conn = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE | create_flag()).unwrap();
    conn.execute_batch(&MIGRATIONS[..format].concat()).unwrap();
    conn.pragma_update(None, "user_version", format as i64).unwrap();
    conn.execute("INSERT INTO meta VALUES ('schema', ?1)", [schema.to_toml()]).unwrap();
    conn.execute("INSERT INTO meta VALUES ('revision', '7')", []).unwrap();
    for (entity_type, key, fields) in rows {
        conn.execute("INSERT INTO record VALUES (?1, ?2, ?3)", [entity_type, key, fields]).unwrap();
    }
}

/// Turns an SQLite error into a sentence about the repository.
pub(crate) fn sql_error(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let where_ = path.display();
    let backups = crate::backup::folder(path);
    let restore = format!("Restore it from a backup (idbulk keeps them in {}).", backups.display());
    match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => Error::new(
            ErrorCode::Busy,
            format!(
                "The repository {where_} is busy: another program (another idbulk window or command) is writing to it. Nothing was changed; try again when it has finished."
            ),
        ),
        Some(C::ReadOnly) => Error::new(ErrorCode::Repository, read_only_message(path)),
        Some(C::DiskFull) => Error::new(
            ErrorCode::Repository,
            format!(
                "The disk holding {where_} is full; nothing was changed. Free some space and try again."
            ),
        ),
        Some(C::NotADatabase) => Error::new(
            ErrorCode::Repository,
            format!(
                "{where_} is not an idbulk repository (it is not an SQLite database), or it is damaged; nothing was changed. If it was a repository, {}",
                lowercase_first(&restore)
            ),
        ),
        Some(C::DatabaseCorrupt) => Error::new(
            ErrorCode::Repository,
            format!("The repository {where_} is damaged ({e}); nothing was changed. {restore}"),
        ),
        Some(C::CannotOpen) => match read_only_folder(path) {
            Some(_) => Error::new(ErrorCode::Repository, read_only_message(path)),
            None => Error::new(
                ErrorCode::Repository,
                format!(
                    "The repository {where_} cannot be opened. Check the path and permissions."
                ),
            ),
        },
        _ => Error::new(ErrorCode::Repository, format!("The repository {where_} failed: {e}")),
    }
}

/// Why a repository cannot be written: its folder (SQLite creates `-wal` and `-shm` files
/// beside the repository, so a writable file in a read-only folder is no use) or the file.
fn read_only_message(path: &Path) -> String {
    let where_ = path.display();
    match read_only_folder(path) {
        Some(folder) => format!(
            "The repository {where_} cannot be used: its folder {} is read-only, and SQLite needs to create its journal files ({}-wal, {}-shm) beside it. Make the folder writable, or move the repository to a folder that is; nothing was changed.",
            folder.display(),
            file_name(path),
            file_name(path)
        ),
        None => format!(
            "The repository {where_} is read-only (its permissions or its disk allow no writing), so idbulk cannot use it. Make the file writable; nothing was changed."
        ),
    }
}

/// The repository's folder if a file cannot be created in it. The probe is a temporary file
/// in the folder, removed at once: the repository file itself is never opened outside SQLite
/// (see [`check_not_empty`]).
fn read_only_folder(path: &Path) -> Option<PathBuf> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match tempfile::Builder::new().prefix(".idbulk-probe").tempfile_in(&folder) {
        Ok(_) => None,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Some(folder)
        }
        Err(_) => None,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into())
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::batch::ImageStep;
    use super::*;

    fn site_type(schema: &Schema) -> &EntityType {
        schema.entity_type("Site").unwrap()
    }

    /// A new repository of the built-in schema, in a folder removed when dropped, and its Site
    /// type.
    fn site_store() -> (tempfile::TempDir, EntityType, Store) {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::directory();
        let store = Store::create(&dir.path().join("r.db"), &schema).unwrap();
        (dir, site_type(&schema).clone(), store)
    }

    fn site(key: &str, name: &str) -> Row {
        Row { key: key.into(), values: [name, "", "France"].into_iter().collect() }
    }

    #[test]
    fn rows_encode_as_json_objects_and_decode_back() {
        let schema = Schema::directory();
        let t = site_type(&schema);
        let tricky = "a \"quote\", a \\ backslash, \n\r\t\u{8}\u{c}\u{1} and é€😀";
        let row = Row { key: "K".into(), values: [tricky, "", "x"].into_iter().collect() };
        let text = encode_row(t, &row);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[&t.attributes[0].name], tricky, "valid JSON: {text}");
        assert!(parsed.get(&t.attributes[1].name).is_none(), "empty values are left out");
        // Text serde_json wrote before (sorted keys) decodes the same.
        let mut map = serde_json::Map::new();
        map.insert(t.attributes[0].name.clone(), tricky.into());
        map.insert(t.attributes[2].name.clone(), "x".into());
        let serde_text = serde_json::Value::Object(map).to_string();
        assert_eq!(decode_row(t, "K".into(), &serde_text, &mut Vec::new()).unwrap(), row);
        assert_eq!(decode_row(t, "K".into(), &text, &mut Vec::new()).unwrap(), row);
        // Escaped keys, unknown keys, numbers and nulls, in any order.
        let name0 = &t.attributes[0].name;
        let escaped: String = name0.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
        let odd = format!(
            r#"{{"{}":12,"Gone":"x","{escaped}":"v","{}":null}}"#,
            t.attributes[2].name, t.attributes[1].name
        );
        let decoded = decode_row(t, "K".into(), &odd, &mut Vec::new()).unwrap();
        assert_eq!(decoded.values, ["v", "", "12"]);
        // Other JSON kinds (a file edited by hand) read as their JSON text, as serde_json prints it.
        let [a0, a1, a2] = [0, 1, 2].map(|i| &t.attributes[i].name);
        for (value, text) in [
            ("-3", "-3"),
            ("1.0", "1.0"),
            ("2.5e3", "2500.0"),
            ("true", "true"),
            ("false", "false"),
            (r#"[1,"b",null]"#, r#"[1,"b",null]"#),
            (r#"{"x":{"y":[]}}"#, r#"{"x":{"y":[]}}"#),
            (
                r#""a long value that is not kept inline, with \"quotes\"""#,
                r#"a long value that is not kept inline, with "quotes""#,
            ),
        ] {
            let json = format!(r#"{{"{a0}":{value},"{a1}":"after","{a2}":""}}"#);
            let decoded = decode_row(t, "K".into(), &json, &mut Vec::new()).expect(&json);
            assert_eq!(decoded.values, [text, "after", ""], "{json}");
        }
        for damaged in ["", "[]", "{", r#"{"a":"b"} x"#] {
            let e = decode_row(t, "K".into(), damaged, &mut Vec::new()).unwrap_err();
            assert_eq!(e.code, ErrorCode::Repository, "{damaged}");
        }
    }

    #[test]
    fn plain_fields_read_without_serde_as_serde_reads_them() {
        use serde::de::DeserializeSeed;
        let schema = Schema::directory();
        let t = site_type(&schema);
        let [a0, a1, a2] = [0, 1, 2].map(|i| t.attributes[i].name.as_str());
        let by_serde = |text: &str| {
            let mut de = serde_json::Deserializer::from_str(text);
            FieldsSeed(t, text.len()).deserialize(&mut de).and_then(|v| de.end().map(|()| v)).ok()
        };
        // What encode_row writes, in and out of attribute order, with unknown, repeated and
        // empty names and values: read without serde, to the same values.
        for plain in [
            "{}".to_string(),
            format!(r#"{{"{a0}":"Paris","{a2}":"{}"}}"#, "é€😀 ~\u{7f}"),
            format!(r#"{{"{a2}":"x","{a0}":"y","{a1}":""}}"#),
            format!(r#"{{"Gone":"x","{a1}":"v","{a1}":"again","":""}}"#),
        ] {
            let fast = decode_plain_fields(t, &plain, &mut Vec::new());
            assert!(fast.is_some(), "{plain}");
            assert_eq!(fast, by_serde(&plain), "{plain}");
        }
        // Any other shape is left to serde_json, which reads or refuses it.
        for other in [
            format!(r#"{{"{a0}":"a \"quote\""}}"#),
            format!(r#"{{"{a0}":"tab\there"}}"#),
            format!("{{\"{a0}\":\"raw\ncontrol\"}}"),
            format!(r#"{{"{a0}":12}}"#),
            format!(r#"{{"{a0}":null}}"#),
            format!(r#"{{ "{a0}":"spaced"}}"#),
            format!(r#"{{"{a0}":"x"}} "#),
            format!(r#"{{"{a0}":"x",}}"#),
            format!(r#"{{"{a0}":"x""#),
            format!(r#"{{"{a0}""#),
            "{".into(),
            "".into(),
            "[]".into(),
        ] {
            assert_eq!(decode_plain_fields(t, &other, &mut Vec::new()), None, "{other}");
        }
    }

    #[test]
    fn an_update_recorded_as_its_changed_values_gives_the_row_before_back() {
        let schema = Schema::directory();
        let t = site_type(&schema);
        let before = Row { key: "K".into(), values: ["Paris \"HQ\"", "", "France"].into() };
        let after = Row { key: "K".into(), values: ["Paris", "Lyon", ""].into() };
        let mut changed = String::new();
        encode_changed_into(t, &before, &after, &mut changed);
        let parsed: serde_json::Value = serde_json::from_str(&changed).unwrap();
        assert_eq!(parsed.as_object().unwrap().len(), 3, "every differing value: {changed}");
        assert_eq!(parsed[&t.attributes[1].name], "", "an emptied value is kept as \"\"");
        let mut row = after.clone();
        decode_changed_into(t, &mut row, &changed).unwrap();
        assert_eq!(row, before);
        // Nothing differs: nothing recorded, nothing set back.
        encode_changed_into(t, &after, &after, &mut changed);
        assert_eq!(changed, "{}");
        // An attribute the schema lost is skipped; damaged text is an error naming the row.
        let mut row = after.clone();
        decode_changed_into(t, &mut row, r#"{"Gone":"x"}"#).unwrap();
        assert_eq!(row, after);
        let e = decode_changed_into(t, &mut row, "{").unwrap_err();
        assert_eq!(e.code, ErrorCode::Repository);
        assert!(e.message.contains("Site K"), "{}", e.message);
    }

    proptest::proptest! {
        /// Any row before an update comes back from the row after it and the changed values.
        #[test]
        fn changed_values_and_the_row_after_give_any_row_before(
            before in proptest::collection::vec(proptest::prop_oneof!["", ".{0,4}", "[a\"\\\n]{1,3}"], 3),
            after in proptest::collection::vec(proptest::prop_oneof!["", ".{0,4}"], 3),
        ) {
            let schema = Schema::directory();
            let t = site_type(&schema);
            let before = Row { key: "K".into(), values: before.iter().collect() };
            let mut row = Row { key: "K".into(), values: after.iter().collect() };
            let mut changed = String::new();
            encode_changed_into(t, &before, &row, &mut changed);
            decode_changed_into(t, &mut row, &changed).unwrap();
            proptest::prop_assert_eq!(row, before);
        }
    }

    #[test]
    fn a_new_repository_is_empty_at_revision_zero() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("r.db"), &Schema::directory()).unwrap();
        let summary = store.summary().unwrap();
        assert_eq!(summary.revision, 0);
        assert!(summary.counts.iter().all(|(_, n)| *n == 0));
        assert_eq!(summary.counts.len(), 4);
        let page_size: u32 = store.conn().query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(page_size, PAGE_SIZE, "the large pages of a new repository");
        let cache: i64 = store.conn().query_row("PRAGMA cache_size", [], |r| r.get(0)).unwrap();
        assert_eq!(cache, -i64::from(CACHE_KIB));
    }

    #[test]
    fn an_existing_repository_keeps_its_page_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA page_size = 4096; CREATE TABLE t (x);").unwrap();
        }
        let conn = connect(&path, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
        let page_size: u32 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(page_size, 4096);
    }

    #[test]
    fn writes_round_trip_and_bump_the_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let schema = Schema::directory();
        let t = site_type(&schema).clone();
        let mut store = Store::create(&path, &schema).unwrap();
        store
            .write(|w| {
                w.insert(&t, &site("00123", "Héllo, \"Paris\""))?;
                w.insert(&t, &site("B", "=SUM(A1)"))
            })
            .unwrap();
        assert_eq!(store.revision().unwrap(), 1);
        drop(store);
        let mut store = Store::open(&path).unwrap();
        assert_eq!(
            store.rows(&t).unwrap(),
            [site("00123", "Héllo, \"Paris\""), site("B", "=SUM(A1)")]
        );
        store.write(|w| w.update(&t, &site("B", "Lyon"))).unwrap();
        store.write(|w| w.delete(&t, "00123")).unwrap();
        assert_eq!(store.rows(&t).unwrap(), [site("B", "Lyon")]);
        assert_eq!(store.revision().unwrap(), 3);
    }

    #[test]
    fn an_update_adds_an_image_and_a_lost_image_or_link_is_reported() {
        let (_dir, t, mut store) = site_store();
        store.write(|w| w.insert(&t, &site("B", "Paris"))).unwrap();
        let lyon = RowWrite {
            entity_type: "Site",
            key: "B",
            exists: true,
            known_image: None,
            after: Some(r#"{"City":"Lyon"}"#),
        };
        let mut steps = Vec::new();
        store.write(|w| w.write_rows(&[lyon], &mut steps)).unwrap();
        assert_eq!(
            steps,
            [ImageStep { before: Some(1), after: Some(2) }],
            "the image before stays, the new one is added"
        );
        let image = |id: ImageId| -> String {
            store
                .conn()
                .query_row("SELECT fields FROM image WHERE id = ?1", [id], |r| r.get(0))
                .unwrap()
        };
        // Layout 1 is the Site type's attributes; trailing empty values are left out.
        assert_eq!(image(1), r#"[1,"Paris","","France"]"#);
        assert_eq!(image(2), r#"{"City":"Lyon"}"#);
        // An image written as an object by name, as formats 4 and 5 did, reads as ever.
        let lyon = Row { key: "B".into(), values: ["", "Lyon", ""].into_iter().collect() };
        assert_eq!(store.get(&t, "B").unwrap(), Some(lyon));
        assert!(store.integrity_problems().unwrap().is_empty());

        let conn = store.conn();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             DELETE FROM image WHERE id = 2;
             INSERT INTO run (id, started_at, kind, summary, revision_before, revision_after)
                 VALUES (1, '2026-01-01T00:00:00Z', 'sync', '{}', 0, 1);
             INSERT INTO change (run_id, seq, entity_type, key, op, after_image)
                 VALUES (1, 0, 'Site', 'B', 'update', 9);",
        )
        .unwrap();
        assert_eq!(
            store.integrity_problems().unwrap(),
            [
                "Site B has lost its values (image 2 is missing)",
                "the history of Site B in run 1 has lost an image"
            ]
        );
        conn.execute_batch("DELETE FROM run").unwrap();
        assert!(
            store.integrity_problems().unwrap().contains(&"a row of change breaks a link".into()),
            "a declared link is still checked too"
        );
    }

    #[test]
    fn a_batch_writes_every_row_in_order_and_checks_each_key() {
        let (_dir, t, mut store) = site_store();
        store.write(|w| w.insert(&t, &site("A", "Paris"))).unwrap();
        let write = |key, exists, after| RowWrite {
            entity_type: "Site",
            key,
            exists,
            known_image: None,
            after,
        };
        let city = |c: &str| format!(r#"{{"City":"{c}"}}"#);
        let (lyon, nice, rome) = (city("Lyon"), city("Nice"), city("Rome"));
        // More rows than one statement holds, a delete among them, and a key written twice.
        let mut writes: Vec<RowWrite> = Vec::new();
        let keys: Vec<String> = (0..200).map(|i| format!("N{i:03}")).collect();
        writes.extend(keys.iter().map(|k| write(k, false, Some(&lyon))));
        writes.push(write("A", true, None));
        writes.push(write("N000", true, Some(&nice)));
        writes.push(write("A", false, Some(&rome)));
        let mut steps = Vec::new();
        store.write(|w| w.write_rows(&writes, &mut steps)).unwrap();

        assert_eq!(steps.len(), writes.len());
        assert_eq!(steps[0], ImageStep { before: None, after: Some(2) });
        assert_eq!(steps[199], ImageStep { before: None, after: Some(201) });
        assert_eq!(steps[200], ImageStep { before: Some(1), after: None }, "A deleted");
        assert_eq!(steps[201], ImageStep { before: Some(2), after: Some(202) }, "N000 again");
        assert_eq!(steps[202], ImageStep { before: None, after: Some(203) }, "A created again");
        assert_eq!(store.count("Site").unwrap(), 201);
        assert_eq!(store.get(&t, "N000").unwrap().unwrap().get(&t, "City"), "Nice");
        assert_eq!(store.get(&t, "N199").unwrap().unwrap().get(&t, "City"), "Lyon");
        assert_eq!(store.get(&t, "A").unwrap().unwrap().get(&t, "City"), "Rome");
        assert!(store.integrity_problems().unwrap().is_empty());

        // A key that is not as the write expects refuses the whole batch.
        for (bad, message) in [
            (write("A", false, Some(&lyon)), "Site A already exists and cannot be created."),
            (write("Z", true, Some(&lyon)), "Site Z does not exist and cannot be updated."),
            (write("Z", true, None), "Site Z does not exist and cannot be deleted."),
            (write("Z", false, None), "Site Z cannot be created without values."),
        ] {
            let err = store
                .write(|w| w.write_rows(&[write("N001", true, None), bad], &mut steps))
                .unwrap_err();
            assert_eq!((err.code, err.message.as_str()), (ErrorCode::Internal, message));
            assert!(store.get(&t, "N001").unwrap().is_some(), "nothing was written");
        }
    }

    #[test]
    fn a_known_image_is_taken_as_the_image_before_until_a_key_repeats() {
        let (_dir, t, mut store) = site_store();
        store.write(|w| w.insert(&t, &site("A", "Paris"))).unwrap();
        store.write(|w| w.insert(&t, &site("B", "Nice"))).unwrap();
        let rome = r#"{"City":"Rome"}"#;
        let update = |key, known_image| RowWrite {
            entity_type: "Site",
            key,
            exists: true,
            known_image,
            after: Some(rome),
        };
        // Image 9 does not exist: had the write read A's image, it would have found 1.
        let mut steps = Vec::new();
        store
            .write(|w| w.write_rows(&[update("A", Some(9)), update("B", None)], &mut steps))
            .unwrap();
        assert_eq!(
            steps,
            [
                ImageStep { before: Some(9), after: Some(3) },
                ImageStep { before: Some(2), after: Some(4) }
            ],
            "A's known image taken as given, B's read"
        );
        // Once a key repeats, a known image may be out of date: every image before is read.
        store
            .write(|w| {
                w.write_rows(
                    &[update("A", Some(3)), update("A", Some(3)), update("B", Some(4))],
                    &mut steps,
                )
            })
            .unwrap();
        assert_eq!(steps.iter().map(|s| s.before).collect::<Vec<_>>(), [Some(3), Some(5), Some(4)]);
        // A create is checked whatever the other writes know.
        let err = store
            .write(|w| {
                let create = RowWrite { exists: false, known_image: Some(1), ..update("B", None) };
                w.write_rows(&[update("A", Some(6)), create], &mut steps)
            })
            .unwrap_err();
        assert_eq!(err.message, "Site B already exists and cannot be created.");
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let (_dir, t, mut store) = site_store();
        let err = store
            .write(|w| {
                w.insert(&t, &site("A", "x"))?;
                w.insert(&t, &site("A", "again"))
            })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Internal);
        assert_eq!(store.count("Site").unwrap(), 0, "the first insert was rolled back");
        assert_eq!(store.revision().unwrap(), 0);
    }

    #[test]
    fn opening_something_that_is_not_a_repository_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Store::open(&dir.path().join("none.db")).err().unwrap();
        assert_eq!(missing.code, ErrorCode::NotFound);
        assert!(missing.message.contains("idbulk init"));

        let text = dir.path().join("notes.db");
        std::fs::write(&text, "hello, I am a text file pretending").unwrap();
        let err = Store::open(&text).err().unwrap();
        assert_eq!(err.code, ErrorCode::Repository);
        assert!(err.message.contains("not an SQLite database"), "{}", err.message);
        assert_eq!(std::fs::read_to_string(&text).unwrap(), "hello, I am a text file pretending");

        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, "").unwrap();
        assert!(Store::open(&empty).err().unwrap().message.contains("empty file"));
    }

    #[test]
    fn a_repository_from_a_newer_idbulk_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        drop(Store::create(&path, &Schema::directory()).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = Store::open(&path).err().unwrap();
        assert_eq!(err.code, ErrorCode::Repository);
        assert!(err.message.contains("newer idbulk"), "{}", err.message);
    }

    #[test]
    fn migrations_upgrade_an_older_file_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let schema = Schema::directory();
        // Stored out of key order, as rows written over time are.
        create_in_format(
            &path,
            &schema,
            1,
            &[
                ("Site", "PAR", r#"{"DisplayName":"Paris","Country":"France"}"#),
                ("Site", "LYO", r#"{"DisplayName":"Lyon","Country":"France"}"#),
            ],
        );
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.revision().unwrap(), 7);
        let v: i64 = store.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, FILE_FORMAT_VERSION);
        let t = site_type(&schema).clone();
        assert_eq!(store.rows(&t).unwrap(), [site("LYO", "Lyon"), site("PAR", "Paris")]);
        // Migration 4 numbered the images in key order, the order scans read them.
        let images: Vec<i64> = store
            .conn()
            .prepare("SELECT image FROM record ORDER BY entity_type, key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(images, [1, 2]);
        store.conn().prepare("SELECT before_changed FROM change").expect("migration 3's column");
        let indexes: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'change_by_row'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(indexes, 0, "migration 5 dropped the history's index by row");
        let changes: i64 =
            store.conn().query_row("SELECT count(*) FROM change_row", [], |r| r.get(0)).unwrap();
        assert_eq!(changes, 0, "migration 7's view of the history");
        assert!(store.integrity_problems().unwrap().is_empty());
        // And the migrated file takes writes.
        store.write(|w| w.update(&t, &site("LYO", "Lyons"))).unwrap();
        assert_eq!(store.get(&t, "LYO").unwrap(), Some(site("LYO", "Lyons")));
    }

    #[test]
    fn creating_over_an_existing_repository_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        drop(Store::create(&path, &Schema::directory()).unwrap());
        assert_eq!(
            Store::create(&path, &Schema::directory()).err().unwrap().code,
            ErrorCode::Usage
        );
    }

    #[test]
    fn display_names_use_the_schema() {
        let schema = Schema::directory();
        let user = schema.entity_type("User").unwrap();
        let mut row = Row::empty("u1", user);
        assert_eq!(row.display_name(user), "u1");
        row.values.set(0, "Ada");
        row.values.set(1, "Lovelace");
        assert_eq!(row.display_name(user), "Ada Lovelace");
    }
}
