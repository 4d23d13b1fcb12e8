//! Verification and reports, as HR uses them after a bulk update (SPEC section 8): `idbulk
//! verify`, `idbulk report usertype|organization|site [-o FILE]` and `idbulk show USER`, driven
//! through the CLI against the demo repository. Expectations are computed from the stored rows
//! in the test, never by calling the engine functions under test.

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Value;

use crate::support::{Workspace, read_workbook, write_workbook};

/// One row of an incremental file: command, key, and `(attribute, value)` cells.
type Line<'a> = (&'a str, &'a str, Vec<(&'a str, String)>);

/// Writes an incremental workbook with one sheet for `entity_type`: the schema's headers with
/// `Command` first, and one row per `(command, key, [(attribute, value)])`.
fn incremental(ws: &Workspace, name: &str, entity_type: &str, rows: &[Line<'_>]) -> String {
    let store = ws.store();
    let et = store.schema().entity_type(entity_type).unwrap();
    let header: Vec<String> =
        std::iter::once("Command").chain(et.headers()).map(str::to_string).collect();
    let mut sheet = vec![header.clone()];
    for (command, key, cells) in rows {
        let mut row = vec![String::new(); header.len()];
        row[0] = command.to_string();
        row[1] = key.to_string();
        for (attribute, value) in cells {
            let at = header.iter().position(|h| h == attribute).unwrap();
            row[at] = value.clone();
        }
        sheet.push(row);
    }
    let path = ws.path(name);
    write_workbook(&path, &[(entity_type.to_string(), sheet)]);
    path.to_str().unwrap().to_string()
}

/// Syncs an incremental file and insists it applied.
fn sync(ws: &Workspace, file: &str) {
    let out = ws.idbulk(&["sync", file, "--mode", "incremental"]);
    assert_eq!(out.status, 0, "the sync applies: {}{}", out.stdout, out.stderr);
}

/// The findings of `idbulk verify --json` with this code.
fn findings(json: &Value, code: &str) -> Vec<Value> {
    json["verification"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .cloned()
        .collect()
}

/// The keys of the first row of each finding.
fn first_keys(findings: &[Value]) -> Vec<String> {
    findings.iter().map(|f| f["rows"][0]["key"].as_str().unwrap().to_string()).collect()
}

/// A stored row with its values by attribute name.
struct Record {
    key: String,
    values: BTreeMap<String, String>,
}

impl Record {
    fn get(&self, attribute: &str) -> &str {
        &self.values[attribute]
    }
}

/// Every row of an entity type, in key order.
fn records(ws: &Workspace, entity_type: &str) -> Vec<Record> {
    let store = ws.store();
    let et = store.schema().entity_type(entity_type).unwrap();
    let names: Vec<String> = et.attributes.iter().map(|a| a.name.clone()).collect();
    store
        .rows(et)
        .unwrap()
        .into_iter()
        .map(|r| Record {
            key: r.key.to_string(),
            values: names.iter().cloned().zip(r.values.into_iter().map(String::from)).collect(),
        })
        .collect()
}

/// A report's groups by key (`"(none)"` for the group without one).
fn groups(json: &Value) -> BTreeMap<String, Value> {
    json["report"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap_or("(none)").to_string(), g.clone()))
        .collect()
}

fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}

#[test]
fn the_demo_verifies_with_the_innovation_lab_vacancy_and_no_unmanaged_chief() {
    let ws = Workspace::demo();
    let (status, json) = ws.idbulk_json(&["verify"]);
    assert_eq!(status, 1, "findings exit with status 1: {json:#}");
    let vacant = findings(&json, "organization_without_manager");
    assert_eq!(first_keys(&vacant), ["INN"], "only the Innovation Lab lacks a manager");
    assert_eq!(vacant[0]["rows"][0]["name"], "Innovation Lab");
    assert_eq!(vacant[0]["severity"], "warning");
    assert!(!vacant[0]["fix"].as_str().unwrap().is_empty(), "every finding says what to do");
    assert!(
        findings(&json, "person_without_manager").is_empty(),
        "the chief executive manages the root organisation, so is the top: {json:#}"
    );
    for code in ["manager_cycle", "parent_cycle", "dangling_reference", "repository_integrity"] {
        assert!(findings(&json, code).is_empty(), "the demo has no {code}");
    }
    assert_eq!(json["verification"]["skipped"], serde_json::json!([]));
    assert_eq!(json["verification"]["summary"]["clean"], false);

    let out = ws.idbulk(&["verify"]);
    assert_eq!(out.status, 1);
    assert!(out.stdout.contains("Organisations without a manager (1)"), "{}", out.stdout);
    assert!(out.stdout.contains("Organization INN (Innovation Lab) has no Manager."));
}

