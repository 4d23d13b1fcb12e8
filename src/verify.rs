//! Verification: what HR checks after a sync (SPEC section 8), and a person's sheet.
//!
//! # Overview
//!
//! [`run`] reads the whole repository in one read transaction and returns a [`Verification`]:
//! a list of [`Finding`]s, each with a stable [`code`](Finding::code), a [`Severity`], the rows
//! it is about (key and display name) and what to do. [`check`] is the same without the
//! SQLite checks, as a pure function of the rows, so it can verify any state (a plan's result,
//! the state before the last run).
//!
//! [`person_sheet`] is "check your own sheet and your hierarchy": a person's attributes with
//! the names of the rows they refer to, their manager chain up to the top, and their direct
//! reports.
//!
//! # Generic over the schema
//!
//! Nothing here names `User` or `Manager`. The schema's [`Roles`](crate::schema::Roles) say
//! which entity type holds people, which attribute is their manager, and so on; a check whose
//! roles are absent is skipped and listed in [`Verification::skipped`]. Dangling references
//! need no role: every reference attribute of every entity type is checked.
//!
//! # The checks, in the order they are reported
//!
//! | code | severity | rows named |
//! |---|---|---|
//! | [`ORGANIZATION_WITHOUT_MANAGER`] | warning | the organisation |
//! | [`ORGANIZATION_MANAGER_UNKNOWN`] | error | the organisation (the missing key is the value) |
//! | [`ORGANIZATION_MANAGER_LEFT`] | warning | the organisation, then its manager |
//! | [`PERSON_WITHOUT_MANAGER`] | warning | the person |
//! | [`MANAGER_CYCLE`] | error | the people of the loop, in link order |
//! | [`PARENT_CYCLE`] | error | the organisations of the loop, in link order |
//! | [`DANGLING_REFERENCE`] | error | every row holding the missing key |
//! | [`LEAVER_PRESENT`] | warning | the person |
//! | [`REPOSITORY_INTEGRITY`] | error | none (SQLite's own report is the message) |
//!
//! Errors are inconsistencies of the data itself; warnings are HR matters (a vacancy, a
//! leaver). `idbulk verify` exits 1 on either.
//!
//! # The top of the hierarchy
//!
//! Exactly one kind of person may lack a manager without a finding: the **top of the
//! hierarchy**. When the schema has organisations with a manager and a parent, the top is whoever
//! manages a *root* organisation (one with no parent): in the demo, the chief executive, who
//! manages the headquarters. A department head whose manager was cleared is therefore flagged,
//! even though people report to them. Without those roles there is no tree to find the top in,
//! so anyone without a manager who has direct reports counts as a top (the root of their own
//! reporting tree), and only people with neither a manager nor reports are flagged.
//!
//! # Dates
//!
//! `today` is passed in; the engine never reads the clock. A contract that ends *before*
//! `today` has ended; one that ends today is still running.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::error::{Error, ErrorCode, Result};
use crate::plan::Snapshot;
use crate::schema::{EntityType, Schema};
use crate::store::{Row, Store, Text};

/// An organisation has no manager.
pub const ORGANIZATION_WITHOUT_MANAGER: &str = "organization_without_manager";
/// An organisation's manager is a key no person has.
pub const ORGANIZATION_MANAGER_UNKNOWN: &str = "organization_manager_unknown";
/// An organisation's manager has left (their contract ended before today).
pub const ORGANIZATION_MANAGER_LEFT: &str = "organization_manager_left";
/// A person other than the top of the hierarchy has no manager.
pub const PERSON_WITHOUT_MANAGER: &str = "person_without_manager";
/// Managers go round in a circle (`A -> B -> A`, or `A -> A`).
pub const MANAGER_CYCLE: &str = "manager_cycle";
/// Organisation parents go round in a circle.
pub const PARENT_CYCLE: &str = "parent_cycle";
/// A reference attribute holds a key that no row of its target type has.
pub const DANGLING_REFERENCE: &str = "dangling_reference";
/// A person whose contract ended before today is still in the repository.
pub const LEAVER_PRESENT: &str = "leaver_present";
/// SQLite's `integrity_check` or `foreign_key_check` reported a problem.
pub const REPOSITORY_INTEGRITY: &str = "repository_integrity";

/// Every finding code with a title for people, in report order.
pub const CHECKS: [(&str, &str); 9] = [
    (ORGANIZATION_WITHOUT_MANAGER, "Organisations without a manager"),
    (ORGANIZATION_MANAGER_UNKNOWN, "Organisations whose manager does not exist"),
    (ORGANIZATION_MANAGER_LEFT, "Organisations whose manager has left"),
    (PERSON_WITHOUT_MANAGER, "People without a manager"),
    (MANAGER_CYCLE, "Manager cycles"),
    (PARENT_CYCLE, "Organisation parent cycles"),
    (DANGLING_REFERENCE, "References to rows that do not exist"),
    (LEAVER_PRESENT, "Leavers still present"),
    (REPOSITORY_INTEGRITY, "Repository file integrity"),
];

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ts_rs::TS)]
#[ts(export, rename = "VerifySeverity")]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The data contradicts itself (a loop, a reference to nothing, a damaged file).
    Error,
    /// Something HR should act on (a vacancy, a leaver), though the data is consistent.
    Warning,
}

