//! Checks on the state the plan would leave: they see every row at once, so the order of the
//! file's rows never changes their outcome.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::schema::{EntityType, Schema};
use crate::store::{Row, Text};

use super::build::{LeadingZeros, SheetInfo, Snapshot};
use super::{Change, Finding, Op, Severity};

/// The repository as it would be after the plan: stored rows overlaid with the changes.
pub(super) struct FinalState<'a> {
    pub schema: &'a Schema,
    /// Per entity type (by index), its stored rows.
    tables: Vec<&'a BTreeMap<Text, Row>>,
    /// Per entity type (by index), its changes in key order.
    changes: Vec<&'a [Change]>,
}

impl<'a> FinalState<'a> {
    /// The state after `changes`, which come sorted by entity type (in the schema's order)
    /// and key, one per row, as [`super::build()`] makes them; a change of a type the schema
    /// does not have must not be among them.
    pub fn new(schema: &'a Schema, stored: &'a Snapshot, changes: &'a [Change]) -> FinalState<'a> {
        let mut rest = changes;
        let per_type = schema
            .entity_types
            .iter()
            .map(|t| {
                let (of_type, after) =
                    rest.split_at(rest.partition_point(|c| c.entity_type == t.name));
                rest = after;
                of_type
            })
            .collect();
        debug_assert!(rest.is_empty(), "changes of unknown types, or out of order");
        FinalState {
            schema,
            tables: schema.entity_types.iter().map(|t| stored.table(&t.name)).collect(),
            changes: per_type,
        }
    }

    fn type_index(&self, name: &str) -> Option<usize> {
        self.schema.entity_types.iter().position(|t| t.name == name)
    }

    /// The change of the row with this key, if the plan changes it.
    pub fn change(&self, ti: usize, key: &str) -> Option<&'a Change> {
        let changes = self.changes[ti];
        changes.binary_search_by(|c| c.key.as_str().cmp(key)).ok().map(|i| &changes[i])
    }

    /// The row with this key after the plan, if it exists then.
    pub fn row(&self, ti: usize, key: &str) -> Option<&'a Row> {
        match self.change(ti, key) {
            Some(c) => c.after.as_ref(),
            None => self.tables[ti].get(key),
        }
    }

    /// Every row of a type after the plan, in no particular order.
    pub fn rows(&self, ti: usize) -> impl Iterator<Item = &'a Row> + '_ {
        let changed = self.changes[ti].iter().filter_map(|c| c.after.as_ref());
        self.tables[ti].values().filter(move |r| self.change(ti, &r.key).is_none()).chain(changed)
    }

    /// The changes of a type, in key order.
    fn changes_of(&self, ti: usize) -> impl Iterator<Item = &'a Change> + use<'a> {
        self.changes[ti].iter()
    }
}

/// Runs every final-state check.
pub(super) fn run(
    state: &FinalState<'_>,
    sheets: &BTreeMap<usize, SheetInfo>,
    findings: &mut Vec<Finding>,
) {
    for (ti, et) in state.schema.entity_types.iter().enumerate() {
        for change in state.changes_of(ti) {
            required_values(et, change, sheets.get(&ti), findings);
            references(state, et, change, sheets.get(&ti), findings);
        }
        swapped_columns(state, ti, et, sheets.get(&ti), findings);
    }
    deletes_still_referenced(state, findings);
    cycles(state, sheets, findings);
}

/// Places a finding on a changed row's cell (or its row, or its sheet when the row is absent
/// from the file, as a complete-mode delete is).
fn at(
    change: &Change,
    sheet: Option<&SheetInfo>,
    attribute: Option<usize>,
    finding: Finding,
) -> Finding {
    let place = attribute.and_then(|ai| sheet.and_then(|s| s.columns.attribute(ai)));
    Finding {
        sheet: change
            .source
            .as_ref()
            .map(|s| s.sheet.clone())
            .or_else(|| sheet.map(|s| s.sheet.clone())),
        row: change.source.as_ref().map(|s| s.row),
        column: place.filter(|_| change.source.is_some()).map(|(l, _)| l.to_string()),
        header: place.map(|(_, h)| h.to_string()),
        ..finding
    }
}

