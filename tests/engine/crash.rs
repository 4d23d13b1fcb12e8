//! Crash safety (SPEC section 7): a kill during apply leaves the repository exactly as before
//! or exactly as after, never in between.
//!
//! There are no test hooks in the engine, so the apply is made long enough to be killed half
//! way: a repository of [`USERS`] users and a complete-mode `User.csv` that updates most of
//! them, deletes a tenth and creates as many new ones, applied with `idbulk sync --force` in a
//! child process that gets SIGKILL part way through.
//!
//! The delays come from the machine itself: one unkilled run, on a copy, gives the "after"
//! state and a timeline of the apply, measured from outside by watching the repository's
//! write-ahead log (`-wal`): SQLite appends the transaction's pages there as its cache
//! spills, and a commit ends the transaction. The kills are spread over that timeline: two
//! while the file is still being planned (timed from the spawn), the others over the time the
//! log was being written (timed from the moment the killed child's log first holds pages, as
//! planning time varies more from run to run than writing time on a busy machine). If load
//! still made every kill miss the writing, one more round is timed afresh; if that misses too,
//! the test fails rather than pass without having killed anything mid-way.
//!
//! After each kill the write-ahead log is looked at *before* anything opens the file (opening
//! recovers it): a log holding pages while the content is the "before" state means the child
//! died in the middle of its transaction and SQLite threw the half-written transaction away.
//! The copy is then opened and checked: no integrity problem, and every row of every type,
//! the number of recorded runs and the revision equal the before state or the after state.
//!
//! Each case starts from a copy of the same repository made with `VACUUM INTO` (SQLite's
//! consistent copy, taken while no process writes), never by copying the file's bytes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use idbulk::{Row, Schema, Store};

use crate::support::{State, state};

/// Users in the repository: enough for the apply to take a measurable while in a debug build.
const USERS: usize = 10_000;

/// How many times a sync is killed per round, at moments spread over the measured timeline.
const KILLS: usize = 8;

