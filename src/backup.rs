//! Backups of the repository: taken with SQLite's online backup API, kept beside it, pruned to
//! a retention count, and restored safely.
//!
//! # Where and how
//!
//! The backups of `/data/repository.db` are the files `/data/repository.db.backups/repository-
//! 2026-11-25-171700-123.db` (the UTC time they were taken, to the millisecond). Each is a
//! complete, self-contained SQLite file (rollback journal, no `-wal` beside it) made with the
//! backup API, which copies a consistent snapshot even while another connection writes, never
//! a half-written page as a file copy could. It is written under a temporary name, checked
//! with `integrity_check`, and only then given its final name: a backup that is listed is
//! whole.
//!
//! # Retention
//!
//! The setting `backup.keep` in the repository's `meta` table ([`keep`], [`set_keep`]; default
//! [`DEFAULT_KEEP`]) says how many backups to keep; `0` turns the automatic backups off.
//! [`before_sync`], which the app and `idbulk sync` call just before applying a plan, takes a
//! backup and removes the oldest beyond that count. Files in the folder that idbulk did not
//! name are never removed.
//!
//! # Restore
//!
//! [`restore`] refuses a backup that fails `integrity_check`, is not an idbulk repository, or
//! comes from a newer idbulk, before touching anything. It then backs up the repository as it
//! is (so a restore can itself be undone), prepares the restored content in a temporary file
//! beside it, gives it a revision above both the backup's and the repository's (so a plan built
//! before the restore can never pass the revision check afterwards), and copies it into the
//! live repository with the backup API, in one transaction: a crash during the restore leaves
//! the repository as before or as restored. Only when the repository is too damaged for SQLite
//! to write into is the prepared file renamed over it instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::backup::{Backup as SqliteBackup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::error::{Error, ErrorCode, Result};
use crate::store::{FILE_FORMAT_VERSION, Store, sql_error};

/// How many backups are kept when the setting was never saved.
pub const DEFAULT_KEEP: u32 = 10;

/// The `meta` row holding the retention setting (a setting, like the connection's: saving
/// it does not bump the revision).
const KEEP_SETTING: &str = "setting.backup.keep";

/// The time in a backup's file name (UTC): sorts as it reads.
const STAMP: &str = "%Y-%m-%d-%H%M%S-%3f";

/// How long a backup or a restore waits for another connection to let go.
const WAIT: Duration = Duration::from_secs(5);

/// One backup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Backup {
    /// Where it is.
    pub path: PathBuf,
    /// Its file name.
    pub name: String,
    /// When it was taken (from its name), or `None` for a file idbulk did not name.
    pub taken_at: Option<DateTime<Utc>>,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restored {
    /// The backup that was restored.
    pub from: PathBuf,
    /// The backup of the repository as it was just before, when it could be read.
    pub previous: Option<PathBuf>,
    /// The repository's revision after the restore.
    pub revision: u64,
}

/// The folder holding the backups of the repository at `db`: `<db>.backups` beside it.
pub fn folder(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".backups");
    PathBuf::from(name)
}

/// The retention setting: how many backups to keep, `0` for no automatic backups.
///
/// # Errors
///
/// [`ErrorCode::Repository`] if the repository cannot be read or the setting is not a number.
pub fn keep(store: &Store) -> Result<u32> {
    let saved: Option<String> = store
        .conn()
        .query_row("SELECT value FROM meta WHERE name = ?1", [KEEP_SETTING], |r| r.get(0))
        .optional()
        .map_err(|e| sql_error(store.path(), e))?;
    match saved {
        None => Ok(DEFAULT_KEEP),
        Some(text) => text.trim().parse().map_err(|_| {
            Error::new(
                ErrorCode::Repository,
                format!(
                    "The backup retention saved in {} is {text:?}, not a number. Set it again with `idbulk backup --keep N`.",
                    store.path().display()
                ),
            )
        }),
    }
}

/// Saves the retention setting (see [`keep`]). It is a setting, not data: the revision stays.
///
/// # Errors
///
/// [`ErrorCode::Repository`] or [`ErrorCode::Busy`] if the repository cannot be written.
pub fn set_keep(store: &mut Store, keep: u32) -> Result<()> {
    store
        .conn()
        .execute(
            "INSERT INTO meta (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            rusqlite::params![KEEP_SETTING, keep.to_string()],
        )
        .map(drop)
        .map_err(|e| sql_error(store.path(), e))
}

