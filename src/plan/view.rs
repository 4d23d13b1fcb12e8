//! A plan as a screen shows it: filtered, in pages, without copying it.
//!
//! The app's Synchronize screen lists every change of a plan in a virtual grid. A plan may hold
//! 100 000 changes, so the screen never receives it whole: it asks for the page of rows it is
//! about to draw, under the filter the person typed, and for the headline ([`Overview`]) once.
//! [`PlanView`] holds the plan and answers those questions; it remembers the last filter's
//! matches so that scrolling through one filter costs a slice, not a scan.

use serde::{Deserialize, Serialize};

use super::{Change, FieldChange, Finding, InputFile, Mode, Op, Plan, SourceRow, TypeSummary};
use super::{Severity, Verdict};
use crate::schema::Schema;
use crate::thresholds::Evaluation;

/// The most findings an [`Overview`] carries; the rest are counted, and the file's own rows
/// are the place to fix them (a file with 10 000 errors is fixed by pattern, not one by one).
pub const OVERVIEW_FINDINGS: usize = 500;

/// The most rows one [`PlanView::page`] returns.
pub const MAX_PAGE: usize = 1_000;

/// How many rows of the unfiltered list an [`Overview`] carries: the grid's first page, so that
/// the first rows are drawn with the headline rather than after one more round trip (issue 6:
/// first rows on screen within 300 ms of the plan being ready).
pub const FIRST_PAGE: usize = 200;

/// Which changes to list. Every part is optional; the parts combine with "and".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Filter {
    /// Only this entity type.
    #[ts(optional = nullable)]
    pub entity_type: Option<String>,
    /// Only this operation.
    #[ts(optional = nullable)]
    pub op: Option<Op>,
    /// Only changes whose key, name or any old or new value contains this text, ignoring case.
    #[serde(default)]
    pub text: String,
}

/// One change as a grid row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ChangeRow {
    /// Position among the changes the filter matched (0-based): the grid's row index.
    pub position: usize,
    /// The entity type.
    pub entity_type: String,
    /// The row's key.
    pub key: String,
    /// The name people know the row by (after the change, or before it for a delete).
    pub name: String,
    /// Create, update or delete.
    pub op: Op,
    /// The spreadsheet row it came from.
    pub source: Option<SourceRow>,
    /// The attributes it changes, old and new.
    pub fields: Vec<FieldChange>,
}

/// A page of rows and how many rows the filter matches in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Page {
    /// Changes the filter matches, in all.
    pub total: usize,
    /// The rows from the requested offset, at most the requested count.
    pub rows: Vec<ChangeRow>,
}

/// The headline of a plan: everything the preview shows except the rows.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Overview {
    /// Complete or incremental.
    pub mode: Mode,
    /// The uploaded file.
    pub file: InputFile,
    /// The repository revision the plan was built on.
    pub base_revision: u64,
    /// Whether it can be applied, needs a force, or has errors.
    pub verdict: Verdict,
    /// Counts per entity type, in schema order.
    pub summaries: Vec<TypeSummary>,
    /// The thresholds checked against the counts.
    pub thresholds: Evaluation,
    /// Changes in all.
    pub changes: usize,
    /// Errors in all.
    pub errors: usize,
    /// Warnings in all.
    pub warnings: usize,
    /// The first [`OVERVIEW_FINDINGS`] findings, errors first.
    pub findings: Vec<Finding>,
    /// The first [`FIRST_PAGE`] rows without a filter: what [`PlanView::page`] answers for
    /// `(Filter::default(), 0, FIRST_PAGE)`.
    pub first_page: Page,
}

/// A plan held for a screen: see the module documentation.
#[derive(Debug)]
pub struct PlanView {
    plan: Plan,
    schema: Schema,
    /// The last filter asked for and the indices of the changes it matches.
    matches: Option<(Filter, Vec<u32>)>,
}

impl PlanView {
    /// Holds `plan`, built against `schema`.
    pub fn new(schema: Schema, plan: Plan) -> PlanView {
        PlanView { plan, schema, matches: None }
    }

    /// The plan itself (to apply it).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The headline: counts, thresholds, verdict, the first findings and the first page of
    /// the unfiltered list (whose matches stay cached for the pages that follow).
    pub fn overview(&mut self) -> Overview {
        let first_page = self.page(&Filter::default(), 0, FIRST_PAGE);
        let plan = &self.plan;
        let mut findings: Vec<&Finding> = plan.findings.iter().collect();
        // Stable: within a severity the plan's order (sheet, row, column) is kept.
        findings.sort_by_key(|f| f.severity != Severity::Error);
        Overview {
            mode: plan.mode,
            file: plan.file.clone(),
            base_revision: plan.base_revision,
            verdict: plan.verdict(),
            summaries: plan.summaries.clone(),
            thresholds: plan.thresholds.clone(),
            changes: plan.changes.len(),
            errors: plan.errors().count(),
            warnings: plan.warnings().count(),
            findings: findings.into_iter().take(OVERVIEW_FINDINGS).cloned().collect(),
            first_page,
        }
    }

