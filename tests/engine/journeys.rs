//! The bulk-update procedure, as an HR user goes through it: download a template, edit it,
//! upload it, preview, synchronize, and undo. Each test is one journey of SPEC sections 4 to 7,
//! driven through the `idbulk` CLI with workbooks built in the test.

use crate::support::{USER_HEADERS, Workspace, col, read_workbook, row, write_workbook};

/// Complete mode from an edited full template: one change, one deletion, one addition.
#[test]
fn complete_mode_from_an_edited_full_template() {
    let ws = Workspace::demo();
    let template = ws.path("full.xlsx");
    assert_eq!(ws.idbulk(&["template", "--full", "-o", template.to_str().unwrap()]).status, 0);

    let mut sheets = read_workbook(&template);
    let users = sheets.iter_mut().find(|s| s.0 == "User").unwrap();
    let (key, title, last) =
        (col(users, "Identifier"), col(users, "JobTitle"), col(users, "LastName"));
    // Row 2 is user 00001 (keys are sorted); change a job title, delete the last user, add one.
    let changed = users.1[5][key].clone();
    users.1[5][title] = "Chief Happiness Officer".into();
    let deleted = users.1.pop().unwrap()[key].clone();
    let mut added = users.1[3].clone();
    added[key] = "09999".into();
    added[last] = "Newcomer".into();
    added[col(users, "Email")] = "new.comer@northwind.example".into();
    users.1.push(added);
    let edited = ws.path("edited.xlsx");
    write_workbook(&edited, &sheets);

    let (status, plan) = ws.idbulk_json(&["plan", edited.to_str().unwrap(), "--mode", "complete"]);
    assert_eq!(status, 0, "{plan:#}");
    let changes = plan["plan"]["changes"].as_array().unwrap();
    let mut summary: Vec<(String, String)> = changes
        .iter()
        .map(|c| (c["op"].as_str().unwrap().to_string(), c["key"].as_str().unwrap().to_string()))
        .collect();
    summary.sort();
    let mut expected = vec![
        ("create".to_string(), "09999".to_string()),
        ("delete".to_string(), deleted.clone()),
        ("update".to_string(), changed.clone()),
    ];
    expected.sort();
    assert_eq!(
        summary, expected,
        "exactly the three edits, nothing else (export then import is exact)"
    );

    let out = ws.idbulk(&["sync", edited.to_str().unwrap(), "--mode", "complete"]);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ws.value("User", &changed, "JobTitle"), "Chief Happiness Officer");
    assert_eq!(ws.value("User", "09999", "LastName"), "Newcomer");
    assert!(
        ws.store()
            .get(ws.store().schema().entity_type("User").unwrap(), &deleted)
            .unwrap()
            .is_none()
    );

    // The same file again changes nothing.
    let (status, again) = ws.idbulk_json(&["plan", edited.to_str().unwrap(), "--mode", "complete"]);
    assert_eq!(status, 0);
    assert_eq!(again["plan"]["changes"].as_array().unwrap().len(), 0, "{again:#}");
}

/// An incremental file with a few rows: only the cells given are touched.
fn incremental(ws: &Workspace, name: &str, rows: &[&[&str]]) -> String {
    let mut sheet = vec![row(&USER_HEADERS)];
    for r in rows {
        let mut full = vec![String::new(); sheet[0].len()];
        for (i, v) in r.iter().enumerate() {
            full[i] = v.to_string();
        }
        sheet.push(full);
    }
    let path = ws.path(name);
    write_workbook(&path, &[("User".into(), sheet)]);
    path.to_str().unwrap().to_string()
}

/// `idbulk sync FILE --mode incremental --force --reason REASON`, which must succeed; its JSON.
fn forced_incremental_sync(ws: &Workspace, file: &str, reason: &str) -> serde_json::Value {
    let args = ["sync", file, "--mode", "incremental", "--force", "--reason", reason];
    let (status, json) = ws.idbulk_json(&args);
    assert_eq!(status, 0, "{json:#}");
    json
}

