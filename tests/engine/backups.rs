//! Backups, as HR meets them through the CLI: every sync is preceded by a backup, `idbulk
//! backup` takes one on demand, `idbulk backups` lists them, and `idbulk restore` puts one
//! back, after which the repository holds exactly what it held when the backup was taken.

use std::path::Path;

use crate::support::{USER_HEADERS, Workspace, row, write_workbook};

/// An incremental `User` file that gives the first user a new job title.
fn retitle(ws: &Workspace, name: &str, title: &str) -> String {
    let key = ws.rows("User")[0].key.clone();
    let mut cells = vec![String::new(); USER_HEADERS.len()];
    cells[0] = "Modify".into();
    cells[1] = key.to_string();
    cells[USER_HEADERS.iter().position(|h| *h == "JobTitle").unwrap()] = title.into();
    let path = ws.path(name);
    write_workbook(&path, &[("User".into(), vec![row(&USER_HEADERS), cells])]);
    path.to_str().unwrap().to_string()
}

fn backup_names(ws: &Workspace) -> Vec<String> {
    let (status, json) = ws.idbulk_json(&["backups"]);
    assert_eq!(status, 0, "{json:#}");
    json["backups"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sync_backup_sync_restore_brings_back_the_state_after_the_first_sync() {
    let ws = Workspace::demo();
    let key = ws.rows("User")[0].key.clone();
    let original = ws.value("User", &key, "JobTitle");
    assert!(backup_names(&ws).is_empty(), "a new repository has no backups");

    // The first sync backs up the state before it.
    let first = retitle(&ws, "first.xlsx", "First title");
    let (status, synced) = ws.idbulk_json(&["sync", &first, "--mode", "incremental"]);
    assert_eq!(status, 0, "{synced:#}");
    let auto = synced["backup"].as_str().expect("the sync says where it backed up").to_string();
    assert!(Path::new(&auto).starts_with(ws.path("repository.db.backups")), "{auto}");
    let after_first = ws.dump();
    let runs_after_first = ws.idbulk_json(&["history"]).1["runs"].as_array().unwrap().len();

    // A backup on demand, then a second sync.
    let (status, made) = ws.idbulk_json(&["backup"]);
    assert_eq!(status, 0, "{made:#}");
    let name = made["backup"]["name"].as_str().unwrap().to_string();
    let second = retitle(&ws, "second.xlsx", "Second title");
    assert_eq!(ws.idbulk(&["sync", &second, "--mode", "incremental"]).status, 0);
    assert_eq!(ws.value("User", &key, "JobTitle"), "Second title");
    let revision_before_restore = ws.store().revision().unwrap();
    assert_eq!(backup_names(&ws).len(), 3, "before each sync, and the one on demand");

    // Restore by name: the rows and the history are those after the first sync.
    let out = ws.idbulk(&["restore", &name]);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("backed up to"), "{}", out.stdout);
    assert_eq!(ws.dump(), after_first, "every row as after the first sync");
    assert_eq!(ws.value("User", &key, "JobTitle"), "First title");
    let (_, history) = ws.idbulk_json(&["history"]);
    assert_eq!(history["runs"].as_array().unwrap().len(), runs_after_first);
    assert!(
        ws.store().revision().unwrap() > revision_before_restore,
        "the revision moves forward, so a plan built before the restore is stale"
    );
    assert_eq!(backup_names(&ws).len(), 4, "the state before the restore was backed up too");

    // The automatic backup from before the first sync holds the original title.
    assert_eq!(ws.idbulk(&["restore", &auto]).status, 0);
    assert_eq!(ws.value("User", &key, "JobTitle"), original);
}

#[test]
fn retention_prunes_the_oldest_and_zero_turns_automatic_backups_off() {
    let ws = Workspace::demo();
    let (status, made) = ws.idbulk_json(&["backup", "--keep", "2"]);
    assert_eq!(status, 0, "{made:#}");
    assert_eq!(made["keep"], 2);
    for i in 0..3 {
        let file = retitle(&ws, &format!("s{i}.xlsx"), &format!("Title {i}"));
        assert_eq!(ws.idbulk(&["sync", &file, "--mode", "incremental"]).status, 0);
    }
    let names = backup_names(&ws);
    assert_eq!(names.len(), 2, "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(names, sorted, "newest first");

    let out = ws.idbulk(&["backup", "--keep", "0"]);
    assert_eq!(out.status, 0);
    assert!(out.stdout.contains("off"), "{}", out.stdout);
    let listed = backup_names(&ws).len();
    let file = retitle(&ws, "off.xlsx", "No backup");
    let (status, synced) = ws.idbulk_json(&["sync", &file, "--mode", "incremental"]);
    assert_eq!(status, 0);
    assert!(synced["backup"].is_null(), "{:#}", synced["backup"]);
    assert_eq!(backup_names(&ws).len(), listed, "no backup when retention is off");
}

#[test]
fn a_damaged_backup_is_refused_and_the_repository_left_alone() {
    let ws = Workspace::demo();
    let (_, made) = ws.idbulk_json(&["backup"]);
    let path = made["backup"]["path"].as_str().unwrap().to_string();
    // Damage the backup's pages after the first: its integrity check fails.
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    for b in &mut bytes[4096..len - 4096] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, bytes).unwrap();
    let before = ws.dump();
    let listed = backup_names(&ws).len();

    let (status, json) = ws.idbulk_json(&["restore", &path]);
    assert_eq!(status, 1, "a bad backup is bad input: {json:#}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot be restored"), "{message}");
    assert!(message.contains("The repository was not touched"), "{message}");
    assert_eq!(ws.dump(), before);
    assert_eq!(backup_names(&ws).len(), listed, "nothing was backed up for nothing");

    let out = ws.idbulk(&["restore", "no-such-backup.db"]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no-such-backup.db"), "{}", out.stderr);
}
