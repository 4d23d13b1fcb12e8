//! Argument parsing and output for the `idbulk` binary.
//!
//! Each command returns an [`Outcome`]: a JSON value (the stable shape documented in the
//! README), a human rendering of it, and an exit status. Printing happens in one place, so
//! `--json` and human output never drift apart. Business rules live in the engine; this module
//! only turns arguments into engine calls.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use idbulk::apply::{self, Force};
use idbulk::connection::{self, StepStatus};
use idbulk::history;
use idbulk::import::CsvOptions;
use idbulk::plan::{self, Mode, Op, Plan, Verdict};
use idbulk::report::{self, Report, ReportKind, Table, TableCell};
use idbulk::template::{TemplateFormat, TemplateKind};
use idbulk::thresholds::{self, Counter, Limit, Thresholds};
use idbulk::verify::{self, ChainEnd, PersonSheet, Verification};
use idbulk::{Error, ErrorCode, Schema, Store, demo, store, template};

mod backups;

mod progress;

/// Bulk updates of an identity repository through spreadsheets.
#[derive(Debug, Parser)]
#[command(name = "idbulk", version, about, max_term_width = 100)]
struct Cli {
    /// The repository file [default: $IDBULK_DB, else the app's repository in the OS data folder]
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Print JSON instead of text (shapes documented in the README)
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the repository (and seed it with the demo organisation with --demo)
    Init {
        /// Seed the demo organisation (a few hundred people)
        #[arg(long)]
        demo: bool,
        /// A schema file (TOML) to use instead of the built-in "Directory" schema
        #[arg(long, value_name = "FILE", conflicts_with = "demo")]
        schema: Option<PathBuf>,
    },
    /// Write a template to fill: full (every stored row) or empty (headers only)
    Template(TemplateArgs),
    /// Check Connection: can this file be used, and what would a sync of it meet?
    Check(FileArgs),
    /// Preview exactly what a sync of this file would change, writing nothing
    Plan(FileArgs),
    /// Apply a file: plan, then write it all or nothing under the safety thresholds
    Sync {
        #[command(flatten)]
        file: FileArgs,
        /// Apply even though a threshold blocks the plan (needs --reason)
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why the limits may be exceeded (recorded with the run)
        #[arg(long, value_name = "TEXT", requires = "force")]
        reason: Option<String>,
    },
    /// List the recorded runs, newest first (or one run's changes with --run)
    History {
        /// Show the rows this run changed
        #[arg(long, value_name = "RUN")]
        run: Option<i64>,
    },
    /// Revert a run (recorded as a new run)
    Undo {
        /// The run's number (see `idbulk history`)
        run: i64,
    },
    /// Verify the repository: vacant managers, leavers, cycles, dangling references, file
    /// integrity (exit status 1 when anything is found)
    Verify,
    /// Headcount per worker type, organisation or site, before and after the last run
    Report {
        /// What to count people by
        #[arg(value_enum)]
        by: ReportArg,
        /// Also write the report to this file (.xlsx or .csv)
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// A person's sheet: their attributes, manager chain up to the top, and direct reports
    Show {
        /// The person's key
        user: String,
    },
    /// Back up the repository now (SQLite backup API) into <db>.backups/, then prune to the
    /// retention
    Backup {
        /// Keep this many backups from now on (0 = no automatic backups before syncs)
        #[arg(long, value_name = "N")]
        keep: Option<u32>,
    },
    /// List the repository's backups, newest first, and the retention
    Backups,
    /// Put a backup back over the repository (the current state is backed up first)
    Restore {
        /// The backup: a path, or a file name listed by `idbulk backups`
        file: PathBuf,
    },
    /// Show the safety thresholds, or set one
    Thresholds {
        /// `connection` or an entity type
        #[arg(long, requires = "counter")]
        scope: Option<String>,
        /// created, updated or deleted
        #[arg(long, requires = "scope")]
        counter: Option<String>,
        /// Absolute limit in rows (0 = off)
        #[arg(long, requires = "scope")]
        rows: Option<u64>,
        /// Percentage limit of the rows stored (0 = off)
        #[arg(long, requires = "scope")]
        percent: Option<f64>,
    },
}

#[derive(Debug, Args)]
struct FileArgs {
    /// The spreadsheet (.xlsx, .xlsm, .xls, .ods) or CSV file
    file: PathBuf,
    /// complete: each sheet is the whole truth; incremental: a Command per row
    #[arg(long, value_enum)]
    mode: ModeArg,
    /// CSV: the separator (detected from the header when absent)
    #[arg(long, value_name = "CHAR")]
    separator: Option<char>,
    /// CSV: lines to skip before the header
    #[arg(long, default_value_t = 0, value_name = "N")]
    skip_lines: usize,
    /// CSV: the entity type of a file whose name names none
    #[arg(long, value_name = "TYPE")]
    entity_type: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Complete,
    Incremental,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Complete => Mode::Complete,
            ModeArg::Incremental => Mode::Incremental,
        }
    }
}