#[test]
fn incremental_modify_moves_a_few_users_to_another_site() {
    let ws = Workspace::demo();
    let before = ws.dump();
    let file = incremental(
        &ws,
        "moves.xlsx",
        &[
            &["Modify", "00010", "", "", "", "", "", "", "", "MAD"],
            &["modify", "00011", "", "", "", "", "", "", "", "MAD"],
            &["Update", "00012", "", "", "", "", "", "", "", "LON"],
        ],
    );
    let out = ws.idbulk(&["sync", &file, "--mode", "incremental"]);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ws.value("User", "00010", "Site"), "MAD");
    assert_eq!(ws.value("User", "00011", "Site"), "MAD");
    assert_eq!(ws.value("User", "00012", "Site"), "LON");
    // Nothing else moved: every other user and every other attribute is as before.
    let after = ws.dump();
    let users_before = &before.iter().find(|t| t.0 == "User").unwrap().1;
    let users_after = &after.iter().find(|t| t.0 == "User").unwrap().1;
    let differing: Vec<&str> = users_before
        .iter()
        .zip(users_after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.key.as_str())
        .collect();
    assert_eq!(differing, ["00010", "00011", "00012"]);
}

#[test]
fn null_null_clears_a_value_while_blank_cells_leave_others_alone() {
    let ws = Workspace::demo();
    let phone = ws.value("User", "00020", "PhoneNumber");
    let title = ws.value("User", "00020", "JobTitle");
    assert!(!phone.is_empty() && !title.is_empty());
    let file = incremental(&ws, "clear.xlsx", &[&["Modify", "00020", "", "", "", "NULL_NULL"]]);
    assert_eq!(ws.idbulk(&["sync", &file, "--mode", "incremental"]).status, 0);
    assert_eq!(ws.value("User", "00020", "PhoneNumber"), "", "NULL_NULL cleared it");
    assert_eq!(ws.value("User", "00020", "JobTitle"), title, "a blank cell left it alone");
}

#[test]
fn merge_creates_new_rows_and_updates_stored_ones() {
    let ws = Workspace::demo();
    let file = incremental(
        &ws,
        "merge.xlsx",
        &[
            &["Merge", "00030", "", "", "", "", "", "", "", "", "Team Lead"],
            &[
                "MERGE",
                "20001",
                "Grace",
                "Hopper",
                "grace.hopper@northwind.example",
                "",
                "CON",
                "ENG-PLT",
                "00030",
                "BER",
            ],
        ],
    );
    let out = ws.idbulk(&["sync", &file, "--mode", "incremental"]);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ws.value("User", "00030", "JobTitle"), "Team Lead");
    assert_eq!(ws.value("User", "20001", "LastName"), "Hopper");
    assert_eq!(ws.value("User", "20001", "Manager"), "00030");
    assert_eq!(ws.value("User", "20001", "JobTitle"), "", "blank on a new row is empty");
}

#[test]
fn delete_removes_rows_and_a_missing_key_is_only_a_warning() {
    let ws = Workspace::demo();
    // A user nobody reports to and who manages no organisation: the last one created.
    let last = ws.rows("User").last().unwrap().key.clone();
    let file = incremental(&ws, "delete.xlsx", &[&["Delete", &last], &["Delete", "77777"]]);
    let (status, json) = ws.idbulk_json(&["sync", &file, "--mode", "incremental"]);
    assert_eq!(status, 0, "{json:#}");
    assert_eq!(json["run"]["counts"]["deleted"], 1);
    let warnings: Vec<&str> = json["plan"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "warning")
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(warnings, ["delete_not_found"]);
    assert!(ws.rows("User").iter().all(|r| r.key != last));
}

#[test]
fn a_file_with_one_bad_row_is_rejected_whole_with_that_row_named() {
    let ws = Workspace::demo();
    let before = ws.dump();
    let file = incremental(
        &ws,
        "bad.xlsx",
        &[
            &["Modify", "00040", "", "", "", "", "", "", "", "MAD"],
            &["Modify", "00041", "", "", "not-an-email"],
            &["Modify", "00042", "", "", "", "", "", "", "", "LYO"],
        ],
    );
    let out = ws.idbulk(&["sync", &file, "--mode", "incremental"]);
    assert_eq!(out.status, 1, "exit 1: the input has errors\n{}", out.stdout);
    assert!(out.stdout.contains("User!E3 (Email)"), "names sheet, row and column:\n{}", out.stdout);
    assert!(out.stdout.contains("not-an-email"));
    assert!(out.stdout.contains("Nothing was applied"));
    assert_eq!(ws.dump(), before, "the repository is unchanged");
}

