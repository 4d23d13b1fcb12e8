//! The benchmark's repository and files, generated deterministically from the row count alone.
//!
//! Every row is a pure function of its index and the row count, so files and the repository can
//! be written (and one row rebuilt) without holding a million rows in memory. The layout under
//! `target/bench-data/<N>/`:
//!
//! | file | what | written by |
//! |---|---|---|
//! | `base.db` | the repository: N users, their organisations, sites and worker types | [`Store::write`] |
//! | `full.xlsx` | the full template | `template::write_xlsx` (the engine) |
//! | `stored.csv` | the stored users as plain CSV, for the pandas comparison | the csv crate |
//! | `edited.xlsx` | the full template after an edit of 10 % of the users, as Excel saves it | rust_xlsxwriter |
//! | `edited/User.csv` | the same users as a CSV template | the csv crate |
//!
//! `edited.xlsx` holds what a workbook saved by Excel from the full template holds: the four
//! entity sheets with their typed cells (dates as dates, phone numbers quote-prefixed), a
//! shared-string table (Excel always writes one; `--inline-strings` writes inline strings
//! instead, as rust_xlsxwriter's constant-memory mode does), and the hidden `_lists` and
//! `_idbulk` sheets (the metadata copied from `full.xlsx`, so the plan sees no stale template).
//! The "Read me" sheet is left out: nobody reads it.

use std::borrow::Borrow;
use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx, open_workbook};
use idbulk::import::{Cell, FileFormat, RawHeader, RawRow, RawSheet, RawWorkbook};
use idbulk::schema::{AttributeKind, EntityType};
use idbulk::template::{self, TemplateKind};
use idbulk::value::{csv_export, looks_like_formula};
use idbulk::{Row, Schema, Store};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

/// A boxed error: the benchmark reports failures, it does not classify them.
pub type BoxResult<T> = Result<T, Box<dyn Error>>;

/// The eight text attributes added to the User type of the Directory schema, so that the User
/// sheet has 20 columns (the key and 19 attributes) besides `Command`.
pub const EXTRA_ATTRIBUTES: [&str; 8] = [
    "CostCenter",
    "Building",
    "Office",
    "Desk",
    "BadgeNumber",
    "PreferredLanguage",
    "Pronouns",
    "Comment",
];

/// The instant written into templates: fixed, so the files are the same on every run.
pub fn fixed_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

/// The Directory schema with [`EXTRA_ATTRIBUTES`] appended to User.
pub fn schema() -> BoxResult<Schema> {
    let anchor = "  { name = \"ContractEndDate\", kind = \"date\" },\n";
    if !idbulk::schema::DIRECTORY_TOML.contains(anchor) {
        return Err("the Directory schema changed: update benches/pipeline/data.rs".into());
    }
    let extra: String = EXTRA_ATTRIBUTES
        .iter()
        .map(|name| format!("  {{ name = \"{name}\", kind = \"text\" }},\n"))
        .collect();
    let text = idbulk::schema::DIRECTORY_TOML.replacen(anchor, &format!("{anchor}{extra}"), 1);
    Ok(Schema::from_toml(&text)?)
}

/// The entity type named `name` of the benchmark schema.
pub fn entity_type<'s>(schema: &'s Schema, name: &str) -> BoxResult<&'s EntityType> {
    schema.entity_type(name).ok_or_else(|| format!("the schema has no {name}").into())
}

/// SplitMix64, seeded per row so that any row can be rebuilt alone.
struct Dice(u64);

