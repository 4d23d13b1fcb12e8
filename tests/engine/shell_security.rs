//! The desktop shell stays locked down (issue 7): the web view may run only the app's own
//! scripts, reach no remote origin, and do nothing on the machine except call our Rust
//! commands. A crafted spreadsheet value that slipped into the page as markup could then do
//! little harm.
//!
//! The test reads `tauri.conf.json` and every file of `src-tauri/capabilities/`, and fails on:
//!
//! - a missing CSP, or one without `default-src` or `object-src 'none'`;
//! - any source that is not the app itself: only `'self'`, `'none'`, Tauri's IPC (`ipc:`,
//!   `http://ipc.localhost`), hashes and nonces, and `data:` for images and fonts are allowed,
//!   so `https:`, `http://anything`, `wss:`, `*` or a host name all fail;
//! - `'unsafe-eval'` (or `'wasm-unsafe-eval'`) anywhere, `'unsafe-inline'` for scripts (it is
//!   tolerated for styles only);
//! - the asset protocol (it serves files from disk to the web view), a window loading a remote
//!   URL, or Tauri's "dangerous" CSP switches;
//! - a capability granting a permission of the file-system, shell, HTTP, process, dialog or
//!   opener plugins (the app opens dialogs and files from Rust only), or giving remote URLs
//!   access to the IPC.
//!
//! The checks are plain functions, and the tests below feed them modified copies of the real
//! configuration to show each rule can fail.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The CSP as directive → sources, whether the config writes it as a string or an object.
fn directives(csp: &Value) -> Result<Vec<(String, Vec<String>)>, String> {
    match csp {
        Value::String(text) => Ok(text
            .split(';')
            .filter_map(|d| {
                let mut words = d.split_whitespace();
                let name = words.next()?.to_ascii_lowercase();
                Some((name, words.map(str::to_string).collect()))
            })
            .collect()),
        Value::Object(map) => map
            .iter()
            .map(|(name, sources)| {
                let sources = match sources {
                    Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string).ok_or("a non-text source"))
                        .collect::<Result<_, _>>()?,
                    other => return Err(format!("directive {name} is {other}, not sources")),
                };
                Ok((name.to_ascii_lowercase(), sources))
            })
            .collect(),
        Value::Null => Err("there is no CSP (app.security.csp is null)".into()),
        other => Err(format!("the CSP is {other}, neither text nor an object")),
    }
}

/// Whether a source is the app itself (or nothing at all) for this directive.
fn is_local(directive: &str, source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    match lower.as_str() {
        "'self'" | "'none'" | "ipc:" | "http://ipc.localhost" => true,
        "data:" => matches!(directive, "img-src" | "font-src"),
        "'unsafe-inline'" => directive == "style-src",
        _ => {
            lower.starts_with("'sha256-")
                || lower.starts_with("'sha384-")
                || lower.starts_with("'sha512-")
                || lower.starts_with("'nonce-")
        }
    }
}

/// Everything wrong with the security of a Tauri configuration (empty when locked down).
fn config_problems(conf: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let security = &conf["app"]["security"];
    match directives(&security["csp"]) {
        Err(e) => problems.push(e),
        Ok(list) => {
            let find = |name: &str| list.iter().find(|(n, _)| n == name).map(|(_, s)| s);
            if find("default-src").is_none() {
                problems.push("the CSP has no default-src".into());
            }
            if find("object-src").is_none_or(|s| s != &["'none'"]) {
                problems.push("the CSP does not say object-src 'none'".into());
            }
            for (name, sources) in &list {
                for source in sources {
                    let lower = source.to_ascii_lowercase();
                    if lower.contains("unsafe-eval") {
                        problems.push(format!("{name} allows {source}: no eval of strings"));
                    } else if !is_local(name, source) {
                        problems.push(format!(
                            "{name} allows {source}: only the app itself and its IPC may be sources"
                        ));
                    }
                }
            }
        }
    }
    for key in ["dangerousDisableAssetCspModification", "dangerousUseHttpScheme"] {
        if !security[key].is_null() && security[key] != json!(false) {
            problems.push(format!("app.security.{key} is set"));
        }
    }
    if security["assetProtocol"]["enable"] == json!(true) {
        problems.push("the asset protocol is enabled: it serves files from disk".into());
    }
    for window in conf["app"]["windows"].as_array().into_iter().flatten() {
        if let Some(url) = window["url"].as_str()
            && url.contains("://")
        {
            problems.push(format!("a window loads the remote URL {url}"));
        }
    }
    for inline in security["capabilities"].as_array().into_iter().flatten() {
        if inline.is_object() {
            problems.extend(capability_problems("tauri.conf.json (inline)", inline));
        }
    }
    problems
}

/// Plugins whose permissions the web view must never hold.
const FORBIDDEN: [&str; 6] = ["fs:", "shell:", "http:", "process:", "dialog:", "opener:"];

/// Everything wrong with one capability (empty when it grants nothing dangerous).
fn capability_problems(name: &str, cap: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if !cap["remote"].is_null() {
        problems.push(format!("{name} gives remote URLs access to the IPC: {}", cap["remote"]));
    }
    let Some(permissions) = cap["permissions"].as_array() else {
        problems.push(format!("{name} has no list of permissions"));
        return problems;
    };
    for p in permissions {
        let id = match p {
            Value::String(s) => s.as_str(),
            Value::Object(_) => p["identifier"].as_str().unwrap_or(""),
            _ => "",
        };
        if id.is_empty() {
            problems.push(format!("{name} grants an unreadable permission: {p}"));
        } else if FORBIDDEN.iter().any(|f| id.starts_with(f)) {
            problems.push(format!("{name} grants {id} to the web view"));
        }
    }
    problems
}