#[test]
fn a_hundred_and_fifty_deletions_are_blocked_then_forced_with_a_reason_then_undone() {
    let ws = Workspace::demo();
    let before = ws.dump();
    // The 150 users with the highest keys: nobody among the rest reports to them? Not
    // guaranteed, so delete whole organisations' staff bottom-up is overkill: instead delete
    // users that no remaining row references.
    let store = ws.store();
    let users = store.schema().entity_type("User").unwrap().clone();
    let orgs = store.schema().entity_type("Organization").unwrap().clone();
    let all = store.rows(&users).unwrap();
    let referenced: std::collections::BTreeSet<String> = all
        .iter()
        .map(|r| r.get(&users, "Manager").to_string())
        .chain(store.rows(&orgs).unwrap().iter().map(|o| o.get(&orgs, "Manager").to_string()))
        .collect();
    let victims: Vec<&str> = all
        .iter()
        .filter(|r| !referenced.contains(r.key.as_str()))
        .map(|r| r.key.as_str())
        .take(150)
        .collect();
    assert_eq!(victims.len(), 150);
    let rows: Vec<Vec<&str>> = victims.iter().map(|k| vec!["Delete", k]).collect();
    let row_refs: Vec<&[&str]> = rows.iter().map(|r| r.as_slice()).collect();
    let file = incremental(&ws, "purge.xlsx", &row_refs);

    let out = ws.idbulk(&["sync", &file, "--mode", "incremental"]);
    assert_eq!(out.status, 3, "blocked by a threshold:\n{}", out.stdout);
    assert!(out.stdout.contains("BLOCKED"), "{}", out.stdout);
    assert!(out.stdout.contains("connection deleted: 150 rows"), "{}", out.stdout);
    assert_eq!(ws.dump(), before, "nothing applied");

    let out = ws.idbulk(&["sync", &file, "--mode", "incremental", "--force"]);
    assert_eq!(out.status, 2, "--force needs --reason");

    let json = forced_incremental_sync(&ws, &file, "Closing the Lyon site");
    assert_eq!(json["run"]["counts"]["deleted"], 150);
    assert_eq!(json["run"]["force_reason"], "Closing the Lyon site");
    assert_eq!(ws.rows("User").len(), before.iter().find(|t| t.0 == "User").unwrap().1.len() - 150);
    let run = json["run"]["id"].as_i64().unwrap();

    let (status, history) = ws.idbulk_json(&["history"]);
    assert_eq!(status, 0);
    assert_eq!(history["runs"][0]["force_reason"], "Closing the Lyon site");
    assert_eq!(history["runs"][0]["file_name"], "purge.xlsx");
    assert_eq!(history["runs"][0]["file_sha256"].as_str().unwrap().len(), 64);

    let out = ws.idbulk(&["undo", &run.to_string()]);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ws.dump(), before, "undo restored every row exactly");
    let out = ws.idbulk(&["undo", &run.to_string()]);
    assert_eq!(out.status, 4, "a run is undone once: {}", out.stderr);
}

/// An incremental file that hires 2,500 new users (keys `30000`...), more than apply writes
/// in one batch (1,024): the file's path and the new keys in order.
fn spring_intake(ws: &Workspace) -> (String, Vec<String>) {
    let keys: Vec<String> = (0..2500).map(|i| format!("3{i:04}")).collect();
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let mut cells = ["Merge", k, "New", "Hire", "", "", "CON", "ENG-PLT", "00030", "BER"]
                .map(String::from)
                .to_vec();
            cells[4] = format!("new.hire.{k}@northwind.example");
            cells
        })
        .collect();
    let row_refs: Vec<Vec<&str>> =
        rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
    let row_refs: Vec<&[&str]> = row_refs.iter().map(Vec::as_slice).collect();
    (incremental(ws, "hires.xlsx", &row_refs), keys)
}

