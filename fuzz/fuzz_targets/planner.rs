//! The planner fed structured random sheets: few keys (`K0` to `K5`, half of them stored), so
//! duplicate rows, references to rows being deleted, manager and parent cycles, merges and
//! commands on missing rows happen all the time. Every cell kind a workbook can hold appears,
//! and headers may repeat or be unknown. The plan must be built without panicking, and its
//! bookkeeping must hold ([`idbulk_fuzz::plan_and_check`]).

#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use idbulk::Row;
use idbulk::import::{
    Cell, CellDateTime, FileFormat, RawHeader, RawRow, RawSheet, RawWorkbook, RowCells,
};
use idbulk::plan::Snapshot;
use idbulk::schema::AttributeKind;
use libfuzzer_sys::fuzz_target;

/// Keys in play per entity type; the first [`STORED`] are in the repository.
const KEYS: u8 = 6;
const STORED: u8 = 3;

#[derive(Arbitrary, Debug)]
struct Input {
    sheets: Vec<Sheet>,
}

#[derive(Arbitrary, Debug)]
struct Sheet {
    /// Which entity type (modulo their number); 255 names a sheet no type has.
    entity: u8,
    with_command: bool,
    /// Attribute columns, by index modulo the attributes (repeats make duplicate headers);
    /// 255 is an unknown header.
    columns: Vec<u8>,
    rows: Vec<FuzzRow>,
}

#[derive(Arbitrary, Debug)]
struct FuzzRow {
    command: u8,
    key: FuzzCell,
    cells: Vec<FuzzCell>,
}

#[derive(Arbitrary, Debug)]
enum FuzzCell {
    Empty,
    /// `K0` to `K5`.
    Key(u8),
    /// The key as a number, or with leading zeros, as Excel damages them.
    KeyNumber(u8),
    KeyPadded(u8),
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(u16),
    Error,
    Formula,
}

fn key(n: u8) -> String {
    format!("K{}", n % KEYS)
}

impl FuzzCell {
    fn cell(&self) -> Cell {
        match self {
            FuzzCell::Empty => Cell::Empty,
            FuzzCell::Key(n) => Cell::Text(key(*n).into()),
            FuzzCell::KeyNumber(n) => Cell::Float(f64::from(n % KEYS)),
            FuzzCell::KeyPadded(n) => Cell::Text(format!("00{}", n % KEYS).into()),
            FuzzCell::Null => Cell::Text("NULL_NULL".into()),
            FuzzCell::Text(s) => Cell::Text(s.chars().take(64).collect()),
            FuzzCell::Int(i) => Cell::Int(*i),
            FuzzCell::Float(x) => Cell::Float(*x),
            FuzzCell::Bool(b) => Cell::Bool(*b),
            FuzzCell::Date(d) => {
                let iso = format!("2000-01-{:02}", d % 28 + 1);
                Cell::DateTime(CellDateTime::from_iso(&iso).expect("a valid date"))
            }
            FuzzCell::Error => Cell::Error("#N/A".into()),
            FuzzCell::Formula => Cell::FormulaWithoutValue("A1+1".into()),
        }
    }
}

/// A tiny repository: `K0` to `K2` of every type, every attribute filled with a valid value,
/// every reference pointing at `K0` (which refers to nothing), so it has no cycle of its own.
fn stored() -> &'static Snapshot {
    static STORED_ROWS: OnceLock<Snapshot> = OnceLock::new();
    STORED_ROWS.get_or_init(|| {
        let schema = &idbulk_fuzz::demo().schema;
        let mut tables = BTreeMap::new();
        for t in &schema.entity_types {
            let mut table = BTreeMap::new();
            for n in 0..STORED {
                let values = t
                    .attributes
                    .iter()
                    .map(|a| match &a.kind {
                        AttributeKind::Text => format!("{} {n}", a.name),
                        AttributeKind::Integer => n.to_string(),
                        AttributeKind::Decimal => format!("{n}.5"),
                        AttributeKind::Bool => "true".into(),
                        AttributeKind::Date => format!("2020-01-0{}", n + 1),
                        AttributeKind::Email => format!("k{n}@example.com"),
                        AttributeKind::Reference { .. } if n == 0 => String::new(),
                        AttributeKind::Reference { .. } => key(0),
                    })
                    .collect();
                table.insert(key(n).into(), Row { key: key(n).into(), values });
            }
            tables.insert(t.name.clone(), table);
        }
        Snapshot::of(1, tables)
    })
}

const COMMANDS: [&str; 8] = ["Add", "Modify", "Delete", "Merge", "", "add ", "DELETE", "Remove"];

fuzz_target!(|input: Input| {
    let demo = idbulk_fuzz::demo();
    let types = &demo.schema.entity_types;
    let sheets = input
        .sheets
        .iter()
        .take(6)
        .map(|s| {
            let t = &types[usize::from(s.entity) % types.len()];
            let mut headers = Vec::new();
            if s.with_command {
                headers.push("Command".to_string());
            }
            headers.push(t.key.clone());
            for c in s.columns.iter().take(16) {
                headers.push(match c {
                    255 => "Unknown column".to_string(),
                    c => t.attributes[usize::from(*c) % t.attributes.len()].name.clone(),
                });
            }
            let rows = s
                .rows
                .iter()
                .take(40)
                .zip(2u32..)
                .map(|(r, number)| {
                    let mut cells = Vec::new();
                    if s.with_command {
                        let command = COMMANDS[usize::from(r.command) % COMMANDS.len()];
                        cells.push(Cell::Text(command.into()));
                    }
                    cells.push(r.key.cell());
                    cells.extend(r.cells.iter().take(headers.len() + 1).map(FuzzCell::cell));
                    // Every other row of text alone packed, as the CSV reader keeps a record.
                    let texts: Option<Vec<String>> = cells
                        .iter()
                        .map(|c| match c {
                            Cell::Empty => Some(String::new()),
                            Cell::Text(t) => Some(t.to_string()),
                            _ => None,
                        })
                        .collect();
                    let cells = match texts {
                        Some(texts) if number % 2 == 0 => RowCells::Texts(texts.iter().collect()),
                        _ => cells.into(),
                    };
                    RawRow { row: number, cells }
                })
                .collect();
            RawSheet {
                name: if s.entity == 255 { "Sheet1".into() } else { t.name.clone() },
                headers: headers
                    .into_iter()
                    .zip(0u32..)
                    .map(|(text, column)| RawHeader { column, text })
                    .collect(),
                rows,
            }
        })
        .collect();
    let workbook = RawWorkbook {
        file_name: "fuzz.xlsx".into(),
        format: FileFormat::Xlsx,
        sheets,
        metadata: Vec::new(),
        notices: Vec::new(),
        csv_entity_type: None,
    };
    idbulk_fuzz::plan_and_check(demo, stored(), &workbook);
});
