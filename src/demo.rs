//! The demo organisation: a believable company to start from, generated deterministically.
//!
//! "Northwind Atelier" has a department tree of 21 organisations under a headquarters, five
//! sites in four countries, six worker types (internal and external) and 360 people with
//! managers, phone numbers, job titles and contract dates. A few people have left (their
//! contract ended) but are still present, and the newest department has no manager yet, so the
//! verification screens have something to show on first start.
//!
//! The demo is written against the built-in "Directory" schema; it is data, not engine logic,
//! so naming `User` or `Organization` here is fine. Everything is derived from a fixed seed and
//! from `today` (contract dates are relative to it), so two runs on the same day are identical.

use std::path::Path;

use chrono::{Duration, NaiveDate};

use crate::error::{Error, Result};
use crate::schema::{EntityType, Schema};
use crate::store::{Row, Store};

/// How many people the demo holds.
pub const PEOPLE: usize = 360;

/// Creates a repository at `path` with the built-in schema and the demo organisation.
///
/// # Errors
///
/// As [`Store::create`], plus any write failure (the repository is then left empty).
pub fn create(path: &Path, today: NaiveDate) -> Result<Store> {
    let mut store = Store::create(path, &Schema::directory())?;
    seed(&mut store, today)?;
    Ok(store)
}

/// Fills an empty repository holding the built-in schema with the demo organisation.
///
/// # Errors
///
/// [`crate::ErrorCode::Usage`] if the repository is not empty or its schema lacks the demo's
/// entity types; any write failure (nothing is then written).
pub fn seed(store: &mut Store, today: NaiveDate) -> Result<()> {
    let schema = store.schema().clone();
    let ty = |name: &str| {
        schema.entity_type(name).cloned().ok_or_else(|| {
            Error::usage(format!(
                "The demo needs the entity type {name}; this repository's schema has none."
            ))
        })
    };
    let (users, orgs, sites, types) =
        (ty("User")?, ty("Organization")?, ty("Site")?, ty("UserType")?);
    for t in [&users, &orgs, &sites, &types] {
        if store.count(&t.name)? > 0 {
            return Err(Error::usage("The demo can only be loaded into an empty repository."));
        }
    }
    let demo = generate(today);
    store.write(|w| {
        for (t, rows) in
            [(&types, &demo.worker_types), (&sites, &demo.sites), (&orgs, &demo.organizations)]
        {
            for values in rows {
                w.insert(t, &row(t, values))?;
            }
        }
        for values in &demo.people {
            w.insert(&users, &row(&users, values))?;
        }
        Ok(())
    })
}

/// A row from `(attribute name, value)` pairs, the first pair being the key.
fn row(t: &EntityType, pairs: &[(&'static str, String)]) -> Row {
    let mut r = Row::empty(pairs[0].1.clone(), t);
    for (name, value) in &pairs[1..] {
        if let Some(i) = t.attribute_index(name) {
            r.values.set(i, value);
        }
    }
    r
}

type Pairs = Vec<(&'static str, String)>;

struct Demo {
    worker_types: Vec<Pairs>,
    sites: Vec<Pairs>,
    organizations: Vec<Pairs>,
    people: Vec<Pairs>,
}

/// A small deterministic generator (SplitMix64): the demo must not change between runs, and
/// pulling a crate in for forty lines of pseudo-randomness is not worth it.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const WORKER_TYPES: [(&str, &str, bool, &str); 6] = [
    ("EMP", "Employee", false, "Permanent"),
    ("APP", "Apprentice", false, "Trainee"),
    ("INT", "Intern", false, "Trainee"),
    ("CON", "Contractor", true, "Contractor"),
    ("CSL", "Consultant", true, "Contractor"),
    ("TMP", "Temporary worker", true, "Temporary"),
];

/// (key, name, city, country, phone prefix)
const SITES: [(&str, &str, &str, &str, &str); 5] = [
    ("PAR", "Paris Headquarters", "Paris", "France", "+33 1"),
    ("LYO", "Lyon Workshop", "Lyon", "France", "+33 4"),
    ("BER", "Berlin Office", "Berlin", "Germany", "+49 30"),
    ("LON", "London Office", "London", "United Kingdom", "+44 20"),
    ("MAD", "Madrid Office", "Madrid", "Spain", "+34 91"),
];

/// (key, name, parent, type, share of the staff, main site, job titles)
type OrganizationSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    usize,
    &'static str,
    &'static [&'static str],
);

