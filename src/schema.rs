//! The schema: which entity types the repository holds, their keys and attributes.
//!
//! idbulk is generic over the schema. Nothing downstream (template, import, plan, verify)
//! names `User` or `Organization`; they read entity types and attribute kinds from here, and
//! find the parts verification needs (who is a person, which attribute is the manager) through
//! [`Roles`].
//!
//! A schema is a TOML file; the default "Directory" schema ships built in
//! ([`Schema::directory`]). Its text is kept in the repository when it is created, so the CLI and
//! the app always agree on it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// The text of the built-in "Directory" schema.
pub const DIRECTORY_TOML: &str = include_str!("../schema/directory.toml");

/// The kind of value an attribute holds. Values are stored in a canonical text form (see
/// [`crate::value`]), so the kind decides how a cell is read, checked and written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum AttributeKind {
    /// Free text.
    Text,
    /// A whole number.
    Integer,
    /// A decimal number.
    Decimal,
    /// `true` or `false`.
    Bool,
    /// A calendar date, stored as `YYYY-MM-DD`.
    Date,
    /// An e-mail address.
    Email,
    /// The key of a row of another (or the same) entity type.
    Reference {
        /// The entity type whose key this attribute holds.
        target: String,
    },
}

impl AttributeKind {
    /// A short human name, used in template comments and error messages.
    pub fn label(&self) -> String {
        match self {
            AttributeKind::Text => "text".into(),
            AttributeKind::Integer => "whole number".into(),
            AttributeKind::Decimal => "decimal number".into(),
            AttributeKind::Bool => "TRUE or FALSE".into(),
            AttributeKind::Date => "date (YYYY-MM-DD)".into(),
            AttributeKind::Email => "e-mail address".into(),
            AttributeKind::Reference { target } => format!("{target} key"),
        }
    }

    /// The entity type this attribute refers to, if it is a reference.
    pub fn reference_target(&self) -> Option<&str> {
        match self {
            AttributeKind::Reference { target } => Some(target),
            _ => None,
        }
    }
}

/// One attribute (column) of an entity type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    /// Column header, unique within its entity type.
    pub name: String,
    /// What the attribute holds.
    #[serde(flatten)]
    pub kind: AttributeKind,
    /// A blank value is an error when true.
    #[serde(default)]
    pub required: bool,
}

/// An entity type: one sheet of the template, one set of rows in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityType {
    /// Sheet name and entity type name.
    pub name: String,
    /// Header of the key column. Keys are unique, immutable text.
    pub key: String,
    /// Attributes joined with a space to name a row for people (e.g. first and last name).
    #[serde(default)]
    pub display: Vec<String>,
    /// The attributes, in column order.
    pub attributes: Vec<Attribute>,
}

impl EntityType {
    /// The position of an attribute by exact name.
    pub fn attribute_index(&self, name: &str) -> Option<usize> {
        self.attributes.iter().position(|a| a.name == name)
    }

    /// The attribute with this exact name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Every column header of this type's sheet, key first, without `Command`.
    pub fn headers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str()).chain(self.attributes.iter().map(|a| a.name.as_str()))
    }
}

/// Which entity types and attributes play the parts verification and reports need.
///
/// Every field is optional: a check whose roles are missing is skipped, so a schema for some
/// other kind of repository still plans and syncs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    /// Entity type of people (e.g. `User`).
    pub person: Option<String>,
    /// Reference attribute of a person naming their manager.
    pub person_manager: Option<String>,
    /// Reference attribute of a person naming their organisation.
    pub person_organization: Option<String>,
    /// Reference attribute of a person naming their worker type.
    pub person_worker_type: Option<String>,
    /// Reference attribute of a person naming their site.
    pub person_site: Option<String>,
    /// Date attribute of a person ending their contract (leavers).
    pub person_end_date: Option<String>,
    /// Entity type of organisations (departments).
    pub organization: Option<String>,
    /// Reference attribute of an organisation naming its manager.
    pub organization_manager: Option<String>,
    /// Reference attribute of an organisation naming its parent.
    pub organization_parent: Option<String>,
    /// Entity type of worker types.
    pub worker_type: Option<String>,
    /// Bool attribute of a worker type telling whether it is external.
    pub worker_type_external: Option<String>,
    /// Text attribute of a worker type naming its category.
    pub worker_type_category: Option<String>,
    /// Entity type of sites.
    pub site: Option<String>,
}