#[test]
fn an_empty_repository_verifies_clean_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace { db: dir.path().join("repository.db"), dir };
    assert_eq!(ws.idbulk(&["init"]).status, 0);
    let (status, json) = ws.idbulk_json(&["verify"]);
    assert_eq!(status, 0, "{json:#}");
    assert_eq!(json["verification"]["summary"]["clean"], true);
    assert!(ws.idbulk(&["verify"]).stdout.contains("nothing to report"));
}

#[test]
fn clearing_an_organisations_manager_makes_verify_name_it() {
    let ws = Workspace::demo();
    let finance = ws.value("Organization", "FIN", "DisplayName");
    assert!(!ws.value("Organization", "FIN", "Manager").is_empty());
    let file = incremental(
        &ws,
        "vacancy.xlsx",
        "Organization",
        &[("Modify", "FIN", vec![("Manager", "NULL_NULL".into())])],
    );
    sync(&ws, &file);
    assert_eq!(ws.value("Organization", "FIN", "Manager"), "");

    let (status, json) = ws.idbulk_json(&["verify"]);
    assert_eq!(status, 1);
    let vacant = findings(&json, "organization_without_manager");
    assert_eq!(first_keys(&vacant), ["FIN", "INN"]);
    assert_eq!(vacant[0]["rows"][0]["name"], finance.as_str());
    assert!(vacant[0]["message"].as_str().unwrap().contains(&finance));
}

#[test]
fn a_leaver_appears_in_the_leavers_finding() {
    let ws = Workspace::demo();
    let key = "00030";
    let ended = (today() - chrono::Duration::days(10)).format("%Y-%m-%d").to_string();
    let (_, before) = ws.idbulk_json(&["verify"]);
    assert!(!first_keys(&findings(&before, "leaver_present")).contains(&key.to_string()));

    let file = incremental(
        &ws,
        "leaver.xlsx",
        "User",
        &[("Modify", key, vec![("ContractEndDate", ended.clone())])],
    );
    sync(&ws, &file);
    let (status, json) = ws.idbulk_json(&["verify"]);
    assert_eq!(status, 1);
    let leavers = findings(&json, "leaver_present");
    let mine: Vec<&Value> = leavers.iter().filter(|f| f["rows"][0]["key"] == key).collect();
    assert_eq!(mine.len(), 1, "{leavers:#?}");
    assert_eq!(mine[0]["value"], ended.as_str());
    assert_eq!(mine[0]["attribute"], "ContractEndDate");
    let name =
        format!("{} {}", ws.value("User", key, "FirstName"), ws.value("User", key, "LastName"));
    assert_eq!(mine[0]["rows"][0]["name"], name.as_str());
}

