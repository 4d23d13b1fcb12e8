//! The identity connection: where the upload files are, and **Check Connection**.
//!
//! The connection has a path for complete mode and one for incremental mode, plus CSV options.
//! Check Connection verifies a path on its own, step by step, so the person sees which step
//! failed: the file exists, is a regular readable file, its real format (sniffed from its
//! bytes) is supported, and its sheets and headers are what the mode expects.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};
use crate::import::{self, CsvOptions, RawWorkbook};
use crate::plan::Mode;
use crate::schema::Schema;
use crate::store::Store;
use crate::template::COMMAND_COLUMN;

/// One step of Check Connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct CheckStep {
    /// What was checked, e.g. "File exists".
    pub name: String,
    /// Pass, warn or fail.
    pub status: StepStatus,
    /// What was found, in a sentence.
    pub detail: String,
}

/// The outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Fine.
    Pass,
    /// Usable, but worth a look (unknown columns, a sheet left untouched).
    Warn,
    /// Not usable as it is.
    Fail,
}

/// Every step of Check Connection for one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct CheckReport {
    /// The path checked.
    pub path: String,
    /// The mode it was checked for.
    pub mode: String,
    /// The steps, in order; steps after a failed one are not run.
    pub steps: Vec<CheckStep>,
    /// True when no step failed.
    pub ok: bool,
}

impl CheckReport {
    fn push(&mut self, name: &str, status: StepStatus, detail: impl Into<String>) {
        self.steps.push(CheckStep { name: name.into(), status, detail: detail.into() });
        self.ok &= status != StepStatus::Fail;
    }
}

/// Checks one path for one mode; returns the report and, when the file could be read, the
/// workbook (so a caller going on to plan does not read it twice).
pub fn check(
    schema: &Schema,
    path: &Path,
    mode: Mode,
    csv: &CsvOptions,
) -> (CheckReport, Option<RawWorkbook>) {
    let mut report = CheckReport {
        path: path.display().to_string(),
        mode: mode.name().into(),
        steps: Vec::new(),
        ok: true,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => {
            report.push("File exists", StepStatus::Pass, format!("{} exists.", path.display()));
            m
        }
        Err(_) => {
            report.push(
                "File exists",
                StepStatus::Fail,
                format!("There is no file at {}.", path.display()),
            );
            return (report, None);
        }
    };
    if !meta.is_file() {
        report.push(
            "Regular readable file",
            StepStatus::Fail,
            format!("{} is a folder or a device, not a file.", path.display()),
        );
        return (report, None);
    }
    if let Err(e) = std::fs::File::open(path) {
        report.push(
            "Regular readable file",
            StepStatus::Fail,
            format!("{} cannot be read: {e}.", path.display()),
        );
        return (report, None);
    }
    report.push(
        "Regular readable file",
        StepStatus::Pass,
        format!("{} bytes, readable.", meta.len()),
    );
    let workbook = match import::read(path, csv) {
        Ok(w) => {
            report.push(
                "Supported format",
                StepStatus::Pass,
                format!("{} ({}).", describe(w.format), w.format),
            );
            w
        }
        Err(e) => {
            report.push("Supported format", StepStatus::Fail, e.message);
            return (report, None);
        }
    };
    for t in &schema.entity_types {
        let sheet = workbook.sheets.iter().find(|s| {
            workbook.entity_type_of(schema, s).is_some_and(|(found, _)| found.name == t.name)
        });
        let step = format!("Sheet {}", t.name);
        let Some(sheet) = sheet else {
            report.push(&step, StepStatus::Pass, format!("Absent: {} is left untouched.", t.name));
            continue;
        };
        let has =
            |name: &str| sheet.headers.iter().any(|h| h.text.trim().eq_ignore_ascii_case(name));
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        if !has(&t.key) {
            problems.push(format!("the key column \"{}\" is missing", t.key));
        }
        if mode == Mode::Incremental && !has(COMMAND_COLUMN) {
            problems.push(format!("the \"{COMMAND_COLUMN}\" column is missing"));
        }
        let unknown: Vec<&str> = sheet
            .headers
            .iter()
            .map(|h| h.text.trim())
            .filter(|h| {
                !h.is_empty()
                    && !h.eq_ignore_ascii_case(&t.key)
                    && !h.eq_ignore_ascii_case(COMMAND_COLUMN)
                    && !t.attributes.iter().any(|a| a.name.eq_ignore_ascii_case(h))
            })
            .collect();
        if !unknown.is_empty() {
            notes.push(format!("unknown columns: {}", unknown.join(", ")));
        }
        let missing: Vec<&str> =
            t.attributes.iter().map(|a| a.name.as_str()).filter(|a| !has(a)).collect();
        if !missing.is_empty() {
            notes.push(format!("missing columns: {}", missing.join(", ")));
        }
        let rows = format!("{} data rows", sheet.rows.len());
        if !problems.is_empty() {
            report.push(
                &step,
                StepStatus::Fail,
                format!("{rows}; {}.", [problems, notes].concat().join("; ")),
            );
        } else if !notes.is_empty() {
            report.push(&step, StepStatus::Warn, format!("{rows}; {}.", notes.join("; ")));
        } else {
            report.push(&step, StepStatus::Pass, format!("{rows}; headers as expected."));
        }
    }
    for s in &workbook.sheets {
        if workbook.entity_type_of(schema, s).is_none() {
            report.push(
                &format!("Sheet {}", s.name),
                StepStatus::Warn,
                "Not an entity type: ignored.",
            );
        }
    }
    (report, Some(workbook))
}