#[derive(Debug, Args)]
struct TemplateArgs {
    /// Every stored row, for complete mode
    #[arg(long, conflicts_with = "empty", required_unless_present = "empty")]
    full: bool,
    /// Headers only, for incremental mode
    #[arg(long)]
    empty: bool,
    /// The file to write (.xlsx), or the folder for CSV files (one per entity type)
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// The file format
    #[arg(long, value_enum, default_value_t = FormatArg::Xlsx)]
    format: FormatArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportArg {
    Usertype,
    Organization,
    Site,
}

impl From<ReportArg> for ReportKind {
    fn from(r: ReportArg) -> ReportKind {
        match r {
            ReportArg::Usertype => ReportKind::UserType,
            ReportArg::Organization => ReportKind::Organization,
            ReportArg::Site => ReportKind::Site,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Xlsx,
    Csv,
}

/// What a command produced: JSON for programs, text for people, and the exit status.
struct Outcome {
    json: serde_json::Value,
    human: String,
    status: i32,
}

impl Outcome {
    fn done(json: serde_json::Value, human: String) -> Outcome {
        Outcome { json, human, status: 0 }
    }
}

/// Parses `args`, runs the command, prints its outcome and returns the exit status.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; clap knows which stream and status fit.
            let _ = e.print();
            return if e.use_stderr() { ErrorCode::Usage.exit_status() } else { 0 };
        }
    };
    let json = cli.json;
    progress::enable(!json);
    match execute(cli) {
        Ok(outcome) => {
            print_out(if json {
                serde_json::to_string_pretty(&outcome.json).unwrap_or_default()
            } else {
                outcome.human
            });
            outcome.status
        }
        Err(err) => {
            if json {
                print_out(
                    serde_json::to_string_pretty(&json!({ "error": err })).unwrap_or_default(),
                );
            } else {
                let _ = writeln!(std::io::stderr(), "idbulk: {}", err.message);
            }
            err.code.exit_status()
        }
    }
}

fn print_out(text: String) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`idbulk history | head`) is not worth a panic.
    let _ = writeln!(out, "{}", text.trim_end());
}

fn execute(cli: Cli) -> idbulk::Result<Outcome> {
    let db = cli.db.unwrap_or_else(store::default_path);
    match cli.command {
        Command::Init { demo, schema } => init(&db, demo, schema.as_deref()),
        Command::Template(args) => write_template(&db, &args),
        Command::Check(args) => check(&db, &args),
        Command::Plan(args) => preview(&db, &args),
        Command::Sync { file, force, reason } => sync(&db, &file, force, reason),
        Command::History { run } => history_cmd(&db, run),
        Command::Undo { run } => undo(&db, run),
        Command::Verify => verify_cmd(&db),
        Command::Report { by, output } => report_cmd(&db, by.into(), output.as_deref()),
        Command::Show { user } => show(&db, &user),
        Command::Backup { keep } => backups::create(&db, keep),
        Command::Backups => backups::list(&db),
        Command::Restore { file } => backups::restore(&db, &file),
        Command::Thresholds { scope, counter, rows, percent } => {
            thresholds_cmd(&db, scope, counter, rows, percent)
        }
    }
}

