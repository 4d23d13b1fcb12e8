//! Pictures of each screen for the docs: `scripts/screenshots` runs these with
//! `IDBULK_SCREENSHOTS` set to the folder to write to (a plain e2e run skips them).
//!
//! One app on a demo repository whose connection is already set to an edited full template
//! (a few dozen changes and one error-free warning or two), so every screen has something to
//! show: the preview and its grid, then a synchronization for History and the reports.

use std::path::{Path, PathBuf};

use idbulk::connection::ConnectionSettings;

use crate::harness::App;
use crate::procedure::{unreferenced_people, user_headers, write_user_sheet};

fn folder() -> Option<PathBuf> {
    std::env::var_os("IDBULK_SCREENSHOTS").map(PathBuf::from)
}

/// The demo repository with its connection set to `edited.xlsx`: 12 new job titles, 4 people
/// removed, 3 added.
fn prepare(db: &Path, files: &Path) {
    let today = chrono::Local::now().date_naive();
    let mut store = idbulk::demo::create(db, today).expect("the demo repository");
    let full = files.join("full.xlsx");
    idbulk::template::write_xlsx(
        &store,
        idbulk::template::TemplateKind::Full,
        &full,
        chrono::Utc::now(),
    )
    .expect("the full template");
    let book = idbulk::import::read(&full, &Default::default()).expect("the template reads");
    let sheet = book.sheets.iter().find(|s| s.name == "User").expect("a User sheet");
    let headers = user_headers(&store);
    let col = |name: &str| headers.iter().position(|h| h == name).expect("a column");
    let mut rows: Vec<Vec<String>> =
        sheet.rows.iter().map(|r| r.cells.iter().map(|c| c.to_string()).collect()).collect();
    let gone: Vec<String> = unreferenced_people(&store).into_iter().take(4).collect();
    rows.retain(|r| !gone.contains(&r[col("Identifier")]));
    let titles = ["Senior Analyst", "Team Lead", "HR Partner", "Product Owner"];
    for (i, r) in rows.iter_mut().step_by(13).take(12).enumerate() {
        r[col("JobTitle")] = titles[i % titles.len()].into();
    }
    let template_row = rows[0].clone();
    for (i, (first, last)) in
        [("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper")].into_iter().enumerate()
    {
        let mut row = vec![String::new(); headers.len()];
        row[col("Identifier")] = format!("9900{}", i + 1);
        row[col("FirstName")] = first.into();
        row[col("LastName")] = last.into();
        row[col("Email")] = format!("{}.{}@example.org", first, last).to_lowercase();
        for c in ["UserType", "Organization", "Site", "Manager"] {
            row[col(c)] = template_row[col(c)].clone();
        }
        row[col("JobTitle")] = "Engineer".into();
        rows.push(row);
    }
    write_user_sheet(&files.join("edited.xlsx"), &headers, &rows);
    let settings = ConnectionSettings {
        complete_path: files.join("edited.xlsx").display().to_string(),
        ..ConnectionSettings::default()
    };
    settings.save(&mut store).expect("the connection settings");
}

#[tokio::test]
#[ignore = "writes docs/screenshots: run by scripts/screenshots"]
async fn screenshots_every_screen() {
    let Some(out) = folder() else {
        eprintln!("IDBULK_SCREENSHOTS is not set: nothing to do");
        return;
    };
    let files = tempfile::tempdir().expect("a folder for the files");
    let files_path = files.path().to_path_buf();
    let dialogs = files_path.display().to_string();
    let app = App::launch_with(
        "screenshots_every_screen",
        &[(idbulk_app::dialogs::TEST_DIALOGS, dialogs.as_str()), ("GTK_THEME", "Adwaita")],
        |db| prepare(db, &files_path),
    )
    .await;

    app.text_of(r#"[data-entity-type="User"] .count"#).await;
    app.screenshot(&out.join("home.png")).await;

    app.open("Connection").await;
    app.click(r#"[data-mode="complete"] button.check"#).await;
    app.text_of(r#"[data-mode="complete"] .report"#).await;
    app.screenshot(&out.join("connection.png")).await;

    app.open("Synchronize").await;
    app.click_button("Preview").await;
    app.text_of("[data-verdict]").await;
    app.text_of(r#"[role="grid"] [role="row"] .key"#).await;
    // The headline (verdict, counts, thresholds) in light; the grid is shown in dark below.
    app.scroll_to("[data-verdict]").await;
    app.screenshot(&out.join("synchronize.png")).await;
    app.click_button("Synchronize").await;
    app.text_of(r#"[aria-labelledby="done-title"]"#).await;

    app.open("Directory").await;
    app.text_of("table").await;
    app.screenshot(&out.join("directory.png")).await;

    app.open("Verify & reports").await;
    app.text_of("table").await;
    app.screenshot(&out.join("reports.png")).await;

    app.open("History").await;
    app.text_of("[data-run] a").await;
    // Straight to the run's address (what its link does), as a bookmark would.
    app.client.execute("location.hash = '#history/1'", vec![]).await.expect("the address changes");
    app.text_of(r#"[aria-labelledby="run-title"] table"#).await;
    app.screenshot(&out.join("history.png")).await;

    app.open("Settings").await;
    app.text_of("table").await;
    app.screenshot(&out.join("settings.png")).await;
    app.close().await;
}

#[tokio::test]
#[ignore = "writes docs/screenshots: run by scripts/screenshots"]
async fn screenshots_dark_theme() {
    let Some(out) = folder() else {
        eprintln!("IDBULK_SCREENSHOTS is not set: nothing to do");
        return;
    };
    let files = tempfile::tempdir().expect("a folder for the files");
    let files_path = files.path().to_path_buf();
    let app = App::launch_with("screenshots_dark_theme", &[("GTK_THEME", "Adwaita:dark")], |db| {
        prepare(db, &files_path)
    })
    .await;
    app.text_of(r#"[data-entity-type="User"] .count"#).await;
    app.screenshot(&out.join("home-dark.png")).await;
    app.open("Synchronize").await;
    app.click_button("Preview").await;
    app.text_of(r#"[role="grid"] [role="row"] .key"#).await;
    app.scroll_to(r#"[aria-labelledby="changes-title"]"#).await;
    app.screenshot(&out.join("synchronize-dark.png")).await;
    app.close().await;
}

#[tokio::test]
#[ignore = "writes docs/screenshots: run by scripts/screenshots"]
async fn screenshots_home_error() {
    let Some(folder) = folder() else {
        eprintln!("IDBULK_SCREENSHOTS is not set: nothing to do");
        return;
    };
    let app = App::launch_with("screenshots_home_error", &[], |db| {
        std::fs::write(db, "this is not a repository").expect("the damaged file can be written");
    })
    .await;
    app.text_of(r#"[role="alert"]"#).await;
    app.screenshot(&folder.join("home-error.png")).await;
    app.close().await;
}
