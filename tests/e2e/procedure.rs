//! The seed procedure, as HR staff do it in the window: download the full template, edit it,
//! point the connection at it, check it, preview exactly the edits, synchronize, see the
//! verification move; then an incremental file that deletes too much is blocked, forced with
//! a reason, and undone from History.
//!
//! The expected figures come from the repository through the engine (which users can be
//! deleted safely, what verification says afterwards), never from constants.

use std::path::{Path, PathBuf};

use fantoccini::Locator;
use idbulk::plan::Snapshot;
use idbulk::{Store, history, verify};

use crate::harness::{App, parse_count};

/// The Directory schema's User headers, as the template writes them (Command first).
pub(crate) fn user_headers(store: &Store) -> Vec<String> {
    let user = store.schema().entity_type("User").expect("the schema has users");
    idbulk::template::sheet_headers(user).into_iter().map(str::to_string).collect()
}

/// People nobody refers to (no reports, no organisation to manage): safe to delete.
pub(crate) fn unreferenced_people(store: &Store) -> Vec<String> {
    let rows = Snapshot::load(store).expect("the repository can be read");
    let schema = store.schema();
    let mut referenced = std::collections::BTreeSet::new();
    for t in &schema.entity_types {
        for (i, a) in t.attributes.iter().enumerate() {
            if matches!(&a.kind, idbulk::schema::AttributeKind::Reference { target } if target == "User")
            {
                for row in rows.table(&t.name).values() {
                    referenced.insert(row.values[i].to_string());
                }
            }
        }
    }
    rows.table("User")
        .keys()
        .filter(|k| !referenced.contains(k.as_str()))
        .map(|k| k.to_string())
        .collect()
}

/// Writes a one-sheet workbook named `User` with `rows` under `headers`.
pub(crate) fn write_user_sheet(path: &Path, headers: &[String], rows: &[Vec<String>]) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("User").expect("a valid sheet name");
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(0, c as u16, h).expect("a header cell");
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, value).expect("a cell");
        }
    }
    book.save(path).expect("the edited workbook can be saved");
}

/// The edits of the complete-mode journey, and what the preview must show for them.
struct Edits {
    changed: String,
    deleted: String,
    added: String,
}

/// Reads the downloaded full template's User sheet and makes three edits, as a person would in
/// Excel: a new job title, a row removed, a row added (with no manager, which verification
/// will notice). The other sheets are left out: complete mode leaves absent types untouched.
fn edit_full_template(template: &Path, out: &Path, store: &Store) -> Edits {
    let book = idbulk::import::read(template, &Default::default()).expect("the template reads");
    let sheet = book.sheets.iter().find(|s| s.name == "User").expect("a User sheet");
    let headers: Vec<String> = sheet.headers.iter().map(|h| h.text.clone()).collect();
    assert_eq!(headers, user_headers(store), "the template's User headers");
    let col = |name: &str| headers.iter().position(|h| h == name).expect("a known column");
    let mut rows: Vec<Vec<String>> =
        sheet.rows.iter().map(|r| r.cells.iter().map(|c| c.to_string()).collect()).collect();

    let deleted = unreferenced_people(store).into_iter().next().expect("someone to delete");
    rows.retain(|r| r[col("Identifier")] != deleted);
    let changed = rows.iter().find(|r| r[col("Identifier")] != deleted).expect("a row")
        [col("Identifier")]
    .clone();
    for r in &mut rows {
        if r[col("Identifier")] == changed {
            r[col("JobTitle")] = "Chief Spreadsheet Officer".into();
        }
    }
    let added = "99001".to_string();
    let mut new_row = vec![String::new(); headers.len()];
    new_row[col("Identifier")] = added.clone();
    new_row[col("FirstName")] = "Ada".into();
    new_row[col("LastName")] = "Newcomer".into();
    new_row[col("UserType")] = rows[0][col("UserType")].clone();
    new_row[col("Organization")] = rows[0][col("Organization")].clone();
    rows.push(new_row);
    write_user_sheet(out, &headers, &rows);
    Edits { changed, deleted, added }
}

