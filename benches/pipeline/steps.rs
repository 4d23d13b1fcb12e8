//! The measured steps. Each runs alone in a child process (`--child STEP`), so its peak memory
//! is its own: the child prepares what the step needs (untimed), resets the kernel's peak-RSS
//! mark (`/proc/self/clear_refs`), runs the step under a clock, reads `VmHWM`, and prints one
//! `RESULT {json}` line for the parent.

use std::path::{Path, PathBuf};
use std::time::Instant;

use calamine::{Reader, SheetType, SheetVisible, Xlsx, open_workbook};
use idbulk::apply::{self, Force};
use idbulk::import::{self, CsvOptions, Upload};
use idbulk::plan::view::{Filter, PlanView};
use idbulk::plan::{self, InputFile, Mode, Op, Plan, Snapshot};
use idbulk::template::{self, TemplateKind};
use idbulk::thresholds::Thresholds;
use idbulk::{Row, Store};
use rust_xlsxwriter::Workbook;
use serde::{Deserialize, Serialize};

use crate::data::{self, BoxResult, Files, Formats, Sizes, fixed_now};

/// One measured step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Baseline: calamine `worksheet_range` of every sheet idbulk reads in `edited.xlsx`.
    CalamineRange,
    /// idbulk end to end from `edited.xlsx`: read, validate, diff, write.
    IdbulkXlsx,
    /// Baseline: the csv crate reading `edited/User.csv` into owned strings.
    CsvOwned,
    /// idbulk end to end from `edited/User.csv`.
    IdbulkCsv,
    /// idbulk `apply::run` alone, of the plan of `edited.xlsx` (10 % of the users).
    Apply,
    /// idbulk `apply::run` alone, of a plan updating every user.
    ApplyEvery,
    /// Baseline: rust_xlsxwriter, constant memory, compression level 3, the template's cells.
    ExportBaseline,
    /// idbulk `template::write_xlsx` of the full template.
    ExportIdbulk,
    /// The engine's share of the app's preview of a plan updating every user: from the plan
    /// to the first page of grid rows, serialised as the app sends them to the web view.
    PreviewFirstRows,
}

impl Step {
    /// Every step, in the order they run and are shown.
    pub const ALL: [Step; 9] = [
        Step::CalamineRange,
        Step::IdbulkXlsx,
        Step::CsvOwned,
        Step::IdbulkCsv,
        Step::Apply,
        Step::ApplyEvery,
        Step::ExportBaseline,
        Step::ExportIdbulk,
        Step::PreviewFirstRows,
    ];

    /// The name used on the command line and in the child protocol.
    pub fn id(self) -> &'static str {
        match self {
            Step::CalamineRange => "calamine-range",
            Step::IdbulkXlsx => "idbulk-xlsx",
            Step::CsvOwned => "csv-owned",
            Step::IdbulkCsv => "idbulk-csv",
            Step::Apply => "apply",
            Step::ApplyEvery => "apply-every",
            Step::ExportBaseline => "xlsxwriter-export",
            Step::ExportIdbulk => "idbulk-export",
            Step::PreviewFirstRows => "preview-first-rows",
        }
    }

    /// What the table calls it.
    pub fn label(self) -> &'static str {
        match self {
            Step::CalamineRange => "baseline: calamine worksheet_range (.xlsx)",
            Step::IdbulkXlsx => "idbulk plan + apply (.xlsx)",
            Step::CsvOwned => "baseline: csv crate, owned strings (.csv)",
            Step::IdbulkCsv => "idbulk plan + apply (.csv)",
            Step::Apply => "idbulk apply only (10 % updated)",
            Step::ApplyEvery => "idbulk apply only (every row updated)",
            Step::ExportBaseline => "baseline: rust_xlsxwriter const-mem, level 3",
            Step::ExportIdbulk => "idbulk template --full (.xlsx)",
            Step::PreviewFirstRows => "app preview: first 200 rows of a plan updating every user",
        }
    }

    /// The step named `id`.
    pub fn parse(id: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.id() == id)
    }
}

/// What one run of a step measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Measured {
    /// Wall-clock seconds of the step.
    pub secs: f64,
    /// Resident memory when the clock started (what the preparation left), in KiB.
    pub rss_start_kb: u64,
    /// Peak resident memory from the clock's start to its end (`VmHWM`), in KiB.
    pub hwm_kb: u64,
    /// What the step processed: rows read, or rows written for the apply steps.
    pub units: u64,
    /// Seconds per stage, for the steps that have stages.
    pub stages: Vec<(String, f64)>,
    /// Peak resident memory of each stage, in KiB (same order as `stages`).
    #[serde(default)]
    pub stage_peaks_kb: Vec<u64>,
    /// Anything worth printing once (file size, plan counts).
    pub note: String,
}