impl Dice {
    fn for_row(kind: u64, index: usize) -> Dice {
        Dice(
            kind.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
        )
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

const FIRST_NAMES: [&str; 48] = [
    "Ada",
    "Alan",
    "Alice",
    "Amir",
    "Anna",
    "Aurélie",
    "Ben",
    "Chen",
    "Chloé",
    "Clara",
    "Daniel",
    "David",
    "Elena",
    "Emma",
    "Fatima",
    "François",
    "Grace",
    "Hannah",
    "Hugo",
    "Ines",
    "Ivan",
    "Jade",
    "James",
    "Jean",
    "Julia",
    "Karim",
    "Laura",
    "Léa",
    "Lucas",
    "Lukas",
    "Maria",
    "Marie",
    "Mateo",
    "Mia",
    "Nina",
    "Noah",
    "Olivia",
    "Omar",
    "Paul",
    "Pierre",
    "Rosa",
    "Sara",
    "Sofia",
    "Thomas",
    "Tom",
    "Yara",
    "Yusuf",
    "Zoé",
];

const LAST_NAMES: [&str; 48] = [
    "Adams",
    "Bernard",
    "Bianchi",
    "Brown",
    "Costa",
    "Dubois",
    "Durand",
    "Fischer",
    "Fontaine",
    "García",
    "Girard",
    "Hoffmann",
    "Jansen",
    "Kowalski",
    "Lambert",
    "Laurent",
    "Lefebvre",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Müller",
    "Nguyen",
    "Novak",
    "O'Brien",
    "Petit",
    "Rossi",
    "Roux",
    "Schmidt",
    "Schneider",
    "Silva",
    "Smith",
    "Taylor",
    "Thomas",
    "Vincent",
    "Wagner",
    "Weber",
    "Williams",
    "Wilson",
    "Wright",
    "Young",
    "Zimmermann",
    "Andersen",
    "Berg",
    "Carvalho",
    "Dupont",
    "Ferrari",
    "Holm",
];

const JOB_TITLES: [&str; 24] = [
    "Accountant",
    "Accounts Clerk",
    "Administrative Assistant",
    "Business Analyst",
    "Buyer",
    "Customer Success Manager",
    "Data Engineer",
    "Designer",
    "Engineering Manager",
    "Executive Assistant",
    "Financial Controller",
    "HR Business Partner",
    "Legal Counsel",
    "Logistics Coordinator",
    "Marketing Specialist",
    "Office Manager",
    "Payroll Specialist",
    "Product Manager",
    "Quality Engineer",
    "Recruiter",
    "Sales Representative",
    "Software Engineer",
    "Support Technician",
    "Warehouse Operator",
];

const LANGUAGES: [&str; 6] = ["en", "fr", "de", "es", "it", "nl"];
const PRONOUNS: [&str; 3] = ["she/her", "he/him", "they/them"];
const COMMENTS: [&str; 5] = [
    "Works part time on Fridays",
    "Badge to renew in spring",
    "Remote two days a week",
    "Mentor of the apprentice programme",
    "Needs a parking space",
];
const COUNTRIES: [(&str, &str); 5] = [
    ("France", "Paris"),
    ("Germany", "Berlin"),
    ("United Kingdom", "London"),
    ("Spain", "Madrid"),
    ("Italy", "Milan"),
];
const WORKER_TYPES: [(&str, &str, &str, &str); 6] = [
    ("EMP", "Employee", "false", "Permanent"),
    ("APP", "Apprentice", "false", "Trainee"),
    ("INT", "Intern", "false", "Trainee"),
    ("CON", "Contractor", "true", "Contractor"),
    ("CSL", "Consultant", "true", "Contractor"),
    ("TMP", "Temporary worker", "true", "Temporary"),
];

/// How many rows of each entity type a repository of `n` users holds.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Users.
    pub users: usize,
    /// Organisations (one per 50 users, at least 20).
    pub organizations: usize,
    /// Sites (one per 2,000 users, at least 5).
    pub sites: usize,
}

impl Sizes {
    /// The sizes for `n` users.
    pub fn of(n: usize) -> Sizes {
        Sizes { users: n, organizations: (n / 50).max(20), sites: (n / 2000).max(5) }
    }

