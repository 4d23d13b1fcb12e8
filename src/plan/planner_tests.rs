//! Unit tests of the planner: one per arm of SPEC section 4's table, and one per check of
//! section 5, on a tiny repository built in memory.

use std::collections::BTreeMap;

use super::*;
use crate::import::{Cell, FileFormat, RawHeader, RawRow, RawSheet, RawWorkbook, RowCells};
use crate::schema::Schema;
use crate::store::Row;
use crate::thresholds::Thresholds;

const USER_HEADERS: [&str; 13] = [
    "Command",
    "Identifier",
    "FirstName",
    "LastName",
    "Email",
    "PhoneNumber",
    "UserType",
    "Organization",
    "Manager",
    "Site",
    "JobTitle",
    "ContractStartDate",
    "ContractEndDate",
];

/// A user row: key, last name, manager; everything else empty but the worker type.
fn user(key: &str, last: &str, manager: &str) -> Row {
    let schema = Schema::directory();
    let t = schema.entity_type("User").unwrap();
    let mut r = Row::empty(key, t);
    r.values.set(t.attribute_index("LastName").unwrap(), last);
    r.values.set(t.attribute_index("UserType").unwrap(), "EMP");
    r.values.set(t.attribute_index("Manager").unwrap(), manager);
    r
}

/// Stored: worker type EMP; users 00001 (top), 00002 and 00003 reporting to 00001.
fn stored() -> Snapshot {
    let schema = Schema::directory();
    let ut = schema.entity_type("UserType").unwrap();
    let mut emp = Row::empty("EMP", ut);
    emp.values.set(0, "Employee");
    let mut tables = BTreeMap::new();
    tables.insert("UserType".to_string(), BTreeMap::from([("EMP".into(), emp)]));
    let users =
        [user("00001", "Top", ""), user("00002", "Two", "00001"), user("00003", "Three", "00001")];
    tables.insert("User".to_string(), users.into_iter().map(|u| (u.key.clone(), u)).collect());
    Snapshot::of(7, tables)
}

/// A User sheet from rows of (header, value) pairs; rows start at spreadsheet row 2.
fn user_sheet(rows: &[&[(&str, &str)]]) -> RawWorkbook {
    let headers: Vec<RawHeader> = USER_HEADERS
        .iter()
        .enumerate()
        .map(|(i, h)| RawHeader { column: i as u32, text: h.to_string() })
        .collect();
    let rows = rows
        .iter()
        .enumerate()
        .map(|(i, cells)| RawRow {
            row: i as u32 + 2,
            cells: USER_HEADERS
                .iter()
                .map(|h| match cells.iter().find(|(name, _)| name == h) {
                    Some((_, v)) if !v.is_empty() => Cell::Text((*v).into()),
                    _ => Cell::Empty,
                })
                .collect(),
        })
        .collect();
    RawWorkbook {
        file_name: "t.xlsx".into(),
        format: FileFormat::Xlsx,
        sheets: vec![RawSheet { name: "User".into(), headers, rows }],
        metadata: Vec::new(),
        notices: Vec::new(),
        csv_entity_type: None,
    }
}

/// The plan of `workbook`, which every test also checks is the plan of the same rows packed
/// as a CSV record is ([`RowCells::Texts`]).
fn plan(workbook: &RawWorkbook, mode: Mode) -> Plan {
    let build = |workbook| {
        build(
            &Schema::directory(),
            &stored(),
            workbook,
            mode,
            InputFile::from_bytes("t.xlsx", b""),
            &Thresholds::default(),
        )
    };
    let mut packed = workbook.clone();
    for row in packed.sheets.iter_mut().flat_map(|s| s.rows.iter_mut()) {
        let texts = row.cells.iter().map(|c| c.to_string());
        row.cells = RowCells::Texts(texts.collect::<Vec<_>>().iter().collect());
    }
    let typed = build(workbook);
    assert_eq!(build(&packed), typed, "packed rows plan as typed ones");
    typed
}

fn ops(plan: &Plan) -> Vec<(Op, &str)> {
    plan.changes.iter().map(|c| (c.op, c.key.as_str())).collect()
}