#[test]
fn moving_ten_users_to_another_worker_type_shows_in_the_usertype_report() {
    let ws = Workspace::demo();
    let users = records(&ws, "User");
    let count = |rows: &[Record]| {
        let mut by: BTreeMap<String, i64> = BTreeMap::new();
        for r in rows {
            *by.entry(r.get("UserType").to_string()).or_default() += 1;
        }
        by
    };
    let before = count(&users);
    let movers: Vec<String> = users
        .iter()
        .filter(|r| r.get("UserType") == "EMP")
        .take(10)
        .map(|r| r.key.clone())
        .collect();
    assert_eq!(movers.len(), 10);

    let (_, untouched) = ws.idbulk_json(&["report", "usertype"]);
    assert_eq!(untouched["report"]["last_run"], Value::Null);
    assert!(groups(&untouched).values().all(|g| g["headcount"]["difference"] == 0));

    let rows: Vec<Line<'_>> =
        movers.iter().map(|k| ("Modify", k.as_str(), vec![("UserType", "CON".into())])).collect();
    let file = incremental(&ws, "movers.xlsx", "User", &rows);
    sync(&ws, &file);

    let (status, json) = ws.idbulk_json(&["report", "usertype"]);
    assert_eq!(status, 0, "{json:#}");
    assert_eq!(json["report"]["last_run"]["file_name"], "movers.xlsx");
    let after = count(&records(&ws, "User"));
    let report = groups(&json);
    for (key, n) in &before {
        let g = &report[key];
        assert_eq!(g["headcount"]["before"], *n, "{key} before");
        assert_eq!(g["headcount"]["after"], after[key], "{key} after");
        assert_eq!(g["headcount"]["difference"], after[key] - n, "{key} difference");
    }
    assert_eq!(report["EMP"]["headcount"]["difference"], -10);
    assert_eq!(report["CON"]["headcount"]["difference"], 10);
    assert_eq!(report["CON"]["headcount"]["after"], before["CON"] + 10);
    assert_eq!(json["report"]["total"]["difference"], 0);
    assert_eq!(json["report"]["total"]["after"], users.len());
    for t in records(&ws, "UserType") {
        let g = &report[&t.key];
        assert_eq!(g["name"], t.get("DisplayName"));
        assert_eq!(g["is_external"], t.get("IsExternal") == "true");
        assert_eq!(g["category"], t.get("Category"));
    }

    let out = ws.idbulk(&["report", "usertype"]);
    assert_eq!(out.status, 0);
    assert!(out.stdout.contains("movers.xlsx"), "the baseline names the run: {}", out.stdout);
    assert!(out.stdout.contains("+10") && out.stdout.contains("-10"), "{}", out.stdout);
}

/// Direct and rolled-up counts per organisation, computed from the rows by walking *up* from
/// each person's organisation through the parents (the report walks down).
fn expected_org_counts(ws: &Workspace) -> BTreeMap<String, (i64, i64)> {
    let orgs = records(ws, "Organization");
    let parent: BTreeMap<String, String> =
        orgs.iter().map(|o| (o.key.clone(), o.get("Parent").to_string())).collect();
    let mut counts: BTreeMap<String, (i64, i64)> =
        orgs.iter().map(|o| (o.key.clone(), (0, 0))).collect();
    for u in records(ws, "User") {
        let mut org = u.get("Organization").to_string();
        counts.get_mut(&org).unwrap().0 += 1;
        while !org.is_empty() {
            counts.get_mut(&org).unwrap().1 += 1;
            org = parent[&org].clone();
        }
    }
    counts
}