/// Takes a backup of the repository now, into [`folder`].
///
/// # Errors
///
/// [`ErrorCode::Io`] if the folder cannot be created or written, [`ErrorCode::Busy`] if another
/// connection keeps the repository locked, [`ErrorCode::Repository`] if the copy fails its
/// integrity check (nothing is left behind then).
pub fn create(store: &Store, now: DateTime<Utc>) -> Result<Backup> {
    let dir = folder(store.path());
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create the backup folder", &e))?;
    let temp = tempfile::Builder::new()
        .prefix(".backup-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, "write a backup in", &e))?;
    {
        let mut to = Connection::open(temp.path()).map_err(|e| sql_error(temp.path(), e))?;
        copy(store.conn(), &mut to, store.path())?;
        // A self-contained file: the copy of a WAL repository would otherwise need a `-wal`
        // and `-shm` beside it to be opened.
        let _mode: String = to
            .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
            .map_err(|e| sql_error(temp.path(), e))?;
        check_integrity(&to, temp.path())?;
    }
    let stem = stem(store.path());
    let stamp = now.format(STAMP).to_string();
    let mut temp = temp;
    for n in 0..100 {
        let name =
            if n == 0 { format!("{stem}-{stamp}.db") } else { format!("{stem}-{stamp}-{n}.db") };
        let path = dir.join(&name);
        match temp.persist_noclobber(&path) {
            Ok(file) => {
                let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
                return Ok(Backup { path, name, taken_at: Some(now), bytes });
            }
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => temp = e.file,
            Err(e) => return Err(Error::io(&path, "write the backup", &e.error)),
        }
    }
    Err(Error::internal(format!("Could not find a free backup name in {}.", dir.display())))
}

/// The backups of the repository at `db`, newest first. A missing folder is no backups.
///
/// # Errors
///
/// [`ErrorCode::Io`] if the folder exists but cannot be read.
pub fn list(db: &Path) -> Result<Vec<Backup>> {
    let dir = folder(db);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, "list the backups in", &e)),
    };
    let stem = stem(db);
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, "list the backups in", &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || !name.ends_with(".db") {
            continue;
        }
        let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
        let taken_at = parse_name(&stem, &name).map(|(t, _)| t);
        out.push(Backup { path: entry.path(), name, taken_at, bytes });
    }
    // Newest first; files idbulk did not name last, by name.
    out.sort_by(|a, b| {
        let key = |x: &Backup| parse_name(&stem, &x.name);
        key(b).cmp(&key(a)).then_with(|| a.name.cmp(&b.name))
    });
    Ok(out)
}

/// Removes the oldest backups idbulk made beyond the newest `keep`; returns what it removed.
/// `keep == 0` removes nothing (retention is off, not "keep none").
///
/// # Errors
///
/// [`ErrorCode::Io`] if the folder cannot be read or a file cannot be removed.
pub fn prune(db: &Path, keep: u32) -> Result<Vec<PathBuf>> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let stem = stem(db);
    let ours: Vec<Backup> =
        list(db)?.into_iter().filter(|b| parse_name(&stem, &b.name).is_some()).collect();
    let mut removed = Vec::new();
    for old in ours.into_iter().skip(keep as usize) {
        std::fs::remove_file(&old.path)
            .map_err(|e| Error::io(&old.path, "remove the backup", &e))?;
        removed.push(old.path);
    }
    Ok(removed)
}

/// What the app and `idbulk sync` call just before applying a plan: when retention is on,
/// takes a backup and prunes the oldest; returns the new backup's path, or `None` when off.
///
/// # Errors
///
/// As [`keep`], [`create`] and [`prune`]. A sync should not go ahead without the backup it
/// was promised.
pub fn before_sync(store: &Store, now: DateTime<Utc>) -> Result<Option<PathBuf>> {
    let keep = keep(store)?;
    if keep == 0 {
        return Ok(None);
    }
    let backup = create(store, now)?;
    prune(store.path(), keep)?;
    Ok(Some(backup.path))
}