/// Required attributes must hold a value in every row created or updated.
fn required_values(
    et: &EntityType,
    change: &Change,
    sheet: Option<&SheetInfo>,
    findings: &mut Vec<Finding>,
) {
    let Some(after) = &change.after else { return };
    for (ai, attr) in et.attributes.iter().enumerate() {
        let touched =
            change.op == Op::Create || change.fields.iter().any(|f| f.attribute == attr.name);
        if attr.required && touched && after.values[ai].is_empty() {
            let message = format!(
                "{} is required for every {}, and {} would have none.",
                attr.name, et.name, change.key
            );
            let fix = format!("Type a {}.", attr.kind.label());
            let finding = Finding::new(Severity::Error, "missing_required", message, fix);
            findings.push(at(change, sheet, Some(ai), finding));
        }
    }
}

/// Every reference a created or updated row sets must point at a row that will exist.
fn references(
    state: &FinalState<'_>,
    et: &EntityType,
    change: &Change,
    sheet: Option<&SheetInfo>,
    findings: &mut Vec<Finding>,
) {
    let Some(after) = &change.after else { return };
    for (ai, attr) in et.attributes.iter().enumerate() {
        let Some(target) = attr.kind.reference_target() else { continue };
        let value = &after.values[ai];
        let set_here =
            change.op == Op::Create || change.fields.iter().any(|f| f.attribute == attr.name);
        if value.is_empty() || !set_here {
            continue;
        }
        let Some(tti) = state.type_index(target) else { continue };
        if state.row(tti, value).is_some() {
            continue;
        }
        let stored = state.tables[tti];
        let zeros = LeadingZeros::index(stored.keys());
        let (code, message, fix) = match zeros.twin(value) {
            Some(twin) => (
                "lost_leading_zeros",
                format!(
                    "{} {value} does not exist; it looks like {twin} after Excel dropped its leading zeros.",
                    target
                ),
                format!("Format the column as Text and type {twin}."),
            ),
            None => {
                let deleted = state.change(tti, value).is_some_and(|c| c.op == Op::Delete);
                (
                    "dangling_reference",
                    if deleted {
                        format!(
                            "{} refers to {target} {value}, which this file deletes.",
                            attr.name
                        )
                    } else {
                        format!(
                            "{} refers to {target} {value}, which does not exist and is not created by this file.",
                            attr.name
                        )
                    },
                    format!(
                        "Use the key of an existing {target}, or add that {target} in the same file."
                    ),
                )
            }
        };
        let finding = Finding::new(Severity::Error, code, message, fix).with_value(value);
        findings.push(at(change, sheet, Some(ai), finding));
    }
}

/// A row that refers to another: (entity type, key, attribute).
type Referrer = (String, String, String);