fn tauri_conf() -> Value {
    read_json(&root().join("tauri.conf.json"))
}

fn default_capability() -> Value {
    read_json(&root().join("src-tauri/capabilities/default.json"))
}

#[test]
fn the_csp_and_every_capability_keep_the_web_view_locked_down() {
    let mut problems = config_problems(&tauri_conf());
    let dir = root().join("src-tauri/capabilities");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "json") {
            problems.extend(capability_problems(&name, &read_json(&path)));
            seen += 1;
        } else {
            problems.push(format!("capabilities/{name} is not JSON, so this test cannot check it"));
        }
    }
    assert!(seen > 0, "no capability files in {}", dir.display());
    // Platform overrides (tauri.linux.conf.json...) would be merged over the checked config.
    for folder in [root(), root().join("src-tauri")] {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with("tauri.") && name.ends_with(".json") && name != "tauri.conf.json" {
                problems.push(format!("{name} overrides the configuration; check it here too"));
            }
        }
    }
    assert!(problems.is_empty(), "the shell is not locked down:\n  {}", problems.join("\n  "));
}

/// The real configuration with one change, and what the checks say about it.
fn with_csp(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut conf = tauri_conf();
    edit(&mut conf["app"]["security"]["csp"]);
    config_problems(&conf)
}

#[test]
fn a_missing_csp_fails() {
    let problems = with_csp(|csp| *csp = Value::Null);
    assert!(problems.iter().any(|p| p.contains("no CSP")), "{problems:?}");
}

#[test]
fn remote_origins_fail_in_any_directive_and_any_form() {
    for (directive, source) in [
        ("connect-src", "https://api.example.com"),
        ("connect-src", "wss:"),
        ("img-src", "https:"),
        ("script-src", "http://localhost:1420"),
        ("default-src", "*"),
        ("style-src", "fonts.googleapis.com"),
        ("script-src", "data:"),
    ] {
        let problems = with_csp(|csp| {
            let old = csp[directive].as_str().unwrap_or("'self'").to_string();
            csp[directive] = json!(format!("{old} {source}"));
        });
        assert!(
            problems.iter().any(|p| p.contains(source) && p.contains(directive)),
            "{directive} {source}: {problems:?}"
        );
    }
    // The same, written as one CSP string.
    let problems = with_csp(|csp| {
        *csp = json!("default-src 'self'; object-src 'none'; img-src 'self' https:")
    });
    assert_eq!(problems, ["img-src allows https:: only the app itself and its IPC may be sources"]);
}

#[test]
fn eval_and_inline_scripts_fail() {
    let problems = with_csp(|csp| csp["script-src"] = json!("'self' 'unsafe-eval'"));
    assert!(problems.iter().any(|p| p.contains("'unsafe-eval'")), "{problems:?}");
    let problems = with_csp(|csp| csp["script-src"] = json!("'self' 'unsafe-inline'"));
    assert!(problems.iter().any(|p| p.contains("'unsafe-inline'")), "{problems:?}");
    let problems = with_csp(|csp| csp["default-src"] = json!(["'self'", "'wasm-unsafe-eval'"]));
    assert!(problems.iter().any(|p| p.contains("wasm-unsafe-eval")), "{problems:?}");
    let problems = with_csp(|csp| csp["style-src"] = json!("'self' 'unsafe-inline'"));
    assert!(problems.is_empty(), "inline styles are tolerated: {problems:?}");
}

#[test]
fn the_asset_protocol_and_remote_windows_fail() {
    let mut conf = tauri_conf();
    conf["app"]["security"]["assetProtocol"] = json!({ "enable": true, "scope": ["**"] });
    conf["app"]["windows"][0]["url"] = json!("https://example.com");
    let problems = config_problems(&conf);
    assert!(problems.iter().any(|p| p.contains("asset protocol")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("https://example.com")), "{problems:?}");
}

#[test]
fn file_system_shell_http_process_and_dialog_permissions_fail() {
    for granted in [
        json!("fs:default"),
        json!("shell:allow-execute"),
        json!("http:default"),
        json!("process:allow-restart"),
        json!("dialog:allow-open"),
        json!("opener:allow-open-path"),
        json!({ "identifier": "fs:allow-read-file", "allow": [{ "path": "$HOME/**" }] }),
    ] {
        let mut cap = default_capability();
        cap["permissions"].as_array_mut().unwrap().push(granted.clone());
        let problems = capability_problems("default.json", &cap);
        assert_eq!(problems.len(), 1, "{granted}: {problems:?}");
        assert!(problems[0].contains("to the web view"), "{problems:?}");
    }
    let mut cap = default_capability();
    cap["remote"] = json!({ "urls": ["https://*.example.com"] });
    assert!(capability_problems("default.json", &cap)[0].contains("remote URLs"));
    // The same rules apply to capabilities written inline in tauri.conf.json.
    let mut conf = tauri_conf();
    conf["app"]["security"]["capabilities"] =
        json!([{ "identifier": "inline", "permissions": ["core:default", "fs:default"] }]);
    assert!(config_problems(&conf).iter().any(|p| p.contains("fs:default")));
}