fn codes(plan: &Plan) -> Vec<&'static str> {
    plan.findings.iter().map(|f| f.code).collect()
}

fn incremental(rows: &[&[(&str, &str)]]) -> Plan {
    plan(&user_sheet(rows), Mode::Incremental)
}

#[test]
fn add_creates_a_new_key_and_refuses_a_stored_one() {
    let p = incremental(&[&[
        ("Command", "Add"),
        ("Identifier", "00009"),
        ("LastName", "New"),
        ("UserType", "EMP"),
    ]]);
    assert_eq!(ops(&p), [(Op::Create, "00009")]);
    assert!(p.findings.is_empty(), "{:?}", p.findings);
    let p = incremental(&[&[
        ("Command", "Insert"),
        ("Identifier", "00002"),
        ("LastName", "X"),
        ("UserType", "EMP"),
    ]]);
    assert!(p.changes.is_empty());
    assert_eq!(codes(&p), ["already_exists"]);
    assert_eq!(p.findings[0].location(), "User!B2 (Identifier)");
}

#[test]
fn modify_updates_only_the_cells_given_and_refuses_an_unknown_key() {
    let p = incremental(&[&[("Command", "modify"), ("Identifier", "00002"), ("JobTitle", "Boss")]]);
    assert_eq!(ops(&p), [(Op::Update, "00002")]);
    assert_eq!(
        p.changes[0].fields,
        [FieldChange { attribute: "JobTitle".into(), old: "".into(), new: "Boss".into() }]
    );
    let p = incremental(&[&[("Command", "Update"), ("Identifier", "00042"), ("JobTitle", "Boss")]]);
    assert_eq!(codes(&p), ["not_found"]);
    assert!(p.has_errors());
}

#[test]
fn a_modify_that_changes_nothing_is_unchanged() {
    let p = incremental(&[&[("Command", "Modify"), ("Identifier", "00002"), ("LastName", "Two")]]);
    assert!(p.changes.is_empty());
    assert_eq!(p.summaries.iter().find(|s| s.entity_type == "User").unwrap().unchanged, 1);
}

#[test]
fn delete_removes_a_stored_row_and_only_warns_on_an_unknown_one() {
    let p = incremental(&[
        &[("Command", "Delete"), ("Identifier", "00003")],
        &[("Command", "Delete"), ("Identifier", "00099")],
    ]);
    assert_eq!(ops(&p), [(Op::Delete, "00003")]);
    assert_eq!(codes(&p), ["delete_not_found"]);
    assert_eq!(p.findings[0].severity, Severity::Warning);
}

#[test]
fn merge_updates_stored_rows_and_creates_new_ones() {
    let p = incremental(&[
        &[("Command", "Merge"), ("Identifier", "00002"), ("JobTitle", "Lead")],
        &[("Command", "MERGE"), ("Identifier", "00010"), ("LastName", "Ten"), ("UserType", "EMP")],
    ]);
    assert_eq!(ops(&p), [(Op::Update, "00002"), (Op::Create, "00010")]);
}

#[test]
fn null_null_clears_but_not_a_key_nor_a_required_value() {
    let p =
        incremental(&[&[("Command", "Modify"), ("Identifier", "00002"), ("Manager", "NULL_NULL")]]);
    assert_eq!(p.changes[0].fields[0].new, "");
    let p = incremental(&[&[("Command", "Modify"), ("Identifier", "NULL_NULL")]]);
    assert_eq!(codes(&p), ["null_key"]);
    let p = incremental(&[&[
        ("Command", "Modify"),
        ("Identifier", "00002"),
        ("LastName", "NULL_NULL"),
    ]]);
    assert_eq!(codes(&p), ["null_required"]);
}

#[test]
fn a_blank_or_unknown_command_is_an_error_for_that_row() {
    let p = incremental(&[
        &[("Identifier", "00002")],
        &[("Command", "Upsert"), ("Identifier", "00003")],
    ]);
    assert_eq!(codes(&p), ["missing_command", "unknown_command"]);
    assert_eq!(p.findings[1].location(), "User!A3 (Command)");
}