    /// How many users the edited files change: every tenth.
    pub fn edited(self) -> usize {
        (0..self.users).filter(|i| is_edited(*i)).count()
    }
}

/// The users the edit changes: one in ten.
pub fn is_edited(index: usize) -> bool {
    index % 10 == 7
}

/// A user key: eight digits with leading zeros, as HR systems number people.
pub fn user_key(index: usize) -> String {
    format!("{:08}", index + 1)
}

fn organization_key(index: usize) -> String {
    format!("ORG{:05}", index + 1)
}

fn site_key(index: usize) -> String {
    format!("S{:04}", index + 1)
}

/// A date `days` after 2000-01-01, as `YYYY-MM-DD`.
fn date(days: usize) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    (start + chrono::Duration::days(days as i64)).format("%Y-%m-%d").to_string()
}

fn phone(dice: &mut Dice) -> String {
    format!(
        "+33 1 {:02} {:02} {:02} {:02}",
        dice.below(100),
        dice.below(100),
        dice.below(100),
        dice.below(100)
    )
}

/// A row from `(attribute, value)` pairs of an entity type.
fn row(et: &EntityType, key: String, pairs: &[(&str, String)]) -> Row {
    let mut r = Row::empty(key, et);
    for (name, value) in pairs {
        if let Some(i) = et.attribute_index(name) {
            r.values.set(i, value.as_str());
        }
    }
    r
}

/// What an edit does to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// The stored row.
    None,
    /// The edited file's row: every tenth user changed ([`is_edited`]).
    TenPercent,
    /// Every user's job title changed (for the apply-only benchmark at full scale).
    Every,
}

/// User `index` of a repository of `sizes`, as stored or as edited.
pub fn user(et: &EntityType, sizes: Sizes, index: usize, edit: Edit) -> Row {
    let mut dice = Dice::for_row(1, index);
    let first = dice.pick(&FIRST_NAMES);
    let last = dice.pick(&LAST_NAMES);
    let worker_type = WORKER_TYPES[[0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5][dice.below(12)]].0;
    let organization = dice.below(sizes.organizations);
    // A tree of fan-out 8: the manager always has a smaller index, so there is no cycle, and
    // chains stay as short as in a real company (log8 of the headcount).
    let manager = if index == 0 { None } else { Some((index - 1) / 8) };
    let start = dice.below(9000);
    let mut title = dice.below(JOB_TITLES.len());
    let mut phone_number = if dice.percent(90) { phone(&mut dice) } else { String::new() };
    let mut organization_key = organization_key(organization);
    let mut manager_key = manager.map(user_key).unwrap_or_default();
    let mut building = format!("B{}", dice.below(12) + 1);
    let mut office = format!("{}{:02}", dice.below(6) + 1, dice.below(40) + 1);
    let end = dice.percent(15).then(|| date(start + 365 + dice.below(3000)));
    let comment = if dice.percent(30) { dice.pick(&COMMENTS).to_string() } else { String::new() };
    let edit = match edit {
        Edit::None => None,
        Edit::TenPercent => is_edited(index).then_some(index / 10 % 5),
        Edit::Every => Some(0),
    };
    match edit {
        None => {}
        Some(1) => phone_number = phone(&mut Dice::for_row(2, index)),
        Some(2) => {
            organization_key = self::organization_key((organization + 1) % sizes.organizations)
        }
        Some(3) => {
            building = format!("B{}", index % 12 + 13);
            office = format!("{}", 700 + index % 40);
        }
        Some(4) if manager.is_some_and(|m| m > 0) => {
            manager_key = user_key(manager.unwrap_or_default() - 1);
        }
        Some(_) => title = (title + 1) % JOB_TITLES.len(),
    }
    let pairs = [
        ("FirstName", first.to_string()),
        ("LastName", last.to_string()),
        (
            "Email",
            format!(
                "{}.{}.{}@example.com",
                first.to_lowercase(),
                last.to_lowercase().replace('\'', ""),
                index + 1
            ),
        ),
        ("PhoneNumber", phone_number),
        ("UserType", worker_type.to_string()),
        ("Organization", organization_key),
        ("Manager", manager_key),
        ("Site", site_key(dice.below(sizes.sites))),
        ("JobTitle", JOB_TITLES[title].to_string()),
        ("ContractStartDate", date(start)),
        ("ContractEndDate", end.unwrap_or_default()),
        ("CostCenter", format!("CC{:04}", 1000 + organization % 900)),
        ("Building", building),
        ("Office", office),
        ("Desk", format!("D{:03}", dice.below(500))),
        ("BadgeNumber", format!("{:06}", dice.below(1_000_000))),
        ("PreferredLanguage", dice.pick(&LANGUAGES).to_string()),
        (
            "Pronouns",
            if dice.percent(40) { dice.pick(&PRONOUNS).to_string() } else { String::new() },
        ),
        ("Comment", comment),
    ];
    row(et, user_key(index), &pairs)
}