/// A row may not be deleted while rows that remain still refer to it.
fn deletes_still_referenced(state: &FinalState<'_>, findings: &mut Vec<Finding>) {
    // deleted keys per target type index
    let mut deleted: BTreeMap<usize, BTreeMap<&str, &Change>> = BTreeMap::new();
    for ti in 0..state.schema.entity_types.len() {
        for c in state.changes_of(ti).filter(|c| c.op == Op::Delete) {
            deleted.entry(ti).or_default().insert(c.key.as_str(), c);
        }
    }
    if deleted.is_empty() {
        return;
    }
    // (target type, deleted key) -> the rows that still refer to it
    let mut referrers: BTreeMap<(usize, &str), Vec<Referrer>> = BTreeMap::new();
    for (ti, et) in state.schema.entity_types.iter().enumerate() {
        let refs: Vec<(usize, usize)> = et
            .attributes
            .iter()
            .enumerate()
            .filter_map(|(ai, a)| {
                let target = state.type_index(a.kind.reference_target()?)?;
                deleted.contains_key(&target).then_some((ai, target))
            })
            .collect();
        if refs.is_empty() {
            continue;
        }
        for row in state.rows(ti) {
            for &(ai, target) in &refs {
                let value = &row.values[ai];
                if let Some((&k, _)) = deleted.get(&target).and_then(|d| d.get_key_value(value)) {
                    // A reference this file itself sets to a deleted row is reported where it is set.
                    let set_by_file = state.change(ti, &row.key).is_some_and(|c| {
                        c.op == Op::Create
                            || c.fields.iter().any(|f| f.attribute == et.attributes[ai].name)
                    });
                    if !set_by_file {
                        referrers.entry((target, k)).or_default().push((
                            et.name.clone(),
                            row.key.to_string(),
                            et.attributes[ai].name.clone(),
                        ));
                    }
                }
            }
        }
    }
    for ((target, key), mut who) in referrers {
        who.sort();
        let change = deleted[&target][key];
        let et = &state.schema.entity_types[target];
        let sample: Vec<String> =
            who.iter().take(5).map(|(t, k, a)| format!("{t} {k} ({a})")).collect();
        let more =
            if who.len() > 5 { format!(" and {} more", who.len() - 5) } else { String::new() };
        findings.push(Finding {
            severity: Severity::Error,
            code: "delete_referenced",
            sheet: change
                .source
                .as_ref()
                .map(|s| s.sheet.clone())
                .or_else(|| Some(et.name.clone())),
            row: change.source.as_ref().map(|s| s.row),
            column: None,
            header: None,
            value: Some(key.to_string()),
            message: format!(
                "{} {key} cannot be deleted: {} still refer{} to it: {}{more}.",
                et.name,
                who.len(),
                if who.len() == 1 { "s" } else { "" },
                sample.join(", ")
            ),
            fix: format!(
                "Point those rows at another {} in the same file, or keep {key}.",
                et.name
            ),
        });
    }
}

/// Self-references (manager, parent) must not loop: `A -> B -> A`, nor `A -> A`.
fn cycles(
    state: &FinalState<'_>,
    sheets: &BTreeMap<usize, SheetInfo>,
    findings: &mut Vec<Finding>,
) {
    for (ti, et) in state.schema.entity_types.iter().enumerate() {
        for (ai, attr) in et.attributes.iter().enumerate() {
            if attr.kind.reference_target() != Some(et.name.as_str()) {
                continue;
            }
            // Rows known to lead to the top, and the walk's path with each key's place on it,
            // both reused from walk to walk: keys are borrowed from the rows (copying them at
            // every step was most of the checks' time, issue 6).
            let mut safe: HashSet<&str> = HashSet::new();
            let mut reported: BTreeSet<Vec<&str>> = BTreeSet::new();
            let mut path: Vec<&str> = Vec::new();
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for change in state.changes_of(ti) {
                let touched = change.op == Op::Create
                    || change.fields.iter().any(|f| f.attribute == attr.name);
                if change.after.is_none() || !touched {
                    continue;
                }
                // Walk up from the changed row until the top, a known-safe row, or a repeat.
                path.clear();
                seen.clear();
                path.push(&change.key);
                seen.insert(&change.key, 0);
                // The row walked from: each step looks up the row it goes to once.
                let mut row = change.after.as_ref();
                let cycle_start = loop {
                    let next = match row {
                        Some(r) if !r.values[ai].is_empty() => &r.values[ai],
                        _ => break None,
                    };
                    if safe.contains(next) {
                        break None;
                    }
                    row = state.row(ti, next);
                    if row.is_none() {
                        break None;
                    }
                    if let Some(&i) = seen.get(next) {
                        break Some(i);
                    }
                    seen.insert(next, path.len());
                    path.push(next);
                };
                let Some(start) = cycle_start else {
                    safe.extend(path.iter().copied());
                    continue;
                };
                let mut ring: Vec<&str> = path[start..].to_vec();
                // Name the cycle from its smallest key so each is reported once.
                let min = ring.iter().enumerate().min_by_key(|(_, k)| **k).map_or(0, |(i, _)| i);
                ring.rotate_left(min);
                if !reported.insert(ring.clone()) {
                    continue;
                }
                let sheet = sheets.get(&ti);
                let (code, message) = if ring.len() == 1 {
                    (
                        "self_reference",
                        format!("{} {} would have itself as its {}.", et.name, ring[0], attr.name),
                    )
                } else {
                    let mut named = ring.clone();
                    named.push(ring[0]);
                    (
                        "reference_cycle",
                        format!(
                            "{} would go round in a circle: {}.",
                            attr.name,
                            named.join(" -> ")
                        ),
                    )
                };
                // Report it on the changed row of the cycle that comes first in the file.
                let culprit = ring
                    .iter()
                    .filter_map(|k| state.change(ti, k))
                    .filter(|c| c.source.is_some())
                    .min_by_key(|c| c.source.clone())
                    .unwrap_or(change);
                let fix = if ring.len() == 1 {
                    format!("Give {} another {}, or none if it is the top.", ring[0], attr.name)
                } else {
                    format!(
                        "Give one of them a different {} (the top of the hierarchy has none).",
                        attr.name
                    )
                };
                let mut finding = Finding::new(Severity::Error, code, message, fix);
                finding.value = culprit.after.as_ref().map(|r| r.values[ai].to_string());
                findings.push(at(culprit, sheet, Some(ai), finding));
            }
        }
    }
}

