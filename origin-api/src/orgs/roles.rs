//! Roles and the scopes they grant: per-tenant definitions, seeded with `owner`, `admin`, `member`.
//!
//! The origin's own organization API reads five scopes (below); a tenant may add any others for its
//! own routes at the edge (`scopes = { all = ["reports:read"] }` in a route policy).

use crate::error::ApiError;
use sqlx::PgConnection;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// See the organization and its own roles.
pub const ORG_READ: &str = "org:read";
/// Rename the organization.
pub const ORG_WRITE: &str = "org:write";
/// Delete the organization.
pub const ORG_DELETE: &str = "org:delete";
/// List the members.
pub const MEMBERS_READ: &str = "members:read";
/// Invite, change roles, remove members (only roles whose scopes the caller holds).
pub const MEMBERS_WRITE: &str = "members:write";

/// The role a creator gets; every organization keeps at least one member holding it.
pub const OWNER: &str = "owner";

/// The roles every tenant starts with (migration 0060 seeded the same for tenants made before it).
pub const DEFAULTS: [(&str, &[&str]); 3] = [
    (
        OWNER,
        &[ORG_READ, ORG_WRITE, ORG_DELETE, MEMBERS_READ, MEMBERS_WRITE],
    ),
    ("admin", &[ORG_READ, ORG_WRITE, MEMBERS_READ, MEMBERS_WRITE]),
    ("member", &[ORG_READ, MEMBERS_READ]),
];

/// The role an invitation offers when it names none.
pub const DEFAULT_INVITED_ROLE: &str = "member";

/// Most roles one membership or invitation may hold (the schema's CHECK on invitations agrees).
pub const MAX_ROLES_PER_MEMBER: usize = 16;
/// Most scopes one role may grant (the schema's CHECK agrees).
pub const MAX_SCOPES_PER_ROLE: usize = 32;
/// Most roles a tenant may define.
pub const MAX_ROLES_PER_TENANT: i64 = 64;
const MAX_SCOPE_CHARS: usize = 64;

/// A role's name: 1-32 of `a-z 0-9 _ -`, starting with a letter (the schema's CHECK agrees).
pub fn parse_role_name(raw: &str) -> Result<&str, ApiError> {
    let mut chars = raw.chars();
    let ok = raw.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(raw)
    } else {
        Err(ApiError::FieldInvalid(
            "role_name_invalid",
            "a role name is 1 to 32 of a-z, 0-9, _ and -, starting with a letter",
        ))
    }
}

/// A role's scopes: RFC 6749 scope-tokens (§3.3: printable ASCII but space, `"` and `\`), each at
/// most 64 characters, at most 32, sorted and without repeats.
pub fn parse_scopes(raw: &[String]) -> Result<Vec<String>, ApiError> {
    let invalid = ApiError::FieldInvalid(
        "scopes_invalid",
        "scopes are at most 32 tokens of 1 to 64 printable ASCII characters without space, quote or backslash",
    );
    if raw.len() > MAX_SCOPES_PER_ROLE {
        return Err(invalid);
    }
    let mut scopes = BTreeSet::new();
    for scope in raw {
        let ok = !scope.is_empty()
            && scope.len() <= MAX_SCOPE_CHARS
            && scope
                .bytes()
                .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E));
        if !ok {
            return Err(invalid);
        }
        scopes.insert(scope.clone());
    }
    Ok(scopes.into_iter().collect())
}

