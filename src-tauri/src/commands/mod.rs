//! IPC commands: adapters of a few lines from the UI to the engine.
//!
//! Each returns the engine's value or its [`Error`], which crosses IPC as `{code, message}`.
//! Commands are `async` so Tauri runs them off the main thread: opening (or creating) the
//! repository must not freeze the window.

use idbulk::Error;
use idbulk::store::Summary;
use tauri::State;

use crate::repository::Repository;

/// Row counts per entity type, schema, revision and path of the repository (the Home screen).
///
/// # Errors
///
/// The engine's error if the repository cannot be opened or read.
#[tauri::command]
pub async fn repository_summary(repository: State<'_, Repository>) -> Result<Summary, Error> {
    repository.with(|store| store.summary())
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
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::default(),
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
}