/// A whole schema: a name, a version and the entity types in sheet order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Human name of the schema, e.g. "Directory".
    pub name: String,
    /// Bumped by the administrator when the schema changes; templates record it so a stale
    /// template is recognised.
    pub version: u32,
    /// Parts played by entity types and attributes, for verification.
    #[serde(default)]
    pub roles: Roles,
    /// Entity types in sheet order.
    #[serde(rename = "entity_type")]
    pub entity_types: Vec<EntityType>,
}

/// Why a schema file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The TOML did not parse or did not have the expected shape.
    #[error("the schema file is not valid: {0}")]
    Syntax(String),
    /// The TOML parsed but breaks a rule (duplicate names, unknown reference target, ...).
    #[error("the schema is not consistent: {0}")]
    Invalid(String),
}

/// Names idbulk itself uses in workbooks; an entity type or attribute may not take them.
pub const RESERVED_NAMES: [&str; 1] = ["Command"];

/// Sheet names idbulk writes for its own use; an entity type may not take them.
pub const RESERVED_SHEETS: [&str; 3] = ["Read me", "_lists", "_idbulk"];

impl Schema {
    /// The built-in "Directory" schema of the specification.
    pub fn directory() -> Schema {
        #[allow(clippy::expect_used)]
        Schema::from_toml(DIRECTORY_TOML).expect("the built-in schema is valid (tested)")
    }

    /// Parses and validates a schema from TOML text.
    ///
    /// # Errors
    ///
    /// [`SchemaError::Syntax`] when the text is not a schema, [`SchemaError::Invalid`] when a
    /// rule is broken: empty or duplicate names, a reserved name, a reference to an unknown
    /// entity type, or a role naming something that does not exist or has the wrong kind.
    pub fn from_toml(text: &str) -> Result<Schema, SchemaError> {
        let schema: Schema =
            toml::from_str(text).map_err(|e| SchemaError::Syntax(e.to_string()))?;
        schema.validate()?;
        Ok(schema)
    }

    /// The schema as TOML text (what the repository stores).
    pub fn to_toml(&self) -> String {
        // Serialising plain structs of strings cannot fail.
        toml::to_string(self).unwrap_or_default()
    }

    /// The entity type with this exact name.
    pub fn entity_type(&self, name: &str) -> Option<&EntityType> {
        self.entity_types.iter().find(|t| t.name == name)
    }

