//! The directory as lists: any entity type's rows, searched, sorted and paged, with references
//! shown by name; and the organisations with their manager, missing ones flagged.
//!
//! These answer the app's Directory screen from a [`Snapshot`] already read, so a screen that
//! pages through 100 000 people reads the repository once per revision, not once per page.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::plan::Snapshot;
use crate::schema::{AttributeKind, EntityType, Schema};
use crate::store::Row;
use crate::verify::{self, Parts, RowRef, Verification, cell};

/// The most rows one [`list`] page returns.
pub const MAX_PAGE: usize = 1_000;

/// What to list: one entity type, searched, sorted, one page of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ListQuery {
    /// The entity type (a sheet of the template).
    pub entity_type: String,
    /// Only rows whose key, name or any shown value contains this text, ignoring case.
    #[serde(default)]
    pub text: String,
    /// Sort by this column (as in [`ListPage::columns`]); `None` sorts by key.
    #[ts(optional = nullable)]
    pub sort: Option<String>,
    /// Largest first.
    #[serde(default)]
    pub descending: bool,
    /// The first row wanted, 0-based.
    pub offset: usize,
    /// How many rows (capped at [`MAX_PAGE`]).
    pub limit: usize,
}

/// One row of a list: its key, name and one shown value per column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ListRow {
    /// The row's key.
    pub key: String,
    /// Its display name.
    pub name: String,
    /// One value per column: references as the referenced row's name (or the key when no
    /// row has it).
    pub cells: Vec<String>,
}

/// A page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ListPage {
    /// The column names: the entity type's attributes, in schema order.
    pub columns: Vec<String>,
    /// Rows the search matches, in all.
    pub total: usize,
    /// The requested page.
    pub rows: Vec<ListRow>,
}

/// Lists one entity type; see [`ListQuery`].
///
/// # Errors
///
/// [`crate::ErrorCode::Usage`] for an entity type or sort column the schema does not have.
pub fn list(schema: &Schema, rows: &Snapshot, query: &ListQuery) -> Result<ListPage> {
    let t = schema.entity_type(&query.entity_type).ok_or_else(|| {
        Error::usage(format!("There is no entity type called {:?}.", query.entity_type))
    })?;
    let sort_by =
        match &query.sort {
            None => None,
            Some(column) if *column == t.key => None,
            Some(column) => Some(t.attribute_index(column).ok_or_else(|| {
                Error::usage(format!("{} has no column called {column:?}.", t.name))
            })?),
        };
    let needle = query.text.trim().to_lowercase();
    let mut matched: Vec<ListRow> = rows
        .table(&t.name)
        .values()
        .map(|row| shown(schema, rows, t, row))
        .filter(|r| needle.is_empty() || mentions(r, &needle))
        .collect();
    // Rows come in key order; a stable sort keeps it among equal values.
    if let Some(i) = sort_by {
        matched.sort_by(|a, b| natural(&a.cells[i], &b.cells[i]));
    }
    if query.descending {
        matched.reverse();
    }
    let total = matched.len();
    let rows = matched.into_iter().skip(query.offset).take(query.limit.min(MAX_PAGE)).collect();
    Ok(ListPage { columns: t.attributes.iter().map(|a| a.name.clone()).collect(), total, rows })
}

/// A row as a list shows it.
fn shown(schema: &Schema, rows: &Snapshot, t: &EntityType, row: &Row) -> ListRow {
    let cells = t
        .attributes
        .iter()
        .zip(&row.values)
        .map(|(a, value)| match (&a.kind, value.is_empty()) {
            (AttributeKind::Reference { target }, false) => schema
                .entity_type(target)
                .and_then(|tt| rows.table(target).get(value).map(|r| r.display_name(tt)))
                .unwrap_or_else(|| value.to_string()),
            _ => value.to_string(),
        })
        .collect();
    ListRow { key: row.key.to_string(), name: row.display_name(t), cells }
}

fn mentions(row: &ListRow, needle: &str) -> bool {
    let contains = |text: &str| text.to_lowercase().contains(needle);
    contains(&row.key) || contains(&row.name) || row.cells.iter().any(|c| contains(c))
}

/// Text order that puts empty values last and compares case-insensitively, so a sort by
/// manager lists "Adams" before "baker" and people without one at the end.
fn natural(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.to_lowercase().cmp(&b.to_lowercase()).then_with(|| a.cmp(b)),
    }
}

/// An organisation as the departments list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Department {
    /// The organisation.
    pub organization: RowRef,
    /// Its parent, if it has one.
    pub parent: Option<RowRef>,
    /// Its manager, when that person exists.
    pub manager: Option<RowRef>,
    /// People whose organisation it is.
    pub people: usize,
    /// What verification says about its manager (`organization_without_manager`,
    /// `organization_manager_unknown`, `organization_manager_left`), if anything.
    pub problem: Option<String>,
    /// The problem in words.
    pub problem_message: Option<String>,
}