fn init(db: &Path, with_demo: bool, schema_file: Option<&Path>) -> idbulk::Result<Outcome> {
    let store = if with_demo {
        demo::create(db, chrono::Local::now().date_naive())?
    } else {
        let schema = match schema_file {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| Error::io(file, "read the schema file", &e))?;
                Schema::from_toml(&text)?
            }
            None => Schema::directory(),
        };
        Store::create(db, &schema)?
    };
    let summary = store.summary()?;
    let counts: Vec<String> = summary.counts.iter().map(|(t, n)| format!("{n} {t}")).collect();
    let human = format!(
        "Created the repository {} (schema {}){}.",
        summary.path,
        summary.schema,
        if with_demo {
            format!(" with the demo organisation: {}", counts.join(", "))
        } else {
            String::new()
        }
    );
    Ok(Outcome::done(json!({ "repository": summary }), human))
}

fn write_template(db: &Path, args: &TemplateArgs) -> idbulk::Result<Outcome> {
    let store = Store::open(db)?;
    let kind = if args.full { TemplateKind::Full } else { TemplateKind::Empty };
    let now = chrono::Utc::now();
    let files: Vec<PathBuf> = match args.format {
        FormatArg::Xlsx => {
            template::write_xlsx(&store, kind, &args.output, now)?;
            vec![args.output.clone()]
        }
        FormatArg::Csv => template::write_csv(&store, kind, &args.output, now)?,
    };
    let format = match args.format {
        FormatArg::Xlsx => TemplateFormat::Xlsx,
        FormatArg::Csv => TemplateFormat::Csv,
    };
    let kind_name = if args.full { "full" } else { "empty" };
    let listed: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let human = format!("Wrote the {kind_name} template:\n  {}", listed.join("\n  "));
    Ok(Outcome::done(
        json!({ "template": { "kind": kind_name, "format": format, "files": listed } }),
        human,
    ))
}

fn csv_options(args: &FileArgs) -> idbulk::Result<CsvOptions> {
    let separator = match args.separator {
        None => None,
        Some(c) if c.is_ascii() => Some(c as u8),
        Some(c) => {
            return Err(Error::usage(format!(
                "The separator {c:?} is not a single ASCII character."
            )));
        }
    };
    Ok(CsvOptions {
        separator,
        skip_lines: args.skip_lines,
        entity_type: args.entity_type.clone(),
        ..CsvOptions::default()
    })
}

/// Reads the file and builds its plan against the repository.
fn build_plan(store: &Store, args: &FileArgs) -> idbulk::Result<Plan> {
    let mut bar = progress::Bar::new("Reading");
    plan::from_file(store, &args.file, args.mode.into(), &csv_options(args)?, &mut |done, total| {
        bar.update(done, total)
    })
}

fn verdict_status(plan: &Plan) -> i32 {
    match plan.verdict() {
        Verdict::Ready => 0,
        Verdict::Invalid => ErrorCode::InvalidInput.exit_status(),
        Verdict::Blocked => ErrorCode::Blocked.exit_status(),
    }
}

fn check(db: &Path, args: &FileArgs) -> idbulk::Result<Outcome> {
    let store = Store::open(db)?;
    let (report, workbook) =
        connection::check(store.schema(), &args.file, args.mode.into(), &csv_options(args)?);
    let mut human = vec![format!("Check Connection: {} ({} mode)", report.path, report.mode)];
    for step in &report.steps {
        let mark = match step.status {
            StepStatus::Pass => "ok  ",
            StepStatus::Warn => "warn",
            StepStatus::Fail => "FAIL",
        };
        human.push(format!("  [{mark}] {}: {}", step.name, step.detail));
    }
    let plan = match (report.ok, workbook) {
        (true, Some(_)) => Some(build_plan(&store, args)?),
        _ => None,
    };
    let status = match &plan {
        Some(p) => {
            human.push(format!("A sync of this file: {}", verdict_sentence(p)));
            verdict_status(p)
        }
        None => ErrorCode::InvalidInput.exit_status(),
    };
    Ok(Outcome {
        json: json!({ "check": report, "verdict": plan.as_ref().map(Plan::verdict) }),
        human: human.join("\n"),
        status,
    })
}