/// Organisation `index`: a tree of fan-out 4, each managed by some user.
fn organization(et: &EntityType, sizes: Sizes, index: usize) -> Row {
    let mut dice = Dice::for_row(3, index);
    let parent = if index == 0 { String::new() } else { organization_key((index - 1) / 4) };
    let kind = if index == 0 {
        "Company"
    } else if index <= 4 {
        "Division"
    } else {
        "Department"
    };
    let pairs = [
        ("DisplayName", format!("Department {}", index + 1)),
        ("Manager", user_key(dice.below(sizes.users))),
        ("Parent", parent),
        ("Type", kind.to_string()),
    ];
    row(et, organization_key(index), &pairs)
}

fn site(et: &EntityType, index: usize) -> Row {
    let (country, city) = COUNTRIES[index % COUNTRIES.len()];
    let pairs = [
        ("DisplayName", format!("{city} site {}", index + 1)),
        ("City", city.to_string()),
        ("Country", country.to_string()),
    ];
    row(et, site_key(index), &pairs)
}

fn worker_type(et: &EntityType, index: usize) -> Row {
    let (key, name, external, category) = WORKER_TYPES[index];
    let pairs = [
        ("DisplayName", name.to_string()),
        ("IsExternal", external.to_string()),
        ("Category", category.to_string()),
    ];
    row(et, key.to_string(), &pairs)
}

/// Every row of an entity type, as stored (users as `edit` says).
pub fn generate<'a>(
    et: &'a EntityType,
    sizes: Sizes,
    edit: Edit,
) -> Box<dyn Iterator<Item = Row> + 'a> {
    match et.name.as_str() {
        "User" => Box::new((0..sizes.users).map(move |i| user(et, sizes, i, edit))),
        "Organization" => {
            Box::new((0..sizes.organizations).map(move |i| organization(et, sizes, i)))
        }
        "Site" => Box::new((0..sizes.sites).map(move |i| site(et, i))),
        "UserType" => Box::new((0..WORKER_TYPES.len()).map(move |i| worker_type(et, i))),
        _ => Box::new(std::iter::empty()),
    }
}

/// The files of one benchmark size.
#[derive(Debug, Clone)]
pub struct Files {
    /// The folder holding them.
    pub dir: PathBuf,
}

impl Files {
    /// The files for `rows` users under `root`.
    pub fn new(root: &Path, rows: usize) -> Files {
        Files { dir: root.join(rows.to_string()) }
    }

    /// The repository (never written by a measured step: each works on a copy).
    pub fn base_db(&self) -> PathBuf {
        self.dir.join("base.db")
    }

    /// The full template, as the engine writes it.
    pub fn full_xlsx(&self) -> PathBuf {
        self.dir.join("full.xlsx")
    }

    /// The stored users as plain CSV (pandas' side of the merge).
    pub fn stored_csv(&self) -> PathBuf {
        self.dir.join("stored.csv")
    }

    /// The edited workbook.
    pub fn edited_xlsx(&self) -> PathBuf {
        self.dir.join("edited.xlsx")
    }

