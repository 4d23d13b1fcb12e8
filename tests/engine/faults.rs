//! Faults (issue 7): the repository's disk is full, the file or its folder is read-only,
//! another program holds the repository, the file is damaged or not a repository at all, or
//! it comes from a newer idbulk. Each must end in a clear message and lose nothing.
//!
//! "Nothing lost" is checked the strictest way each case allows: when the command fails
//! before SQLite may write, the file is byte for byte what it was (SHA-256 with no connection
//! open); when it fails inside a transaction (disk full, busy), every row of every type, the
//! recorded runs and the revision are what they were, and SQLite's integrity checks pass.
//!
//! A full disk cannot be made on demand, so [`idbulk::Store::limit_growth`] caps the file at a
//! few pages more than it has (SQLite's `max_page_count`), which fails a write exactly as a
//! full disk does. Read-only files cannot be made for root, who may write anything, so when
//! the tests run as root (as CI does) the CLI runs as `nobody` through `setpriv`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use idbulk::apply::{self, Force};
use idbulk::import::CsvOptions;
use idbulk::plan::{self, Mode, Snapshot};
use idbulk::thresholds::Thresholds;
use idbulk::{ErrorCode, Store};
use sha2::{Digest, Sha256};

use crate::support::{Output, USER_HEADERS, Workspace, row, state, write_workbook};

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// An incremental `User` file that gives one user a new job title.
fn retitle(ws: &Workspace, name: &str, title: &str) -> PathBuf {
    let key = ws.rows("User")[0].key.clone();
    let mut cells = vec![String::new(); USER_HEADERS.len()];
    cells[0] = "Modify".into();
    cells[1] = key.to_string();
    cells[USER_HEADERS.iter().position(|h| *h == "JobTitle").unwrap()] = title.into();
    let path = ws.path(name);
    write_workbook(&path, &[("User".into(), vec![row(&USER_HEADERS), cells])]);
    path
}

/// Everything a CLI run printed, on either stream.
fn text(out: &Output) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

// --- Disk full -------------------------------------------------------------------------------

/// A full disk in the middle of a sync's transaction: the error says so, and the repository
/// is exactly as before; once there is room, the same plan applies.
#[test]
fn a_full_disk_fails_the_sync_with_a_clear_message_and_loses_nothing() {
    let ws = Workspace::demo();
    // A complete-mode User.csv that gives every user a new, long job title: hundreds of
    // updates, each growing its row and recording its image after in the history, far more
    // than a few pages.
    let dir = ws.path("csv");
    let out = ws.idbulk(&["template", "--full", "--format", "csv", "-o", dir.to_str().unwrap()]);
    assert_eq!(out.status, 0, "{}", text(&out));
    let file = dir.join("User.csv");
    let mut reader = csv::Reader::from_path(&file).unwrap();
    let headers = reader.headers().unwrap().clone();
    let title = headers.iter().position(|h| h == "JobTitle").unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut writer = csv::Writer::from_path(&file).unwrap();
    writer.write_record(&headers).unwrap();
    for (i, r) in records.iter().enumerate() {
        let mut cells: Vec<String> = r.iter().map(str::to_string).collect();
        cells[title] = format!("Retitled number {i}, {}", "in charge of everything ".repeat(12));
        writer.write_record(&cells).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);

    let before = state(&ws.db);
    let mut store = Store::open(&ws.db).unwrap();
    let workbook = idbulk::import::read(&file, &CsvOptions::default()).unwrap();
    let plan = plan::build(
        store.schema(),
        &Snapshot::load(&store).unwrap(),
        &workbook,
        Mode::Complete,
        plan::InputFile::from_bytes("User.csv", &std::fs::read(&file).unwrap()),
        &Thresholds::load(&store).unwrap(),
    );
    assert!(!plan.has_errors(), "{:?}", plan.errors().collect::<Vec<_>>());
    assert!(plan.changes.len() >= 300, "a big enough sync: {} changes", plan.changes.len());
    let force = Force::Yes { reason: "disk full test".into() };

    store.limit_growth(2).unwrap();
    let err = apply::run(&mut store, &plan, &force, chrono::Utc::now(), &mut |_, _| true)
        .expect_err("a sync that needs more room than the disk has fails");
    assert_eq!(err.code, ErrorCode::Repository, "{}", err.message);
    assert!(err.message.contains("is full"), "says the disk is full: {}", err.message);
    assert!(err.message.contains("nothing was changed"), "{}", err.message);
    assert!(err.message.contains(ws.db.to_str().unwrap()), "names the repository: {}", err.message);
    drop(store);
    assert_eq!(state(&ws.db), before, "the failed sync left the repository exactly as before");

    // With room again, the very same plan applies: it was the disk, not the plan.
    let mut store = Store::open(&ws.db).unwrap();
    let run = apply::run(&mut store, &plan, &force, chrono::Utc::now(), &mut |_, _| true).unwrap();
    assert_eq!(run.counts.updated as usize, plan.changes.len());
}