const ORGANIZATIONS: [OrganizationSpec; 22] = [
    ("HQ", "Northwind Atelier", "", "Company", 3, "PAR", &["Executive Assistant"]),
    ("FIN", "Finance", "HQ", "Division", 2, "PAR", &["Financial Controller"]),
    ("FIN-ACC", "Accounting", "FIN", "Department", 10, "PAR", &["Accountant", "Accounts Clerk"]),
    ("FIN-PAY", "Payroll", "FIN", "Department", 6, "LYO", &["Payroll Specialist"]),
    ("HR", "Human Resources", "HQ", "Division", 3, "PAR", &["HR Business Partner"]),
    ("HR-REC", "Recruitment", "HR", "Department", 7, "PAR", &["Recruiter", "Sourcing Specialist"]),
    ("HR-TRN", "Training", "HR", "Department", 5, "LYO", &["Learning Designer", "Trainer"]),
    ("ENG", "Engineering", "HQ", "Division", 3, "BER", &["Principal Engineer"]),
    ("ENG-PLT", "Platform", "ENG", "Department", 30, "BER", &["Software Engineer", "SRE"]),
    ("ENG-MOB", "Mobile", "ENG", "Department", 22, "BER", &["Mobile Developer", "UX Designer"]),
    ("ENG-DAT", "Data", "ENG", "Department", 20, "LON", &["Data Engineer", "Data Scientist"]),
    ("ENG-QA", "Quality Assurance", "ENG", "Department", 14, "MAD", &["QA Engineer", "Tester"]),
    ("SAL", "Sales", "HQ", "Division", 3, "PAR", &["Sales Director"]),
    ("SAL-FR", "Sales France", "SAL", "Department", 22, "PAR", &["Account Executive"]),
    ("SAL-DE", "Sales Germany", "SAL", "Department", 18, "BER", &["Account Executive"]),
    ("SAL-UK", "Sales United Kingdom", "SAL", "Department", 16, "LON", &["Account Executive"]),
    ("MKT", "Marketing", "HQ", "Division", 14, "PAR", &["Marketing Manager", "Content Writer"]),
    ("OPS", "Operations", "HQ", "Division", 3, "LYO", &["Operations Analyst"]),
    ("OPS-LOG", "Logistics", "OPS", "Department", 24, "LYO", &["Logistics Coordinator", "Driver"]),
    ("OPS-FAC", "Facilities", "OPS", "Department", 10, "MAD", &["Facilities Technician"]),
    ("LEG", "Legal", "HQ", "Division", 6, "PAR", &["Legal Counsel", "Paralegal"]),
    // The newest department: no manager appointed yet (verification points it out).
    ("INN", "Innovation Lab", "ENG", "Department", 4, "LON", &["Research Engineer"]),
];

const FIRST_NAMES: [&str; 48] = [
    "Camille", "Léa", "Lucas", "Hugo", "Chloé", "Louis", "Inès", "Gabriel", "Zoé", "Jules", "Anna",
    "Lukas", "Marie", "Jonas", "Sophie", "Felix", "Émilie", "Paul", "Oliver", "Amelia", "Harry",
    "Isla", "George", "Ava", "Lucía", "Martín", "Sofía", "Mateo", "Valeria", "Álvaro", "Aïcha",
    "Youssef", "Mei", "Hiroshi", "Priya", "Arjun", "Åsa", "Björn", "Noé", "Maëlle", "Siobhan",
    "Seán", "Nadia", "Omar", "Elif", "Mehmet", "Ana", "João",
];

const LAST_NAMES: [&str; 48] = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Lefèvre",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "O'Brien",
    "García",
    "Fernández",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Ben Ali",
    "El Amrani",
    "Nguyen",
    "Tanaka",
    "Sato",
    "Patel",
    "Sharma",
    "Andersson",
    "Johansson",
    "Kowalski",
    "Nowak",
    "Yılmaz",
    "Demir",
    "Costa",
    "Silva",
    "Rossi",
    "Bianchi",
];