    /// The edited users as a CSV template file.
    pub fn edited_csv(&self) -> PathBuf {
        self.dir.join("edited").join("User.csv")
    }

    fn stamp(&self) -> PathBuf {
        self.dir.join("stamp")
    }

    /// A private copy of the repository for one measured step, removed when dropped (also
    /// when the step fails).
    pub fn work_copy(&self, tag: &str) -> BoxResult<WorkCopy> {
        let path = self.dir.join(format!("work-{tag}-{}.db", std::process::id()));
        remove_db(&path);
        let copy = WorkCopy(path);
        std::fs::copy(self.base_db(), &copy.0)?;
        Ok(copy)
    }
}

/// A copy of the repository that removes itself (and its WAL files) when dropped.
pub struct WorkCopy(PathBuf);

impl WorkCopy {
    /// Where the copy is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkCopy {
    fn drop(&mut self) {
        remove_db(&self.0);
    }
}

/// Removes a repository file and its WAL companions, ignoring what is not there.
pub fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Makes sure the files of `rows` users exist and were made by this very build (a stamp
/// records the bench binary's size and time, so any engine change regenerates them).
/// Returns whether they were (re)generated.
pub fn ensure(files: &Files, rows: usize, inline_strings: bool, regen: bool) -> BoxResult<bool> {
    let exe = std::env::current_exe()?;
    let meta = std::fs::metadata(&exe)?;
    let modified = meta.modified()?.duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let stamp = format!(
        "generator 1; rows {rows}; inline strings {inline_strings}; bench binary {} bytes, {modified}\n",
        meta.len()
    );
    if !regen && std::fs::read_to_string(files.stamp()).is_ok_and(|s| s == stamp) {
        return Ok(false);
    }
    if files.dir.exists() {
        std::fs::remove_dir_all(&files.dir)?;
    }
    std::fs::create_dir_all(files.dir.join("edited"))?;
    let schema = schema()?;
    let sizes = Sizes::of(rows);
    let started = std::time::Instant::now();
    {
        let mut store = Store::create(&files.base_db(), &schema)?;
        store.write(|w| {
            for name in ["UserType", "Site", "Organization", "User"] {
                let Some(et) = schema.entity_type(name) else { continue };
                for r in generate(et, sizes, Edit::None) {
                    w.insert(et, &r)?;
                }
            }
            Ok(())
        })?;
        template::write_xlsx(&store, TemplateKind::Full, &files.full_xlsx(), fixed_now())?;
        write_stored_csv(&store, &schema, &files.stored_csv())?;
        // Closing the store checkpoints the WAL into base.db, so a copy of that file is whole.
    }
    let metadata = read_metadata(&files.full_xlsx())?;
    write_edited_xlsx(&schema, sizes, &metadata, &files.edited_xlsx(), inline_strings)?;
    write_edited_csv(entity_type(&schema, "User")?, sizes, &files.edited_csv())?;
    std::fs::write(files.stamp(), stamp)?;
    eprintln!(
        "  generated {} in {:.1} s ({} users edited)",
        files.dir.display(),
        started.elapsed().as_secs_f64(),
        sizes.edited()
    );
    Ok(true)
}

/// The stored users as plain CSV: header `Identifier,<attributes>`, values as stored.
fn write_stored_csv(store: &Store, schema: &Schema, path: &Path) -> BoxResult<()> {
    let et = entity_type(schema, "User")?;
    let mut out = csv::Writer::from_path(path)?;
    out.write_record(et.headers())?;
    let mut failed: Option<csv::Error> = None;
    store.for_each_row(et, |r| {
        if failed.is_none()
            && let Err(e) = out.write_record(std::iter::once(r.key.as_str()).chain(&r.values))
        {
            failed = Some(e);
        }
        Ok(())
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.flush()?;
    Ok(())
}

/// The `(key, value)` rows of the hidden metadata sheet of a template.
fn read_metadata(path: &Path) -> BoxResult<Vec<(String, String)>> {
    let mut book: Xlsx<_> = open_workbook(path)?;
    let range = book.worksheet_range(template::METADATA_SHEET)?;
    Ok(range
        .rows()
        .filter_map(|r| match (r.first(), r.get(1)) {
            (Some(Data::String(k)), Some(v)) => Some((k.clone(), v.to_string())),
            _ => None,
        })
        .collect())
}

/// The formats of the cells the template writes.
pub struct Formats {
    header: Format,
    text: Format,
    text_inert: Format,
    date: Format,
}

impl Formats {
    /// The same number formats as the template: text `@`, quote prefix, `yyyy-mm-dd`.
    pub fn new() -> Formats {
        let text = Format::new().set_num_format_index(49);
        Formats {
            header: Format::new().set_bold().set_num_format_index(49),
            text_inert: text.clone().set_quote_prefix(),
            text,
            date: Format::new().set_num_format("yyyy-mm-dd"),
        }
    }
}

/// `YYYY-MM-DD` as numbers, without the cost of a general date parser.
fn ymd(value: &str) -> Option<(u16, u8, u8)> {
    let b = value.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = value.get(0..4)?.parse().ok()?;
    let month = value.get(5..7)?.parse().ok()?;
    let day = value.get(8..10)?.parse().ok()?;
    Some((year, month, day))
}

/// Writes one entity sheet as the template lays it out: `Command`, the key, the attributes;
/// dates as dates, booleans as booleans, formula-like text quote-prefixed, the rest as text.
pub fn write_entity_sheet<R: Borrow<Row>>(
    sheet: &mut Worksheet,
    et: &EntityType,
    rows: impl IntoIterator<Item = R>,
    formats: &Formats,
) -> Result<u32, XlsxError> {
    sheet.set_name(&et.name)?;
    for (c, header) in template::sheet_headers(et).iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *header, &formats.header)?;
    }
    let mut r = 0u32;
    for row in rows {
        let row = row.borrow();
        r += 1;
        write_text(sheet, r, 1, &row.key, formats)?;
        for (i, (attr, value)) in et.attributes.iter().zip(&row.values).enumerate() {
            let col = i as u16 + 2;
            if value.is_empty() {
                continue;
            }
            match attr.kind {
                AttributeKind::Date => match ymd(value) {
                    Some((y, m, d)) => {
                        let date = ExcelDateTime::from_ymd(y, m, d)?;
                        sheet.write_date_with_format(r, col, &date, &formats.date)?;
                    }
                    None => write_text(sheet, r, col, value, formats)?,
                },
                AttributeKind::Bool if value == "true" || value == "false" => {
                    sheet.write_boolean(r, col, value == "true")?;
                }
                _ => write_text(sheet, r, col, value, formats)?,
            }
        }
    }
    Ok(r)
}

fn write_text(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    text: &str,
    formats: &Formats,
) -> Result<(), XlsxError> {
    let format = if looks_like_formula(text) { &formats.text_inert } else { &formats.text };
    sheet.write_string_with_format(row, col, text, format)?;
    Ok(())
}

/// Writes the hidden lists sheet: one column of keys per referenced entity type, row by row.
pub fn write_lists_sheet(
    sheet: &mut Worksheet,
    columns: &[(String, Vec<String>)],
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.set_name(template::LISTS_SHEET)?;
    sheet.set_hidden(true);
    for (c, (name, _)) in columns.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, name, &formats.header)?;
    }
    let longest = columns.iter().map(|(_, keys)| keys.len()).max().unwrap_or(0);
    for r in 0..longest {
        for (c, (_, keys)) in columns.iter().enumerate() {
            if let Some(key) = keys.get(r) {
                sheet.write_string_with_format(r as u32 + 1, c as u16, key, &formats.text)?;
            }
        }
    }
    Ok(())
}

