//! Safety thresholds: limits on how many rows one sync may create, update or delete.
//!
//! There are three counters (created, updated, deleted), each with an absolute limit and a
//! percentage limit (percent of the rows stored before the sync), at two scopes: the whole
//! connection (counters summed over entity types) and each entity type. The connection defaults
//! to 100 rows and 5 % for every counter; entity-type limits default to 0, which means off.
//! Every active limit applies; exceeding any one **blocks** the plan, which then applies only
//! with an explicit force and a typed reason.
//!
//! An entity type with no stored rows is on its **initial load**: no limit applies to it, and
//! its rows are left out of the connection's sums.
//!
//! A complete-mode sheet with no data rows while rows are stored would delete them all: it
//! blocks the same way (see [`EMPTY_SHEET`]) whatever the limits say.

use std::collections::BTreeMap;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{Store, sql_error};

/// The scope name of the connection-wide limits.
pub const CONNECTION: &str = "connection";

/// The pseudo-counter of the empty-sheet accident detector.
pub const EMPTY_SHEET: &str = "empty_sheet";

/// What a limit counts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ts_rs::TS,
)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    /// Rows created.
    Created,
    /// Rows updated.
    Updated,
    /// Rows deleted.
    Deleted,
}

impl Counter {
    /// All counters, in display order.
    pub const ALL: [Counter; 3] = [Counter::Created, Counter::Updated, Counter::Deleted];

    /// The counter's name as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Created => "created",
            Counter::Updated => "updated",
            Counter::Deleted => "deleted",
        }
    }

    /// Parses a counter name.
    pub fn parse(text: &str) -> Option<Counter> {
        Counter::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(text.trim()))
    }
}

/// One limit: an absolute count and a percentage; 0 switches either off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Limit {
    /// At most this many rows (0 = off).
    pub absolute: u64,
    /// At most this percent of the rows stored before the sync (0 = off).
    pub percent: f64,
}

impl Limit {
    /// A limit that never blocks.
    pub const OFF: Limit = Limit { absolute: 0, percent: 0.0 };
    /// The connection's default: 100 rows and 5 %.
    pub const CONNECTION_DEFAULT: Limit = Limit { absolute: 100, percent: 5.0 };
}

/// Every limit in force: connection-wide and per entity type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Thresholds {
    /// Limits on the counters summed over all entity types.
    pub connection: BTreeMap<Counter, Limit>,
    /// Limits per entity type (absent = off).
    pub per_type: BTreeMap<String, BTreeMap<Counter, Limit>>,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            connection: Counter::ALL.into_iter().map(|c| (c, Limit::CONNECTION_DEFAULT)).collect(),
            per_type: BTreeMap::new(),
        }
    }
}

impl Thresholds {
    /// The limit for a scope (`CONNECTION` or an entity type) and counter.
    pub fn limit(&self, scope: &str, counter: Counter) -> Limit {
        if scope == CONNECTION {
            self.connection.get(&counter).copied().unwrap_or(Limit::CONNECTION_DEFAULT)
        } else {
            self.per_type.get(scope).and_then(|m| m.get(&counter)).copied().unwrap_or(Limit::OFF)
        }
    }

    /// Sets one limit.
    pub fn set(&mut self, scope: &str, counter: Counter, limit: Limit) {
        if scope == CONNECTION {
            self.connection.insert(counter, limit);
        } else {
            self.per_type.entry(scope.to_string()).or_default().insert(counter, limit);
        }
    }

    /// Reads the limits stored in the repository (defaults where none is stored).
    ///
    /// # Errors
    ///
    /// [`crate::ErrorCode::Repository`] if the repository cannot be read.
    pub fn load(store: &Store) -> Result<Thresholds> {
        let mut t = Thresholds::default();
        let mut stmt = store
            .conn()
            .prepare("SELECT scope, counter, absolute, percent FROM threshold")
            .map_err(|e| sql_error(store.path(), e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get(3)?))
            })
            .map_err(|e| sql_error(store.path(), e))?;
        for row in rows {
            let (scope, counter, absolute, percent) =
                row.map_err(|e| sql_error(store.path(), e))?;
            if let Some(counter) = Counter::parse(&counter) {
                t.set(&scope, counter, Limit { absolute: absolute.max(0) as u64, percent });
            }
        }
        Ok(t)
    }

    /// Stores one limit (a write: it bumps the repository revision, so plans built before are
    /// rebuilt against the new limits).
    ///
    /// # Errors
    ///
    /// [`crate::ErrorCode::Usage`] for an unknown entity type or a negative or absurd limit;
    /// repository errors as [`Store::write`].
    pub fn save(store: &mut Store, scope: &str, counter: Counter, limit: Limit) -> Result<()> {
        if scope != CONNECTION && store.schema().entity_type(scope).is_none() {
            return Err(Error::usage(format!(
                "\"{scope}\" is neither `{CONNECTION}` nor an entity type of this repository."
            )));
        }
        if !(0.0..=100.0).contains(&limit.percent) || limit.percent.is_nan() {
            return Err(Error::usage("A percentage limit must be between 0 and 100."));
        }
        store.write(|w| {
            w.tx()
                .execute(
                    "INSERT INTO threshold (scope, counter, absolute, percent) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (scope, counter) DO UPDATE SET absolute = ?3, percent = ?4",
                    params![scope, counter.name(), limit.absolute as i64, limit.percent],
                )
                .map_err(|e| sql_error(w.path(), e))?;
            Ok(())
        })
    }
}