    /// The entity type whose name matches case-insensitively (sheet names typed by people).
    pub fn entity_type_ignore_case(&self, name: &str) -> Option<&EntityType> {
        let name = name.trim();
        self.entity_types.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    fn validate(&self) -> Result<(), SchemaError> {
        let invalid = |msg: String| Err(SchemaError::Invalid(msg));
        if self.entity_types.is_empty() {
            return invalid("it declares no entity type".into());
        }
        let mut type_names = BTreeSet::new();
        for t in &self.entity_types {
            check_name("entity type", &t.name)?;
            if RESERVED_SHEETS.iter().any(|r| r.eq_ignore_ascii_case(&t.name)) {
                return invalid(format!("\"{}\" is a sheet name idbulk keeps for itself", t.name));
            }
            if t.name.chars().count() > 31 || t.name.contains(['[', ']', ':', '*', '?', '/', '\\'])
            {
                return invalid(format!(
                    "entity type \"{}\" cannot be an Excel sheet name (at most 31 characters, none of []:*?/\\)",
                    t.name
                ));
            }
            if !type_names.insert(t.name.to_lowercase()) {
                return invalid(format!("entity type \"{}\" is declared twice", t.name));
            }
            check_name("key", &t.key)?;
            let mut columns = BTreeSet::from([t.key.to_lowercase()]);
            for a in &t.attributes {
                check_name("attribute", &a.name)?;
                if !columns.insert(a.name.to_lowercase()) {
                    return invalid(format!(
                        "entity type \"{}\" has two columns named \"{}\"",
                        t.name, a.name
                    ));
                }
            }
            for d in &t.display {
                if t.attribute(d).is_none() && *d != t.key {
                    return invalid(format!(
                        "entity type \"{}\" displays \"{d}\", which is not one of its attributes",
                        t.name
                    ));
                }
            }
        }
        for t in &self.entity_types {
            for a in &t.attributes {
                if let Some(target) = a.kind.reference_target()
                    && self.entity_type(target).is_none()
                {
                    return invalid(format!(
                        "{}.{} refers to \"{target}\", which is not an entity type",
                        t.name, a.name
                    ));
                }
            }
        }
        self.validate_roles()
    }

    fn validate_roles(&self) -> Result<(), SchemaError> {
        let r = &self.roles;
        let type_of = |role: &str, name: &Option<String>| -> Result<(), SchemaError> {
            match name {
                Some(n) if self.entity_type(n).is_none() => Err(SchemaError::Invalid(format!(
                    "role {role} names \"{n}\", which is not an entity type"
                ))),
                _ => Ok(()),
            }
        };
        type_of("person", &r.person)?;
        type_of("organization", &r.organization)?;
        type_of("worker_type", &r.worker_type)?;
        type_of("site", &r.site)?;
        let attr_of = |role: &str,
                       owner: &Option<String>,
                       attr: &Option<String>,
                       expect: &dyn Fn(&AttributeKind) -> bool|
         -> Result<(), SchemaError> {
            let (Some(owner), Some(attr)) = (owner, attr) else {
                if attr.is_some() {
                    return Err(SchemaError::Invalid(format!(
                        "role {role} is set but the entity type it belongs to is not"
                    )));
                }
                return Ok(());
            };
            match self.entity_type(owner).and_then(|t| t.attribute(attr)) {
                Some(a) if expect(&a.kind) => Ok(()),
                Some(_) => Err(SchemaError::Invalid(format!(
                    "role {role} names {owner}.{attr}, which has the wrong kind"
                ))),
                None => Err(SchemaError::Invalid(format!(
                    "role {role} names {owner}.{attr}, which does not exist"
                ))),
            }
        };
        let refers_to = |target: Option<String>| {
            move |k: &AttributeKind| match (&target, k.reference_target()) {
                (Some(want), Some(got)) => want == got,
                (None, Some(_)) => true,
                _ => false,
            }
        };
        attr_of("person_manager", &r.person, &r.person_manager, &refers_to(r.person.clone()))?;
        attr_of(
            "person_organization",
            &r.person,
            &r.person_organization,
            &refers_to(r.organization.clone()),
        )?;
        attr_of(
            "person_worker_type",
            &r.person,
            &r.person_worker_type,
            &refers_to(r.worker_type.clone()),
        )?;
        attr_of("person_site", &r.person, &r.person_site, &refers_to(r.site.clone()))?;
        attr_of("person_end_date", &r.person, &r.person_end_date, &|k| *k == AttributeKind::Date)?;
        attr_of(
            "organization_manager",
            &r.organization,
            &r.organization_manager,
            &refers_to(r.person.clone()),
        )?;
        attr_of(
            "organization_parent",
            &r.organization,
            &r.organization_parent,
            &refers_to(r.organization.clone()),
        )?;
        attr_of("worker_type_external", &r.worker_type, &r.worker_type_external, &|k| {
            *k == AttributeKind::Bool
        })?;
        attr_of("worker_type_category", &r.worker_type, &r.worker_type_category, &|_| true)?;
        Ok(())
    }

    /// For each entity type, the attributes (of any type) that refer to it:
    /// `target -> [(referring type, attribute index)]`. Used to find who still points at a row.
    pub fn incoming_references(&self) -> BTreeMap<&str, Vec<(&str, usize)>> {
        let mut map: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
        for t in &self.entity_types {
            for (i, a) in t.attributes.iter().enumerate() {
                if let Some(target) = a.kind.reference_target() {
                    map.entry(target).or_default().push((&t.name, i));
                }
            }
        }
        map
    }
}

fn check_name(what: &str, name: &str) -> Result<(), SchemaError> {
    if name.trim().is_empty() || name.trim() != name {
        return Err(SchemaError::Invalid(format!(
            "{what} name \"{name}\" is empty or has spaces around it"
        )));
    }
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(SchemaError::Invalid(format!("{what} name \"{name}\" is reserved by idbulk")));
    }
    Ok(())
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} v{}", self.name, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_schema_matches_the_specification() {
        let s = Schema::directory();
        let names: Vec<_> = s.entity_types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["User", "Organization", "Site", "UserType"]);
        let user = s.entity_type("User").unwrap();
        assert_eq!(user.key, "Identifier");
        assert_eq!(user.attributes.len(), 11, "SPEC section 1 lists 11 User attributes");
        let required: Vec<_> =
            user.attributes.iter().filter(|a| a.required).map(|a| a.name.as_str()).collect();
        assert_eq!(required, ["LastName", "UserType"]);
        assert_eq!(user.attribute("Email").unwrap().kind, AttributeKind::Email);
        assert_eq!(
            user.attribute("Manager").unwrap().kind,
            AttributeKind::Reference { target: "User".into() }
        );
        assert_eq!(
            s.entity_type("UserType").unwrap().attribute("IsExternal").unwrap().kind,
            AttributeKind::Bool
        );
        assert_eq!(s.roles.person.as_deref(), Some("User"));
    }

    #[test]
    fn schema_round_trips_through_toml() {
        let s = Schema::directory();
        assert_eq!(Schema::from_toml(&s.to_toml()).unwrap(), s);
    }

    #[test]
    fn an_administrator_can_add_an_entity_type_without_code() {
        let text = format!(
            "{DIRECTORY_TOML}\n[[entity_type]]\nname = \"Badge\"\nkey = \"Number\"\nattributes = [\n  {{ name = \"Holder\", kind = \"reference\", target = \"User\", required = true }},\n  {{ name = \"Floors\", kind = \"integer\" }},\n]\n"
        );
        let s = Schema::from_toml(&text).unwrap();
        let badge = s.entity_type("Badge").unwrap();
        assert_eq!(badge.headers().collect::<Vec<_>>(), ["Number", "Holder", "Floors"]);
        assert_eq!(s.incoming_references()["User"].len(), 3, "Manager x2 and Badge.Holder");
    }

    fn refused(text: &str) -> String {
        Schema::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn broken_schemas_are_refused_with_a_reason() {
        assert!(refused("name = 1").contains("not valid"));
        let dangling = "name='x'\nversion=1\n[[entity_type]]\nname='A'\nkey='Id'\nattributes=[{name='B', kind='reference', target='Nope'}]";
        assert!(refused(dangling).contains("\"Nope\", which is not an entity type"));
        let dup = "name='x'\nversion=1\n[[entity_type]]\nname='A'\nkey='Id'\nattributes=[{name='id', kind='text'}]";
        assert!(refused(dup).contains("two columns"));
        let reserved = "name='x'\nversion=1\n[[entity_type]]\nname='A'\nkey='Id'\nattributes=[{name='Command', kind='text'}]";
        assert!(refused(reserved).contains("reserved"));
        let sheet = "name='x'\nversion=1\n[[entity_type]]\nname='A/B'\nkey='Id'\nattributes=[]";
        assert!(refused(sheet).contains("sheet name"));
        let role = "name='x'\nversion=1\n[roles]\nperson='A'\nperson_manager='Boss'\n[[entity_type]]\nname='A'\nkey='Id'\nattributes=[{name='Boss', kind='text'}]";
        assert!(refused(role).contains("wrong kind"));
    }
}