/// The keys the template's lists sheet holds: every entity type some reference targets.
pub fn list_columns(schema: &Schema, sizes: Sizes) -> Vec<(String, Vec<String>)> {
    schema
        .entity_types
        .iter()
        .filter(|t| {
            schema
                .entity_types
                .iter()
                .flat_map(|s| &s.attributes)
                .any(|a| a.kind.reference_target() == Some(t.name.as_str()))
        })
        .map(|t| {
            (t.name.clone(), generate(t, sizes, Edit::None).map(|r| r.key.to_string()).collect())
        })
        .collect()
}

fn write_edited_xlsx(
    schema: &Schema,
    sizes: Sizes,
    metadata: &[(String, String)],
    path: &Path,
    inline_strings: bool,
) -> BoxResult<()> {
    let formats = Formats::new();
    let mut workbook = Workbook::new();
    if let Some(dir) = path.parent() {
        workbook.set_tempdir(dir)?;
    }
    let add = |workbook: &mut Workbook| -> Result<(), XlsxError> {
        if inline_strings {
            workbook.add_worksheet_with_constant_memory()?;
        } else {
            workbook.add_worksheet_with_low_memory()?;
        }
        Ok(())
    };
    for (index, et) in schema.entity_types.iter().enumerate() {
        add(&mut workbook)?;
        let sheet = workbook.worksheet_from_index(index)?;
        write_entity_sheet(sheet, et, generate(et, sizes, Edit::TenPercent), &formats)?;
    }
    add(&mut workbook)?;
    let sheet = workbook.worksheet_from_index(schema.entity_types.len())?;
    write_lists_sheet(sheet, &list_columns(schema, sizes), &formats)?;
    let sheet = workbook.add_worksheet();
    sheet.set_name(template::METADATA_SHEET)?;
    sheet.set_hidden(true);
    for (r, (key, value)) in metadata.iter().enumerate() {
        sheet.write_string(r as u32, 0, key)?;
        sheet.write_string(r as u32, 1, value)?;
    }
    let mut out = BufWriter::new(File::create(path)?);
    workbook.save_to_writer(&mut out)?;
    out.flush()?;
    Ok(())
}