/// What one entity type's sync would do, as the thresholds see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Rows stored before the sync.
    pub stored: u64,
    /// Rows to create.
    pub created: u64,
    /// Rows to update.
    pub updated: u64,
    /// Rows to delete.
    pub deleted: u64,
    /// A complete-mode sheet with no data rows for a type that has stored rows.
    pub empty_sheet: bool,
}

impl Counts {
    fn get(&self, counter: Counter) -> u64 {
        match counter {
            Counter::Created => self.created,
            Counter::Updated => self.updated,
            Counter::Deleted => self.deleted,
        }
    }

    /// Whether this type is on its initial load (nothing stored yet).
    pub fn initial_load(&self) -> bool {
        self.stored == 0
    }
}

/// One limit checked against one count.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Check {
    /// `connection` or an entity type.
    pub scope: String,
    /// `created`, `updated`, `deleted`, or `empty_sheet`.
    pub counter: String,
    /// How many rows the plan would touch.
    pub count: u64,
    /// Rows stored before the sync (the base of the percentage).
    pub stored: u64,
    /// The count as a percentage of `stored` (100 when nothing is stored and count > 0).
    pub percent: f64,
    /// The absolute limit (0 = off).
    pub limit_absolute: u64,
    /// The percentage limit (0 = off).
    pub limit_percent: f64,
    /// Whether this check blocks the plan.
    pub broken: bool,
}

/// Every active check and whether the plan is blocked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Evaluation {
    /// Checks of every active limit (inactive limits and initial loads are left out).
    pub checks: Vec<Check>,
    /// Entity types exempt because they are on their initial load.
    pub initial_loads: Vec<String>,
    /// True when at least one check is broken: only a force applies the plan.
    pub blocked: bool,
}

impl Evaluation {
    /// The broken checks.
    pub fn broken(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.broken)
    }
}

fn percent_of(count: u64, stored: u64) -> f64 {
    if stored == 0 {
        if count == 0 { 0.0 } else { 100.0 }
    } else {
        count as f64 * 100.0 / stored as f64
    }
}

fn check(scope: &str, counter: Counter, limit: Limit, count: u64, stored: u64) -> Option<Check> {
    if limit.absolute == 0 && limit.percent <= 0.0 {
        return None;
    }
    let percent = percent_of(count, stored);
    let over_absolute = limit.absolute > 0 && count > limit.absolute;
    let over_percent = limit.percent > 0.0 && percent > limit.percent;
    Some(Check {
        scope: scope.to_string(),
        counter: counter.name().to_string(),
        count,
        stored,
        percent,
        limit_absolute: limit.absolute,
        limit_percent: limit.percent,
        broken: over_absolute || over_percent,
    })
}