#[test]
fn complete_mode_creates_updates_and_deletes_the_absent() {
    let wb = user_sheet(&[
        &[("Identifier", "00001"), ("LastName", "Top"), ("UserType", "EMP")],
        &[
            ("Identifier", "00002"),
            ("LastName", "Renamed"),
            ("UserType", "EMP"),
            ("Manager", "00001"),
        ],
        &[("Identifier", "00004"), ("LastName", "Four"), ("UserType", "EMP"), ("Manager", "00002")],
    ]);
    let p = plan(&wb, Mode::Complete);
    assert_eq!(ops(&p), [(Op::Update, "00002"), (Op::Delete, "00003"), (Op::Create, "00004")]);
    assert_eq!(p.changes[1].source, None, "a complete-mode delete has no row");
    assert!(!p.has_errors(), "{:?}", p.findings);
}

#[test]
fn a_cell_holding_the_stored_value_changes_nothing_and_is_not_checked_again() {
    // A value stored before today's rules (an address without @): a full template gives it
    // back as it is, and that alone must not block the sync.
    let schema = Schema::directory();
    let t = schema.entity_type("User").unwrap();
    let mut snapshot = stored();
    let users = snapshot.tables.get_mut("User").unwrap();
    let two = users.get_mut("00002").unwrap();
    two.values.set(t.attribute_index("Email").unwrap(), "two at example");
    let sheet = |email: &str| {
        let two: &[(&str, &str)] = &[
            ("Identifier", "00002"),
            ("LastName", "Two"),
            ("Email", email),
            ("UserType", "EMP"),
            ("Manager", "00001"),
        ];
        user_sheet(&[
            &[("Identifier", "00001"), ("LastName", "Top"), ("UserType", "EMP")],
            two,
            &[
                ("Identifier", "00003"),
                ("LastName", "Three"),
                ("UserType", "EMP"),
                ("Manager", "00001"),
            ],
        ])
    };
    let plan = |wb: &RawWorkbook| {
        let file = InputFile::from_bytes("t.xlsx", b"");
        build(&schema, &snapshot, wb, Mode::Complete, file, &Thresholds::default())
    };
    let p = plan(&sheet("two at example"));
    assert!(p.findings.is_empty() && p.changes.is_empty(), "{:?}", p.findings);
    // Any other value is checked as ever.
    let p = plan(&sheet("still not one"));
    assert_eq!(codes(&p), ["bad_value"]);
    assert!(p.changes.is_empty());
}

#[test]
fn complete_mode_deletes_no_row_that_a_row_with_an_error_names() {
    // 00002 written as 2 (Excel dropped its zeros) and 00003 with a bad date: both rows are
    // errors, neither stored row is absent.
    let wb = user_sheet(&[
        &[("Identifier", "00001"), ("LastName", "Top"), ("UserType", "EMP")],
        &[("Identifier", "2"), ("LastName", "Two"), ("UserType", "EMP")],
        &[
            ("Identifier", "00003"),
            ("LastName", "Three"),
            ("UserType", "EMP"),
            ("ContractStartDate", "not a date"),
        ],
    ]);
    let p = plan(&wb, Mode::Complete);
    assert_eq!(codes(&p), ["lost_leading_zeros", "bad_value"]);
    assert!(p.changes.iter().all(|c| c.op != Op::Delete), "{:?}", ops(&p));
}

#[test]
fn complete_mode_null_null_means_empty_with_a_warning() {
    let wb = user_sheet(&[
        &[("Identifier", "00001"), ("LastName", "Top"), ("UserType", "EMP")],
        &[
            ("Identifier", "00002"),
            ("LastName", "Two"),
            ("UserType", "EMP"),
            ("Manager", "NULL_NULL"),
        ],
        &[
            ("Identifier", "00003"),
            ("LastName", "Three"),
            ("UserType", "EMP"),
            ("Manager", "00001"),
        ],
    ]);
    let p = plan(&wb, Mode::Complete);
    assert_eq!(ops(&p), [(Op::Update, "00002")]);
    assert_eq!(codes(&p), ["null_in_complete_mode"]);
}

