//! Home: the first thing a person sees.

use crate::harness::{App, parse_count};

#[tokio::test]
#[ignore = "needs a display, ui/dist and tauri-driver: run by scripts/test"]
async fn the_app_opens_on_a_fresh_demo_repository_and_home_shows_the_people_count() {
    let app = App::launch("home_people_count").await;

    let shown = parse_count(&app.text_of(r#"[data-entity-type="User"] .count"#).await);

    // The expected number comes from the repository the app just created, not from a constant.
    let store = idbulk::Store::open(&app.db).expect("the app created its repository");
    let stored = store.count("User").expect("the repository can be read");
    assert_eq!(shown, stored, "Home shows as many people as the repository holds");
    app.close().await;
}

#[tokio::test]
#[ignore = "needs a display, ui/dist and tauri-driver: run by scripts/test"]
async fn a_damaged_repository_is_explained_on_home_instead_of_crashing_the_app() {
    let app = App::launch_with("home_damaged_repository", &[], |db| {
        std::fs::write(db, "this is not a repository").expect("the damaged file can be written");
    })
    .await;

    let alert = app.text_of(r#"[role="alert"]"#).await;

    assert!(alert.contains("cannot be opened"), "the alert says what happened: {alert}");
    let untouched = std::fs::read_to_string(&app.db).expect("the file is still there");
    assert_eq!(untouched, "this is not a repository", "the app never overwrites a bad file");
    app.close().await;
}