fn verdict_sentence(plan: &Plan) -> String {
    let (c, u, d) = plan
        .summaries
        .iter()
        .fold((0, 0, 0), |(c, u, d), s| (c + s.created, u + s.updated, d + s.deleted));
    let counts = format!("{c} to create, {u} to update, {d} to delete");
    match plan.verdict() {
        Verdict::Ready => format!("ready ({counts})."),
        Verdict::Blocked => {
            format!("blocked by a safety threshold ({counts}); applying needs --force --reason.")
        }
        Verdict::Invalid => {
            let n = plan.errors().count();
            format!(
                "{n} error{} to fix before anything can be applied.",
                if n == 1 { "" } else { "s" }
            )
        }
    }
}

/// How many changes the human plan lists before pointing at --json.
const LISTED_CHANGES: usize = 200;

fn render_plan(plan: &Plan) -> String {
    let mut out = vec![format!(
        "Plan for {} ({} mode), against repository revision {}",
        plan.file.name,
        plan.mode.name(),
        plan.base_revision
    )];
    let width = plan.summaries.iter().map(|s| s.entity_type.len()).max().unwrap_or(0);
    for s in &plan.summaries {
        let line = if !s.in_file {
            "untouched (no sheet in the file)".to_string()
        } else {
            let load = if s.initial_load { " (initial load: thresholds do not apply)" } else { "" };
            format!(
                "{} to create, {} to update, {} to delete, {} unchanged{load}",
                s.created, s.updated, s.deleted, s.unchanged
            )
        };
        out.push(format!("  {:width$}  {line}", s.entity_type));
    }
    let broken: Vec<String> = plan
        .thresholds
        .broken()
        .map(|c| {
            if c.counter == thresholds::EMPTY_SHEET {
                format!(
                    "  {}: the sheet is empty and would delete all {} stored rows",
                    c.scope, c.stored
                )
            } else {
                format!(
                    "  {} {}: {} rows = {:.1} % of {} stored (limit {} rows / {} %)",
                    c.scope,
                    c.counter,
                    c.count,
                    c.percent,
                    c.stored,
                    c.limit_absolute,
                    c.limit_percent
                )
            }
        })
        .collect();
    if broken.is_empty() {
        out.push("Thresholds: within limits.".into());
    } else {
        out.push("Thresholds: BLOCKED by".into());
        out.extend(broken);
    }
    for (title, list) in [
        ("Errors", plan.errors().collect::<Vec<_>>()),
        ("Warnings", plan.warnings().collect::<Vec<_>>()),
    ] {
        if !list.is_empty() {
            out.push(format!("{title} ({}):", list.len()));
            for f in list {
                let value = f.value.as_ref().map(|v| format!(" [{v}]")).unwrap_or_default();
                let fix = if f.fix.is_empty() { String::new() } else { format!(" Fix: {}", f.fix) };
                out.push(format!("  {}{value}: {}{fix}", f.location(), f.message));
            }
        }
    }
    if !plan.changes.is_empty() {
        out.push(format!("Changes ({}):", plan.changes.len()));
        for c in plan.changes.iter().take(LISTED_CHANGES) {
            let (mark, verb) = match c.op {
                Op::Create => ("+", "create"),
                Op::Update => ("~", "update"),
                Op::Delete => ("-", "delete"),
            };
            let from = match &c.source {
                Some(s) => format!(" ({} row {})", s.sheet, s.row),
                None => " (absent from the sheet)".into(),
            };
            let fields: Vec<String> = match c.op {
                Op::Update => c
                    .fields
                    .iter()
                    .map(|f| format!("{}: {:?} -> {:?}", f.attribute, f.old, f.new))
                    .collect(),
                Op::Create => {
                    c.fields.iter().map(|f| format!("{}={:?}", f.attribute, f.new)).collect()
                }
                Op::Delete => Vec::new(),
            };
            out.push(format!(
                "  {mark} {verb} {} {}{from}{}{}",
                c.entity_type,
                c.key,
                if fields.is_empty() { "" } else { ": " },
                fields.join(", ")
            ));
        }
        if plan.changes.len() > LISTED_CHANGES {
            out.push(format!(
                "  ... and {} more (use --json for every change)",
                plan.changes.len() - LISTED_CHANGES
            ));
        }
    } else {
        out.push("No changes.".into());
    }
    out.push(format!("Verdict: {}", verdict_sentence(plan)));
    out.join("\n")
}