#[test]
fn an_empty_complete_sheet_blocks_like_a_threshold() {
    let p = plan(&user_sheet(&[]), Mode::Complete);
    assert_eq!(p.changes.len(), 3);
    assert!(p.is_blocked());
    assert!(p.thresholds.broken().any(|c| c.counter == "empty_sheet"));
    assert_eq!(p.verdict(), Verdict::Blocked);
}

#[test]
fn duplicate_keys_name_both_rows_and_change_nothing() {
    let p = incremental(&[
        &[("Command", "Modify"), ("Identifier", "00002"), ("JobTitle", "A")],
        &[("Command", "Modify"), ("Identifier", "00002"), ("JobTitle", "B")],
    ]);
    assert!(p.changes.is_empty());
    assert_eq!(codes(&p), ["duplicate_key"]);
    assert!(p.findings[0].message.contains("rows 2 and 3"), "{}", p.findings[0].message);
}

#[test]
fn the_values_of_every_row_are_checked_whatever_their_key_order_or_duplicates() {
    // Values are read during the merge with the stored rows, in key order: each problem is
    // still reported on its own row, duplicates included, in row and column order.
    let p = incremental(&[
        &[("Command", "Modify"), ("Identifier", "00003"), ("ContractStartDate", "soon")],
        &[("Command", "Modify"), ("Identifier", "00002"), ("ContractEndDate", "later")],
        &[("Command", "Modify"), ("Identifier", "00002"), ("ContractStartDate", "never")],
        &[("Command", "Modify"), ("Identifier", "00001"), ("JobTitle", "Head")],
    ]);
    let found: Vec<_> = p.findings.iter().map(|f| (f.code, f.location())).collect();
    assert_eq!(
        found,
        [
            ("bad_value", "User!L2 (ContractStartDate)".to_string()),
            ("bad_value", "User!M3 (ContractEndDate)".to_string()),
            ("duplicate_key", "User!B4 (Identifier)".to_string()),
            ("bad_value", "User!L4 (ContractStartDate)".to_string()),
        ]
    );
    assert_eq!(ops(&p), [(Op::Update, "00001")], "the valid row is planned");
}

#[test]
fn a_reference_may_point_at_a_row_the_same_file_creates_but_not_at_nothing() {
    let p = incremental(&[
        &[("Command", "Modify"), ("Identifier", "00002"), ("Manager", "00010")],
        &[
            ("Command", "Add"),
            ("Identifier", "00010"),
            ("LastName", "Ten"),
            ("UserType", "EMP"),
            ("Manager", "00001"),
        ],
    ]);
    assert!(!p.has_errors(), "{:?}", p.findings);
    let p = incremental(&[&[("Command", "Modify"), ("Identifier", "00002"), ("Manager", "00077")]]);
    assert_eq!(codes(&p), ["dangling_reference"]);
    assert_eq!(p.findings[0].location(), "User!I2 (Manager)");
}

#[test]
fn manager_cycles_are_named_and_self_management_is_refused() {
    let p = incremental(&[&[("Command", "Modify"), ("Identifier", "00001"), ("Manager", "00002")]]);
    assert_eq!(codes(&p), ["reference_cycle"]);
    assert!(p.findings[0].message.contains("00001 -> 00002 -> 00001"), "{}", p.findings[0].message);
    let p = incremental(&[&[("Command", "Modify"), ("Identifier", "00003"), ("Manager", "00003")]]);
    assert_eq!(codes(&p), ["self_reference"]);
}

#[test]
fn a_ring_of_new_rows_is_reported_once_and_not_on_a_row_that_only_leads_into_it() {
    let add = |key: &'static str, manager: &'static str| -> [(&'static str, &'static str); 5] {
        [
            ("Command", "Add"),
            ("Identifier", key),
            ("LastName", "New"),
            ("UserType", "EMP"),
            ("Manager", manager),
        ]
    };
    // 00013 reports into the ring 00010 -> 00011 -> 00012 -> 00010, and is walked first.
    let p = incremental(&[
        &add("00013", "00011"),
        &add("00012", "00010"),
        &add("00011", "00012"),
        &add("00010", "00011"),
    ]);
    assert_eq!(codes(&p), ["reference_cycle"], "{:?}", p.findings);
    let message = &p.findings[0].message;
    assert!(message.contains(": 00010 -> 00011 -> 00012 -> 00010."), "{message}");
    assert_eq!(p.findings[0].row, Some(3), "on the ring's first row in the file (00012)");
}