/// Restores the backup `from` over the repository at `db` (see the module docs for how).
/// Close other windows on the repository first: they keep working, but on the restored rows.
///
/// # Errors
///
/// - [`ErrorCode::NotFound`] if `from` does not exist;
/// - [`ErrorCode::InvalidInput`] if it is damaged, not an idbulk repository, or from a newer
///   idbulk (the repository is then untouched);
/// - [`ErrorCode::Busy`] if another connection keeps the repository locked;
/// - [`ErrorCode::Io`] or [`ErrorCode::Repository`] if the repository cannot be written.
pub fn restore(db: &Path, from: &Path, now: DateTime<Utc>) -> Result<Restored> {
    let source = open_backup(from)?;
    let backup_revision = check_backup(&source, from)?;

    // The repository as it is now, when it can be read: backed up, and its revision kept.
    let current = Store::open(db).ok();
    let previous = match &current {
        Some(store) => Some(create(store, now)?.path),
        None => None,
    };
    let current_revision = current.as_ref().and_then(|s| s.revision().ok()).unwrap_or(0);
    drop(current);
    let revision = backup_revision.max(current_revision) + 1;

    // The restored content, prepared beside the repository so a rename stays on one disk.
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prepared = tempfile::Builder::new()
        .prefix(".restore-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, "prepare the restore in", &e))?;
    let mut staged =
        Connection::open(prepared.path()).map_err(|e| sql_error(prepared.path(), e))?;
    copy(&source, &mut staged, from)?;
    drop(source);
    // A backup from an earlier idbulk is brought to this build's file format here: windows
    // that keep the repository open never migrate it again, and would meet the old layout.
    crate::store::migrate(&mut staged, prepared.path())?;
    staged
        .execute("UPDATE meta SET value = ?1 WHERE name = 'revision'", [revision.to_string()])
        .map_err(|e| sql_error(prepared.path(), e))?;
    check_integrity(&staged, prepared.path())?;

    match Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE) {
        Ok(mut live) if live.busy_timeout(WAIT).is_ok() => {
            match match_page_size(&staged, &live, prepared.path())
                .and_then(|()| copy(&staged, &mut live, prepared.path()))
            {
                Ok(()) => {}
                Err(e) if e.code == ErrorCode::Repository && !is_database(&live) => {
                    drop(live);
                    replace(staged, prepared, db)?;
                    return Ok(Restored { from: from.to_path_buf(), previous, revision });
                }
                Err(e) => return Err(e),
            }
        }
        _ => {
            replace(staged, prepared, db)?;
            return Ok(Restored { from: from.to_path_buf(), previous, revision });
        }
    }
    Ok(Restored { from: from.to_path_buf(), previous, revision })
}

/// Gives the prepared file the page size of the live repository: SQLite cannot change the
/// page size of a repository in WAL mode, so a backup with pages of another size (from a
/// repository created before they were 64 KiB, say) is rewritten with the live ones.
fn match_page_size(staged: &Connection, live: &Connection, staged_path: &Path) -> Result<()> {
    let page_size = |c: &Connection| c.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0));
    // The live file may be too damaged to tell: the copy below then finds out.
    let Ok(wanted) = page_size(live) else { return Ok(()) };
    if page_size(staged).map_err(|e| sql_error(staged_path, e))? == wanted {
        return Ok(());
    }
    // journal_mode answers with a row, so it is read rather than executed.
    let _mode: String = staged
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(|e| sql_error(staged_path, e))?;
    staged
        .execute_batch(&format!("PRAGMA page_size = {wanted}; VACUUM;"))
        .map_err(|e| sql_error(staged_path, e))
}

/// Whether SQLite can read the schema of the file behind `conn`.
fn is_database(conn: &Connection) -> bool {
    conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).is_ok()
}

/// Renames the prepared file over a repository SQLite cannot write into, removing the old
/// file's `-wal` and `-shm` first: a stale log would be replayed into the restored file.
fn replace(staged: Connection, prepared: tempfile::NamedTempFile, db: &Path) -> Result<()> {
    let _mode: String = staged
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| sql_error(prepared.path(), e))?;
    drop(staged);
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(Path::new(&name), "remove", &e)),
        }
    }
    prepared.persist(db).map_err(|e| Error::io(db, "replace the repository", &e.error))?;
    Ok(())
}