/// Gives a new tenant the default roles, in its creation's transaction.
pub async fn seed_defaults(conn: &mut PgConnection, tenant_id: Uuid) -> Result<(), sqlx::Error> {
    for (name, scopes) in DEFAULTS {
        sqlx::query("INSERT INTO org_roles (tenant_id, name, scopes) VALUES ($1, $2, $3)")
            .bind(tenant_id)
            .bind(name)
            .bind(scopes)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A set of roles as asked for (1-16 names of defined roles), each with the scopes it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSet(BTreeMap<String, Vec<String>>);

impl RoleSet {
    /// Resolves `names` against the tenant's definitions (locked against deletion until the
    /// transaction ends): 422 `roles_invalid` for none or too many, `role_unknown` for an undefined one.
    pub async fn resolve(
        conn: &mut PgConnection,
        tenant_id: Uuid,
        names: &[String],
    ) -> Result<RoleSet, ApiError> {
        let unique: BTreeSet<&String> = names.iter().collect();
        if unique.is_empty() || unique.len() > MAX_ROLES_PER_MEMBER {
            return Err(ApiError::FieldInvalid(
                "roles_invalid",
                "roles must name 1 to 16 roles",
            ));
        }
        let wanted: Vec<&str> = unique.iter().map(|s| s.as_str()).collect();
        let rows: Vec<(String, Vec<String>)> = sqlx::query_as(
            "SELECT name, scopes FROM org_roles WHERE tenant_id = $1 AND name = ANY($2) FOR KEY SHARE",
        )
        .bind(tenant_id)
        .bind(&wanted)
        .fetch_all(&mut *conn)
        .await?;
        if rows.len() != wanted.len() {
            return Err(ApiError::FieldInvalid(
                "role_unknown",
                "roles names a role this tenant does not define",
            ));
        }
        Ok(RoleSet(rows.into_iter().collect()))
    }

    pub(crate) fn from_rows(rows: impl IntoIterator<Item = (String, Vec<String>)>) -> Self {
        RoleSet(rows.into_iter().collect())
    }

    /// Role names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, role: &str) -> bool {
        self.0.contains_key(role)
    }

    /// Every scope the roles grant, sorted, each once.
    pub fn scopes(&self) -> BTreeSet<&str> {
        self.0.values().flatten().map(String::as_str).collect()
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.values().flatten().any(|s| s == scope)
    }

    /// Whether a holder of `self` may grant (or take away) every role of `other`: only roles whose
    /// scopes they hold all of, so no one can hand out more than they have.
    pub fn may_grant(&self, other: &RoleSet) -> bool {
        let held = self.scopes();
        other.scopes().iter().all(|s| held.contains(s))
    }

    /// The roles of `self` that `other` lacks.
    pub fn without(&self, other: &RoleSet) -> RoleSet {
        RoleSet(
            self.0
                .iter()
                .filter(|(name, _)| !other.0.contains_key(*name))
                .map(|(n, s)| (n.clone(), s.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(roles: &[(&str, &[&str])]) -> RoleSet {
        RoleSet::from_rows(
            roles
                .iter()
                .map(|(n, s)| (n.to_string(), s.iter().map(|s| s.to_string()).collect())),
        )
    }

    #[test]
    fn an_admin_may_grant_admin_and_member_but_not_owner() {
        let [owner, admin, member] = DEFAULTS.map(|d| set(&[d]));
        assert!(admin.may_grant(&member));
        assert!(admin.may_grant(&admin));
        assert!(!admin.may_grant(&owner));
        assert!(owner.may_grant(&admin));
        assert!(!member.may_grant(&admin));
        assert!(member.may_grant(&member));
    }

    #[test]
    fn scopes_are_rfc_6749_scope_tokens_sorted_once() {
        let parsed = parse_scopes(&["b:x".into(), "a".into(), "b:x".into()]).unwrap();
        assert_eq!(parsed, vec!["a".to_owned(), "b:x".to_owned()]);
        for bad in ["", "a b", "a\"b", "a\\b", "é", &"x".repeat(65)] {
            assert!(parse_scopes(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
        assert!(parse_scopes(&vec!["a".to_owned(); 33]).is_err());
    }

    #[test]
    fn role_names_are_short_lowercase_words() {
        for good in ["owner", "billing-admin", "r2_d2"] {
            assert!(parse_role_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Owner", "1st", "a b", "a.b", &"a".repeat(33)] {
            assert!(parse_role_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_set_lists_its_scopes_once_and_in_order() {
        let both = set(&[DEFAULTS[1], DEFAULTS[2]]);
        assert_eq!(
            both.scopes().into_iter().collect::<Vec<_>>(),
            vec!["members:read", "members:write", "org:read", "org:write"]
        );
        assert_eq!(both.names(), vec!["admin", "member"]);
        assert!(both.without(&set(&[DEFAULTS[2]])).contains("admin"));
    }
}
