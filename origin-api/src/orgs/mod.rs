//! Organizations of a tenant, their members and roles, and the organization a session acts for.
//!
//! A session's active organization decides what its access tokens say: `org_id`, the member's
//! `roles` there (RFC 9068 §2.2.3.1, an array) and the scopes those roles grant in `scope` (RFC 9068
//! §2.2.3, space-separated), read when a token is minted. So a switch, a role change or a lost
//! membership shows in the next token (the next refresh); a removed member's sessions acting for
//! the organization are revoked at once, here and at the edge.
//!
//! The functions here change memberships inside the caller's transaction and keep the one invariant
//! every path shares: an organization keeps at least one owner. Who may ask for a change is the
//! caller's business (`routes::orgs` checks the member's scopes, the admin API its credential).

pub mod invitations;
pub mod roles;

use crate::error::ApiError;
use crate::revocation::{self, Revoked, Target};
use crate::state::AppState;
use roles::RoleSet;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// Longest organization name, in characters (the schema's CHECK counts the same).
const MAX_NAME_CHARS: usize = 200;

/// An organization's name: 1-200 printable characters, trimmed.
pub fn parse_name(raw: &str) -> Result<&str, ApiError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::FieldInvalid(
            "name_invalid",
            "name must be 1 to 200 printable characters",
        ));
    }
    Ok(name)
}

/// An organization id from a path: anything that is not a uuid names no organization.
pub fn parse_org_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::OrgNotFound)
}

/// What an access token says about the organization its session acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgClaims {
    pub org_id: Uuid,
    /// Sorted.
    pub roles: Vec<String>,
    /// Sorted, each once.
    pub scopes: Vec<String>,
}

/// The claims for a session: its active organization, if it still is a member there.
pub async fn claims_for_session(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    session_id: Uuid,
) -> Result<Option<OrgClaims>, sqlx::Error> {
    let rows: Vec<(Uuid, String, Vec<String>)> = sqlx::query_as(
        "SELECT s.active_org_id, mr.role, r.scopes
         FROM sessions s
         JOIN org_member_roles mr
           ON mr.tenant_id = s.tenant_id AND mr.org_id = s.active_org_id AND mr.user_id = s.user_id
         JOIN org_roles r ON r.tenant_id = mr.tenant_id AND r.name = mr.role
         WHERE s.id = $1 AND s.tenant_id = $2",
    )
    .bind(session_id)
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    let Some(org_id) = rows.first().map(|(org, _, _)| *org) else {
        return Ok(None);
    };
    let set = RoleSet::from_rows(rows.into_iter().map(|(_, role, scopes)| (role, scopes)));
    Ok(Some(OrgClaims {
        org_id,
        roles: set.names(),
        scopes: set.scopes().into_iter().map(str::to_owned).collect(),
    }))
}

/// The organization a new session of `user_id` acts for: `requested` when the user is a member
/// there (else 404 `org_not_found`), otherwise the one they joined first, or none.
pub async fn initial_org(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    requested: Option<Uuid>,
) -> Result<Option<Uuid>, ApiError> {
    if let Some(org_id) = requested {
        return match is_member(&mut *conn, tenant_id, org_id, user_id).await? {
            true => Ok(Some(org_id)),
            false => Err(ApiError::OrgNotFound),
        };
    }
    let first: Option<(Uuid,)> = sqlx::query_as(
        "SELECT org_id FROM org_memberships WHERE tenant_id = $1 AND user_id = $2
         ORDER BY created_at, org_id LIMIT 1 FOR KEY SHARE",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(first.map(|(id,)| id))
}

/// Whether the user is a member, holding the membership against removal until the transaction ends
/// (so a session made to act for it now is one a concurrent removal revokes).
pub async fn is_member(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let found: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM org_memberships WHERE tenant_id = $1 AND org_id = $2 AND user_id = $3
         FOR KEY SHARE",
    )
    .bind(tenant_id)
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}

/// A member's roles in an organization; `None` when they are not a member.
pub async fn roles_of(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
) -> Result<Option<RoleSet>, sqlx::Error> {
    let rows: Vec<(Option<String>, Option<Vec<String>>)> = sqlx::query_as(
        "SELECT mr.role, r.scopes
         FROM org_memberships m
         LEFT JOIN org_member_roles mr ON mr.org_id = m.org_id AND mr.user_id = m.user_id
         LEFT JOIN org_roles r ON r.tenant_id = mr.tenant_id AND r.name = mr.role
         WHERE m.tenant_id = $1 AND m.org_id = $2 AND m.user_id = $3",
    )
    .bind(tenant_id)
    .bind(org_id)
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(RoleSet::from_rows(rows.into_iter().filter_map(
        |(role, scopes)| Some((role?, scopes.unwrap_or_default())),
    ))))
}

/// Locks an organization of the tenant for the rest of the transaction, serialising every change to
/// its members (the last-owner rule counts them), or 404 `org_not_found`.
pub async fn lock(conn: &mut PgConnection, tenant_id: Uuid, org_id: Uuid) -> Result<(), ApiError> {
    let found: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM organizations WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant_id)
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await?;
    found.map(|_| ()).ok_or(ApiError::OrgNotFound)
}

/// Creates an organization (no members yet).
pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
) -> Result<(Uuid, OffsetDateTime), sqlx::Error> {
    let id = Uuid::new_v4();
    let (created_at,): (OffsetDateTime,) = sqlx::query_as(
        "INSERT INTO organizations (id, tenant_id, name) VALUES ($1, $2, $3) RETURNING created_at",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, created_at))
}