fn describe(format: import::FileFormat) -> &'static str {
    match format {
        import::FileFormat::Xlsx => "Excel workbook",
        import::FileFormat::Xls => "Excel 97-2003 workbook",
        import::FileFormat::Ods => "OpenDocument spreadsheet",
        import::FileFormat::Csv => "CSV text file",
    }
}

/// The saved connection settings (the app's Connection screen).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ConnectionSettings {
    /// Path (Complete mode).
    pub complete_path: String,
    /// Path (Incremental mode).
    pub incremental_path: String,
    /// How CSV files are read.
    pub csv: CsvOptions,
}

/// The repository setting the connection is saved under.
const SETTINGS_NAME: &str = "connection";

impl ConnectionSettings {
    /// The saved settings, or empty ones if none were saved yet.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the repository cannot be read or the saved settings are
    /// damaged.
    pub fn load(store: &Store) -> Result<ConnectionSettings> {
        match store.setting(SETTINGS_NAME)? {
            None => Ok(ConnectionSettings::default()),
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                Error::new(
                    ErrorCode::Repository,
                    format!("The saved connection settings are damaged ({e}). Save them again."),
                )
            }),
        }
    }

    /// Checks the settings and saves them in the repository.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Usage`] if a path is relative or is the repository itself (see
    /// [`ConnectionSettings::validate`]); [`ErrorCode::Repository`] if it cannot be written.
    pub fn save(&self, store: &mut Store) -> Result<()> {
        self.validate(store.path())?;
        let json = serde_json::to_string(self)
            .map_err(|e| Error::new(ErrorCode::Internal, format!("settings: {e}")))?;
        store.set_setting(SETTINGS_NAME, &json)
    }

    /// The path for a mode, or `None` when it is blank.
    pub fn path(&self, mode: Mode) -> Option<&Path> {
        let text = match mode {
            Mode::Complete => self.complete_path.trim(),
            Mode::Incremental => self.incremental_path.trim(),
        };
        (!text.is_empty()).then(|| Path::new(text))
    }

    /// Rejects paths the app must not be handed: relative ones (relative to what? the app's
    /// working folder is not something people know), and the repository file itself.
    /// A blank path is allowed (not configured yet); whether the file exists is Check
    /// Connection's business, so a path can be typed before the file is there.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Usage`] naming the field.
    pub fn validate(&self, repository: &Path) -> Result<()> {
        for (label, mode) in [
            ("Path (Complete mode)", Mode::Complete),
            ("Path (Incremental mode)", Mode::Incremental),
        ] {
            let Some(path) = self.path(mode) else { continue };
            if !path.is_absolute() {
                return Err(Error::usage(format!(
                    "{label}: \"{}\" is not a full path. Use Upload to pick the file, or type \
                     the whole path from the root (for example /home/me/identities.xlsx).",
                    path.display()
                )));
            }
            if same_file(path, repository) {
                return Err(Error::usage(format!(
                    "{label} is the repository itself. Pick the spreadsheet to upload instead."
                )));
            }
        }
        if let Some(entity_type) = &self.csv.entity_type
            && entity_type.trim().is_empty()
        {
            return Err(Error::usage("CSV entity type: leave it unset or name an entity type."));
        }
        Ok(())
    }
}

/// Whether two paths name the same file (by identity when both exist, else by text).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