/// The edited users as the CSV template writes them: BOM, comma, CRLF, `'` before formulas.
fn write_edited_csv(et: &EntityType, sizes: Sizes, path: &Path) -> BoxResult<()> {
    let mut file = BufWriter::new(File::create(path)?);
    file.write_all(b"\xEF\xBB\xBF")?;
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(file);
    out.write_record(template::sheet_headers(et))?;
    for r in generate(et, sizes, Edit::TenPercent) {
        let cells = std::iter::once(String::new())
            .chain(std::iter::once(csv_export(&r.key).into_owned()))
            .chain(r.values.iter().map(|v| csv_export(v).into_owned()));
        out.write_record(cells)?;
    }
    out.flush()?;
    Ok(())
}

/// An in-memory upload of the User sheet with every row changed, for the apply-only step at
/// full scale (no file: the step measures the writes, not the read).
pub fn every_user_changed(et: &EntityType, sizes: Sizes) -> RawWorkbook {
    let headers: Vec<RawHeader> = template::sheet_headers(et)
        .iter()
        .enumerate()
        .map(|(i, h)| RawHeader { column: i as u32, text: h.to_string() })
        .collect();
    let rows = generate(et, sizes, Edit::Every)
        .enumerate()
        .map(|(i, r)| {
            let text = |v: &str| if v.is_empty() { Cell::Empty } else { Cell::Text(v.into()) };
            let cells = std::iter::once(Cell::Empty)
                .chain(std::iter::once(Cell::Text(r.key)))
                .chain(r.values.iter().map(text))
                .collect();
            RawRow { row: i as u32 + 2, cells }
        })
        .collect();
    RawWorkbook {
        file_name: "every-user.xlsx".into(),
        format: FileFormat::Xlsx,
        sheets: vec![RawSheet { name: et.name.clone(), headers, rows }],
        metadata: Vec::new(),
        notices: Vec::new(),
        csv_entity_type: None,
    }
}