/// Opens a backup file read-only, refusing what is not there or not a file.
fn open_backup(from: &Path) -> Result<Connection> {
    let meta = std::fs::metadata(from).map_err(|e| Error::io(from, "read the backup", &e))?;
    if !meta.is_file() || meta.len() == 0 {
        return Err(Error::invalid_input(format!(
            "{} is not a backup (it is {}); the repository was not touched.",
            from.display(),
            if meta.is_file() { "empty" } else { "not a file" }
        )));
    }
    let conn = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| sql_error(from, e))?;
    conn.busy_timeout(WAIT).map_err(|e| sql_error(from, e))?;
    Ok(conn)
}

/// Checks a backup before it is restored; returns its revision.
fn check_backup(conn: &Connection, from: &Path) -> Result<u64> {
    let refuse = |why: String| {
        Error::invalid_input(format!(
            "{} cannot be restored: {why}. The repository was not touched.",
            from.display()
        ))
    };
    let problems = integrity(conn).map_err(|e| refuse(format!("it is not readable ({e})")))?;
    if !problems.is_empty() {
        return Err(refuse(format!("it is damaged ({})", problems.join("; "))));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| refuse(format!("it is not readable ({e})")))?;
    if version > FILE_FORMAT_VERSION {
        return Err(refuse(format!(
            "it was written by a newer idbulk (file format {version}, this one knows {FILE_FORMAT_VERSION})"
        )));
    }
    let meta = |name: &str| -> Option<String> {
        conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .ok()
            .flatten()
    };
    if meta("schema").is_none() {
        return Err(refuse("it is not an idbulk repository".into()));
    }
    meta("revision")
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| refuse("its revision counter is damaged".into()))
}

/// SQLite's `integrity_check`: the problems found, empty when sound.
fn integrity(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut problems = Vec::new();
    for line in lines {
        let line = line?;
        if line != "ok" {
            problems.push(line);
        }
    }
    Ok(problems)
}

fn check_integrity(conn: &Connection, path: &Path) -> Result<()> {
    let problems = integrity(conn).map_err(|e| sql_error(path, e))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::Repository,
            format!(
                "The copy {} failed its integrity check ({}); it was not kept.",
                path.display(),
                problems.join("; ")
            ),
        ))
    }
}

/// Copies every page of `from` into `to` with the backup API, in one step: one consistent
/// snapshot, written in one transaction of the destination. Waits up to [`WAIT`] for locks.
fn copy(from: &Connection, to: &mut Connection, from_path: &Path) -> Result<()> {
    let busy = || {
        Error::new(
            ErrorCode::Busy,
            format!(
                "{} is busy: another program is writing to it. Nothing was changed; try again when it has finished.",
                from_path.display()
            ),
        )
    };
    to.busy_timeout(WAIT).map_err(|e| sql_error(from_path, e))?;
    let backup = SqliteBackup::new(from, to).map_err(|e| sql_error(from_path, e))?;
    let started = std::time::Instant::now();
    loop {
        match backup.step(-1).map_err(|e| sql_error(from_path, e))? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked if started.elapsed() < WAIT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => return Err(busy()),
        }
    }
}

/// The repository's file name without its extension: `repository` for `repository.db`.
fn stem(db: &Path) -> String {
    db.file_stem().map_or_else(|| "repository".into(), |s| s.to_string_lossy().into_owned())
}