/// Every organisation with its manager and headcount, flagged where verification finds the
/// manager missing, unknown or gone; empty when the schema has no organisation role.
pub fn departments(schema: &Schema, rows: &Snapshot, today: NaiveDate) -> Vec<Department> {
    let parts = Parts::of(schema);
    let Some(org_type) = parts.organization else { return Vec::new() };
    let verification = verify::check(schema, rows, today);
    let problems = manager_problems(&verification, &org_type.name);
    let mut people: BTreeMap<&str, usize> = BTreeMap::new();
    if let (Some(person), Some(org_attr)) = (parts.person, parts.person_organization) {
        for row in rows.table(&person.name).values() {
            *people.entry(cell(row, org_attr)).or_default() += 1;
        }
    }
    let refer = |t: Option<&EntityType>, key: &str| -> Option<RowRef> {
        let t = t?;
        rows.table(&t.name).get(key).map(|r| RowRef::of(t, r))
    };
    rows.table(&org_type.name)
        .values()
        .map(|row| {
            let problem = problems.get(row.key.as_str());
            Department {
                organization: RowRef::of(org_type, row),
                parent: parts.organization_parent.and_then(|i| refer(Some(org_type), cell(row, i))),
                manager: parts.organization_manager.and_then(|i| refer(parts.person, cell(row, i))),
                people: people.get(row.key.as_str()).copied().unwrap_or(0),
                problem: problem.map(|(code, _)| code.to_string()),
                problem_message: problem.map(|(_, message)| message.clone()),
            }
        })
        .collect()
}

/// The organisations' manager findings, by organisation key.
fn manager_problems<'v>(
    verification: &'v Verification,
    org_type: &str,
) -> BTreeMap<&'v str, (&'static str, String)> {
    let codes = [
        verify::ORGANIZATION_WITHOUT_MANAGER,
        verify::ORGANIZATION_MANAGER_UNKNOWN,
        verify::ORGANIZATION_MANAGER_LEFT,
    ];
    verification
        .findings
        .iter()
        .filter(|f| codes.contains(&f.code))
        .filter_map(|f| {
            let org = f.rows.iter().find(|r| r.entity_type == org_type)?;
            Some((org.key.as_str(), (f.code, f.message.clone())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, 15).unwrap()
    }

    fn demo() -> (tempfile::TempDir, Schema, Snapshot) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::demo::create(&dir.path().join("r.db"), today()).unwrap();
        let snapshot = Snapshot::load(&store).unwrap();
        (dir, store.schema().clone(), snapshot)
    }

    fn query(entity_type: &str) -> ListQuery {
        ListQuery { entity_type: entity_type.into(), limit: 50, ..ListQuery::default() }
    }

    #[test]
    fn people_are_listed_by_key_with_references_by_name() {
        let (_dir, schema, rows) = demo();
        let page = list(&schema, &rows, &query("User")).unwrap();
        assert_eq!(page.total, rows.table("User").len());
        assert_eq!(page.rows.len(), 50);
        assert!(page.rows.windows(2).all(|w| w[0].key < w[1].key), "key order");
        let org = page.columns.iter().position(|c| c == "Organization").unwrap();
        let first = &page.rows[0];
        let stored = &rows.table("User")[first.key.as_str()];
        let org_key = &stored.values[org];
        let org_name = rows.table("Organization")[org_key].values[0].to_string();
        assert_eq!(first.cells[org], org_name, "the organisation's name, not its key");
    }

    #[test]
    fn search_sort_and_paging_combine() {
        let (_dir, schema, rows) = demo();
        let mut q = query("User");
        q.sort = Some("LastName".into());
        q.descending = true;
        q.limit = 1_000;
        let all = list(&schema, &rows, &q).unwrap();
        let last = all.columns.iter().position(|c| c == "LastName").unwrap();
        assert!(
            all.rows.windows(2).all(|w| natural(&w[0].cells[last], &w[1].cells[last]).is_ge()),
            "descending by last name"
        );
        // An ASCII name: upper-casing "ß" gives "SS", which is not the same name.
        let someone = all.rows.iter().find(|r| r.name.is_ascii()).unwrap().clone();
        q.text = someone.name.to_uppercase();
        let found = list(&schema, &rows, &q).unwrap();
        assert!(found.rows.iter().any(|r| r.key == someone.key), "search ignores case");
        assert!(found.total < all.total);

        q.text.clear();
        q.offset = 10;
        q.limit = 5;
        let page = list(&schema, &rows, &q).unwrap();
        assert_eq!(page.rows, all.rows[10..15], "a page is a slice of the sorted list");
    }

    #[test]
    fn unknown_types_and_columns_are_usage_errors() {
        let (_dir, schema, rows) = demo();
        assert!(list(&schema, &rows, &query("Nope")).is_err());
        let mut q = query("User");
        q.sort = Some("Shoe size".into());
        let e = list(&schema, &rows, &q).unwrap_err();
        assert!(e.message.contains("Shoe size"), "{e:?}");
    }

    #[test]
    fn departments_flag_the_one_without_a_manager() {
        let (_dir, schema, rows) = demo();
        let deps = departments(&schema, &rows, today());
        assert_eq!(deps.len(), rows.table("Organization").len());
        let flagged: Vec<&Department> = deps.iter().filter(|d| d.problem.is_some()).collect();
        assert!(
            flagged.iter().any(|d| d.organization.key == "INN"
                && d.problem.as_deref() == Some(verify::ORGANIZATION_WITHOUT_MANAGER)),
            "the demo's Innovation Lab has no manager: {flagged:?}"
        );
        assert!(deps.iter().filter(|d| d.problem.is_none()).all(|d| d.manager.is_some()));
        let people: usize = deps.iter().map(|d| d.people).sum();
        assert!(people > 0 && people <= rows.table("User").len());
    }
}