/// A row a finding is about: its type, key and the name people know it by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct RowRef {
    /// The entity type.
    pub entity_type: String,
    /// The row's key.
    pub key: String,
    /// The row's display name ([`Row::display_name`]).
    pub name: String,
}

impl RowRef {
    /// The reference to a stored row.
    pub fn of(entity_type: &EntityType, row: &Row) -> RowRef {
        RowRef {
            entity_type: entity_type.name.clone(),
            key: row.key.to_string(),
            name: row.display_name(entity_type),
        }
    }

    /// `Organization INN (Innovation Lab)`, or `Organization INN` when the name is the key.
    pub fn label(&self) -> String {
        if self.name == self.key {
            format!("{} {}", self.entity_type, self.key)
        } else {
            format!("{} {} ({})", self.entity_type, self.key, self.name)
        }
    }
}

/// One thing verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export, rename = "VerifyFinding")]
pub struct Finding {
    /// A stable code for programs; one of the constants of this module.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// The rows concerned, in the order the message names them.
    pub rows: Vec<RowRef>,
    /// The attribute concerned, if one is.
    pub attribute: Option<String>,
    /// The offending value (a missing key, a past end date), if there is one.
    pub value: Option<String>,
    /// What is wrong, naming the rows.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// A check that did not run because the schema does not declare the roles it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct SkippedCheck {
    /// The finding code the check would produce.
    pub code: &'static str,
    /// The roles it needs, as named in the schema's `[roles]` table.
    pub needs: Vec<&'static str>,
}

/// Counts of findings, for a headline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export, rename = "VerifySummary")]
pub struct Summary {
    /// No finding at all.
    pub clean: bool,
    /// Findings of severity error.
    pub errors: usize,
    /// Findings of severity warning.
    pub warnings: usize,
    /// Findings per code (codes without findings are left out).
    pub by_code: BTreeMap<&'static str, usize>,
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Verification {
    /// The day contracts were compared with.
    pub today: NaiveDate,
    /// The repository revision verified.
    pub revision: u64,
    /// Counts of the findings.
    pub summary: Summary,
    /// The findings, in the order of [`CHECKS`], then by key.
    pub findings: Vec<Finding>,
    /// Checks skipped because the schema lacks their roles.
    pub skipped: Vec<SkippedCheck>,
}

impl Verification {
    fn new(
        today: NaiveDate,
        revision: u64,
        mut findings: Vec<Finding>,
        skipped: Vec<SkippedCheck>,
    ) -> Verification {
        let rank = |code: &str| CHECKS.iter().position(|(c, _)| *c == code).unwrap_or(CHECKS.len());
        // Stable: within a code, the order the check produced (by key) is kept.
        findings.sort_by_key(|f| rank(f.code));
        let mut summary = Summary { clean: findings.is_empty(), ..Summary::default() };
        for f in &findings {
            match f.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
            }
            *summary.by_code.entry(f.code).or_default() += 1;
        }
        Verification { today, revision, summary, findings, skipped }
    }

    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// The schema's roles resolved to entity types and attribute positions. An attribute role is
/// `Some` only when its entity type role is too (the schema validates that pairing).
pub(crate) struct Parts<'s> {
    pub person: Option<&'s EntityType>,
    pub person_manager: Option<usize>,
    pub person_organization: Option<usize>,
    pub person_worker_type: Option<usize>,
    pub person_site: Option<usize>,
    pub person_end_date: Option<usize>,
    pub organization: Option<&'s EntityType>,
    pub organization_manager: Option<usize>,
    pub organization_parent: Option<usize>,
    pub worker_type: Option<&'s EntityType>,
    pub worker_type_external: Option<usize>,
    pub worker_type_category: Option<usize>,
    pub site: Option<&'s EntityType>,
}