/// A field of `/proc/self/status`, in KiB (0 when unavailable).
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resets the kernel's peak-RSS mark (`VmHWM`) to the current RSS (Linux 4.0 and later; a
/// no-op elsewhere, where the peak then includes the preparation).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The clock and the memory mark of one step.
struct Probe {
    started: Instant,
    lap: Instant,
    rss_start_kb: u64,
    stages: Vec<(String, f64)>,
    stage_peaks_kb: Vec<u64>,
}

impl Probe {
    /// Resets the peak-RSS mark to the current RSS (Linux 4.0+), then starts the clock.
    fn start() -> Probe {
        reset_peak();
        let rss_start_kb = status_kb("VmRSS");
        let now = Instant::now();
        Probe {
            started: now,
            lap: now,
            rss_start_kb,
            stages: Vec::new(),
            stage_peaks_kb: Vec::new(),
        }
    }

    /// Ends a stage: its time and its own peak memory (the mark is reset for the next one;
    /// reading and resetting it takes microseconds).
    fn lap(&mut self, name: &str) {
        let now = Instant::now();
        self.stages.push((name.to_string(), (now - self.lap).as_secs_f64()));
        self.stage_peaks_kb.push(status_kb("VmHWM"));
        reset_peak();
        self.lap = Instant::now();
    }

    fn stop(self, units: u64, note: String) -> Measured {
        let secs = self.started.elapsed().as_secs_f64();
        let hwm_kb = self.stage_peaks_kb.iter().copied().fold(status_kb("VmHWM"), u64::max);
        Measured {
            secs,
            rss_start_kb: self.rss_start_kb,
            hwm_kb,
            units,
            stages: self.stages,
            stage_peaks_kb: self.stage_peaks_kb,
            note,
        }
    }
}

/// Runs `step` for `rows` users with the files under `root`; what the child prints.
pub fn run(step: Step, rows: usize, root: &Path) -> BoxResult<Measured> {
    let files = Files::new(root, rows);
    match step {
        Step::CalamineRange => calamine_range(&files.edited_xlsx()),
        Step::IdbulkXlsx => end_to_end(&files, rows, &files.edited_xlsx()),
        Step::CsvOwned => csv_owned(&files.edited_csv()),
        Step::IdbulkCsv => end_to_end(&files, rows, &files.edited_csv()),
        Step::Apply => apply_only(&files, rows, false),
        Step::ApplyEvery => apply_only(&files, rows, true),
        Step::ExportBaseline => export_baseline(&files),
        Step::ExportIdbulk => export_idbulk(&files),
        Step::PreviewFirstRows => preview_first_rows(&files, rows),
    }
}

/// Reads every sheet the importer reads (entity sheets and the metadata sheet), as grids.
fn calamine_range(path: &Path) -> BoxResult<Measured> {
    let probe = Probe::start();
    let mut book: Xlsx<_> = open_workbook(path)?;
    let mut ranges = Vec::new();
    for sheet in book.sheets_metadata().to_vec() {
        let is = |name: &str| sheet.name.eq_ignore_ascii_case(name);
        let skipped = sheet.typ != SheetType::WorkSheet
            || is(template::README_SHEET)
            || is(template::LISTS_SHEET)
            || (sheet.visible != SheetVisible::Visible && !is(template::METADATA_SHEET));
        if !skipped {
            ranges.push(book.worksheet_range(&sheet.name)?);
        }
    }
    let mut m = probe.stop(0, String::new());
    // Counted after the clock stopped: walking the grids is not part of reading them.
    m.units = ranges.iter().map(|r| r.height() as u64).sum();
    let cells: usize = ranges.iter().map(|r| r.used_cells().count()).sum();
    m.note = format!("{cells} cells");
    Ok(m)
}

/// Reads `edited/User.csv` with the csv crate into `Vec<Vec<String>>`.
fn csv_owned(path: &Path) -> BoxResult<Measured> {
    let probe = Probe::start();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(path)?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for record in reader.records() {
        let record = record?;
        rows.push(record.iter().map(str::to_owned).collect());
    }
    let m = probe.stop(rows.len() as u64, String::new());
    drop(rows);
    Ok(m)
}

fn force() -> Force {
    Force::Yes { reason: "benchmark".into() }
}