fn preview(db: &Path, args: &FileArgs) -> idbulk::Result<Outcome> {
    let store = Store::open(db)?;
    let plan = build_plan(&store, args)?;
    Ok(Outcome {
        json: json!({ "plan": plan, "verdict": plan.verdict() }),
        human: render_plan(&plan),
        status: verdict_status(&plan),
    })
}

fn sync(
    db: &Path,
    args: &FileArgs,
    force: bool,
    reason: Option<String>,
) -> idbulk::Result<Outcome> {
    let mut store = Store::open(db)?;
    let plan = build_plan(&store, args)?;
    let force = if force { Force::Yes { reason: reason.unwrap_or_default() } } else { Force::No };
    match plan.verdict() {
        Verdict::Invalid => {
            return Ok(Outcome {
                json: json!({ "plan": plan, "verdict": plan.verdict(), "run": null }),
                human: format!("{}\nNothing was applied.", render_plan(&plan)),
                status: verdict_status(&plan),
            });
        }
        Verdict::Blocked if force == Force::No => {
            return Ok(Outcome {
                json: json!({ "plan": plan, "verdict": plan.verdict(), "run": null }),
                human: format!(
                    "{}\nNothing was applied. Re-run with --force --reason \"...\" if this is intended.",
                    render_plan(&plan)
                ),
                status: verdict_status(&plan),
            });
        }
        _ => {}
    }
    // Back up before writing, as the app does (nothing when retention is off).
    let backed_up = idbulk::backup::before_sync(&store, chrono::Utc::now())?;
    let mut bar = progress::Bar::new("Writing");
    let run = apply::run(&mut store, &plan, &force, chrono::Utc::now(), &mut |done, total| {
        bar.update(done, total)
    })?;
    drop(bar);
    let human = format!(
        "{}\nApplied as run {}: {} created, {} updated, {} deleted{}.",
        render_plan(&plan),
        run.id,
        run.counts.created,
        run.counts.updated,
        run.counts.deleted,
        run.force_reason.as_ref().map(|r| format!(" (forced: {r})")).unwrap_or_default()
    );
    let human = backups::sync_note(human, backed_up.as_ref());
    Ok(Outcome::done(
        json!({ "plan": plan, "verdict": plan.verdict(), "run": run, "backup": backed_up }),
        human,
    ))
}

fn history_cmd(db: &Path, run: Option<i64>) -> idbulk::Result<Outcome> {
    let store = Store::open(db)?;
    if let Some(id) = run {
        let run = history::get(&store, id)?;
        let changes = history::changes(&store, id)?;
        let mut human = vec![format!(
            "Run {} ({:?}, {}): {} changes",
            run.id,
            run.kind,
            run.started_at,
            changes.len()
        )];
        for c in changes.iter().take(LISTED_CHANGES) {
            human.push(format!("  {} {} {}", c.op.name(), c.entity_type, c.key));
        }
        return Ok(Outcome::done(json!({ "run": run, "changes": changes }), human.join("\n")));
    }
    let runs = history::list(&store)?;
    let mut human = Vec::new();
    if runs.is_empty() {
        human.push("No runs yet.".to_string());
    }
    for r in &runs {
        let what = match (r.kind, r.undo_of) {
            (history::RunKind::Undo, Some(of)) => format!("undo of run {of}"),
            _ => format!(
                "{} sync of {}",
                r.mode.as_deref().unwrap_or("?"),
                r.file_name.as_deref().unwrap_or("?")
            ),
        };
        let forced = r.force_reason.as_ref().map(|f| format!(", forced: {f}")).unwrap_or_default();
        let undone = r.undone_by.map(|u| format!(", undone by run {u}")).unwrap_or_default();
        human.push(format!(
            "{:>4}  {}  {what}: {} created, {} updated, {} deleted{forced}{undone}",
            r.id, r.started_at, r.counts.created, r.counts.updated, r.counts.deleted
        ));
    }
    Ok(Outcome::done(json!({ "runs": runs }), human.join("\n")))
}