/// The time and sequence number in the name of a backup idbulk made, `None` for other files.
fn parse_name(stem: &str, name: &str) -> Option<(DateTime<Utc>, u32)> {
    let rest = name.strip_prefix(stem)?.strip_prefix('-')?.strip_suffix(".db")?;
    // The stamp has a fixed length; a sequence number may follow it.
    let stamp = rest.get(..21)?;
    let n = match rest.get(21..)? {
        "" => 0,
        more => more.strip_prefix('-')?.parse().ok()?,
    };
    let time = NaiveDateTime::parse_from_str(stamp, STAMP).ok()?;
    Some((time.and_utc(), n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Schema;
    use crate::store::Row;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + seconds, 123_000_000).unwrap()
    }

    fn site(key: &str) -> Row {
        Row {
            key: key.into(),
            values: [format!("Site {key}").as_str(), "", "France"].into_iter().collect(),
        }
    }

    fn add_site(store: &mut Store, key: &str) {
        let t = store.schema().entity_type("Site").unwrap().clone();
        store.write(|w| w.insert(&t, &site(key))).unwrap();
    }

    fn sites(store: &Store) -> Vec<String> {
        let t = store.schema().entity_type("Site").unwrap().clone();
        store.rows(&t).unwrap().into_iter().map(|r| r.key.to_string()).collect()
    }

    fn repository() -> (tempfile::TempDir, PathBuf, Store) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("repository.db");
        let store = Store::create(&db, &Schema::directory()).unwrap();
        (dir, db, store)
    }

    #[test]
    fn backups_go_beside_the_repository_with_the_time_in_their_name() {
        let (_dir, db, store) = repository();
        let b = create(&store, at(0)).unwrap();
        assert_eq!(b.path.parent().unwrap(), folder(&db));
        assert!(folder(&db).ends_with("repository.db.backups"));
        assert_eq!(b.name, "repository-2026-11-18-110640-123.db");
        assert_eq!(parse_name("repository", &b.name), Some((at(0), 0)));
        assert!(b.bytes > 0);
        let listed = list(&db).unwrap();
        assert_eq!(listed, [b], "the partial file is gone once the backup is named");
    }

    #[test]
    fn a_backup_is_a_self_contained_sound_copy() {
        let (_dir, _db, mut store) = repository();
        add_site(&mut store, "PAR");
        let b = create(&store, at(0)).unwrap();
        add_site(&mut store, "LYO");
        let header = std::fs::read(&b.path).unwrap();
        assert_eq!(header[18..20], [1, 1], "a rollback-journal file, not a WAL one");
        let copy = Store::open(&b.path).unwrap();
        assert_eq!(sites(&copy), ["PAR"], "the backup holds the rows of its time");
        assert!(copy.integrity_problems().unwrap().is_empty());
    }

    #[test]
    fn two_backups_in_the_same_millisecond_both_survive_and_list_newest_first() {
        let (_dir, db, store) = repository();
        let first = create(&store, at(0)).unwrap();
        let second = create(&store, at(0)).unwrap();
        let third = create(&store, at(1)).unwrap();
        assert_ne!(first.path, second.path);
        assert!(second.name.ends_with("-1.db"), "{}", second.name);
        let names: Vec<String> = list(&db).unwrap().into_iter().map(|b| b.name).collect();
        assert_eq!(names, [third.name, second.name, first.name]);
    }

    #[test]
    fn pruning_keeps_the_newest_and_never_touches_other_files() {
        let (_dir, db, store) = repository();
        for s in 0..5 {
            create(&store, at(s)).unwrap();
        }
        let mine = folder(&db).join("my-own-copy.db");
        std::fs::write(&mine, "not ours").unwrap();
        assert!(prune(&db, 0).unwrap().is_empty(), "0 means off, not keep none");
        let removed = prune(&db, 2).unwrap();
        assert_eq!(removed.len(), 3);
        let left: Vec<Option<DateTime<Utc>>> =
            list(&db).unwrap().into_iter().map(|b| b.taken_at).collect();
        assert_eq!(left, [Some(at(4)), Some(at(3)), None]);
        assert!(mine.exists());
    }

    #[test]
    fn retention_defaults_to_ten_and_is_a_setting_not_data() {
        let (_dir, _db, mut store) = repository();
        assert_eq!(keep(&store).unwrap(), DEFAULT_KEEP);
        set_keep(&mut store, 3).unwrap();
        assert_eq!(keep(&store).unwrap(), 3);
        assert_eq!(store.revision().unwrap(), 0, "saving a setting leaves the revision");
        store
            .conn()
            .execute("UPDATE meta SET value = 'lots' WHERE name = ?1", [KEEP_SETTING])
            .unwrap();
        assert!(keep(&store).unwrap_err().message.contains("not a number"));
    }

    #[test]
    fn before_sync_backs_up_and_prunes_only_when_retention_is_on() {
        let (_dir, db, mut store) = repository();
        set_keep(&mut store, 0).unwrap();
        assert_eq!(before_sync(&store, at(0)).unwrap(), None);
        assert!(list(&db).unwrap().is_empty());
        set_keep(&mut store, 2).unwrap();
        let made: Vec<PathBuf> =
            (0..4).map(|s| before_sync(&store, at(s)).unwrap().unwrap()).collect();
        let left: Vec<PathBuf> = list(&db).unwrap().into_iter().map(|b| b.path).collect();
        assert_eq!(left, [made[3].clone(), made[2].clone()]);
    }

    #[test]
    fn restore_brings_back_the_rows_with_a_revision_never_seen_before() {
        let (_dir, db, mut store) = repository();
        add_site(&mut store, "PAR");
        let b = create(&store, at(0)).unwrap();
        add_site(&mut store, "LYO");
        add_site(&mut store, "NCE");
        assert_eq!(store.revision().unwrap(), 3);
        let restored = restore(&db, &b.path, at(5)).unwrap();
        assert_eq!(restored.revision, 4, "above the repository's 3 and the backup's 1");
        assert_eq!(sites(&store), ["PAR"], "an open connection sees the restored rows");
        assert_eq!(store.revision().unwrap(), 4);
        let previous = Store::open(&restored.previous.unwrap()).unwrap();
        assert_eq!(sites(&previous), ["LYO", "NCE", "PAR"], "the state before was backed up");
        assert!(store.integrity_problems().unwrap().is_empty());
    }

    #[test]
    fn a_backup_from_an_earlier_file_format_is_restored_in_this_one() {
        let (_dir, db, mut store) = repository();
        add_site(&mut store, "PAR");
        let b = create(&store, at(0)).unwrap();
        // As format 2 wrote it: whole rows in `record`, no `before_changed` in the history.
        std::fs::remove_file(&b.path).unwrap();
        crate::store::create_in_format(
            &b.path,
            store.schema(),
            2,
            &[("Site", "NCE", r#"{"DisplayName":"Site NCE","Country":"France"}"#)],
        );
        add_site(&mut store, "LYO");
        restore(&db, &b.path, at(5)).unwrap();
        assert_eq!(sites(&store), ["NCE"]);
        // The window that stayed open reads and writes the current layout.
        let version: i64 = store.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, FILE_FORMAT_VERSION);
        add_site(&mut store, "LYO");
        assert_eq!(sites(&store), ["LYO", "NCE"]);
        assert!(store.integrity_problems().unwrap().is_empty());
    }

    #[test]
    fn a_backup_with_pages_of_another_size_is_restored() {
        let (_dir, db, mut store) = repository();
        add_site(&mut store, "PAR");
        let b = create(&store, at(0)).unwrap();
        // As a repository created before pages were 64 KiB has them: 4 KiB.
        Connection::open(&b.path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096; VACUUM;")
            .unwrap();
        let page_size =
            |c: &Connection| -> i64 { c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap() };
        assert_eq!(page_size(&Connection::open(&b.path).unwrap()), 4096);
        add_site(&mut store, "LYO");
        restore(&db, &b.path, at(5)).unwrap();
        assert_eq!(sites(&store), ["PAR"]);
        assert_eq!(page_size(store.conn()), 65_536, "the repository keeps its pages");
        add_site(&mut store, "LYO");
        assert!(store.integrity_problems().unwrap().is_empty());
    }

    #[test]
    fn a_damaged_or_foreign_backup_is_refused_before_anything_is_touched() {
        let (dir, db, mut store) = repository();
        add_site(&mut store, "PAR");
        let text = dir.path().join("notes.db");
        std::fs::write(&text, "hello").unwrap();
        let err = restore(&db, &text, at(0)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput, "{}", err.message);
        assert!(err.message.contains("cannot be restored: it is not readable"), "{}", err.message);

        let foreign = dir.path().join("other.db");
        Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        let err = restore(&db, &foreign, at(0)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("not an idbulk repository"), "{}", err.message);

        let missing = restore(&db, &dir.path().join("none.db"), at(0)).unwrap_err();
        assert_eq!(missing.code, ErrorCode::NotFound);

        assert_eq!(sites(&store), ["PAR"]);
        assert_eq!(store.revision().unwrap(), 1);
        assert!(list(&db).unwrap().is_empty(), "no backup of the current state was needed");
    }

    #[test]
    fn a_repository_too_damaged_to_open_is_replaced_by_the_backup() {
        let (_dir, db, mut store) = repository();
        add_site(&mut store, "PAR");
        let b = create(&store, at(0)).unwrap();
        drop(store);
        std::fs::write(&db, vec![0x5a; 8192]).unwrap();
        assert!(Store::open(&db).is_err());
        let restored = restore(&db, &b.path, at(1)).unwrap();
        assert_eq!(restored.previous, None, "the damaged file could not be backed up");
        let store = Store::open(&db).unwrap();
        assert_eq!(sites(&store), ["PAR"]);
        assert_eq!(store.revision().unwrap(), 2);
    }
}