/// A plan must hold exactly the benchmark's updates and no error.
fn check_plan(plan: &Plan, expected: usize) -> BoxResult<()> {
    if plan.has_errors() {
        let errors: Vec<String> = plan.errors().take(3).map(|f| f.to_string()).collect();
        return Err(format!(
            "the plan has {} errors, e.g. {}",
            plan.errors().count(),
            errors.join(" | ")
        )
        .into());
    }
    let updates = plan.changes.iter().filter(|c| c.op == Op::Update).count();
    if updates != expected || plan.changes.len() != expected {
        return Err(format!(
            "the plan holds {} changes ({updates} updates), {expected} updates expected",
            plan.changes.len()
        )
        .into());
    }
    Ok(())
}

/// What `idbulk sync FILE --mode complete --force` does, stage by stage.
fn end_to_end(files: &Files, rows: usize, upload: &Path) -> BoxResult<Measured> {
    let db = files.work_copy("e2e")?;
    let expected = Sizes::of(rows).edited();
    let mut probe = Probe::start();
    let mut store = Store::open(db.path())?;
    // As `plan::from_file` does: the file is opened (an .xlsx stays in its file, a CSV is
    // read into memory), then parsed, fingerprinted and prepared (what the plan needs of the
    // file alone) on a second thread while this one loads the stored rows; the plan is
    // finished on the reader's thread, which frees the upload.
    let name = upload.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let upload = Upload::open(upload)?;
    let (schema, thresholds) = (store.schema(), Thresholds::load(&store)?);
    probe.lap("open");
    let mut read = 0;
    let (plan, snapshot) = plan::read_with_snapshot(
        &store,
        &name,
        upload,
        &CsvOptions::default(),
        &mut |_, _| true,
        |workbook, rows| {
            let prepared = plan::Prepared::new(schema, workbook, Mode::Complete);
            let (input, stored) = rows.wait()?;
            probe.lap("import::read + sha256 + prepare, Snapshot::load (two threads)");
            read = workbook.sheets.iter().map(|s| s.rows.len()).sum();
            Ok(prepared.finish(stored, input, &thresholds))
        },
    )?;
    probe.lap("finish the plan, then free the upload");
    // As `plan::from_file` returns: the stored rows are freed before the apply.
    drop(snapshot);
    probe.lap("free the stored rows");
    check_plan(&plan, expected)?;
    let run = apply::run(&mut store, &plan, &force(), fixed_now(), &mut |_, _| true)?;
    probe.lap("apply::run");
    let note = format!(
        "{} rows read, {} updated, {} warnings",
        read,
        run.counts.updated,
        plan.warnings().count()
    );
    let mut m = probe.stop(read as u64, note);
    // Freeing the plan is not counted (the calamine baseline's grids are freed after its
    // clock too), but it is real time for a CLI run: show it.
    let freeing = Instant::now();
    drop((plan, store));
    m.note.push_str(&format!(", then {:.3} s to free the plan", freeing.elapsed().as_secs_f64()));
    Ok(m)
}

/// Builds the plan untimed, then measures `apply::run` alone.
fn apply_only(files: &Files, rows: usize, every: bool) -> BoxResult<Measured> {
    let db = files.work_copy("apply")?;
    let mut store = Store::open(db.path())?;
    let plan = untimed_plan(files, &store, rows, every)?;
    let probe = Probe::start();
    let run = apply::run(&mut store, &plan, &force(), fixed_now(), &mut |_, _| true)?;
    let written = run.counts.created + run.counts.updated + run.counts.deleted;
    let m = probe.stop(written, String::new());
    drop((plan, store));
    Ok(m)
}

/// What the app does once a preview's plan is built, up to the grid's first rows: the plan
/// goes into a [`PlanView`], its overview and the first page of 200 rows are serialised as
/// they cross to the web view. Timed apart and only noted: a word typed in the grid's filter
/// box, which searches every change and serialises the first page of matches.
fn preview_first_rows(files: &Files, rows: usize) -> BoxResult<Measured> {
    let db = files.work_copy("preview")?;
    let store = Store::open(db.path())?;
    let plan = untimed_plan(files, &store, rows, true)?;
    let schema = store.schema().clone();
    let probe = Probe::start();
    let mut view = PlanView::new(schema, plan);
    let overview = serde_json::to_string(&view.overview())?;
    let page = view.page(&Filter::default(), 0, 200);
    let first = serde_json::to_string(&page)?;
    let mut m = probe.stop(page.rows.len() as u64, String::new());
    let typing = Instant::now();
    let typed = Filter { text: "smith".into(), ..Filter::default() };
    let matches = view.page(&typed, 0, 200);
    let filtered = serde_json::to_string(&matches)?;
    m.note = format!(
        "overview {} KB and first page {} KB ({} of {} rows); typing \"smith\" in the filter: \
         {:.0} ms to the first page of its {} matches ({} KB)",
        overview.len() / 1024,
        first.len() / 1024,
        page.rows.len(),
        page.total,
        typing.elapsed().as_secs_f64() * 1000.0,
        matches.total,
        filtered.len() / 1024,
    );
    drop((view, store));
    Ok(m)
}