impl<'s> Parts<'s> {
    pub fn of(schema: &'s Schema) -> Parts<'s> {
        let r = &schema.roles;
        let ty = |name: &Option<String>| name.as_deref().and_then(|n| schema.entity_type(n));
        let attr = |owner: Option<&EntityType>, name: &Option<String>| {
            owner.zip(name.as_deref()).and_then(|(t, n)| t.attribute_index(n))
        };
        let (person, organization, worker_type) =
            (ty(&r.person), ty(&r.organization), ty(&r.worker_type));
        Parts {
            person,
            person_manager: attr(person, &r.person_manager),
            person_organization: attr(person, &r.person_organization),
            person_worker_type: attr(person, &r.person_worker_type),
            person_site: attr(person, &r.person_site),
            person_end_date: attr(person, &r.person_end_date),
            organization,
            organization_manager: attr(organization, &r.organization_manager),
            organization_parent: attr(organization, &r.organization_parent),
            worker_type,
            worker_type_external: attr(worker_type, &r.worker_type_external),
            worker_type_category: attr(worker_type, &r.worker_type_category),
            site: ty(&r.site),
        }
    }
}

/// The value of attribute `ai` of a row (`""` when empty).
pub(crate) fn cell(row: &Row, ai: usize) -> &str {
    row.values.get(ai).unwrap_or("")
}

/// The contract end of a person, if it is a date before `today`.
fn ended(row: &Row, end_date: Option<usize>, today: NaiveDate) -> Option<NaiveDate> {
    let text = cell(row, end_date?);
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().filter(|d| *d < today)
}

/// Verifies the repository: the checks of [`check`] plus SQLite's `integrity_check` and
/// `foreign_key_check`, all on one consistent read of the file.
///
/// # Errors
///
/// [`ErrorCode::Repository`] or [`ErrorCode::Busy`] if the repository cannot be read. A damaged
/// file that can still be read is a [`REPOSITORY_INTEGRITY`] finding, not an error.
///
/// # Examples
///
/// ```
/// use idbulk::{Schema, Store, verify};
///
/// let dir = tempfile::tempdir().expect("a temporary folder");
/// let store = Store::create(&dir.path().join("repository.db"), &Schema::directory())?;
/// let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("a date");
/// assert!(verify::run(&store, today)?.is_clean(), "an empty repository has nothing wrong");
/// # Ok::<(), idbulk::Error>(())
/// ```
pub fn run(store: &Store, today: NaiveDate) -> Result<Verification> {
    // The rows and the integrity checks from the same state of the file.
    let (rows, problems) =
        store.read(|store| Ok((Snapshot::load(store)?, store.integrity_problems()?)))?;
    let mut verification = check(store.schema(), &rows, today);
    let mut findings = std::mem::take(&mut verification.findings);
    findings.extend(problems.into_iter().map(|line| {
        Finding {
            code: REPOSITORY_INTEGRITY,
            severity: Severity::Error,
            rows: Vec::new(),
            attribute: None,
            value: None,
            message: format!("SQLite reports a problem in the repository file: {line}."),
            fix: "Stop syncing into this repository and restore it from a backup; nothing idbulk \
              writes can repair the file itself."
                .into(),
        }
    }));
    Ok(Verification::new(today, rows.revision, findings, verification.skipped))
}

/// Runs every data check on `rows` (see the [module overview](self)); pure, never fails.
pub fn check(schema: &Schema, rows: &Snapshot, today: NaiveDate) -> Verification {
    let parts = Parts::of(schema);
    let mut findings = Vec::new();
    let mut skipped = Vec::new();
    let mut skip = |code, needs: &[&'static str]| {
        skipped.push(SkippedCheck { code, needs: needs.to_vec() });
    };

    // The organisation manager attribute is left to its own check (a better message) when
    // that check runs.
    let mut covered: Option<(&str, usize)> = None;
    match (parts.organization, parts.organization_manager) {
        (Some(org), Some(mi)) => {
            organizations(&parts, org, mi, rows, today, &mut findings);
            // Without a person type the manager cannot be looked up here, so the generic
            // dangling-reference check keeps it.
            covered = parts.person.map(|_| (org.name.as_str(), mi));
            if parts.person.is_none() {
                skip(ORGANIZATION_MANAGER_UNKNOWN, &["person"]);
            }
            if parts.person_end_date.is_none() {
                skip(ORGANIZATION_MANAGER_LEFT, &["person", "person_end_date"]);
            }
        }
        _ => {
            for code in [
                ORGANIZATION_WITHOUT_MANAGER,
                ORGANIZATION_MANAGER_UNKNOWN,
                ORGANIZATION_MANAGER_LEFT,
            ] {
                skip(code, &["organization", "organization_manager"]);
            }
        }
    }
    match (parts.person, parts.person_manager) {
        (Some(person), Some(mi)) => {
            people_without_manager(&parts, person, mi, rows, &mut findings);
            cycles(person, mi, rows, MANAGER_CYCLE, &mut findings);
        }
        _ => {
            skip(PERSON_WITHOUT_MANAGER, &["person", "person_manager"]);
            skip(MANAGER_CYCLE, &["person", "person_manager"]);
        }
    }
    match (parts.organization, parts.organization_parent) {
        (Some(org), Some(pi)) => cycles(org, pi, rows, PARENT_CYCLE, &mut findings),
        _ => skip(PARENT_CYCLE, &["organization", "organization_parent"]),
    }
    dangling(schema, rows, covered, &mut findings);
    match (parts.person, parts.person_end_date) {
        (Some(person), Some(ei)) => leavers(person, ei, rows, today, &mut findings),
        _ => skip(LEAVER_PRESENT, &["person", "person_end_date"]),
    }
    Verification::new(today, rows.revision, findings, skipped)
}

fn organizations(
    parts: &Parts<'_>,
    org: &EntityType,
    mi: usize,
    rows: &Snapshot,
    today: NaiveDate,
    out: &mut Vec<Finding>,
) {
    let manager_attr = &org.attributes[mi].name;
    let people = parts.person.map(|p| (p, rows.table(&p.name)));
    for row in rows.table(&org.name).values() {
        let this = RowRef::of(org, row);
        let manager = cell(row, mi);
        let finding = |code, severity, rows, message, fix| Finding {
            code,
            severity,
            rows,
            attribute: Some(manager_attr.clone()),
            value: (!manager.is_empty()).then(|| manager.to_string()),
            message,
            fix,
        };
        if manager.is_empty() {
            out.push(finding(
                ORGANIZATION_WITHOUT_MANAGER,
                Severity::Warning,
                vec![this.clone()],
                format!("{} has no {manager_attr}.", this.label()),
                format!(
                    "Appoint one: give {} a {manager_attr} (in an incremental file, Modify {} with the {manager_attr}'s key).",
                    this.name, this.key
                ),
            ));
            continue;
        }
        let Some((person, table)) = people else { continue };
        let Some(boss) = table.get(manager) else {
            out.push(finding(
                ORGANIZATION_MANAGER_UNKNOWN,
                Severity::Error,
                vec![this.clone()],
                format!(
                    "{} has {manager_attr} {manager}, but there is no {} {manager}.",
                    this.label(),
                    person.name
                ),
                format!(
                    "Give {} an existing {} as {manager_attr}, or add {} {manager}.",
                    this.name, person.name, person.name
                ),
            ));
            continue;
        };
        if let Some(end) = ended(boss, parts.person_end_date, today) {
            let boss = RowRef::of(person, boss);
            out.push(Finding {
                value: Some(end.to_string()),
                ..finding(
                    ORGANIZATION_MANAGER_LEFT,
                    Severity::Warning,
                    vec![this.clone(), boss.clone()],
                    format!(
                        "{} is managed by {}, whose contract ended on {end}.",
                        this.label(),
                        boss.label()
                    ),
                    format!(
                        "Appoint a new {manager_attr} for {}, or correct {}'s contract end if it was extended.",
                        this.name, boss.name
                    ),
                )
            });
        }
    }
}

/// Who may have no manager; see "The top of the hierarchy" in the module docs.
pub(crate) struct Top {
    /// Keys of the people at the top.
    pub keys: BTreeSet<String>,
    /// The rule used, as a sentence for fixes.
    pub rule: String,
}

pub(crate) fn top_of_hierarchy(parts: &Parts<'_>, rows: &Snapshot) -> Top {
    let (Some(person), Some(pm)) = (parts.person, parts.person_manager) else {
        return Top { keys: BTreeSet::new(), rule: String::new() };
    };
    if let (Some(org), Some(om), Some(op)) =
        (parts.organization, parts.organization_manager, parts.organization_parent)
    {
        let roots: Vec<&Row> =
            rows.table(&org.name).values().filter(|r| cell(r, op).is_empty()).collect();
        let keys = roots.iter().map(|r| cell(r, om)).filter(|k| !k.is_empty());
        let names: Vec<String> = roots.iter().map(|r| r.display_name(org)).collect();
        return Top {
            keys: keys.map(str::to_string).collect(),
            rule: format!(
                "only the {} of an {} without a {} (the top of the hierarchy{}) may have no {}",
                org.attributes[om].name,
                org.name,
                org.attributes[op].name,
                if names.is_empty() { String::new() } else { format!(": {}", names.join(", ")) },
                person.attributes[pm].name
            ),
        };
    }
    let table = rows.table(&person.name);
    let managers: BTreeSet<&str> =
        table.values().map(|r| cell(r, pm)).filter(|k| !k.is_empty()).collect();
    Top {
        keys: table
            .values()
            .filter(|r| cell(r, pm).is_empty() && managers.contains(r.key.as_str()))
            .map(|r| r.key.to_string())
            .collect(),
        rule: format!(
            "only the top of a reporting line (someone with direct reports) may have no {}",
            person.attributes[pm].name
        ),
    }
}

fn people_without_manager(
    parts: &Parts<'_>,
    person: &EntityType,
    mi: usize,
    rows: &Snapshot,
    out: &mut Vec<Finding>,
) {
    let top = top_of_hierarchy(parts, rows);
    let attr = &person.attributes[mi].name;
    for row in rows.table(&person.name).values() {
        if !cell(row, mi).is_empty() || top.keys.contains(row.key.as_str()) {
            continue;
        }
        let this = RowRef::of(person, row);
        out.push(Finding {
            code: PERSON_WITHOUT_MANAGER,
            severity: Severity::Warning,
            rows: vec![this.clone()],
            attribute: Some(attr.clone()),
            value: None,
            message: format!("{} has no {attr} and is not the top of the hierarchy.", this.label()),
            fix: format!("Give {} a {attr}: {}.", this.name, top.rule),
        });
    }
}

/// Every loop of a self-reference (attribute `ai` of `table` pointing into `table`), each as
/// its keys in link order starting from the smallest key, in order of that key.
pub(crate) fn find_cycles(table: &BTreeMap<Text, Row>, ai: usize) -> Vec<Vec<String>> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut found = Vec::new();
    for start in table.keys() {
        let mut path: Vec<&str> = Vec::new();
        let mut on_path: BTreeMap<&str, usize> = BTreeMap::new();
        let mut current = Some(start.as_str());
        while let Some(key) = current {
            if done.contains(key) {
                break;
            }
            if let Some(&i) = on_path.get(key) {
                let mut ring: Vec<String> = path[i..].iter().map(|k| k.to_string()).collect();
                let min = ring.iter().enumerate().min_by_key(|(_, k)| *k).map_or(0, |(i, _)| i);
                ring.rotate_left(min);
                found.push(ring);
                break;
            }
            on_path.insert(key, path.len());
            path.push(key);
            current = table
                .get(key)
                .map(|r| cell(r, ai))
                .filter(|next| !next.is_empty() && table.contains_key(*next));
        }
        done.extend(path);
    }
    found.sort();
    found
}

