//! Crash safety of exports (issue 7): a template export killed at any moment leaves the file
//! the person asked for either exactly as it was (the previous export, byte for byte) or a
//! complete new workbook that reads back with every row, never a truncated one.
//!
//! Exports are written to a temporary file beside the destination, synced, then renamed over
//! it (`src/document.rs`); this test holds that to account from outside: `idbulk template
//! --full` runs in a child process on a repository big enough for the write to take a while,
//! and gets SIGKILL at moments spread over the time an unkilled export takes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::crash::create_repository;

/// People in the repository: enough for the export to take a measurable while.
const USERS: usize = 20_000;

/// Kills per test, spread over the measured export time.
const KILLS: u32 = 8;

fn spawn_export(db: &Path, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_idbulk"))
        .args(["template", "--full", "-o"])
        .arg(out)
        .arg("--db")
        .arg(db)
        .env_remove("IDBULK_DB")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the idbulk binary starts")
}

/// The rows of the User sheet of the workbook at `path`, or `None` if it does not read.
fn users_in(path: &Path) -> Option<usize> {
    let book = idbulk::import::read(path, &Default::default()).ok()?;
    book.sheets.iter().find(|s| s.name == "User").map(|s| s.rows.len())
}

#[test]
fn a_killed_export_leaves_the_old_file_or_a_complete_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("repository.db");
    create_repository(&db, USERS);
    let out = dir.path().join("full.xlsx");

    // The previous export, and how long an unkilled one takes on this machine right now.
    let start = Instant::now();
    assert!(spawn_export(&db, &out).wait().unwrap().success(), "the first export succeeds");
    let took = start.elapsed();
    assert_eq!(users_in(&out), Some(USERS), "the first export is complete");
    let mut previous = std::fs::read(&out).unwrap();

    let mut killed_running = 0;
    for k in 0..KILLS {
        let delay = took.mul_f64(f64::from(k + 1) / f64::from(KILLS + 1));
        let mut child = spawn_export(&db, &out);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_running += 1;
        }
        let _ = child.kill();
        let _ = child.wait();

        let now = std::fs::read(&out).unwrap();
        if now != previous {
            assert_eq!(
                users_in(&out),
                Some(USERS),
                "kill {k} after {delay:?}: the file changed, so it must be a complete workbook"
            );
            previous = now;
        }
    }
    // A machine so loaded that every export finished before its kill proves nothing.
    assert!(killed_running > 0, "at least one export was killed while it was writing");
}
