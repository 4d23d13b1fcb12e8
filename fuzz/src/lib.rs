//! What the fuzz targets share: the demo repository's rows to plan against, a plan builder
//! that checks what must hold for any input, and a panic hook that lets the engine's own
//! `catch_unwind` work under the fuzzer.

use std::sync::OnceLock;

use idbulk::import::RawWorkbook;
use idbulk::plan::{self, Mode, Op, Plan, Snapshot};
use idbulk::thresholds::Thresholds;
use idbulk::{Schema, Store, demo};

/// The demo organisation, read once per process.
pub struct Demo {
    /// The Directory schema.
    pub schema: Schema,
    /// Every stored row.
    pub snapshot: Snapshot,
    /// The default thresholds.
    pub thresholds: Thresholds,
}

/// The demo repository's schema, rows and thresholds (created in a temporary folder once).
pub fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        // libfuzzer-sys aborts on every panic, even one the engine catches on purpose (the
        // importer turns a panic inside calamine into "damaged file"). Print the message only;
        // a panic that escapes the engine still aborts, in libfuzzer-sys's catch_unwind.
        std::panic::set_hook(Box::new(|info| eprintln!("panic (caught or not): {info}")));
        let dir = tempfile::tempdir().expect("a temporary folder");
        let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 15).expect("a date");
        let store: Store = demo::create(&dir.path().join("demo.db"), today).expect("the demo");
        Demo {
            schema: store.schema().clone(),
            snapshot: Snapshot::load(&store).expect("the demo rows"),
            thresholds: Thresholds::load(&store).expect("the thresholds"),
        }
    })
}

/// Plans `workbook` against `snapshot` in both modes and checks the plan's own bookkeeping:
/// planning is deterministic, and the summaries count exactly the changes listed.
pub fn plan_and_check(demo: &Demo, snapshot: &Snapshot, workbook: &RawWorkbook) {
    for mode in [Mode::Complete, Mode::Incremental] {
        let build = || -> Plan {
            plan::build(
                &demo.schema,
                snapshot,
                workbook,
                mode,
                plan::InputFile::from_bytes(&workbook.file_name, b"fuzz"),
                &demo.thresholds,
            )
        };
        let plan = build();
        for s in &plan.summaries {
            let count = |op: Op| {
                plan.changes.iter().filter(|c| c.entity_type == s.entity_type && c.op == op).count()
                    as u64
            };
            assert_eq!(
                (s.created, s.updated, s.deleted),
                (count(Op::Create), count(Op::Update), count(Op::Delete)),
                "the summary of {} counts the changes listed",
                s.entity_type
            );
        }
        if plan.has_errors() {
            assert!(plan.verdict() == plan::Verdict::Invalid, "errors make a plan invalid");
        }
        assert_eq!(
            serde_json::to_string(&plan).ok(),
            serde_json::to_string(&build()).ok(),
            "the same input plans the same way twice"
        );
    }
}