/// The plan of `edited.xlsx` (10 % of the users updated), or of an in-memory upload updating
/// every user, built without the clock.
fn untimed_plan(files: &Files, store: &Store, rows: usize, every: bool) -> BoxResult<Plan> {
    let sizes = Sizes::of(rows);
    let (workbook, expected) = if every {
        let et = data::entity_type(store.schema(), "User")?.clone();
        (data::every_user_changed(&et, sizes), rows)
    } else {
        (import::read(&files.edited_xlsx(), &CsvOptions::default())?, sizes.edited())
    };
    let snapshot = Snapshot::load(store)?;
    let input = InputFile::from_bytes(&workbook.file_name, &[]);
    let plan = plan::build(
        store.schema(),
        &snapshot,
        &workbook,
        Mode::Complete,
        input,
        &Thresholds::load(store)?,
    );
    check_plan(&plan, expected)?;
    Ok(plan)
}

fn export_path(files: &Files, tag: &str) -> PathBuf {
    files.dir.join(format!("export-{tag}-{}.xlsx", std::process::id()))
}

fn file_note(path: &Path) -> String {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    format!("{:.1} MB file", bytes as f64 / 1e6)
}

/// `idbulk template --full`: the engine's own export, store scan included.
fn export_idbulk(files: &Files) -> BoxResult<Measured> {
    let db = files.work_copy("export")?;
    let store = Store::open(db.path())?;
    let out = export_path(files, "idbulk");
    let rows: u64 = store.summary()?.counts.iter().map(|(_, n)| n).sum();
    let probe = Probe::start();
    template::write_xlsx(&store, TemplateKind::Full, &out, fixed_now())?;
    let m = probe.stop(rows, file_note(&out));
    let _ = std::fs::remove_file(&out);
    drop(store);
    Ok(m)
}

/// rust_xlsxwriter writing the same cells (entity sheets and the lists sheet) from rows already
/// in memory, in constant-memory mode at compression level 3. No notes, validations, widths.
fn export_baseline(files: &Files) -> BoxResult<Measured> {
    let db = files.work_copy("baseline")?;
    let store = Store::open(db.path())?;
    let schema = store.schema().clone();
    let tables: Vec<Vec<Row>> =
        schema.entity_types.iter().map(|t| store.rows(t)).collect::<Result<_, _>>()?;
    drop(store);
    let lists: Vec<(String, Vec<String>)> = schema
        .entity_types
        .iter()
        .zip(&tables)
        .filter(|(t, _)| {
            schema
                .entity_types
                .iter()
                .flat_map(|s| &s.attributes)
                .any(|a| a.kind.reference_target() == Some(t.name.as_str()))
        })
        .map(|(t, rows)| (t.name.clone(), rows.iter().map(|r| r.key.to_string()).collect()))
        .collect();
    let out = export_path(files, "baseline");
    let formats = Formats::new();
    let probe = Probe::start();
    let mut workbook = Workbook::new();
    workbook.set_zip_compression_level(3);
    workbook.set_tempdir(&files.dir)?;
    let mut rows = 0u64;
    for (index, (et, table)) in schema.entity_types.iter().zip(&tables).enumerate() {
        workbook.add_worksheet_with_constant_memory()?;
        let sheet = workbook.worksheet_from_index(index)?;
        rows += u64::from(data::write_entity_sheet(sheet, et, table, &formats)?);
    }
    workbook.add_worksheet_with_constant_memory()?;
    let sheet = workbook.worksheet_from_index(schema.entity_types.len())?;
    data::write_lists_sheet(sheet, &lists, &formats)?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    workbook.save_to_writer(&mut file)?;
    std::io::Write::flush(&mut file)?;
    drop(file);
    let m = probe.stop(rows, file_note(&out));
    let _ = std::fs::remove_file(&out);
    Ok(m)
}