fn user_values(i: usize, title: &str) -> [(&'static str, String); 8] {
    [
        ("FirstName", format!("First{i}")),
        ("LastName", format!("Last name number {i}")),
        ("Email", format!("person.{i}@crash.example")),
        ("PhoneNumber", format!("+33 1 {:02} {:02} {:02} {:02}", i % 97, i % 89, i % 83, i % 79)),
        ("UserType", "EMP".into()),
        ("JobTitle", format!("{title} of department {}", i % 50)),
        ("ContractStartDate", format!("20{:02}-0{}-1{}", 10 + i % 15, 1 + i % 9, i % 10)),
        ("ContractEndDate", String::new()),
    ]
}

fn key(i: usize) -> String {
    format!("{i:06}")
}

/// The repository every case starts from, written through the engine in one transaction.
/// A repository of `users` clerks of one worker type (also the export crash test's).
pub(crate) fn create_repository(db: &Path, count: usize) {
    let schema = Schema::directory();
    let users = schema.entity_type("User").unwrap().clone();
    let types = schema.entity_type("UserType").unwrap().clone();
    let mut store = Store::create(db, &schema).unwrap();
    store
        .write(|w| {
            let mut employee = Row::empty("EMP", &types);
            employee.values.set(types.attribute_index("DisplayName").unwrap(), "Employee");
            w.insert(&types, &employee)?;
            for i in 0..count {
                let mut row = Row::empty(key(i), &users);
                for (name, value) in user_values(i, "Clerk") {
                    row.values.set(users.attribute_index(name).unwrap(), &value);
                }
                w.insert(&users, &row)?;
            }
            Ok(())
        })
        .unwrap();
}

/// A complete-mode `User.csv`: every tenth user is absent (deleted), the others get a new job
/// title (updated), and a tenth as many new users appear (created).
fn write_sync_file(path: &Path) {
    let users = Schema::directory().entity_type("User").unwrap().clone();
    let mut out = csv::Writer::from_path(path).unwrap();
    out.write_record(users.headers()).unwrap();
    let mut write = |i: usize| {
        let mut record = vec![key(i)];
        let values = user_values(i, "Senior clerk");
        for attr in &users.attributes {
            record.push(
                values
                    .iter()
                    .find(|(n, _)| *n == attr.name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            );
        }
        out.write_record(&record).unwrap();
    };
    for i in (0..USERS).filter(|i| i % 10 != 0) {
        write(i);
    }
    for i in USERS..USERS + USERS / 10 {
        write(i);
    }
    out.flush().unwrap();
}

/// A consistent copy of `from` at `to`, in WAL mode and closed, ready for a child to sync.
fn copy_repository(from: &Path, to: &Path) {
    let conn = rusqlite::Connection::open(from).unwrap();
    conn.execute("VACUUM INTO ?1", [to.to_str().unwrap()]).unwrap();
    drop(conn);
    // Opening switches the copy to WAL as the app does, so the child's only writes are the
    // sync's own; closing the last connection checkpoints and removes the log.
    drop(Store::open(to).unwrap());
    assert!(!wal(to).exists(), "the copy is closed cleanly");
}

/// A file SQLite keeps beside the database: `-wal` (the write-ahead log) or `-shm`.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn wal(db: &Path) -> PathBuf {
    beside(db, "-wal")
}

fn wal_bytes(db: &Path) -> u64 {
    std::fs::metadata(wal(db)).map(|m| m.len()).unwrap_or(0)
}

fn spawn_sync(db: &Path, file: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_idbulk"))
        .args(["sync", file.to_str().unwrap(), "--mode", "complete", "--force", "--reason", "x"])
        .arg("--db")
        .arg(db)
        .env_remove("IDBULK_DB")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the idbulk binary starts")
}

/// When, after the spawn, the write-ahead log first held pages, and when the process exited.
struct Timeline {
    first_write: Duration,
    exit: Duration,
}

/// Runs the sync unkilled on `db`, watching its write-ahead log.
fn measure(db: &Path, file: &Path) -> Timeline {
    let start = Instant::now();
    let mut child = spawn_sync(db, file);
    let mut first_write = None;
    loop {
        if first_write.is_none() && wal_bytes(db) > 0 {
            first_write = Some(start.elapsed());
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the unkilled sync succeeds: {status}");
            let exit = start.elapsed();
            return Timeline { first_write: first_write.unwrap_or(exit), exit };
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Where a kill landed, judged from the files it left and the state they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Landed {
    /// Before the transaction wrote anything: content as before, no log.
    Before,
    /// In the transaction: the log held uncommitted pages, and the content is as before.
    MidTransaction,
    /// After the commit, while the log was still being copied into the database file or
    /// before the repository was closed: the content is as after.
    AfterCommit,
    /// After the sync closed the repository, or the child had already exited.
    After,
}

/// When to kill: a delay after the spawn, or after the write-ahead log first holds pages (the
/// time a sync takes to plan varies more from run to run than the time it takes to write).
#[derive(Debug, Clone, Copy)]
enum Moment {
    AfterSpawn(Duration),
    AfterFirstWrite(Duration),
}

/// Kills a sync of `file` at each moment, on a fresh copy of `master` each time, and says
/// where each kill landed; panics if one left the repository in between.
fn kill_at_each(
    dir: &Path,
    master: &Path,
    file: &Path,
    moments: &[Moment],
    before: &State,
    after: &State,
) -> Vec<Landed> {
    let mut landed = Vec::new();
    for moment in moments {
        let db = dir.join("killed.db");
        copy_repository(master, &db);
        let mut child = spawn_sync(&db, file);
        match *moment {
            Moment::AfterSpawn(delay) => std::thread::sleep(delay),
            Moment::AfterFirstWrite(delay) => {
                while wal_bytes(&db) == 0 && child.try_wait().unwrap().is_none() {
                    std::thread::sleep(Duration::from_micros(500));
                }
                std::thread::sleep(delay);
            }
        }
        let exited_first = child.try_wait().unwrap().is_some();
        if !exited_first {
            child.kill().unwrap();
        }
        child.wait().unwrap();
        // Read the log before anything opens the file: opening recovers and removes it.
        let log = wal_bytes(&db);
        let now = state(&db);
        let where_ = if now == *before {
            if log > 0 { Landed::MidTransaction } else { Landed::Before }
        } else if now == *after {
            if exited_first || log == 0 { Landed::After } else { Landed::AfterCommit }
        } else {
            let counts = |s: &State| -> Vec<(String, usize)> {
                s.rows.iter().map(|(t, r)| (t.clone(), r.len())).collect()
            };
            panic!(
                "a kill at {moment:?} left the repository in between: {:?} rows, {} runs, \
                 revision {} (before: {:?}, {} runs, revision {}; after: {:?}, {} runs, revision \
                 {})",
                counts(&now),
                now.runs,
                now.revision,
                counts(before),
                before.runs,
                before.revision,
                counts(after),
                after.runs,
                after.revision
            );
        };
        println!("kill at {moment:?}: {where_:?} (log {log} bytes)");
        landed.push(where_);
        std::fs::remove_file(&db).unwrap();
        for leftover in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(beside(&db, leftover)); // closing removed them already
        }
    }
    landed
}

/// Two kills while the file is planned, the rest spread over the time the unkilled sync
/// spent writing, from its first write to its exit.
fn moments_over(timeline: &Timeline) -> Vec<Moment> {
    let planning = timeline.first_write;
    let writing = timeline.exit.saturating_sub(planning);
    let mut moments = vec![Moment::AfterSpawn(planning / 3), Moment::AfterSpawn(planning * 5 / 6)];
    let spread = (KILLS - moments.len()) as u32;
    moments.extend((0..spread).map(|k| Moment::AfterFirstWrite(writing * k / (spread - 1))));
    moments
}

#[test]
fn a_kill_during_apply_leaves_the_repository_as_before_or_as_after() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join("master.db");
    create_repository(&master, USERS);
    let file = dir.path().join("User.csv");
    write_sync_file(&file);
    let before = state(&master);

    let mut after = None;
    let mut landed = Vec::new();
    let mut all_moments = Vec::new();
    // A second round, timed afresh, only if the machine's load made the first miss the window.
    for _round in 0..2 {
        let reference = dir.path().join("reference.db");
        copy_repository(&master, &reference);
        let timeline = measure(&reference, &file);
        let unkilled = state(&reference);
        std::fs::remove_file(&reference).unwrap();
        assert_eq!(unkilled.runs, before.runs + 1, "the unkilled sync recorded one run");
        assert_eq!(unkilled.revision, before.revision + 1);
        assert_ne!(unkilled.rows, before.rows, "the sync changes rows: before and after differ");
        if let Some(previous) = &after {
            assert_eq!(&unkilled, previous, "the same sync gives the same result");
        }
        let after = after.get_or_insert(unkilled);
        println!(
            "{:.1} s: unkilled sync wrote its log from {} ms, exited at {} ms",
            started.elapsed().as_secs_f64(),
            timeline.first_write.as_millis(),
            timeline.exit.as_millis()
        );
        let moments = moments_over(&timeline);
        landed.extend(kill_at_each(dir.path(), &master, &file, &moments, &before, after));
        all_moments.extend(moments);
        if landed.iter().any(|l| matches!(l, Landed::MidTransaction | Landed::AfterCommit)) {
            break;
        }
    }

    let count = |l: Landed| landed.iter().filter(|&&x| x == l).count();
    println!(
        "{} kills: {} before the transaction wrote, {} mid-transaction, {} after the commit \
         (log not yet checkpointed), {} after; {:.1} s in all",
        landed.len(),
        count(Landed::Before),
        count(Landed::MidTransaction),
        count(Landed::AfterCommit),
        count(Landed::After),
        started.elapsed().as_secs_f64()
    );
    assert!(
        count(Landed::MidTransaction) + count(Landed::AfterCommit) > 0,
        "the kill delays missed the apply window: no kill landed while the sync was writing \
         ({landed:?} for {all_moments:?}), so this run proves nothing; the machine was \
         probably too busy for the measured timeline to hold"
    );
}