fn cycles(et: &EntityType, ai: usize, rows: &Snapshot, code: &'static str, out: &mut Vec<Finding>) {
    let table = rows.table(&et.name);
    let attr = &et.attributes[ai].name;
    for ring in find_cycles(table, ai) {
        let refs: Vec<RowRef> =
            ring.iter().filter_map(|k| table.get(k.as_str())).map(|r| RowRef::of(et, r)).collect();
        let mut named: Vec<String> = refs.iter().map(RowRef::label).collect();
        named.push(refs[0].label());
        let message = if ring.len() == 1 {
            format!("{} is its own {attr}.", refs[0].label())
        } else {
            format!("{attr} goes round in a circle: {}.", named.join(" -> "))
        };
        out.push(Finding {
            code,
            severity: Severity::Error,
            rows: refs,
            attribute: Some(attr.clone()),
            value: None,
            message,
            fix: format!(
                "Give one of them a {attr} outside the circle (the top of the hierarchy has none)."
            ),
        });
    }
}

fn dangling(
    schema: &Schema,
    rows: &Snapshot,
    covered: Option<(&str, usize)>,
    out: &mut Vec<Finding>,
) {
    for et in &schema.entity_types {
        for (ai, attr) in et.attributes.iter().enumerate() {
            let Some(target) = attr.kind.reference_target() else { continue };
            if covered == Some((et.name.as_str(), ai)) {
                continue;
            }
            let targets = rows.table(target);
            let mut missing: BTreeMap<&str, Vec<RowRef>> = BTreeMap::new();
            for row in rows.table(&et.name).values() {
                let value = cell(row, ai);
                if !value.is_empty() && !targets.contains_key(value) {
                    missing.entry(value).or_default().push(RowRef::of(et, row));
                }
            }
            for (key, holders) in missing {
                let sample: Vec<String> = holders.iter().take(5).map(RowRef::label).collect();
                let more = holders.len().saturating_sub(sample.len());
                out.push(Finding {
                    code: DANGLING_REFERENCE,
                    severity: Severity::Error,
                    attribute: Some(attr.name.clone()),
                    value: Some(key.to_string()),
                    message: format!(
                        "{} {} row{} {} {} {key}, but there is no {target} {key}: {}{}.",
                        holders.len(),
                        et.name,
                        if holders.len() == 1 { "" } else { "s" },
                        if holders.len() == 1 { "has" } else { "have" },
                        attr.name,
                        sample.join(", "),
                        if more > 0 { format!(" and {more} more") } else { String::new() }
                    ),
                    fix: format!(
                        "Point their {} at an existing {target}, or add {target} {key}.",
                        attr.name
                    ),
                    rows: holders,
                });
            }
        }
    }
}