// --- Read-only file or folder ----------------------------------------------------------------

/// How to run the CLI as someone the file permissions apply to: root writes anything, so as
/// root the CLI runs as `nobody` (through `setpriv`, part of util-linux).
struct Runner {
    as_nobody: bool,
}

impl Runner {
    fn new(dir: &Path) -> Runner {
        // Root, or anyone with CAP_DAC_OVERRIDE, can open a file with no write permission.
        let probe = dir.join("permission-probe");
        std::fs::write(&probe, "x").unwrap();
        set_mode(&probe, 0o444);
        let privileged = std::fs::OpenOptions::new().append(true).open(&probe).is_ok();
        std::fs::remove_file(&probe).unwrap();
        if privileged {
            let bin = Path::new(env!("CARGO_BIN_EXE_idbulk"));
            let status = Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(bin)
                .arg("--version")
                .output();
            assert!(
                status.as_ref().is_ok_and(|o| o.status.success()),
                "running as root, this test runs idbulk as `nobody` with setpriv, which must be \
                 installed and able to run {} (every folder above it readable by others): {status:?}",
                bin.display()
            );
        }
        Runner { as_nobody: privileged }
    }

    fn idbulk(&self, db: &Path, args: &[&str]) -> Output {
        let bin = env!("CARGO_BIN_EXE_idbulk");
        let mut command = if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
            c
        } else {
            Command::new(bin)
        };
        let out = command
            .args(args)
            .arg("--db")
            .arg(db)
            .env_remove("IDBULK_DB")
            .output()
            .expect("idbulk runs");
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs commands that write (and `verify` too when `reads_fail`) on a repository that cannot
/// be written: each exits 5 with `expected` in its message, and the file is byte for byte what
/// it was.
fn assert_unwritable_refused(
    runner: &Runner,
    ws: &Workspace,
    file: &Path,
    reads_fail: bool,
    expected: &[&str],
) {
    let hash = sha256(&ws.db);
    let file = file.to_str().unwrap();
    let mut commands = vec![
        vec!["sync", file, "--mode", "incremental"],
        vec!["thresholds", "--scope", "connection", "--counter", "created", "--rows", "5"],
        vec!["backup", "--keep", "3"],
    ];
    if reads_fail {
        commands.push(vec!["verify"]);
    }
    for args in commands {
        let out = runner.idbulk(&ws.db, &args);
        let said = text(&out);
        assert_eq!(out.status, 5, "`idbulk {}` exits 5:\n{said}", args[0]);
        for e in expected {
            assert!(said.contains(e), "`idbulk {}` says {e:?}:\n{said}", args[0]);
        }
        assert!(said.contains(ws.db.to_str().unwrap()), "names the repository:\n{said}");
        assert!(!said.contains("panicked"), "{said}");
    }
    assert_eq!(sha256(&ws.db), hash, "the repository file is byte for byte unchanged");
}

#[test]
fn a_read_only_repository_file_is_refused_with_what_to_do() {
    let ws = Workspace::demo();
    let runner = Runner::new(ws.dir.path());
    let file = retitle(&ws, "retitle.xlsx", "Read-only");
    let before = state(&ws.db);
    // The folder is writable by anyone (so only the file is in the way); the file by no one.
    set_mode(ws.dir.path(), 0o777);
    set_mode(&ws.db, 0o444);
    assert_unwritable_refused(
        &runner,
        &ws,
        &file,
        false,
        &["is read-only", "Make the file writable", "nothing was changed"],
    );
    // Reading needs no write to the file (SQLite keeps its shared memory beside it).
    let out = runner.idbulk(&ws.db, &["verify"]);
    assert!(matches!(out.status, 0 | 1), "a read-only repository can be verified:\n{}", text(&out));
    let out = runner.idbulk(&ws.db, &["plan", file.to_str().unwrap(), "--mode", "incremental"]);
    assert_eq!(out.status, 0, "and planned against:\n{}", text(&out));
    set_mode(&ws.db, 0o644);
    set_mode(ws.dir.path(), 0o755);
    assert_eq!(state(&ws.db), before);
    let out = ws.idbulk(&["sync", file.to_str().unwrap(), "--mode", "incremental"]);
    assert_eq!(out.status, 0, "writable again, the same sync applies:\n{}", text(&out));
    assert_eq!(ws.value("User", &ws.rows("User")[0].key, "JobTitle"), "Read-only");
}

#[test]
fn a_repository_in_a_read_only_folder_is_refused_naming_the_folder() {
    let ws = Workspace::demo();
    let runner = Runner::new(ws.dir.path());
    let file = retitle(&ws, "retitle.xlsx", "Read-only folder");
    let before = state(&ws.db);
    // The file is writable by anyone, but SQLite cannot create its -wal and -shm beside it.
    set_mode(&ws.db, 0o666);
    set_mode(ws.dir.path(), 0o555);
    let folder = ws.dir.path().to_str().unwrap().to_string();
    assert_unwritable_refused(
        &runner,
        &ws,
        &file,
        true,
        &["folder", &folder, "is read-only", "repository.db-wal", "nothing was changed"],
    );
    set_mode(ws.dir.path(), 0o755);
    assert_eq!(state(&ws.db), before);
}

// --- Busy -----------------------------------------------------------------------------------

/// Another program holds the write lock for longer than idbulk waits: the sync is refused as
/// busy (exit 4), the other program's write is kept, and the sync succeeds once it is done.
#[test]
fn a_busy_repository_refuses_the_sync_and_loses_nobody_s_work() {
    let ws = Workspace::demo();
    let file = retitle(&ws, "retitle.xlsx", "Patient clerk");
    let key = ws.rows("User")[0].key.clone();
    let before = state(&ws.db);

    // A second process's connection: SQLite locks are per connection, like another program.
    let holder = rusqlite::Connection::open(&ws.db).unwrap();
    holder
        .execute_batch(
            "BEGIN IMMEDIATE; INSERT INTO meta (name, value) VALUES ('setting.faults.holder', 'kept');",
        )
        .unwrap();
    let started = Instant::now();
    let out = ws.idbulk(&["sync", file.to_str().unwrap(), "--mode", "incremental"]);
    let waited = started.elapsed();
    let said = text(&out);
    assert_eq!(out.status, 4, "busy is exit status 4:\n{said}");
    assert!(said.contains("is busy"), "{said}");
    assert!(said.contains("Nothing was changed"), "{said}");
    assert!(said.contains(ws.db.to_str().unwrap()), "names the repository:\n{said}");
    assert!(waited >= Duration::from_secs(4), "idbulk waited for the lock first ({waited:?})");
    holder.execute_batch("COMMIT").unwrap();
    drop(holder);

    assert_eq!(state(&ws.db), before, "the refused sync wrote nothing");
    let kept: String = rusqlite::Connection::open(&ws.db)
        .unwrap()
        .query_row("SELECT value FROM meta WHERE name = 'setting.faults.holder'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, "kept", "the other program's write survived");

    let out = ws.idbulk(&["sync", file.to_str().unwrap(), "--mode", "incremental"]);
    assert_eq!(out.status, 0, "once free, the same sync applies:\n{}", text(&out));
    assert_eq!(ws.value("User", &key, "JobTitle"), "Patient clerk");
}

// --- Damaged, foreign, newer ----------------------------------------------------------------

/// Runs reading and writing commands on a file that is no usable repository: each exits 5
/// with `expected` in its message, and the file is byte for byte what it was.
fn assert_unusable_refused(db: &Path, file: &Path, expected: &[&str]) {
    let hash = sha256(db);
    let file = file.to_str().unwrap();
    for args in [
        vec!["verify"],
        vec!["plan", file, "--mode", "incremental"],
        vec!["sync", file, "--mode", "incremental"],
        vec!["template", "--empty", "-o", "/nonexistent/never-written.xlsx"],
    ] {
        let out = Runner { as_nobody: false }.idbulk(db, &args);
        let said = text(&out);
        assert_eq!(out.status, 5, "`idbulk {}` on {} exits 5:\n{said}", args[0], db.display());
        for e in expected {
            assert!(said.contains(e), "`idbulk {}` says {e:?}:\n{said}", args[0]);
        }
        assert!(!said.contains("panicked"), "{said}");
    }
    assert_eq!(sha256(db), hash, "{} is byte for byte unchanged", db.display());
    assert!(!beside(db, "-wal").exists(), "no log left beside {}", db.display());
}

/// A copy of the demo repository, closed and checkpointed (a single file).
fn demo_bytes(ws: &Workspace) -> Vec<u8> {
    drop(ws.store());
    assert!(!beside(&ws.db, "-wal").exists());
    std::fs::read(&ws.db).unwrap()
}

#[test]
fn a_damaged_or_foreign_repository_file_is_refused_untouched() {
    let ws = Workspace::demo();
    let file = retitle(&ws, "retitle.xlsx", "Never applied");
    let good = demo_bytes(&ws);
    let page = 4096;
    assert!(good.len() > 8 * page);

    let text_file = ws.path("notes.db");
    std::fs::write(&text_file, "Minutes of the meeting: nothing to report.\n".repeat(200)).unwrap();
    assert_unusable_refused(&text_file, &file, &["not an SQLite database", "backup"]);

    let truncated = ws.path("truncated.db");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    assert_unusable_refused(&truncated, &file, &["is damaged", "Restore it from a backup"]);

    // Every page but the first (the schema) overwritten: the tables themselves are garbage.
    let mut scrambled = good.clone();
    for (i, b) in scrambled[page..].iter_mut().enumerate() {
        *b = (i.wrapping_mul(131) % 251) as u8;
    }
    let damaged = ws.path("damaged.db");
    std::fs::write(&damaged, &scrambled).unwrap();
    assert_unusable_refused(&damaged, &file, &["is damaged", "Restore it from a backup"]);
}

/// A file from a newer idbulk is refused before anything writes to it, whatever journal mode
/// it is in. (The check used to come after switching the file to WAL, which rewrote the header
/// of a rollback-journal file before refusing it.)
#[test]
fn a_repository_from_a_newer_idbulk_is_refused_untouched_in_any_journal_mode() {
    let ws = Workspace::demo();
    let file = retitle(&ws, "retitle.xlsx", "Never applied");
    let good = demo_bytes(&ws);
    for mode in ["WAL", "DELETE"] {
        let newer = ws.path(&format!("newer-{mode}.db"));
        std::fs::write(&newer, &good).unwrap();
        let conn = rusqlite::Connection::open(&newer).unwrap();
        let _: String =
            conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert_unusable_refused(
            &newer,
            &file,
            &["written by a newer idbulk", "file format 99", "nothing was changed"],
        );
    }
}
