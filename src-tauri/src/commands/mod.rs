//! IPC commands: adapters of a few lines from the UI to the engine, one module per screen.
//!
//! Each returns the engine's value or its [`Error`], which crosses IPC as `{code, message}`.
//! Engine work runs on a blocking thread ([`blocking`]) so the window never waits on the
//! repository, a file or the disk. Business rules stay in the engine; these only find the
//! state, call it, and keep what the next command needs.

pub mod connection;
pub mod directory;
pub mod history;
pub mod home;
pub mod reports;
pub mod settings;
pub mod synchronize;

use idbulk::{Error, ErrorCode, Result};
use tauri::{AppHandle, Manager, Runtime};

use crate::repository::Repository;

/// Runs `f` with the app on a blocking thread and waits for it without holding the async
/// runtime: file reads, plans and applies take seconds on big repositories.
pub(crate) async fn blocking<R: Runtime, T: Send + 'static>(
    app: AppHandle<R>,
    f: impl FnOnce(&AppHandle<R>) -> Result<T> + Send + 'static,
) -> Result<T> {
    tauri::async_runtime::spawn_blocking(move || f(&app)).await.map_err(|e| {
        Error::new(ErrorCode::Internal, format!("The work stopped unexpectedly ({e})."))
    })?
}

/// Runs `f` on the repository's store on a blocking thread.
pub(crate) async fn with_store<R: Runtime, T: Send + 'static>(
    app: AppHandle<R>,
    f: impl FnOnce(&mut idbulk::Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    blocking(app, move |app| app.state::<Repository>().with(f)).await
}

/// The day contracts are compared with: the local calendar day, as HR sees it.
pub(crate) fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::NaiveDate;
    use serde_json::{Value, json};
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{INVOKE_KEY, MockRuntime, mock_builder, mock_context, noop_assets};
    use tauri::webview::InvokeRequest;
    use tauri::{WebviewWindow, WebviewWindowBuilder};

    use crate::repository::Repository;

    /// The app on a repository at `path`, with a window to send IPC messages from.
    fn window(path: &Path) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
        let today = NaiveDate::from_ymd_opt(2025, 1, 15).unwrap();
        let app = crate::app(mock_builder(), Repository::new(path.to_path_buf(), today))
            .build(mock_context(noop_assets()))
            .unwrap();
        let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
        (app, window)
    }

    fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str) -> Result<Value, Value> {
        invoke_with(window, cmd, json!({}))
    }

    fn invoke_with(
        window: &WebviewWindow<MockRuntime>,
        cmd: &str,
        args: Value,
    ) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        tauri::test::get_ipc_response(window, request)
            .map(|body| body.deserialize::<Value>().unwrap())
    }

    #[test]
    fn repository_summary_reports_counts_schema_revision_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.db");
        let (_app, window) = window(&path);

        let summary = invoke(&window, "repository_summary").unwrap();

        assert_eq!(summary["path"], json!(path.display().to_string()));
        assert!(summary["schema"].as_str().unwrap().contains("Directory"), "{summary}");
        assert!(summary["revision"].is_u64(), "{summary}");
        let types: Vec<&str> = summary["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| pair[0].as_str().unwrap())
            .collect();
        assert_eq!(types, ["User", "Organization", "Site", "UserType"], "schema order");
        for pair in summary["counts"].as_array().unwrap() {
            assert!(pair[1].is_u64(), "each count is a number: {pair}");
        }
    }

    #[test]
    fn an_unusable_repository_crosses_ipc_as_code_and_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.db");
        std::fs::write(&path, "this is not a database").unwrap();
        let (_app, window) = window(&path);

        let error = invoke(&window, "repository_summary").unwrap_err();

        assert_eq!(error["code"], json!("repository"), "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(!message.is_empty(), "the UI shows the message to people: {error}");
    }

    #[test]
    fn connection_settings_are_checked_saved_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.db");
        let (_app, window) = window(&path);
        let empty = invoke(&window, "connection_settings").unwrap();
        assert_eq!(empty["complete_path"], json!(""), "nothing saved yet: {empty}");

        let mut settings = empty.clone();
        settings["complete_path"] = json!("identities.xlsx");
        let error =
            invoke_with(&window, "save_connection_settings", json!({ "settings": settings }))
                .unwrap_err();
        assert_eq!(error["code"], json!("usage"), "a relative path is refused: {error}");
        assert!(error["message"].as_str().unwrap().contains("Path (Complete mode)"), "{error}");

        let file = dir.path().join("identities.xlsx").display().to_string();
        settings["complete_path"] = json!(file);
        invoke_with(&window, "save_connection_settings", json!({ "settings": settings })).unwrap();
        assert_eq!(invoke(&window, "connection_settings").unwrap()["complete_path"], json!(file));

        // Check Connection of a path whose file does not exist: a failed step, not an error.
        let report = invoke_with(
            &window,
            "check_connection",
            json!({ "mode": "complete", "settings": settings }),
        )
        .unwrap();
        assert_eq!(report["ok"], json!(false), "{report}");
        let blank = invoke_with(
            &window,
            "check_connection",
            json!({ "mode": "incremental", "settings": settings }),
        )
        .unwrap_err();
        assert_eq!(blank["code"], json!("usage"), "no incremental path yet: {blank}");
    }

    #[test]
    fn the_directory_pages_people_and_flags_departments() {
        let dir = tempfile::tempdir().unwrap();
        let (_app, window) = window(&dir.path().join("repository.db"));
        let query = json!({ "query": { "entity_type": "User", "offset": 10, "limit": 5, "sort": "LastName" } });
        let page = invoke_with(&window, "directory_list", query).unwrap();
        assert_eq!(page["rows"].as_array().unwrap().len(), 5, "{page}");
        assert!(page["total"].as_u64().unwrap() > 100, "the demo's people: {page}");

        let departments = invoke(&window, "directory_departments").unwrap();
        let flagged =
            departments.as_array().unwrap().iter().filter(|d| d["problem"].is_string()).count();
        assert!(flagged >= 1, "the demo has a department without a manager");
    }

    #[test]
    fn the_grid_without_a_preview_is_told_to_preview_again() {
        let dir = tempfile::tempdir().unwrap();
        let (_app, window) = window(&dir.path().join("repository.db"));
        let error = invoke_with(
            &window,
            "plan_page",
            json!({ "filter": { "entity_type": null, "op": null, "text": "" }, "offset": 0, "limit": 50 }),
        )
        .unwrap_err();
        assert_eq!(error["code"], json!("not_found"), "{error}");
    }
}