fn leavers(
    person: &EntityType,
    ei: usize,
    rows: &Snapshot,
    today: NaiveDate,
    out: &mut Vec<Finding>,
) {
    let attr = &person.attributes[ei].name;
    for row in rows.table(&person.name).values() {
        let Some(end) = ended(row, Some(ei), today) else { continue };
        let this = RowRef::of(person, row);
        out.push(Finding {
            code: LEAVER_PRESENT,
            severity: Severity::Warning,
            rows: vec![this.clone()],
            attribute: Some(attr.clone()),
            value: Some(end.to_string()),
            message: format!("{} left on {end} ({attr}) but is still present.", this.label()),
            fix: format!(
                "Delete {} (an incremental file with Delete {}), or correct {attr} if the contract was extended.",
                this.name, this.key
            ),
        });
    }
}

/// One attribute on a person's sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct SheetField {
    /// The attribute's name.
    pub attribute: String,
    /// Its canonical value (`""` when empty).
    pub value: String,
    /// For a reference to a stored row, that row.
    pub refers_to: Option<RowRef>,
    /// A reference to a key no row has.
    pub dangling: bool,
}

/// Where a manager chain stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainEnd {
    /// At `key`, the top of the hierarchy.
    Top {
        /// The last person of the chain.
        key: String,
    },
    /// At `key`, who has no manager but is not the top (verify flags them).
    NoManager {
        /// The last person of the chain.
        key: String,
    },
    /// At `key`, whose manager `manager` does not exist.
    UnknownManager {
        /// The last person of the chain.
        key: String,
        /// The missing manager's key.
        manager: String,
    },
    /// The chain comes back to `key`: the managers go round in a circle.
    Cycle {
        /// The person the chain returns to.
        key: String,
    },
    /// The schema declares no manager attribute (`roles.person_manager`).
    NotTracked,
}

/// A person's sheet: "check your own sheet and your hierarchy".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct PersonSheet {
    /// The person.
    pub person: RowRef,
    /// Every attribute in schema order, with referenced rows' names.
    pub attributes: Vec<SheetField>,
    /// The manager chain, nearest first, up to where it stops.
    pub managers: Vec<RowRef>,
    /// Where and why the chain stops.
    pub chain_end: ChainEnd,
    /// The people whose manager this person is, by key.
    pub direct_reports: Vec<RowRef>,
    /// The organisations this person manages, by key.
    pub manages: Vec<RowRef>,
}

/// The sheet of the person with key `key`; see [`PersonSheet`].
///
/// # Errors
///
/// [`ErrorCode::Usage`] when the schema declares no person type (`roles.person`),
/// [`ErrorCode::NotFound`] when no person has that key (the message suggests the key with its
/// leading zeros if that is what was meant), [`ErrorCode::Repository`] if the repository cannot
/// be read.
pub fn person_sheet(store: &Store, key: &str) -> Result<PersonSheet> {
    // Snapshot::load reads its rows in one transaction.
    let rows = Snapshot::load(store)?;
    sheet_of(store.schema(), &rows, key)
}