    /// The rows `offset..offset + limit` of the changes `filter` matches (`limit` is capped at
    /// [`MAX_PAGE`]); an offset past the end gives an empty page with the right total.
    pub fn page(&mut self, filter: &Filter, offset: usize, limit: usize) -> Page {
        let limit = limit.min(MAX_PAGE);
        let (schema, plan) = (&self.schema, &self.plan);
        let matches = matches_of(&mut self.matches, schema, plan, filter);
        let rows = matches
            .iter()
            .enumerate()
            .skip(offset)
            .take(limit)
            .map(|(position, &i)| row_of(schema, &plan.changes[i as usize], position))
            .collect();
        Page { total: matches.len(), rows }
    }

    /// Where the change made by spreadsheet row `row` of `sheet` sits among the changes
    /// `filter` matches, or `None` if that row changes nothing (or the filter hides it): the
    /// "jump to the row" of a finding.
    pub fn position_of(&mut self, filter: &Filter, sheet: &str, row: u32) -> Option<usize> {
        let changes = &self.plan.changes;
        let matches = matches_of(&mut self.matches, &self.schema, &self.plan, filter);
        matches.iter().position(|&i| {
            changes[i as usize].source.as_ref().is_some_and(|s| s.row == row && s.sheet == sheet)
        })
    }
}

/// The indices of the changes `filter` matches, computed once per filter and kept in `cache`.
fn matches_of<'c>(
    cache: &'c mut Option<(Filter, Vec<u32>)>,
    schema: &Schema,
    plan: &Plan,
    filter: &Filter,
) -> &'c [u32] {
    if !matches!(cache, Some((f, _)) if f == filter) {
        let needle = filter.text.trim().to_lowercase();
        let indices = plan
            .changes
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                filter.entity_type.as_ref().is_none_or(|t| *t == c.entity_type)
                    && filter.op.is_none_or(|op| op == c.op)
                    && (needle.is_empty() || mentions(schema, c, &needle))
            })
            .map(|(i, _)| i as u32)
            .collect();
        *cache = Some((filter.clone(), indices));
    }
    cache.as_ref().map(|(_, m)| m.as_slice()).unwrap_or_default()
}

/// Whether a change's key, name or any value contains `needle` (already lower case).
fn mentions(schema: &Schema, change: &Change, needle: &str) -> bool {
    let contains = |text: &str| text.to_lowercase().contains(needle);
    contains(&change.key)
        || contains(&name_of(schema, change))
        || change.fields.iter().any(|f| contains(&f.old) || contains(&f.new))
}

fn row_of(schema: &Schema, change: &Change, position: usize) -> ChangeRow {
    ChangeRow {
        position,
        entity_type: change.entity_type.clone(),
        key: change.key.clone(),
        name: name_of(schema, change),
        op: change.op,
        source: change.source.clone(),
        fields: change.fields.clone(),
    }
}