#[test]
fn deleting_a_row_still_referenced_names_the_referrers() {
    let p = incremental(&[&[("Command", "Delete"), ("Identifier", "00001")]]);
    assert_eq!(codes(&p), ["delete_referenced"]);
    let m = &p.findings[0].message;
    assert!(m.contains("User 00002 (Manager)") && m.contains("User 00003 (Manager)"), "{m}");
    // Re-pointing the referrers in the same file makes the delete fine.
    let p = incremental(&[
        &[("Command", "Delete"), ("Identifier", "00001")],
        &[("Command", "Modify"), ("Identifier", "00002"), ("Manager", "NULL_NULL")],
        &[("Command", "Modify"), ("Identifier", "00003"), ("Manager", "00002")],
    ]);
    assert!(!p.has_errors(), "{:?}", p.findings);
}

#[test]
fn a_key_that_lost_its_leading_zeros_is_an_error() {
    let p = incremental(&[&[("Command", "Modify"), ("Identifier", "2"), ("JobTitle", "X")]]);
    assert_eq!(codes(&p), ["lost_leading_zeros"]);
    assert!(p.findings[0].message.contains("00002"));
    let p = incremental(&[&[("Command", "Modify"), ("Identifier", "00002"), ("Manager", "1")]]);
    assert_eq!(codes(&p), ["lost_leading_zeros"]);
    // Adding such a key is refused too: it would collide with the stored one.
    let p = incremental(&[&[("Command", "Add"), ("Identifier", "3"), ("LastName", "New")]]);
    assert_eq!(codes(&p), ["lost_leading_zeros"]);
    assert!(p.findings[0].message.contains("the stored 00003"), "{}", p.findings[0].message);
    assert!(p.changes.is_empty());
}

#[test]
fn invisible_characters_in_keys_are_refused() {
    let p = incremental(&[&[
        ("Command", "Add"),
        ("Identifier", "00\u{200B}9"),
        ("LastName", "Z"),
        ("UserType", "EMP"),
    ]]);
    assert_eq!(codes(&p), ["unsafe_key"]);
    assert!(p.findings[0].message.contains("zero-width space"));
}

#[test]
fn required_values_must_be_present_on_create() {
    let p = incremental(&[&[("Command", "Add"), ("Identifier", "00011"), ("UserType", "EMP")]]);
    assert_eq!(codes(&p), ["missing_required"]);
    assert_eq!(p.findings[0].location(), "User!D2 (LastName)");
}

#[test]
fn a_stale_full_template_is_recognised() {
    let mut wb = user_sheet(&[
        &[("Identifier", "00001"), ("LastName", "Top"), ("UserType", "EMP")],
        &[("Identifier", "00002"), ("LastName", "Two"), ("UserType", "EMP"), ("Manager", "00001")],
        &[
            ("Identifier", "00003"),
            ("LastName", "Three"),
            ("UserType", "EMP"),
            ("Manager", "00001"),
        ],
    ]);
    wb.metadata = vec![
        ("kind".into(), "full".into()),
        ("repository_revision".into(), "5".into()),
        ("schema_version".into(), "1".into()),
    ];
    let p = plan(&wb, Mode::Complete);
    assert_eq!(codes(&p), ["stale_template"]);
    assert!(p.findings[0].message.contains("revision 5"));
    wb.metadata[1].1 = "7".into();
    assert!(plan(&wb, Mode::Complete).findings.is_empty());
}