/// The swapped-headers detector: in a complete-mode file, if the values under two columns are
/// the stored values of each other for many rows, the headers were most likely swapped.
fn swapped_columns(
    state: &FinalState<'_>,
    ti: usize,
    et: &EntityType,
    sheet: Option<&SheetInfo>,
    findings: &mut Vec<Finding>,
) {
    let Some(sheet) = sheet else { return };
    let updates: Vec<&Change> = state.changes_of(ti).filter(|c| c.op == Op::Update).collect();
    if updates.len() < 3 {
        return;
    }
    // Swapped values changed both attributes, so only pairs of a row's changed attributes
    // are compared: a few per row instead of every pair of every row (171 pairs for 19
    // attributes, a quarter of a 100k-row plan's time when every row was compared).
    let mut swapped_pairs: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut changed = Vec::new();
    for c in &updates {
        let (Some(old), Some(new)) = (&c.before, &c.after) else { continue };
        changed.clear();
        // Walked side by side: indexing finds each value's bounds again.
        let pairs = old.values.iter().zip(new.values.iter());
        changed.extend(pairs.enumerate().filter(|(_, (o, n))| o != n).map(|(i, _)| i));
        for (i, &a) in changed.iter().enumerate() {
            for &b in &changed[i + 1..] {
                if old.values[a] != old.values[b]
                    && new.values[a] == old.values[b]
                    && new.values[b] == old.values[a]
                {
                    *swapped_pairs.entry((a, b)).or_default() += 1;
                }
            }
        }
    }
    for ((a, b), swapped) in swapped_pairs {
        if swapped >= 3 && swapped * 2 >= updates.len() {
            let (na, nb) = (&et.attributes[a].name, &et.attributes[b].name);
            findings.push(Finding {
                severity: Severity::Warning,
                code: "swapped_columns",
                sheet: Some(sheet.sheet.clone()),
                row: None,
                column: None,
                header: None,
                value: None,
                message: format!(
                    "In {swapped} rows the values under {na} and {nb} are each other's stored values: were the two headers swapped?"
                ),
                fix: format!("Check the headers of the {na} and {nb} columns."),
            });
        }
    }
}