/// An incremental file deleting `keys` (Command `Delete`, key only).
fn write_incremental_deletes(path: &Path, store: &Store, keys: &[String]) {
    let headers = user_headers(store);
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let mut row = vec![String::new(); headers.len()];
            row[0] = "Delete".into();
            row[1] = k.clone();
            row
        })
        .collect();
    write_user_sheet(path, &headers, &rows);
}

impl App {
    /// Sets one mode's path on the Connection screen, checks it, and saves.
    async fn connect(&self, mode: &str, path: &Path) {
        self.open("Connection").await;
        self.type_into(&format!("#path-{mode}"), &path.display().to_string()).await;
        self.click(&format!(r#"[data-mode="{mode}"] button.check"#)).await;
        let report = self.text_of(&format!(r#"[data-mode="{mode}"] .report"#)).await;
        assert!(report.contains("ready to preview"), "Check Connection passes: {report}");
        self.click_button("Save & Close").await;
    }

    /// The keys of every row the diff grid shows (the preview's changes are few here).
    async fn grid_rows(&self) -> Vec<(String, String)> {
        self.text_of(r#"[role="grid"] [role="row"] .key"#).await;
        let mut rows = Vec::new();
        for row in self.elements(r#"[role="grid"] [role="row"]"#).await {
            let key = row.find(Locator::Css(".key")).await.expect("a key").text().await;
            let op = row.find(Locator::Css(".op-badge")).await.expect("an op").text().await;
            rows.push((key.expect("key text"), op.expect("op text").to_lowercase()));
        }
        rows.sort();
        rows
    }
}

#[tokio::test]
#[ignore = "needs a display, ui/dist and tauri-driver: run by scripts/test"]
async fn the_seed_procedure_from_template_to_undo() {
    let dialogs = tempfile::tempdir().expect("a folder for the dialogs");
    let dialogs_path = dialogs.path().display().to_string();
    let app = App::launch_with_env(
        "procedure",
        &[(idbulk_app::dialogs::TEST_DIALOGS, dialogs_path.as_str())],
    )
    .await;
    app.text_of(r#"[data-entity-type="User"] .count"#).await;

    // 1. Download the full template (the save dialog answers with the test folder).
    app.open("Connection").await;
    app.click_button("Download full template").await;
    let saved = app.text_of(r#"[role="status"].ok"#).await;
    let template: PathBuf = dialogs.path().join("identities-full.xlsx");
    assert!(saved.contains(&template.display().to_string()), "{saved}");

    // 2. Edit it: a change, a deletion, an addition.
    let edited = dialogs.path().join("identities-edited.xlsx");
    let edits = {
        let store = Store::open(&app.db).expect("the repository");
        edit_full_template(&template, &edited, &store)
    };
    let verification_before = {
        let store = Store::open(&app.db).expect("the repository");
        verify::run(&store, chrono::Local::now().date_naive()).expect("verify").summary
    };

    // 3. Set the path and Check Connection, then Save & Close (which opens Synchronize).
    app.connect("complete", &edited).await;

    // 4. Preview: the counts and the grid show exactly those three changes.
    app.click_button("Preview").await;
    let verdict = app.text_of("[data-verdict]").await;
    assert!(verdict.contains("Ready to synchronize 3 changes"), "{verdict}");
    for (counter, expected) in [("created", 1), ("updated", 1), ("deleted", 1)] {
        let css = format!(r#"tr[data-entity-type="User"] [data-count="{counter}"]"#);
        assert_eq!(parse_count(&app.text_of(&css).await), expected, "User {counter}");
    }
    let mut expected = vec![
        (edits.added.clone(), "create".to_string()),
        (edits.changed.clone(), "update".to_string()),
        (edits.deleted.clone(), "delete".to_string()),
    ];
    expected.sort();
    assert_eq!(app.grid_rows().await, expected, "the grid lists exactly the edits");

    // 5. Synchronize, then see the verification move on Home.
    app.click_button("Synchronize").await;
    let done = app.text_of(r#"[aria-labelledby="done-title"]"#).await;
    assert!(done.contains("1 created, 1 updated, 1 deleted"), "{done}");
    let after = {
        let store = Store::open(&app.db).expect("the repository");
        let user = store.schema().entity_type("User").expect("users").clone();
        let changed = store.get(&user, &edits.changed).expect("read").expect("still there");
        assert_eq!(changed.get(&user, "JobTitle"), "Chief Spreadsheet Officer");
        assert!(store.get(&user, &edits.deleted).expect("read").is_none(), "deleted");
        verify::run(&store, chrono::Local::now().date_naive()).expect("verify").summary
    };
    let without =
        |s: &verify::Summary| *s.by_code.get(verify::PERSON_WITHOUT_MANAGER).unwrap_or(&0);
    assert_eq!(without(&after), without(&verification_before) + 1, "the newcomer has no manager");
    app.open("Home").await;
    let glance = app.text_of(r#"[data-verification]"#).await;
    let expected = match without(&after) {
        1 => "1 person without a manager".to_string(),
        n => format!("{n} people without a manager"),
    };
    assert!(glance.contains(&expected), "Home shows the updated verification: {glance}");

    // 6. An incremental file deleting more than the 5 % threshold allows: blocked, forced.
    let deletes = dialogs.path().join("leavers.xlsx");
    let (victims, stored) = {
        let store = Store::open(&app.db).expect("the repository");
        let mut keys = unreferenced_people(&store);
        let stored = store.count("User").expect("count") as usize;
        keys.truncate(stored / 10);
        write_incremental_deletes(&deletes, &store, &keys);
        (keys, stored)
    };
    assert!(victims.len() * 100 > stored * 5, "enough deletions to break the 5 % threshold");
    app.connect("incremental", &deletes).await;
    app.click(r#"input[name="mode"][value="incremental"]"#).await;
    app.click_button("Preview").await;
    let verdict = app.text_of(r#"[data-verdict="blocked"]"#).await;
    assert!(verdict.contains("Blocked by a safety threshold"), "{verdict}");
    app.text_of(r#".gauge[data-broken="true"][data-counter="deleted"]"#).await;
    app.type_into(".reason textarea", "Yearly clean-up of leavers, approved by HR").await;
    app.click_button("Force synchronize").await;
    let done = app.text_of(r#"[aria-labelledby="done-title"]"#).await;
    assert!(done.contains(&format!("{} deleted", victims.len())), "{done}");
    assert!(done.contains("forced: Yearly clean-up of leavers"), "{done}");
    let forced_run = {
        let store = Store::open(&app.db).expect("the repository");
        assert_eq!(store.count("User").expect("count") as usize, stored - victims.len());
        history::last(&store).expect("history").expect("a run")
    };
    assert_eq!(
        forced_run.force_reason.as_deref(),
        Some("Yearly clean-up of leavers, approved by HR")
    );

    // 7. Undo it from History.
    app.open("History").await;
    app.click(&format!(r#"[data-run="{}"] a"#, forced_run.id)).await;
    app.click_button(&format!("Undo run {}…", forced_run.id)).await;
    app.click_button(&format!("Undo run {}", forced_run.id)).await;
    let undone = app.text_of(".panel.done").await;
    assert!(undone.contains(&format!("undid run {}", forced_run.id)), "{undone}");
    let store = Store::open(&app.db).expect("the repository");
    assert_eq!(store.count("User").expect("count") as usize, stored, "everyone is back");
    let undo = history::last(&store).expect("history").expect("a run");
    assert_eq!(undo.undo_of, Some(forced_run.id));
    app.close().await;
}
