//! The hidden metadata of a workbook template, so that a stale template is recognised.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::schema::Schema;

use super::TemplateKind;

/// What a workbook template records about its making, in the hidden
/// [`METADATA_SHEET`](super::METADATA_SHEET) as key/value rows (keys in column A, values in
/// column B, all text). The importer reads it back with [`TemplateMetadata::from_pairs`] and
/// compares it with the repository to warn about a stale template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateMetadata {
    /// Version of this metadata layout ([`TemplateMetadata::FORMAT_VERSION`] when written).
    pub format_version: u32,
    /// Name of the schema the template was made from.
    pub schema_name: String,
    /// Version of that schema.
    pub schema_version: u32,
    /// Full or empty.
    pub kind: TemplateKind,
    /// When the template was made (written as RFC 3339).
    pub exported_at: DateTime<Utc>,
    /// The repository revision the rows were read at.
    pub repository_revision: u64,
}

const FORMAT_VERSION_KEY: &str = "format_version";
const GENERATOR_KEY: &str = "generator";
const SCHEMA_NAME_KEY: &str = "schema_name";
const SCHEMA_VERSION_KEY: &str = "schema_version";
const KIND_KEY: &str = "kind";
const EXPORTED_AT_KEY: &str = "exported_at";
const REVISION_KEY: &str = "repository_revision";

impl TemplateMetadata {
    /// The metadata layout this build writes. Bump it when a key changes meaning.
    pub const FORMAT_VERSION: u32 = 1;

    /// The metadata of a template made now from this schema at this revision.
    pub fn new(schema: &Schema, kind: TemplateKind, revision: u64, now: DateTime<Utc>) -> Self {
        TemplateMetadata {
            format_version: Self::FORMAT_VERSION,
            schema_name: schema.name.clone(),
            schema_version: schema.version,
            kind,
            exported_at: now,
            repository_revision: revision,
        }
    }

    /// The key/value rows of the metadata sheet, in the order they are written. A `generator`
    /// row (the idbulk version, for people) is included and ignored when read back.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        [
            (FORMAT_VERSION_KEY, self.format_version.to_string()),
            (GENERATOR_KEY, format!("idbulk {}", env!("CARGO_PKG_VERSION"))),
            (SCHEMA_NAME_KEY, self.schema_name.clone()),
            (SCHEMA_VERSION_KEY, self.schema_version.to_string()),
            (KIND_KEY, self.kind.as_str().to_string()),
            (EXPORTED_AT_KEY, self.exported_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            (REVISION_KEY, self.repository_revision.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Reads the metadata back from the key/value rows of the metadata sheet. Keys and values
    /// are trimmed; unknown keys are ignored (a newer idbulk may add some); a number typed as
    /// `3.0` by a spreadsheet is accepted.
    ///
    /// Returns `None` when a key is missing or a value does not parse: the sheet was damaged
    /// or is not ours, and the importer should treat the template's origin as unknown.
    ///
    /// # Examples
    ///
    /// ```
    /// use idbulk::template::{TemplateKind, TemplateMetadata};
    ///
    /// let written = TemplateMetadata::new(&idbulk::Schema::directory(), TemplateKind::Full, 7, chrono::Utc::now());
    /// // What the importer finds in columns A and B of the metadata sheet:
    /// let rows = written.to_pairs();
    /// let read = TemplateMetadata::from_pairs(&rows).expect("our own metadata");
    /// assert_eq!(read.repository_revision, 7);
    /// ```
    pub fn from_pairs(pairs: &[(String, String)]) -> Option<Self> {
        let get = |key: &str| pairs.iter().find(|(k, _)| k.trim() == key).map(|(_, v)| v.trim());
        Some(TemplateMetadata {
            format_version: number(get(FORMAT_VERSION_KEY)?)?,
            schema_name: get(SCHEMA_NAME_KEY)?.to_string(),
            schema_version: number(get(SCHEMA_VERSION_KEY)?)?,
            kind: get(KIND_KEY)?.parse().ok()?,
            exported_at: DateTime::parse_from_rfc3339(get(EXPORTED_AT_KEY)?).ok()?.to_utc(),
            repository_revision: number(get(REVISION_KEY)?)?,
        })
    }
}

/// A whole number, also when a spreadsheet turned it into `7.0`.
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.parse().ok().or_else(|| text.strip_suffix(".0")?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> TemplateMetadata {
        let now = Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap()
            + chrono::Duration::milliseconds(589);
        TemplateMetadata::new(&Schema::directory(), TemplateKind::Empty, 42, now)
    }

    #[test]
    fn metadata_round_trips_through_pairs() {
        let m = sample();
        let pairs = m.to_pairs();
        assert_eq!(TemplateMetadata::from_pairs(&pairs), Some(m.clone()));
        let keys: Vec<_> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "format_version",
                "generator",
                "schema_name",
                "schema_version",
                "kind",
                "exported_at",
                "repository_revision"
            ]
        );
        let at = &pairs.iter().find(|(k, _)| k == "exported_at").unwrap().1;
        assert_eq!(at, "2025-03-14T09:26:53.589Z", "RFC 3339 in UTC");
        assert_eq!(m.format_version, TemplateMetadata::FORMAT_VERSION);
        assert_eq!(m.schema_name, "Directory");
    }

    #[test]
    fn metadata_read_back_tolerates_spreadsheet_edits_but_not_damage() {
        let m = sample();
        let mut pairs: Vec<(String, String)> = m
            .to_pairs()
            .into_iter()
            .map(|(k, v)| {
                (format!(" {k} "), if k == "repository_revision" { "42.0".into() } else { v })
            })
            .collect();
        pairs.push(("added_by_a_newer_idbulk".into(), "x".into()));
        assert_eq!(TemplateMetadata::from_pairs(&pairs), Some(m.clone()));

        let without_kind: Vec<_> = m.to_pairs().into_iter().filter(|(k, _)| k != "kind").collect();
        assert_eq!(TemplateMetadata::from_pairs(&without_kind), None);
        let bad_time: Vec<_> = m
            .to_pairs()
            .into_iter()
            .map(|(k, v)| if k == "exported_at" { (k, "yesterday".into()) } else { (k, v) })
            .collect();
        assert_eq!(TemplateMetadata::from_pairs(&bad_time), None);
        assert_eq!(TemplateMetadata::from_pairs(&[]), None);
    }
}