#[test]
fn rolled_up_counts_equal_the_sum_of_each_subtree_before_and_after() {
    let ws = Workspace::demo();
    let before = expected_org_counts(&ws);
    let (status, json) = ws.idbulk_json(&["report", "organization"]);
    assert_eq!(status, 0, "{json:#}");
    let report = groups(&json);
    assert_eq!(report.len(), before.len(), "one group per organisation, no (none) group");
    for (key, (direct, rolled)) in &before {
        assert_eq!(report[key]["headcount"]["after"], *direct, "{key} direct");
        assert_eq!(report[key]["rolled_up"]["after"], *rolled, "{key} rolled up");
    }
    assert_eq!(report["HQ"]["rolled_up"]["after"], idbulk::demo::PEOPLE, "the root holds all");
    assert_eq!(json["report"]["groups"][0]["key"], "HQ", "tree order starts at the root");
    assert_eq!(json["report"]["groups"][0]["depth"], 0);

    // Three accountants join Platform: Finance loses three, Engineering gains three.
    let movers: Vec<String> = records(&ws, "User")
        .iter()
        .filter(|u| u.get("Organization") == "FIN-ACC")
        .skip(1)
        .take(3)
        .map(|u| u.key.clone())
        .collect();
    let rows: Vec<Line<'_>> = movers
        .iter()
        .map(|k| ("Modify", k.as_str(), vec![("Organization", "ENG-PLT".into())]))
        .collect();
    sync(&ws, &incremental(&ws, "transfer.xlsx", "User", &rows));
    let after = expected_org_counts(&ws);
    let (_, json) = ws.idbulk_json(&["report", "organization"]);
    let report = groups(&json);
    for (key, (direct, rolled)) in &after {
        let g = &report[key];
        assert_eq!(g["headcount"]["before"], before[key].0, "{key} direct before");
        assert_eq!(g["headcount"]["after"], *direct, "{key} direct after");
        assert_eq!(g["rolled_up"]["before"], before[key].1, "{key} rolled up before");
        assert_eq!(g["rolled_up"]["after"], *rolled, "{key} rolled up after");
        assert_eq!(g["rolled_up"]["difference"], rolled - before[key].1, "{key} difference");
    }
    assert_eq!(report["FIN"]["rolled_up"]["difference"], -3);
    assert_eq!(report["ENG"]["rolled_up"]["difference"], 3);
    assert_eq!(report["HQ"]["rolled_up"]["difference"], 0);
}

#[test]
fn people_without_a_site_form_the_none_group() {
    let ws = Workspace::demo();
    let file = incremental(
        &ws,
        "nosite.xlsx",
        "User",
        &[("Modify", "00042", vec![("Site", "NULL_NULL".into())])],
    );
    sync(&ws, &file);
    let (_, json) = ws.idbulk_json(&["report", "site"]);
    let none = &groups(&json)["(none)"];
    assert_eq!(none["key"], Value::Null);
    assert_eq!(none["headcount"], serde_json::json!({"before": 0, "after": 1, "difference": 1}));
}

#[test]
fn report_files_are_a_formatted_workbook_and_a_csv_with_bom() {
    let ws = Workspace::demo();
    // An accent and a formula-like name must both survive the export.
    let file = incremental(
        &ws,
        "sites.xlsx",
        "Site",
        &[
            ("Modify", "LYO", vec![("DisplayName", "Lyon Atelier Végétal".into())]),
            ("Modify", "MAD", vec![("DisplayName", "=Madrid".into())]),
        ],
    );
    sync(&ws, &file);

    let xlsx = ws.path("sites-report.xlsx");
    let (status, json) = ws.idbulk_json(&["report", "site", "-o", xlsx.to_str().unwrap()]);
    assert_eq!(status, 0, "{json:#}");
    assert_eq!(json["file"]["format"], "xlsx");
    let sheets = read_workbook(&xlsx);
    assert_eq!(sheets.len(), 1, "one sheet: the report");
    let (name, cells) = &sheets[0];
    assert_eq!(name, "Headcount");
    assert_eq!(cells[0][0], "Headcount per Site", "a title first");
    assert_eq!(cells[1][..2], ["Generated on".to_string(), today().format("%Y-%m-%d").to_string()]);
    let header = cells.iter().position(|r| r[0] == "Key").expect("a header row");
    assert_eq!(cells[header][..5], ["Key", "Name", "Before", "After", "Difference"]);
    let total = cells.iter().position(|r| r[0] == "Total").expect("a totals row");
    let table = &cells[header + 1..total];
    let expected: Vec<Vec<String>> = json["report"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            vec![
                g["key"].as_str().unwrap().to_string(),
                g["name"].as_str().unwrap().to_string(),
                g["headcount"]["before"].to_string(),
                g["headcount"]["after"].to_string(),
                g["headcount"]["difference"].to_string(),
            ]
        })
        .collect();
    let read: Vec<Vec<String>> = table.iter().map(|r| r[..5].to_vec()).collect();
    assert_eq!(read, expected);
    assert!(read.iter().any(|r| r[1] == "Lyon Atelier Végétal"));
    assert!(read.iter().any(|r| r[1] == "=Madrid"), "a string, never a formula");
    let sum: u64 = table.iter().map(|r| r[3].parse::<u64>().unwrap()).sum();
    assert_eq!(cells[total][3], sum.to_string(), "the totals row adds up the column");
    assert_eq!(sum, idbulk::demo::PEOPLE as u64);

    // The workbook is a report: autofilter, frozen header, a chart.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&xlsx).unwrap()).unwrap();
    let mut sheet = String::new();
    zip.by_name("xl/worksheets/sheet1.xml").unwrap().read_to_string(&mut sheet).unwrap();
    assert!(sheet.contains("<autoFilter"), "an autofilter");
    assert!(sheet.contains("state=\"frozen\""), "a frozen header");
    assert!(zip.by_name("xl/charts/chart1.xml").is_ok(), "a before/after chart");
    let mut style = String::new();
    zip.by_name("xl/styles.xml").unwrap().read_to_string(&mut style).unwrap();
    assert!(style.contains("+#,##0;-#,##0;0"), "differences carry their sign");

    let csv = ws.path("sites-report.csv");
    let out = ws.idbulk(&["report", "site", "-o", csv.to_str().unwrap()]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let bytes = std::fs::read(&csv).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM, so Excel shows accents");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Key,Name,Before,After,Difference");
    assert!(lines.iter().any(|l| l.starts_with("LYO,Lyon Atelier Végétal,")), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("MAD,'=Madrid,")), "formulas stay inert: {text}");
    assert!(lines.last().unwrap().starts_with(&format!("Total,,{0},{0},0", sum)), "{text}");

    let leftovers: Vec<String> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left behind: {leftovers:?}");

    let bad = ws.path("report.ods");
    let out = ws.idbulk(&["report", "site", "-o", bad.to_str().unwrap()]);
    assert_eq!(out.status, 2, "an unsupported extension is a usage error");
    assert!(!bad.exists());
}