/// Makes a user of the tenant a member with `roles`: 404 `user_not_found` for an unknown user,
/// 409 `already_member`. Call with the organization locked.
pub async fn add_member(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
    roles: &RoleSet,
) -> Result<(), ApiError> {
    let user: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    if user.is_none() {
        return Err(ApiError::UserNotFound);
    }
    let inserted = sqlx::query(
        "INSERT INTO org_memberships (tenant_id, org_id, user_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(org_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ApiError::AlreadyMember);
    }
    insert_roles(conn, tenant_id, org_id, user_id, roles).await?;
    Ok(())
}

async fn insert_roles(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
    roles: &RoleSet,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO org_member_roles (tenant_id, org_id, user_id, role)
         SELECT $1, $2, $3, unnest($4::text[])",
    )
    .bind(tenant_id)
    .bind(org_id)
    .bind(user_id)
    .bind(roles.names())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many members of the organization hold the owner role.
async fn owners(conn: &mut PgConnection, org_id: Uuid) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM org_member_roles WHERE org_id = $1 AND role = $2")
            .bind(org_id)
            .bind(roles::OWNER)
            .fetch_one(&mut *conn)
            .await?;
    Ok(n)
}

/// Refuses a change that takes the owner role from `current` when it is the organization's last.
async fn keep_an_owner(
    conn: &mut PgConnection,
    org_id: Uuid,
    current: &RoleSet,
    after: Option<&RoleSet>,
) -> Result<(), ApiError> {
    let loses_owner =
        current.contains(roles::OWNER) && !after.is_some_and(|a| a.contains(roles::OWNER));
    if loses_owner && owners(conn, org_id).await? <= 1 {
        return Err(ApiError::LastOwner);
    }
    Ok(())
}

/// Replaces a member's roles (`current`, as read under the lock): 409 `last_owner` when that takes
/// the organization's last owner role away. Call with the organization locked.
pub async fn set_roles(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
    current: &RoleSet,
    roles: &RoleSet,
) -> Result<(), ApiError> {
    keep_an_owner(conn, org_id, current, Some(roles)).await?;
    sqlx::query(
        "DELETE FROM org_member_roles WHERE tenant_id = $1 AND org_id = $2 AND user_id = $3",
    )
    .bind(tenant_id)
    .bind(org_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    insert_roles(conn, tenant_id, org_id, user_id, roles).await?;
    Ok(())
}

/// Ends a membership (409 `last_owner` for the last owner). `revoke`: the user's sessions acting
/// for the organization are revoked and their edge notices queued (a removal); otherwise they just
/// stop acting for it at their next refresh (a member who leaves). Call with the organization locked.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn end_membership(
    conn: &mut PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
    current: &RoleSet,
    revoke: bool,
    now: OffsetDateTime,
) -> Result<Revoked, ApiError> {
    keep_an_owner(conn, org_id, current, None).await?;
    sqlx::query(
        "DELETE FROM org_memberships WHERE tenant_id = $1 AND org_id = $2 AND user_id = $3",
    )
    .bind(tenant_id)
    .bind(org_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    let revoked = if revoke {
        revocation::revoke_in_tx(
            conn,
            state,
            tenant_id,
            Target::ActingFor {
                org_id,
                user_id: Some(user_id),
            },
            now,
        )
        .await?
    } else {
        Revoked::default()
    };
    sqlx::query(
        "UPDATE sessions SET active_org_id = NULL
         WHERE tenant_id = $1 AND user_id = $2 AND active_org_id = $3",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(org_id)
    .execute(&mut *conn)
    .await?;
    Ok(revoked)
}

/// Deletes an organization: every session acting for it is revoked (edge notices queued), then
/// memberships, roles and invitations go with it. Call with the organization locked.
pub(crate) async fn delete(
    conn: &mut PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    org_id: Uuid,
    now: OffsetDateTime,
) -> Result<Revoked, ApiError> {
    let revoked = revocation::revoke_in_tx(
        conn,
        state,
        tenant_id,
        Target::ActingFor {
            org_id,
            user_id: None,
        },
        now,
    )
    .await?;
    sqlx::query("DELETE FROM organizations WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
    Ok(revoked)
}

/// Renames an organization; false when there is none.
pub async fn rename(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE organizations SET name = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(org_id)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// An organization as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrgRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
}

pub async fn find(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
) -> Result<OrgRow, ApiError> {
    sqlx::query_as(
        "SELECT id, name, created_at FROM organizations WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(org_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(ApiError::OrgNotFound)
}

/// A member as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: Uuid,
    pub email: String,
    pub joined_at: OffsetDateTime,
    /// Sorted.
    pub roles: Vec<String>,
}

/// Members of an organization by join date, after `after` (a `(joined_at, user_id)` cursor).
pub async fn members(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
    after: Option<crate::pagination::TimeCursor>,
    limit: i64,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.user_id, u.email, m.created_at AS joined_at,
                COALESCE(array_agg(mr.role ORDER BY mr.role) FILTER (WHERE mr.role IS NOT NULL), '{}') AS roles
         FROM org_memberships m
         JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
         LEFT JOIN org_member_roles mr ON mr.org_id = m.org_id AND mr.user_id = m.user_id
         WHERE m.tenant_id = $1 AND m.org_id = $2
           AND ($3::timestamptz IS NULL OR (m.created_at, m.user_id) > ($3, $4))
         GROUP BY m.user_id, u.email, m.created_at
         ORDER BY m.created_at, m.user_id
         LIMIT $5",
    )
    .bind(tenant_id)
    .bind(org_id)
    .bind(after.map(|c| c.at))
    .bind(after.map(|c| c.id))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}