fn generate(today: NaiveDate) -> Demo {
    let mut dice = Dice(0x001D_B01C_2026);
    let worker_types = WORKER_TYPES
        .iter()
        .map(|(key, name, external, category)| {
            vec![
                ("Identifier", key.to_string()),
                ("DisplayName", name.to_string()),
                ("IsExternal", external.to_string()),
                ("Category", category.to_string()),
            ]
        })
        .collect();
    let sites = SITES
        .iter()
        .map(|(key, name, city, country, _)| {
            vec![
                ("Identifier", key.to_string()),
                ("DisplayName", name.to_string()),
                ("City", city.to_string()),
                ("Country", country.to_string()),
            ]
        })
        .collect();

    // Share out the people by weight; the first person of each organisation manages it.
    let total_weight: usize = ORGANIZATIONS.iter().map(|o| o.4).sum();
    let mut sizes: Vec<usize> =
        ORGANIZATIONS.iter().map(|o| (o.4 * PEOPLE / total_weight).max(1)).collect();
    let assigned: usize = sizes.iter().sum();
    sizes[8] += PEOPLE - assigned; // the remainder joins Platform, the largest department

    let mut people = Vec::with_capacity(PEOPLE);
    let mut org_manager: Vec<Option<String>> = vec![None; ORGANIZATIONS.len()];
    let mut next_id = 1usize;
    for (oi, (org_key, org_name, parent, _, _, main_site, titles)) in
        ORGANIZATIONS.iter().enumerate()
    {
        let parent_manager = ORGANIZATIONS
            .iter()
            .position(|o| o.0 == *parent)
            .and_then(|pi| org_manager[pi].clone());
        let has_manager = *org_key != "INN";
        for n in 0..sizes[oi] {
            let id = format!("{next_id:05}");
            next_id += 1;
            let is_head = n == 0 && has_manager;
            let first = *dice.pick(&FIRST_NAMES);
            let last = *dice.pick(&LAST_NAMES);
            let worker_type = if is_head {
                "EMP"
            } else {
                match dice.below(100) {
                    0..=67 => "EMP",
                    68..=73 => "APP",
                    74..=79 => "INT",
                    80..=89 => "CON",
                    90..=95 => "CSL",
                    _ => "TMP",
                }
            };
            let site_key = if dice.below(100) < 80 { *main_site } else { dice.pick(&SITES).0 };
            let prefix = SITES.iter().find(|s| s.0 == site_key).map_or("+33 1", |s| s.4);
            let phone = format!(
                "{prefix} {:02} {:02} {:02} {:02}",
                dice.below(100),
                dice.below(100),
                dice.below(100),
                dice.below(100)
            );
            let title = if is_head {
                if parent.is_empty() {
                    "Chief Executive Officer".to_string()
                } else {
                    format!("Head of {org_name}")
                }
            } else {
                dice.pick(titles).to_string()
            };
            let manager = if is_head {
                parent_manager.clone().unwrap_or_default()
            } else {
                org_manager[oi].clone().or_else(|| parent_manager.clone()).unwrap_or_default()
            };
            let start = today - Duration::days(60 + dice.below(15 * 365) as i64);
            let end = match worker_type {
                "INT" => Some(start + Duration::days(180)),
                "APP" => Some(start + Duration::days(730)),
                "CON" | "CSL" | "TMP" => Some(today + Duration::days(30 + dice.below(400) as i64)),
                _ => None,
            };
            // Interns and apprentices whose end passed have gone... except a few leavers the
            // repository forgot, which verification finds.
            let end = match end {
                Some(e) if e < today && people.len() % 9 != 0 => {
                    Some(today + Duration::days(20 + dice.below(300) as i64))
                }
                other => other,
            };
            let email = format!("{}.{}@northwind.example", ascii(first), ascii(last));
            people.push(vec![
                ("Identifier", id.clone()),
                ("FirstName", first.to_string()),
                ("LastName", last.to_string()),
                ("Email", email),
                ("PhoneNumber", phone),
                ("UserType", worker_type.to_string()),
                ("Organization", org_key.to_string()),
                ("Manager", manager),
                ("Site", site_key.to_string()),
                ("JobTitle", title),
                ("ContractStartDate", start.format("%Y-%m-%d").to_string()),
                (
                    "ContractEndDate",
                    end.map(|e| e.format("%Y-%m-%d").to_string()).unwrap_or_default(),
                ),
            ]);
            if is_head {
                org_manager[oi] = Some(id);
            }
        }
    }

    let organizations = ORGANIZATIONS
        .iter()
        .enumerate()
        .map(|(i, (key, name, parent, kind, ..))| {
            vec![
                ("Identifier", key.to_string()),
                ("DisplayName", name.to_string()),
                ("Manager", org_manager[i].clone().unwrap_or_default()),
                ("Parent", parent.to_string()),
                ("Type", kind.to_string()),
            ]
        })
        .collect();
    Demo { worker_types, sites, organizations, people }
}