#[test]
fn swapped_headers_are_suspected_from_the_values() {
    let schema = Schema::directory();
    let t = schema.entity_type("User").unwrap();
    let (first, last) =
        (t.attribute_index("FirstName").unwrap(), t.attribute_index("LastName").unwrap());
    let mut snap = stored();
    for (i, u) in snap.tables.get_mut("User").unwrap().values_mut().enumerate() {
        u.values.set(first, &format!("First{i}"));
    }
    let mut rows: Vec<Vec<(String, String)>> = Vec::new();
    for u in snap.table("User").values() {
        rows.push(vec![
            ("Identifier".into(), u.key.to_string()),
            ("FirstName".into(), u.values[last].to_string()),
            ("LastName".into(), u.values[first].to_string()),
            ("UserType".into(), "EMP".into()),
            ("Manager".into(), u.values[t.attribute_index("Manager").unwrap()].to_string()),
        ]);
    }
    let borrowed: Vec<Vec<(&str, &str)>> =
        rows.iter().map(|r| r.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()).collect();
    let refs: Vec<&[(&str, &str)]> = borrowed.iter().map(|r| r.as_slice()).collect();
    let p = build(
        &schema,
        &snap,
        &user_sheet(&refs),
        Mode::Complete,
        InputFile::from_bytes("t", b""),
        &Thresholds::default(),
    );
    assert!(codes(&p).contains(&"swapped_columns"), "{:?}", p.findings);
}

#[test]
fn a_sheet_without_its_key_column_or_command_column_is_refused() {
    let mut wb = user_sheet(&[&[("Command", "Modify"), ("Identifier", "00002")]]);
    wb.sheets[0].headers[1].text = "Ident".into();
    let p = plan(&wb, Mode::Incremental);
    assert!(codes(&p).contains(&"missing_key_column"), "{:?}", codes(&p));
    let mut wb = user_sheet(&[&[("Identifier", "00002")]]);
    wb.sheets[0].headers[0].text = "Comment".into();
    assert!(codes(&plan(&wb, Mode::Incremental)).contains(&"missing_command_column"));
}

#[test]
fn the_plan_is_the_same_whatever_the_row_order() {
    let rows: [&[(&str, &str)]; 3] = [
        &[("Command", "Modify"), ("Identifier", "00002"), ("Manager", "00010")],
        &[
            ("Command", "Add"),
            ("Identifier", "00010"),
            ("LastName", "Ten"),
            ("UserType", "EMP"),
            ("Manager", "00001"),
        ],
        &[("Command", "Delete"), ("Identifier", "00003")],
    ];
    let forward = incremental(&rows);
    let mut reversed_rows = rows;
    reversed_rows.reverse();
    let backward = incremental(&reversed_rows);
    let strip = |p: &Plan| {
        p.changes.iter().map(|c| (c.op, c.key.clone(), c.fields.clone())).collect::<Vec<_>>()
    };
    assert_eq!(strip(&forward), strip(&backward));
    assert!(!forward.has_errors());
}

/// A change that did not come from a file, as an undo makes them: every value given.
fn bare_change(entity_type: &str, op: Op, before: Option<Row>, after: Option<Row>) -> Change {
    let row = after.as_ref().or(before.as_ref()).unwrap();
    Change {
        entity_type: entity_type.into(),
        key: row.key.to_string(),
        op,
        source: None,
        fields: Vec::new(),
        before,
        before_image: None,
        after,
    }
}

#[test]
fn changes_from_outside_a_file_are_checked_in_any_order_the_last_of_a_row_standing() {
    let schema = Schema::directory();
    let snapshot = stored();
    let emp = snapshot.table("UserType")["EMP"].clone();
    // Out of type and key order: the delete of worker type EMP (every user has it), a new
    // user 00004 under 00009 (no such user), then 00004 again under 00003.
    let changes = [
        bare_change("User", Op::Create, None, Some(user("00004", "Four", "00009"))),
        bare_change("UserType", Op::Delete, Some(emp), None),
        bare_change("User", Op::Create, None, Some(user("00004", "Four", "00003"))),
    ];
    let messages = |changes: &[Change]| -> Vec<String> {
        check_changes(&schema, &snapshot, changes).into_iter().map(|f| f.message).collect()
    };
    let all = messages(&changes);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[0].contains("UserType refers to UserType EMP, which this file deletes"), "{all:?}");
    assert!(all[1].starts_with("UserType EMP cannot be deleted: 3 still refer to it"), "{all:?}");
    assert!(!all.iter().any(|m| m.contains("00009")), "the last change of 00004 stands: {all:?}");
    let first = messages(&changes[..1]);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].contains("Manager refers to User 00009, which does not exist"), "{first:?}");
}