#[test]
fn show_climbs_the_manager_chain_to_the_top_and_lists_direct_reports() {
    let ws = Workspace::demo();
    let users = records(&ws, "User");
    let manager: BTreeMap<String, String> =
        users.iter().map(|u| (u.key.clone(), u.get("Manager").to_string())).collect();
    let chief = manager.iter().find(|(_, m)| m.is_empty()).unwrap().0.clone();
    // Someone in a department, two levels below a division head.
    let person = users
        .iter()
        .find(|u| u.get("Organization") == "ENG-PLT" && !u.get("JobTitle").starts_with("Head of"))
        .unwrap()
        .key
        .clone();
    let mut chain = Vec::new();
    let mut at = person.clone();
    while !manager[&at].is_empty() {
        at = manager[&at].clone();
        chain.push(at.clone());
    }

    let (status, json) = ws.idbulk_json(&["show", &person]);
    assert_eq!(status, 0, "{json:#}");
    let got: Vec<&str> = json["person"]["managers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(got, chain);
    assert_eq!(got.last(), Some(&chief.as_str()));
    assert_eq!(json["person"]["chain_end"], serde_json::json!({"kind": "top", "key": chief}));
    let org = json["person"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["attribute"] == "Organization")
        .unwrap()
        .clone();
    assert_eq!(org["refers_to"]["name"], "Platform", "references show the row's name");

    let (_, top) = ws.idbulk_json(&["show", &chief]);
    let reports: Vec<&str> = top["person"]["direct_reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> =
        manager.iter().filter(|(_, m)| **m == chief).map(|(k, _)| k.as_str()).collect();
    assert_eq!(reports, expected);
    assert_eq!(top["person"]["managers"], serde_json::json!([]));

    let out = ws.idbulk(&["show", &person]);
    assert!(out.stdout.contains("is the top of the hierarchy"), "{}", out.stdout);
    assert!(out.stdout.contains("Direct reports (0)"), "{}", out.stdout);

    let (status, missing) = ws.idbulk_json(&["show", "99999"]);
    assert_eq!(status, 2);
    assert_eq!(missing["error"]["code"], "not_found");
}