/// A lower-case ASCII form of a name for e-mail addresses (`Zoé O'Brien` -> `zoe`, `obrien`).
fn ascii(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            let base = match c {
                'à' | 'á' | 'â' | 'ä' | 'å' | 'Å' | 'Á' => 'a',
                'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
                'í' | 'ï' | 'ı' | 'Ï' => 'i',
                'ó' | 'ö' | 'ô' | 'Ö' => 'o',
                'ú' | 'ü' | 'Ü' => 'u',
                'ç' => 'c',
                'ñ' => 'n',
                'ã' => 'a',
                c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
                ' ' | '-' => '-',
                _ => return None,
            };
            Some(base)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn demo_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let store = create(&dir.path().join("demo.db"), today).unwrap();
        (dir, store)
    }

    #[test]
    fn the_demo_is_big_enough_to_show_something_everywhere() {
        let (_dir, store) = demo_store();
        let counts: BTreeMap<_, _> = store.summary().unwrap().counts.into_iter().collect();
        assert_eq!(counts["User"], PEOPLE as u64);
        assert!(counts["Organization"] >= 15, "{counts:?}");
        assert!(counts["Site"] >= 4);
        assert!(counts["UserType"] >= 4);
    }

    #[test]
    fn every_reference_points_at_a_stored_row_and_everyone_but_the_top_has_a_manager() {
        let (_dir, store) = demo_store();
        let schema = store.schema().clone();
        let keys: BTreeMap<String, BTreeSet<String>> = schema
            .entity_types
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    store.rows(t).unwrap().into_iter().map(|r| r.key.to_string()).collect(),
                )
            })
            .collect();
        for t in &schema.entity_types {
            for row in store.rows(t).unwrap() {
                for (a, v) in t.attributes.iter().zip(&row.values) {
                    if let (Some(target), false) = (a.kind.reference_target(), v.is_empty()) {
                        assert!(keys[target].contains(v), "{}.{} = {v} dangles", t.name, a.name);
                    }
                    assert!(
                        !(a.required && v.is_empty()),
                        "{} {} lacks {}",
                        t.name,
                        row.key,
                        a.name
                    );
                }
            }
        }
        let users = schema.entity_type("User").unwrap();
        let without_manager: Vec<_> = store
            .rows(users)
            .unwrap()
            .into_iter()
            .filter(|r| r.get(users, "Manager").is_empty())
            .collect();
        assert_eq!(without_manager.len(), 1, "only the chief executive has no manager");
        assert_eq!(without_manager[0].get(users, "JobTitle"), "Chief Executive Officer");
    }

    #[test]
    fn the_demo_has_externals_leavers_accents_and_leading_zeros() {
        let (_dir, store) = demo_store();
        let users = store.schema().entity_type("User").unwrap().clone();
        let rows = store.rows(&users).unwrap();
        let types: BTreeSet<_> =
            rows.iter().map(|r| r.get(&users, "UserType").to_string()).collect();
        assert!(types.contains("CON") && types.contains("EMP"), "{types:?}");
        let leavers = rows
            .iter()
            .filter(|r| {
                let end = r.get(&users, "ContractEndDate");
                !end.is_empty() && end < "2026-11-25"
            })
            .count();
        assert!((1..=20).contains(&leavers), "a few leavers, got {leavers}");
        assert!(rows.iter().any(|r| r.key.starts_with("000")));
        assert!(rows.iter().any(|r| !r.get(&users, "LastName").is_ascii()));
        assert!(rows.iter().all(|r| r.get(&users, "Email").is_ascii()));
    }

    #[test]
    fn the_demo_is_deterministic() {
        let (_a, one) = demo_store();
        let (_b, two) = demo_store();
        for t in &one.schema().entity_types {
            assert_eq!(one.rows(t).unwrap(), two.rows(t).unwrap(), "{}", t.name);
        }
    }

    #[test]
    fn seeding_twice_is_refused() {
        let (_dir, mut store) = demo_store();
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert!(seed(&mut store, today).unwrap_err().message.contains("empty repository"));
    }
}