#[test]
fn a_sync_larger_than_a_batch_is_recorded_whole_in_order_and_undone() {
    // Three batches, the last partly full, recorded in several packs of history.
    let ws = Workspace::demo();
    let before = ws.dump();
    let (file, keys) = spring_intake(&ws);
    let json = forced_incremental_sync(&ws, &file, "The spring intake");
    let run = json["run"]["id"].as_i64().unwrap();

    let (status, history) = ws.idbulk_json(&["history", "--run", &run.to_string()]);
    assert_eq!(status, 0, "{history:#}");
    let recorded: Vec<&str> =
        history["changes"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(recorded, keys, "every change, in the order written");
    assert_eq!(history["changes"][2499]["after"]["values"][2], "new.hire.32499@northwind.example");

    let out = ws.idbulk(&["undo", &run.to_string()]);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(ws.dump(), before, "undo removed every new user");
}

#[test]
fn a_sync_cancelled_after_its_first_batch_writes_nothing() {
    use idbulk::apply::{self, Force};
    let ws = Workspace::demo();
    let before = ws.dump();
    let (file, _) = spring_intake(&ws);
    let mut store = ws.store();
    let csv = idbulk::import::CsvOptions::default();
    let plan = idbulk::plan::from_file(
        &store,
        std::path::Path::new(&file),
        idbulk::plan::Mode::Incremental,
        &csv,
        &mut |_, _| true,
    )
    .unwrap();
    let force = Force::Yes { reason: "The spring intake".into() };
    // The user presses Cancel once the first batch is written (its images encoded beside).
    let mut reported = Vec::new();
    let e = apply::run(&mut store, &plan, &force, chrono::Utc::now(), &mut |done, total| {
        reported.push((done, total));
        done == 0
    })
    .unwrap_err();
    assert_eq!(e.code, idbulk::ErrorCode::Cancelled, "{}", e.message);
    assert_eq!(reported, [(0, 2500), (1024, 2500)]);
    drop(store);
    assert_eq!(ws.dump(), before, "nothing was written");
    let (status, history) = ws.idbulk_json(&["history"]);
    assert_eq!(status, 0);
    assert_eq!(history["runs"].as_array().unwrap().len(), 0, "and no run recorded: {history:#}");
}

#[test]
fn undo_refuses_when_a_later_run_touched_the_same_rows() {
    let ws = Workspace::demo();
    let first =
        incremental(&ws, "one.xlsx", &[&["Modify", "00050", "", "", "", "", "", "", "", "MAD"]]);
    let second =
        incremental(&ws, "two.xlsx", &[&["Modify", "00050", "", "", "", "", "", "", "", "LON"]]);
    let (_, one) = ws.idbulk_json(&["sync", &first, "--mode", "incremental"]);
    assert_eq!(ws.idbulk(&["sync", &second, "--mode", "incremental"]).status, 0);
    let out = ws.idbulk(&["undo", &one["run"]["id"].to_string()]);
    assert_eq!(out.status, 4);
    assert!(out.stderr.contains("User 00050"), "names the conflicting row: {}", out.stderr);
    assert_eq!(ws.value("User", "00050", "Site"), "LON", "nothing reverted");
}

#[test]
fn a_stale_plan_is_refused_when_the_repository_moved() {
    use idbulk::plan::{self, InputFile, Mode, Snapshot};
    let ws = Workspace::demo();
    let file =
        incremental(&ws, "x.xlsx", &[&["Modify", "00060", "", "", "", "", "", "", "", "MAD"]]);
    let mut store = ws.store();
    let wb = idbulk::import::read(std::path::Path::new(&file), &Default::default()).unwrap();
    let plan = plan::build(
        store.schema(),
        &Snapshot::load(&store).unwrap(),
        &wb,
        Mode::Incremental,
        InputFile::from_bytes("x.xlsx", b""),
        &Default::default(),
    );
    // Someone else writes in between.
    let other =
        incremental(&ws, "y.xlsx", &[&["Modify", "00061", "", "", "", "", "", "", "", "MAD"]]);
    assert_eq!(ws.idbulk(&["sync", &other, "--mode", "incremental"]).status, 0);
    let err = idbulk::apply::run(
        &mut store,
        &plan,
        &idbulk::apply::Force::No,
        chrono::Utc::now(),
        &mut |_, _| true,
    )
    .unwrap_err();
    assert_eq!(err.code, idbulk::ErrorCode::Busy);
    assert!(err.message.contains("changed since"), "{}", err.message);
    assert_ne!(ws.value("User", "00060", "Site"), "MAD");
}