fn undo(db: &Path, run_id: i64) -> idbulk::Result<Outcome> {
    let mut store = Store::open(db)?;
    let mut bar = progress::Bar::new("Undoing");
    let run = apply::undo(&mut store, run_id, chrono::Utc::now(), &mut |done, total| {
        bar.update(done, total)
    })?;
    drop(bar);
    let human = format!(
        "Undid run {run_id} as run {}: {} created, {} updated, {} deleted.",
        run.id, run.counts.created, run.counts.updated, run.counts.deleted
    );
    Ok(Outcome::done(json!({ "run": run }), human))
}

/// How many findings of one code the human verification lists before pointing at --json.
const LISTED_FINDINGS: usize = 50;

/// The day contracts are compared with: the local calendar day, as HR sees it.
fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}

fn verify_cmd(db: &Path) -> idbulk::Result<Outcome> {
    let store = Store::open(db)?;
    let v = verify::run(&store, today())?;
    let status = if v.is_clean() { 0 } else { ErrorCode::InvalidInput.exit_status() };
    Ok(Outcome {
        human: render_verification(&store, &v),
        json: json!({ "verification": v }),
        status,
    })
}

fn render_verification(store: &Store, v: &Verification) -> String {
    let mut out = vec![format!(
        "Verification of {} (revision {}) on {}: {}",
        store.path().display(),
        v.revision,
        v.today,
        if v.is_clean() {
            "nothing to report.".to_string()
        } else {
            format!(
                "{} findings ({} errors, {} warnings).",
                v.findings.len(),
                v.summary.errors,
                v.summary.warnings
            )
        }
    )];
    for (code, title) in verify::CHECKS {
        let found: Vec<_> = v.findings.iter().filter(|f| f.code == code).collect();
        if found.is_empty() {
            continue;
        }
        out.push(format!("{title} ({}) [{code}]:", found.len()));
        for f in found.iter().take(LISTED_FINDINGS) {
            let mark = match f.severity {
                verify::Severity::Error => "error",
                verify::Severity::Warning => "warn ",
            };
            out.push(format!("  [{mark}] {} Fix: {}", f.message, f.fix));
        }
        if found.len() > LISTED_FINDINGS {
            out.push(format!(
                "  ... and {} more (use --json for every finding)",
                found.len() - LISTED_FINDINGS
            ));
        }
    }
    for s in &v.skipped {
        out.push(format!(
            "Skipped {}: the schema does not declare the roles {}.",
            s.code,
            s.needs.join(", ")
        ));
    }
    out.join("\n")
}

fn report_cmd(db: &Path, by: ReportKind, output: Option<&Path>) -> idbulk::Result<Outcome> {
    let store = Store::open(db)?;
    // Refuse a bad file name before counting anything.
    let format = output.map(report::ExportFormat::of).transpose()?;
    let report = report::headcount(&store, by, today())?;
    let mut human = render_report(&report);
    if let Some(path) = output {
        report::export(&report, path)?;
        human.push_str(&format!("\nWrote {}.", path.display()));
    }
    let file = output.map(|p| json!({ "path": p.display().to_string(), "format": format }));
    Ok(Outcome::done(json!({ "report": report, "file": file }), human))
}

