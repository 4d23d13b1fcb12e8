//! Pictures of each screen for the docs: `scripts/screenshots` runs these with
//! `IDBULK_SCREENSHOTS` set to the folder to write to (a plain e2e run skips them).

use std::path::PathBuf;

use crate::harness::App;

fn folder() -> Option<PathBuf> {
    std::env::var_os("IDBULK_SCREENSHOTS").map(PathBuf::from)
}

#[tokio::test]
#[ignore = "writes docs/screenshots: run by scripts/screenshots"]
async fn screenshots_home() {
    let Some(folder) = folder() else {
        eprintln!("IDBULK_SCREENSHOTS is not set: nothing to do");
        return;
    };
    for (file, theme) in [("home.png", "Adwaita"), ("home-dark.png", "Adwaita:dark")] {
        let app = App::launch_with_env("screenshots_home", &[("GTK_THEME", theme)]).await;
        app.text_of(r#"[data-entity-type="User"] .count"#).await;
        app.screenshot(&folder.join(file)).await;
        app.close().await;
    }
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