/// The display name of the row after the change, or before it for a delete.
fn name_of(schema: &Schema, change: &Change) -> String {
    let row = change.after.as_ref().or(change.before.as_ref());
    match (schema.entity_type(&change.entity_type), row) {
        (Some(t), Some(row)) => row.display_name(t),
        _ => change.key.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::FieldChange;
    use crate::store::Row;
    use crate::thresholds::Evaluation;

    fn change(entity_type: &str, key: &str, op: Op, row: u32, title: &str) -> Change {
        let schema = Schema::directory();
        let t = schema.entity_type(entity_type).unwrap();
        let mut after = Row::empty(key, t);
        if entity_type == "User" {
            after.values.set(t.attribute_index("LastName").unwrap(), &format!("Name{key}"));
        }
        Change {
            entity_type: entity_type.into(),
            key: key.into(),
            op,
            source: Some(SourceRow { sheet: entity_type.into(), row }),
            fields: vec![FieldChange {
                attribute: "Title".into(),
                old: String::new(),
                new: title.into(),
            }],
            before: None,
            before_image: None,
            after: Some(after),
        }
    }

    fn view(changes: Vec<Change>, findings: Vec<Finding>) -> PlanView {
        let plan = Plan {
            mode: Mode::Complete,
            file: InputFile::from_bytes("f.xlsx", b""),
            base_revision: 3,
            summaries: Vec::new(),
            changes,
            findings,
            thresholds: Evaluation::default(),
        };
        PlanView::new(Schema::directory(), plan)
    }

    fn many(n: u32) -> PlanView {
        let ops = [Op::Create, Op::Update, Op::Delete];
        view(
            (0..n)
                .map(|i| change("User", &format!("{i:05}"), ops[i as usize % 3], i + 2, "Clerk"))
                .collect(),
            Vec::new(),
        )
    }

    #[test]
    fn pages_are_slices_of_the_matches_with_the_total() {
        let mut v = many(2_500);
        let page = v.page(&Filter::default(), 1_000, 10);
        assert_eq!(page.total, 2_500);
        assert_eq!(page.rows.len(), 10);
        assert_eq!(page.rows[0].position, 1_000);
        assert_eq!(page.rows[0].key, "01000");
        assert_eq!(page.rows[0].name, "Name01000", "the display name of the row");

        let tail = v.page(&Filter::default(), 2_495, 100);
        assert_eq!(tail.rows.len(), 5, "the last page is short");
        let past = v.page(&Filter::default(), 9_000, 100);
        assert_eq!((past.total, past.rows.len()), (2_500, 0));
        assert_eq!(v.page(&Filter::default(), 0, 50_000).rows.len(), MAX_PAGE, "capped");
    }

    #[test]
    fn filters_combine_entity_type_operation_and_text() {
        let mut v = view(
            vec![
                change("User", "00001", Op::Create, 2, "Nurse"),
                change("User", "00002", Op::Update, 3, "Pilot"),
                change("User", "00003", Op::Update, 4, "Nurse"),
                change("Site", "PAR", Op::Update, 2, "Nurse"),
            ],
            Vec::new(),
        );
        let keys = |v: &mut PlanView, f: Filter| -> Vec<String> {
            v.page(&f, 0, 100).rows.into_iter().map(|r| r.key).collect()
        };
        let users = Filter { entity_type: Some("User".into()), ..Filter::default() };
        assert_eq!(keys(&mut v, users.clone()), ["00001", "00002", "00003"]);
        let updates = Filter { op: Some(Op::Update), ..users.clone() };
        assert_eq!(keys(&mut v, updates.clone()), ["00002", "00003"]);
        let nurses = Filter { text: "  nURSE ".into(), ..updates };
        assert_eq!(keys(&mut v, nurses), ["00003"], "text ignores case and outer spaces");
        let by_name = Filter { text: "name00002".into(), ..Filter::default() };
        assert_eq!(keys(&mut v, by_name), ["00002"], "the display name matches too");
        let positions: Vec<usize> = v
            .page(&Filter { op: Some(Op::Update), ..Filter::default() }, 0, 100)
            .rows
            .iter()
            .map(|r| r.position)
            .collect();
        assert_eq!(positions, [0, 1, 2], "positions count within the filter");
    }

    #[test]
    fn a_findings_row_is_found_under_the_current_filter() {
        let mut v = many(30);
        assert_eq!(v.position_of(&Filter::default(), "User", 12), Some(10));
        let deletes = Filter { op: Some(Op::Delete), ..Filter::default() };
        // Rows 2, 5, 8, 11, ... are creates, 4, 7, 10, 13 ... deletes (i % 3 == 2).
        assert_eq!(v.position_of(&deletes, "User", 13), Some(3));
        assert_eq!(v.position_of(&deletes, "User", 12), None, "hidden by the filter");
        assert_eq!(v.position_of(&Filter::default(), "Site", 12), None, "another sheet");
    }

    #[test]
    fn the_overview_counts_everything_and_lists_errors_first() {
        let warning = Finding::new(Severity::Warning, "w", "w".into(), String::new());
        let error = Finding::new(Severity::Error, "e", "e".into(), String::new());
        let findings =
            vec![warning.clone(); OVERVIEW_FINDINGS].into_iter().chain([error]).collect::<Vec<_>>();
        let o = view(vec![change("User", "1", Op::Create, 2, "x")], findings).overview();
        assert_eq!((o.changes, o.errors, o.warnings), (1, 1, OVERVIEW_FINDINGS));
        assert_eq!(o.findings.len(), OVERVIEW_FINDINGS, "capped");
        assert_eq!(o.findings[0].severity, Severity::Error, "errors first");
        assert_eq!(o.verdict, Verdict::Invalid);
    }

    #[test]
    fn the_overview_carries_the_first_page_of_the_unfiltered_list() {
        let mut v = many(FIRST_PAGE as u32 + 50);
        let o = v.overview();
        assert_eq!(o.first_page, v.page(&Filter::default(), 0, FIRST_PAGE));
        assert_eq!((o.first_page.total, o.first_page.rows.len()), (FIRST_PAGE + 50, FIRST_PAGE));
        let mut small = many(3);
        assert_eq!(small.overview().first_page, small.page(&Filter::default(), 0, FIRST_PAGE));
    }
}