/// Checks every active limit against what the plan would do, `counts` being per entity type
/// in schema order.
pub fn evaluate(thresholds: &Thresholds, counts: &[(String, Counts)]) -> Evaluation {
    let mut eval = Evaluation::default();
    let mut total = Counts::default();
    for (scope, c) in counts {
        if c.initial_load() {
            if c.created + c.updated + c.deleted > 0 {
                eval.initial_loads.push(scope.clone());
            }
            continue;
        }
        if c.empty_sheet {
            eval.checks.push(Check {
                scope: scope.clone(),
                counter: EMPTY_SHEET.to_string(),
                count: c.deleted,
                stored: c.stored,
                percent: percent_of(c.deleted, c.stored),
                limit_absolute: 0,
                limit_percent: 0.0,
                broken: true,
            });
        }
        for counter in Counter::ALL {
            eval.checks.extend(check(
                scope,
                counter,
                thresholds.limit(scope, counter),
                c.get(counter),
                c.stored,
            ));
        }
        total.stored += c.stored;
        total.created += c.created;
        total.updated += c.updated;
        total.deleted += c.deleted;
    }
    for counter in Counter::ALL {
        eval.checks.extend(check(
            CONNECTION,
            counter,
            thresholds.limit(CONNECTION, counter),
            total.get(counter),
            total.stored,
        ));
    }
    eval.blocked = eval.checks.iter().any(|c| c.broken);
    eval
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(stored: u64, created: u64, updated: u64, deleted: u64) -> Counts {
        Counts { stored, created, updated, deleted, empty_sheet: false }
    }

    #[test]
    fn defaults_are_100_rows_and_5_percent_on_the_connection_only() {
        let t = Thresholds::default();
        assert_eq!(t.limit(CONNECTION, Counter::Deleted), Limit { absolute: 100, percent: 5.0 });
        assert_eq!(t.limit("User", Counter::Deleted), Limit::OFF);
    }

    #[test]
    fn a_small_change_passes() {
        let e = evaluate(&Thresholds::default(), &[("User".into(), counts(1000, 10, 20, 30))]);
        assert!(!e.blocked, "{e:?}");
        assert_eq!(e.checks.len(), 3, "three connection checks, type limits are off");
    }

    #[test]
    fn the_percentage_limit_blocks_even_under_the_absolute_one() {
        let e = evaluate(&Thresholds::default(), &[("User".into(), counts(360, 0, 0, 19))]);
        assert!(e.blocked, "19 of 360 is 5.3 %");
        let broken: Vec<_> = e.broken().collect();
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].counter, "deleted");
        assert!((broken[0].percent - 5.277).abs() < 0.01);
        let e = evaluate(&Thresholds::default(), &[("User".into(), counts(360, 0, 0, 18))]);
        assert!(!e.blocked, "18 of 360 is exactly 5 %, which is allowed");
    }

    #[test]
    fn the_absolute_limit_blocks_even_under_the_percentage() {
        let e = evaluate(&Thresholds::default(), &[("User".into(), counts(100_000, 101, 0, 0))]);
        assert!(e.blocked);
        assert_eq!(e.broken().next().unwrap().counter, "created");
    }

    #[test]
    fn counters_sum_over_entity_types_at_connection_scope() {
        let per_type = [("A".into(), counts(1000, 0, 0, 40)), ("B".into(), counts(1000, 0, 0, 70))];
        let e = evaluate(&Thresholds::default(), &per_type);
        let conn =
            e.checks.iter().find(|c| c.scope == CONNECTION && c.counter == "deleted").unwrap();
        assert_eq!((conn.count, conn.stored), (110, 2000));
        assert!(conn.broken, "110 > 100 rows");
    }

    #[test]
    fn entity_type_limits_apply_when_set_and_zero_means_off() {
        let mut t = Thresholds::default();
        t.set("User", Counter::Updated, Limit { absolute: 5, percent: 0.0 });
        let e = evaluate(&t, &[("User".into(), counts(1000, 0, 6, 0))]);
        let broken: Vec<_> = e.broken().map(|c| (c.scope.as_str(), c.counter.as_str())).collect();
        assert_eq!(broken, [("User", "updated")]);
        t.set(CONNECTION, Counter::Updated, Limit::OFF);
        t.set("User", Counter::Updated, Limit::OFF);
        assert!(!evaluate(&t, &[("User".into(), counts(10, 0, 10, 0))]).blocked);
    }

    #[test]
    fn an_initial_load_is_exempt() {
        let e = evaluate(
            &Thresholds::default(),
            &[("User".into(), counts(0, 5000, 0, 0)), ("Site".into(), counts(10, 0, 0, 0))],
        );
        assert!(!e.blocked);
        assert_eq!(e.initial_loads, ["User"]);
        let conn = e.checks.iter().find(|c| c.counter == "created").unwrap();
        assert_eq!(conn.count, 0, "initial loads are left out of the connection's sums");
    }

    #[test]
    fn an_empty_complete_sheet_blocks_whatever_the_limits() {
        let mut t = Thresholds::default();
        for c in Counter::ALL {
            t.set(CONNECTION, c, Limit::OFF);
        }
        let mut c = counts(3, 0, 0, 3);
        c.empty_sheet = true;
        let e = evaluate(&t, &[("Site".into(), c)]);
        assert!(e.blocked);
        assert_eq!(e.broken().next().unwrap().counter, EMPTY_SHEET);
    }

    #[test]
    fn limits_are_stored_in_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            Store::create(&dir.path().join("r.db"), &crate::Schema::directory()).unwrap();
        Thresholds::save(&mut store, "User", Counter::Deleted, Limit { absolute: 3, percent: 1.5 })
            .unwrap();
        Thresholds::save(&mut store, CONNECTION, Counter::Created, Limit::OFF).unwrap();
        let t = Thresholds::load(&store).unwrap();
        assert_eq!(t.limit("User", Counter::Deleted), Limit { absolute: 3, percent: 1.5 });
        assert_eq!(t.limit(CONNECTION, Counter::Created), Limit::OFF);
        assert_eq!(t.limit(CONNECTION, Counter::Updated), Limit::CONNECTION_DEFAULT);
        let err = Thresholds::save(&mut store, "Nope", Counter::Deleted, Limit::OFF).unwrap_err();
        assert!(err.message.contains("Nope"));
    }
}