/// [`person_sheet`] on rows already read.
///
/// # Errors
///
/// As [`person_sheet`], without the repository errors.
pub fn sheet_of(schema: &Schema, rows: &Snapshot, key: &str) -> Result<PersonSheet> {
    let parts = Parts::of(schema);
    let Some(person) = parts.person else {
        return Err(Error::usage(
            "This repository's schema does not say which entity type holds people (roles.person), so there are no person sheets.",
        ));
    };
    let people = rows.table(&person.name);
    let Some(row) = people.get(key) else {
        let twin = people.keys().find(|k| {
            k.trim_start_matches('0') == key.trim_start_matches('0') && k.as_str() != key
        });
        let hint = twin.map(|t| format!(" Did you mean {t}?")).unwrap_or_default();
        return Err(Error::new(
            ErrorCode::NotFound,
            format!("There is no {} {key}.{hint}", person.name),
        ));
    };
    let attributes = person
        .attributes
        .iter()
        .enumerate()
        .map(|(ai, attr)| {
            let value = cell(row, ai).to_string();
            let target = attr.kind.reference_target().filter(|_| !value.is_empty());
            let found = target.and_then(|t| {
                let et = schema.entity_type(t)?;
                rows.table(t).get(value.as_str()).map(|r| RowRef::of(et, r))
            });
            SheetField {
                attribute: attr.name.clone(),
                dangling: target.is_some() && found.is_none(),
                refers_to: found,
                value,
            }
        })
        .collect();

    let mut managers = Vec::new();
    let chain_end = match parts.person_manager {
        None => ChainEnd::NotTracked,
        Some(mi) => {
            let top = top_of_hierarchy(&parts, rows);
            let mut seen = BTreeSet::from([row.key.as_str()]);
            let mut current = row;
            loop {
                let next = cell(current, mi);
                if next.is_empty() {
                    let key = current.key.to_string();
                    break if top.keys.contains(&key) {
                        ChainEnd::Top { key }
                    } else {
                        ChainEnd::NoManager { key }
                    };
                }
                let Some(boss) = people.get(next) else {
                    break ChainEnd::UnknownManager {
                        key: current.key.to_string(),
                        manager: next.to_string(),
                    };
                };
                if !seen.insert(boss.key.as_str()) {
                    break ChainEnd::Cycle { key: boss.key.to_string() };
                }
                managers.push(RowRef::of(person, boss));
                current = boss;
            }
        }
    };
    let direct_reports = match parts.person_manager {
        Some(mi) => {
            people.values().filter(|r| cell(r, mi) == key).map(|r| RowRef::of(person, r)).collect()
        }
        None => Vec::new(),
    };
    let manages = match (parts.organization, parts.organization_manager) {
        (Some(org), Some(om)) => rows
            .table(&org.name)
            .values()
            .filter(|r| cell(r, om) == key)
            .map(|r| RowRef::of(org, r))
            .collect(),
        _ => Vec::new(),
    };
    Ok(PersonSheet {
        person: RowRef::of(person, row),
        attributes,
        managers,
        chain_end,
        direct_reports,
        manages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::DIRECTORY_TOML;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    /// A small directory: a CEO managing the root organisation, two departments.
    struct Fixture {
        schema: Schema,
        rows: Snapshot,
    }

    impl Fixture {
        fn new() -> Fixture {
            let mut f = Fixture { schema: Schema::directory(), rows: Snapshot::default() };
            f.put("UserType", "EMP", &[("DisplayName", "Employee")]);
            f.put("Organization", "HQ", &[("DisplayName", "Head office"), ("Manager", "1")]);
            f.put(
                "Organization",
                "ENG",
                &[("DisplayName", "Engineering"), ("Manager", "2"), ("Parent", "HQ")],
            );
            f.person("1", "Ada", "");
            f.person("2", "Grace", "1");
            f.person("3", "Linus", "2");
            f
        }

        fn put(&mut self, entity_type: &str, key: &str, values: &[(&str, &str)]) {
            let et = self.schema.entity_type(entity_type).unwrap();
            let mut row = Row::empty(key, et);
            for (name, value) in values {
                row.values.set(et.attribute_index(name).unwrap(), value);
            }
            self.rows.tables.entry(entity_type.into()).or_default().insert(key.into(), row);
        }

        fn person(&mut self, key: &str, first: &str, manager: &str) {
            self.put(
                "User",
                key,
                &[
                    ("FirstName", first),
                    ("LastName", "X"),
                    ("UserType", "EMP"),
                    ("Manager", manager),
                ],
            );
        }

        fn set(&mut self, entity_type: &str, key: &str, attribute: &str, value: &str) {
            let et = self.schema.entity_type(entity_type).unwrap();
            let ai = et.attribute_index(attribute).unwrap();
            let row = self.rows.tables.get_mut(entity_type).unwrap().get_mut(key).unwrap();
            row.values.set(ai, value);
        }

        fn codes(&self) -> Vec<(&'static str, Vec<String>)> {
            check(&self.schema, &self.rows, today())
                .findings
                .into_iter()
                .map(|f| (f.code, f.rows.into_iter().map(|r| r.key).collect()))
                .collect()
        }
    }

    #[test]
    fn a_sound_directory_is_clean_and_its_top_needs_no_manager() {
        let f = Fixture::new();
        let v = check(&f.schema, &f.rows, today());
        assert!(v.is_clean(), "{:#?}", v.findings);
        assert!(v.summary.clean);
        assert!(v.skipped.is_empty(), "the directory schema declares every role");
    }

    #[test]
    fn organisations_without_manager_with_an_unknown_one_or_one_who_left() {
        let mut f = Fixture::new();
        f.put("Organization", "LAB", &[("DisplayName", "Lab"), ("Parent", "ENG")]);
        f.put("Organization", "OPS", &[("DisplayName", "Ops"), ("Parent", "HQ"), ("Manager", "9")]);
        f.set("User", "3", "ContractEndDate", "2026-11-24");
        f.put("Organization", "QA", &[("DisplayName", "QA"), ("Parent", "ENG"), ("Manager", "3")]);
        let v = check(&f.schema, &f.rows, today());
        let by_code: Vec<_> = v.findings.iter().map(|f| (f.code, f.rows[0].key.as_str())).collect();
        assert_eq!(
            by_code,
            [
                (ORGANIZATION_WITHOUT_MANAGER, "LAB"),
                (ORGANIZATION_MANAGER_UNKNOWN, "OPS"),
                (ORGANIZATION_MANAGER_LEFT, "QA"),
                (LEAVER_PRESENT, "3"),
            ],
            "the unknown manager is reported once, not again as a dangling reference"
        );
        assert_eq!(v.findings[0].message, "Organization LAB (Lab) has no Manager.");
        assert_eq!(v.findings[1].value.as_deref(), Some("9"));
        assert_eq!(v.findings[2].rows[1].name, "Linus X", "the manager who left is named");
        assert_eq!(v.summary.errors, 1);
        assert_eq!(v.summary.warnings, 3);
        assert_eq!(v.summary.by_code[LEAVER_PRESENT], 1);
    }

    #[test]
    fn a_contract_ending_today_has_not_ended() {
        let mut f = Fixture::new();
        f.set("User", "3", "ContractEndDate", "2026-11-25");
        assert!(f.codes().is_empty());
        f.set("User", "3", "ContractEndDate", "2026-11-24");
        assert_eq!(f.codes(), [(LEAVER_PRESENT, vec!["3".to_string()])]);
    }

    #[test]
    fn only_the_manager_of_a_root_organisation_may_lack_a_manager() {
        let mut f = Fixture::new();
        // A department head whose manager was cleared still has reports, and is flagged.
        f.set("User", "2", "Manager", "");
        assert_eq!(f.codes(), [(PERSON_WITHOUT_MANAGER, vec!["2".to_string()])]);
        let v = check(&f.schema, &f.rows, today());
        assert!(v.findings[0].fix.contains("Head office"), "{}", v.findings[0].fix);
    }

    #[test]
    fn without_organisation_roles_the_roots_of_reporting_lines_are_tops() {
        let text = DIRECTORY_TOML
            .replace("organization_manager = \"Manager\"\n", "")
            .replace("organization_parent = \"Parent\"\n", "");
        let mut f = Fixture::new();
        f.schema = Schema::from_toml(&text).unwrap();
        f.person("4", "Loner", "");
        assert_eq!(f.codes(), [(PERSON_WITHOUT_MANAGER, vec!["4".to_string()])]);
        let skipped: Vec<_> =
            check(&f.schema, &f.rows, today()).skipped.iter().map(|s| s.code).collect();
        assert_eq!(
            skipped,
            [
                ORGANIZATION_WITHOUT_MANAGER,
                ORGANIZATION_MANAGER_UNKNOWN,
                ORGANIZATION_MANAGER_LEFT,
                PARENT_CYCLE
            ]
        );
    }

    #[test]
    fn manager_and_parent_cycles_are_named_in_link_order_from_the_smallest_key() {
        let mut f = Fixture::new();
        f.person("7", "Seven", "5");
        f.person("5", "Five", "6");
        f.person("6", "Six", "7");
        f.person("8", "Eight", "8");
        f.put("Organization", "B", &[("DisplayName", "Bee"), ("Parent", "A"), ("Manager", "1")]);
        f.put("Organization", "A", &[("DisplayName", "Ay"), ("Parent", "B"), ("Manager", "1")]);
        let v = check(&f.schema, &f.rows, today());
        let cycles: Vec<_> = v
            .findings
            .iter()
            .filter(|x| x.code == MANAGER_CYCLE || x.code == PARENT_CYCLE)
            .map(|x| (x.code, x.message.as_str()))
            .collect();
        assert_eq!(
            cycles,
            [
                (
                    MANAGER_CYCLE,
                    "Manager goes round in a circle: User 5 (Five X) -> User 6 (Six X) -> User 7 (Seven X) -> User 5 (Five X)."
                ),
                (MANAGER_CYCLE, "User 8 (Eight X) is its own Manager."),
                (
                    PARENT_CYCLE,
                    "Parent goes round in a circle: Organization A (Ay) -> Organization B (Bee) -> Organization A (Ay)."
                ),
            ]
        );
    }

    #[test]
    fn cycles_are_found_once_even_when_reached_from_a_tail() {
        let mut f = Fixture::new();
        f.person("a", "A", "b");
        f.person("b", "B", "c");
        f.person("c", "C", "b");
        let user = f.schema.entity_type("User").unwrap();
        let mi = user.attribute_index("Manager").unwrap();
        assert_eq!(find_cycles(f.rows.table("User"), mi), [vec!["b", "c"]]);
    }

    #[test]
    fn dangling_references_of_any_type_are_grouped_by_missing_key() {
        let mut f = Fixture::new();
        f.set("User", "2", "Site", "NOPE");
        f.set("User", "3", "Site", "NOPE");
        f.set("User", "3", "UserType", "GONE");
        let v = check(&f.schema, &f.rows, today());
        let dangling: Vec<_> = v
            .findings
            .iter()
            .filter(|x| x.code == DANGLING_REFERENCE)
            .map(|x| {
                (
                    x.attribute.clone().unwrap(),
                    x.value.clone().unwrap(),
                    x.rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            dangling,
            [
                ("UserType".to_string(), "GONE".to_string(), vec!["3".to_string()]),
                ("Site".to_string(), "NOPE".to_string(), vec!["2".into(), "3".into()]),
            ]
        );
        assert!(v.findings.iter().any(|x| x.message.starts_with("2 User rows have Site NOPE")));
    }

    #[test]
    fn a_schema_without_roles_still_checks_references() {
        let text = "name='x'\nversion=1\n[[entity_type]]\nname='A'\nkey='Id'\nattributes=[{name='Next', kind='reference', target='A'}]";
        let schema = Schema::from_toml(text).unwrap();
        let mut rows = Snapshot::default();
        let et = schema.entity_type("A").unwrap();
        let mut row = Row::empty("1", et);
        row.values.set(0, "2");
        rows.tables.entry("A".into()).or_default().insert("1".into(), row);
        let v = check(&schema, &rows, today());
        assert_eq!(v.findings.iter().map(|f| f.code).collect::<Vec<_>>(), [DANGLING_REFERENCE]);
        assert_eq!(v.skipped.len(), 7, "every role-based check is listed as skipped");
    }

    #[test]
    fn run_reads_the_repository_and_its_integrity() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::demo::create(&dir.path().join("r.db"), today()).unwrap();
        let v = run(&store, today()).unwrap();
        assert!(
            v.findings
                .iter()
                .any(|f| f.code == ORGANIZATION_WITHOUT_MANAGER
                    && f.rows[0].name == "Innovation Lab")
        );
        assert!(!v.findings.iter().any(|f| f.code == PERSON_WITHOUT_MANAGER));
        assert!(!v.findings.iter().any(|f| f.code == REPOSITORY_INTEGRITY));
        assert_eq!(v.revision, store.revision().unwrap());
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["today"], "2026-11-25");
        assert_eq!(json["findings"][0]["severity"], "warning");
        assert_eq!(json["findings"][0]["rows"][0]["entity_type"], "Organization");
    }

    #[test]
    fn a_person_sheet_climbs_to_the_top_and_lists_reports() {
        let mut f = Fixture::new();
        f.person("4", "Ken", "2");
        let sheet = sheet_of(&f.schema, &f.rows, "3").unwrap();
        assert_eq!(sheet.person.name, "Linus X");
        let chain: Vec<_> = sheet.managers.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(chain, ["2", "1"]);
        assert_eq!(sheet.chain_end, ChainEnd::Top { key: "1".into() });
        let manager = sheet.attributes.iter().find(|a| a.attribute == "Manager").unwrap();
        assert_eq!(manager.refers_to.as_ref().unwrap().name, "Grace X");
        let boss = sheet_of(&f.schema, &f.rows, "2").unwrap();
        let reports: Vec<_> = boss.direct_reports.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(reports, ["3", "4"]);
        assert_eq!(boss.manages[0].name, "Engineering");
        let json = serde_json::to_value(&sheet).unwrap();
        assert_eq!(json["chain_end"], serde_json::json!({"kind": "top", "key": "1"}));
    }

    #[test]
    fn a_person_sheet_stops_on_a_cycle_or_an_unknown_manager() {
        let mut f = Fixture::new();
        f.set("User", "1", "Manager", "3");
        let sheet = sheet_of(&f.schema, &f.rows, "3").unwrap();
        let chain: Vec<_> = sheet.managers.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(chain, ["2", "1"]);
        assert_eq!(sheet.chain_end, ChainEnd::Cycle { key: "3".into() });

        f.set("User", "1", "Manager", "99");
        let sheet = sheet_of(&f.schema, &f.rows, "2").unwrap();
        assert_eq!(
            sheet.chain_end,
            ChainEnd::UnknownManager { key: "1".into(), manager: "99".into() }
        );
        let top = sheet_of(&f.schema, &f.rows, "1").unwrap();
        assert!(top.attributes.iter().any(|a| a.attribute == "Manager" && a.dangling));
    }

    #[test]
    fn an_unknown_person_is_not_found_with_a_hint_about_leading_zeros() {
        let mut f = Fixture::new();
        f.person("00042", "Zero", "1");
        let err = sheet_of(&f.schema, &f.rows, "42").unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound);
        assert_eq!(err.message, "There is no User 42. Did you mean 00042?");
    }
}