fn render_report(report: &Report) -> String {
    let table = report.table();
    let mut out = vec![
        format!("{} on {}", report.title, report.generated_on),
        report.baseline(),
        String::new(),
    ];
    out.extend(render_table(&table));
    out.join("\n")
}

/// A text table: names left-aligned (indented by depth), numbers right-aligned.
fn render_table(table: &Table) -> Vec<String> {
    let shown = |row: &[TableCell], depth: usize| -> Vec<String> {
        row.iter()
            .enumerate()
            .map(|(c, cell)| {
                let indent =
                    if c == table.name_column { "  ".repeat(depth) } else { String::new() };
                format!("{indent}{}", cell.text())
            })
            .collect()
    };
    let headers: Vec<String> = table.headers.iter().map(|h| h.to_string()).collect();
    let mut lines: Vec<(Vec<String>, bool)> = vec![(headers, false)];
    lines.extend(table.rows.iter().map(|r| (shown(&r.cells, r.depth), false)));
    lines.push((shown(&table.total, 0), true));
    let numeric = |c: usize| c >= table.before_column;
    let widths: Vec<usize> = (0..table.headers.len())
        .map(|c| lines.iter().map(|(l, _)| l[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = Vec::new();
    for (i, (line, is_total)) in lines.iter().enumerate() {
        if *is_total || i == 1 {
            out.push(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        }
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(
                |(c, (text, w))| {
                    if numeric(c) { format!("{text:>w$}") } else { format!("{text:<w$}") }
                },
            )
            .collect();
        out.push(cells.join("  ").trim_end().to_string());
    }
    if table.rows.is_empty() {
        out.insert(2, "(no groups)".into());
    }
    out
}

fn show(db: &Path, user: &str) -> idbulk::Result<Outcome> {
    let store = Store::open(db)?;
    let sheet = verify::person_sheet(&store, user)?;
    Ok(Outcome::done(json!({ "person": sheet }), render_sheet(&sheet)))
}

fn render_sheet(sheet: &PersonSheet) -> String {
    let mut out = vec![sheet.person.label()];
    let width = sheet.attributes.iter().map(|a| a.attribute.len()).max().unwrap_or(0);
    for a in &sheet.attributes {
        let extra = match (&a.refers_to, a.dangling) {
            (Some(r), _) if r.name != r.key => format!(" ({})", r.name),
            (_, true) => " (no such row!)".to_string(),
            _ => String::new(),
        };
        out.push(format!("  {:width$}  {}{extra}", a.attribute, a.value));
    }
    let label = |key: &str| {
        sheet
            .managers
            .iter()
            .find(|m| m.key == key)
            .map_or_else(|| key.to_string(), verify::RowRef::label)
    };
    match &sheet.chain_end {
        ChainEnd::NotTracked => {
            out.push("Managers: not tracked (the schema declares no manager attribute).".into())
        }
        end => {
            out.push("Manager chain:".into());
            for (i, m) in sheet.managers.iter().enumerate() {
                out.push(format!("  {}{}", "  ".repeat(i), m.label()));
            }
            out.push(match end {
                ChainEnd::Top { key } if *key == sheet.person.key => {
                    "  (none: this person is the top of the hierarchy)".to_string()
                }
                ChainEnd::Top { key } => format!("  ... {} is the top of the hierarchy.", label(key)),
                ChainEnd::NoManager { key } => format!(
                    "  ... stops at {}, who has no manager but is not the top of the hierarchy (see `idbulk verify`).",
                    if *key == sheet.person.key { sheet.person.label() } else { label(key) }
                ),
                ChainEnd::UnknownManager { key, manager } => format!(
                    "  ... stops: the manager of {} is {manager}, who does not exist.",
                    if *key == sheet.person.key { sheet.person.label() } else { label(key) }
                ),
                ChainEnd::Cycle { key } => format!(
                    "  ... and back to {}: the managers go round in a circle (see `idbulk verify`).",
                    if *key == sheet.person.key { sheet.person.label() } else { label(key) }
                ),
                ChainEnd::NotTracked => String::new(),
            });
        }
    }
    out.push(format!("Direct reports ({}):", sheet.direct_reports.len()));
    out.extend(sheet.direct_reports.iter().map(|r| format!("  {}", r.label())));
    if !sheet.manages.is_empty() {
        out.push(format!("Manages ({}):", sheet.manages.len()));
        out.extend(sheet.manages.iter().map(|r| format!("  {}", r.label())));
    }
    out.join("\n")
}

fn thresholds_cmd(
    db: &Path,
    scope: Option<String>,
    counter: Option<String>,
    rows: Option<u64>,
    percent: Option<f64>,
) -> idbulk::Result<Outcome> {
    let mut store = Store::open(db)?;
    if let (Some(scope), Some(counter)) = (scope, counter) {
        let counter = Counter::parse(&counter).ok_or_else(|| {
            Error::usage(format!(
                "\"{counter}\" is not a counter: use created, updated or deleted."
            ))
        })?;
        let current = Thresholds::load(&store)?.limit(&scope, counter);
        let limit = Limit {
            absolute: rows.unwrap_or(current.absolute),
            percent: percent.unwrap_or(current.percent),
        };
        Thresholds::save(&mut store, &scope, counter, limit)?;
    }
    let t = Thresholds::load(&store)?;
    let mut human = vec!["Safety thresholds (0 = off):".to_string()];
    let scopes = std::iter::once(thresholds::CONNECTION.to_string())
        .chain(store.schema().entity_types.iter().map(|e| e.name.clone()));
    for scope in scopes {
        let parts: Vec<String> = Counter::ALL
            .iter()
            .map(|&c| {
                let l = t.limit(&scope, c);
                format!("{} {} rows / {} %", c.name(), l.absolute, l.percent)
            })
            .collect();
        human.push(format!("  {scope}: {}", parts.join(", ")));
    }
    Ok(Outcome::done(json!({ "thresholds": t }), human.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("idbulk").chain(args.iter().copied()))
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        let before = parse(&["--db", "x.db", "--json", "init"]).unwrap();
        let after = parse(&["init", "--demo", "--db", "x.db", "--json"]).unwrap();
        assert_eq!(before.db, after.db);
        assert!(before.json && after.json);
    }

    #[test]
    fn template_needs_exactly_one_kind() {
        assert!(parse(&["template", "-o", "t.xlsx"]).is_err());
        assert!(parse(&["template", "--full", "--empty", "-o", "t.xlsx"]).is_err());
        let t = parse(&["template", "--empty", "-o", "d", "--format", "csv"]).unwrap();
        assert!(matches!(t.command, Command::Template(TemplateArgs { empty: true, .. })));
    }

    #[test]
    fn report_takes_one_of_three_kinds_and_an_optional_file() {
        let r = parse(&["report", "organization", "-o", "h.xlsx"]).unwrap();
        assert!(matches!(
            r.command,
            Command::Report { by: ReportArg::Organization, output: Some(_) }
        ));
        assert!(parse(&["report", "department"]).is_err());
        assert!(parse(&["show"]).is_err(), "show needs a person's key");
    }

    #[test]
    fn text_tables_align_numbers_right_and_close_with_totals() {
        let table = Table {
            headers: vec!["Key", "Name", "Before"],
            rows: vec![report::TableRow {
                cells: vec![
                    TableCell::Text("ENG".into()),
                    TableCell::Text("Engineering".into()),
                    TableCell::Count(12),
                ],
                depth: 1,
            }],
            total: vec![TableCell::Text("Total".into()), TableCell::Empty, TableCell::Count(120)],
            name_column: 1,
            before_column: 2,
            after_column: 2,
        };
        assert_eq!(
            render_table(&table),
            [
                "Key    Name           Before",
                "-----  -------------  ------",
                "ENG      Engineering      12",
                "-----  -------------  ------",
                "Total                    120",
            ]
        );
    }

    #[test]
    fn usage_errors_exit_with_status_2() {
        assert_eq!(run(["idbulk", "frobnicate"].map(OsString::from)), 2);
    }
}
