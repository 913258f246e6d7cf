//! `/v1/admin/tenants/{slug}/orgs…` and `/org-roles…`: the operator's view of a tenant's
//! organizations, memberships and role definitions.
//!
//! The admin is not a member and is not bound by the members' scope rules; the one invariant every
//! path keeps still holds here: an organization keeps at least one owner (409 `last_owner`).

use crate::audit::{self, Event, EventType};
use crate::auth::TenantAdmin;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::orgs::roles::{self, RoleSet};
use crate::orgs::{self, OrgRow};
use crate::pagination::{Page, TimeCursor};
use crate::revocation;
use crate::routes::my_sessions::rfc3339;
use crate::routes::orgs::{member_page, no_content_or_pending};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// An organization as the admin sees it.
#[derive(Debug, Serialize)]
pub struct AdminOrgView {
    id: Uuid,
    name: String,
    /// RFC 3339.
    created_at: String,
    members: i64,
}

fn view(org: OrgRow, members: i64) -> Result<AdminOrgView, ApiError> {
    Ok(AdminOrgView {
        id: org.id,
        name: org.name,
        created_at: rfc3339(org.created_at)?,
        members,
    })
}

fn no_store(body: impl IntoResponse) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], body).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    name: String,
    /// A user of the tenant who becomes the owner; omitted: the organization starts without members
    /// until one is added (with the owner role).
    owner_user_id: Option<Uuid>,
}

/// `POST /v1/admin/tenants/{slug}/orgs` `{"name", "owner_user_id"?}`.
pub async fn create(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewOrg>,
) -> Result<(StatusCode, ApiJson<AdminOrgView>), ApiError> {
    let tenant = &admin.tenant;
    let name = orgs::parse_name(&body.name)?;
    let mut tx = state.db().begin().await?;
    let (org_id, created_at) = orgs::insert(&mut tx, tenant.id, name).await?;
    let mut event = Event::new(tenant.id, admin.actor(), EventType::OrgCreated).subject(org_id);
    if let Some(owner) = body.owner_user_id {
        let roles = RoleSet::resolve(&mut tx, tenant.id, &[roles::OWNER.to_owned()]).await?;
        orgs::add_member(&mut tx, tenant.id, org_id, owner, &roles).await?;
        event = event.user(owner).detail("roles", roles.names());
    }
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    let org = OrgRow {
        id: org_id,
        name: name.to_owned(),
        created_at,
    };
    let members = i64::from(body.owner_user_id.is_some());
    Ok((StatusCode::CREATED, ApiJson(view(org, members)?)))
}

#[derive(Debug, Serialize)]
pub struct AdminOrgList {
    orgs: Vec<AdminOrgView>,
    next_cursor: Option<String>,
}

/// `GET /v1/admin/tenants/{slug}/orgs[?cursor=&limit=]`: oldest first.
pub async fn list(
    admin: TenantAdmin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let page = Page::<TimeCursor>::parse_plain(query.as_deref())?;
    let rows: Vec<(Uuid, String, OffsetDateTime, i64)> = sqlx::query_as(
        "SELECT o.id, o.name, o.created_at,
                (SELECT count(*) FROM org_memberships m WHERE m.org_id = o.id)
         FROM organizations o
         WHERE o.tenant_id = $1 AND ($2::timestamptz IS NULL OR (o.created_at, o.id) > ($2, $3))
         ORDER BY o.created_at, o.id LIMIT $4",
    )
    .bind(tenant.id)
    .bind(page.after.map(|c| c.at))
    .bind(page.after.map(|c| c.id))
    .bind(page.fetch())
    .fetch_all(state.db())
    .await?;
    let (rows, next_cursor) = page.finish(rows, |(id, _, at, _)| TimeCursor { at: *at, id: *id });
    let orgs = rows
        .into_iter()
        .map(|(id, name, created_at, members)| {
            view(
                OrgRow {
                    id,
                    name,
                    created_at,
                },
                members,
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(no_store(ApiJson(AdminOrgList { orgs, next_cursor })))
}

async fn member_count(db: &sqlx::PgPool, org_id: Uuid) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM org_memberships WHERE org_id = $1")
        .bind(org_id)
        .fetch_one(db)
        .await?;
    Ok(n)
}

/// `GET /v1/admin/tenants/{slug}/orgs/{org_id}`.
pub async fn show(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let org_id = orgs::parse_org_id(&raw_org)?;
    let mut conn = state.db().acquire().await?;
    let org = orgs::find(&mut conn, tenant.id, org_id).await?;
    drop(conn);
    let members = member_count(state.db(), org_id).await?;
    Ok(no_store(ApiJson(view(org, members)?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    name: String,
}

/// `PATCH /v1/admin/tenants/{slug}/orgs/{org_id}` `{"name"}`.
pub async fn rename(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Rename>,
) -> Result<ApiJson<AdminOrgView>, ApiError> {
    let tenant = &admin.tenant;
    let org_id = orgs::parse_org_id(&raw_org)?;
    let name = orgs::parse_name(&body.name)?;
    let mut tx = state.db().begin().await?;
    if !orgs::rename(&mut tx, tenant.id, org_id, name).await? {
        return Err(ApiError::OrgNotFound);
    }
    audit::record(
        &mut tx,
        Event::new(tenant.id, admin.actor(), EventType::OrgUpdated).subject(org_id),
    )
    .await?;
    let org = orgs::find(&mut tx, tenant.id, org_id).await?;
    tx.commit().await?;
    let members = member_count(state.db(), org_id).await?;
    Ok(ApiJson(view(org, members)?))
}

/// `DELETE /v1/admin/tenants/{slug}/orgs/{org_id}`: every session acting for it is revoked, here
/// and at the edge (204, or 202 `"edge": "pending"`).
pub async fn delete(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let org_id = orgs::parse_org_id(&raw_org)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    orgs::lock(&mut tx, tenant.id, org_id).await?;
    let revoked = orgs::delete(&mut tx, &state, tenant.id, org_id, now).await?;
    audit::record(
        &mut tx,
        Event::new(tenant.id, admin.actor(), EventType::OrgDeleted)
            .subject(org_id)
            .detail("revoked", revoked.count),
    )
    .await?;
    tx.commit().await?;
    let outcome = revocation::push_committed(&state, revoked).await?;
    Ok(no_content_or_pending(outcome))
}

/// `GET /v1/admin/tenants/{slug}/orgs/{org_id}/members[?cursor=&limit=]`.
pub async fn members(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let org_id = orgs::parse_org_id(&raw_org)?;
    let mut conn = state.db().acquire().await?;
    orgs::find(&mut conn, tenant.id, org_id).await?;
    member_page(&mut conn, tenant.id, org_id, query.as_deref()).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    roles: Vec<String>,
}

/// `PUT /v1/admin/tenants/{slug}/orgs/{org_id}/members/{user_id}` `{"roles"}`: adds the user with
/// these roles (201) or replaces a member's roles (200).
pub async fn put_member(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_, raw_org, raw_user)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<Roles>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let org_id = orgs::parse_org_id(&raw_org)?;
    let user_id = Uuid::parse_str(&raw_user).map_err(|_| ApiError::UserNotFound)?;
    let mut tx = state.db().begin().await?;
    orgs::lock(&mut tx, tenant.id, org_id).await?;
    let wanted = RoleSet::resolve(&mut tx, tenant.id, &body.roles).await?;
    let (status, event) = match orgs::roles_of(&mut tx, tenant.id, org_id, user_id).await? {
        None => {
            orgs::add_member(&mut tx, tenant.id, org_id, user_id, &wanted).await?;
            (
                StatusCode::CREATED,
                Event::new(tenant.id, admin.actor(), EventType::OrgMemberAdded),
            )
        }
        Some(current) => {
            orgs::set_roles(&mut tx, tenant.id, org_id, user_id, &current, &wanted).await?;
            (
                StatusCode::OK,
                Event::new(tenant.id, admin.actor(), EventType::OrgMemberRolesChanged)
                    .detail("before", current.names()),
            )
        }
    };
    audit::record(
        &mut tx,
        event
            .user(user_id)
            .subject(org_id)
            .detail("roles", wanted.names()),
    )
    .await?;
    tx.commit().await?;
    Ok((
        status,
        ApiJson(serde_json::json!({
            "user_id": user_id,
            "org_id": org_id,
            "roles": wanted.names(),
        })),
    )
        .into_response())
}

/// `DELETE /v1/admin/tenants/{slug}/orgs/{org_id}/members/{user_id}`: the member's sessions acting
/// for the organization are revoked, here and at the edge.
pub async fn remove_member(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_, raw_org, raw_user)): ApiPath<(String, String, String)>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let org_id = orgs::parse_org_id(&raw_org)?;
    let user_id = Uuid::parse_str(&raw_user).map_err(|_| ApiError::MemberNotFound)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    orgs::lock(&mut tx, tenant.id, org_id).await?;
    let current = orgs::roles_of(&mut tx, tenant.id, org_id, user_id)
        .await?
        .ok_or(ApiError::MemberNotFound)?;
    let revoked = orgs::end_membership(
        &mut tx, &state, tenant.id, org_id, user_id, &current, true, now,
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(tenant.id, admin.actor(), EventType::OrgMemberRemoved)
            .user(user_id)
            .subject(org_id)
            .detail("roles", current.names())
            .detail("revoked", revoked.count),
    )
    .await?;
    tx.commit().await?;
    let outcome = revocation::push_committed(&state, revoked).await?;
    Ok(no_content_or_pending(outcome))
}

/// A role definition.
#[derive(Debug, Serialize)]
pub struct RoleView {
    name: String,
    scopes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RoleList {
    roles: Vec<RoleView>,
}

/// `GET /v1/admin/tenants/{slug}/org-roles`: by name.
pub async fn list_roles(
    admin: TenantAdmin,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let rows: Vec<(String, Vec<String>)> =
        sqlx::query_as("SELECT name, scopes FROM org_roles WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant.id)
            .fetch_all(state.db())
            .await?;
    let roles = rows
        .into_iter()
        .map(|(name, scopes)| RoleView { name, scopes })
        .collect();
    Ok(no_store(ApiJson(RoleList { roles })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDefinition {
    scopes: Vec<String>,
}

/// `PUT /v1/admin/tenants/{slug}/org-roles/{name}` `{"scopes"}`: defines a role (201) or replaces
/// its scopes (200). Members' tokens change at their next refresh.
pub async fn put_role(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_, raw_name)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RoleDefinition>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let name = roles::parse_role_name(&raw_name)?;
    let scopes = roles::parse_scopes(&body.scopes)?;
    let mut tx = state.db().begin().await?;
    // Serialises definitions of one tenant, so the count below holds.
    sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
        .bind(tenant.id)
        .execute(&mut *tx)
        .await?;
    let (created,): (bool,) = sqlx::query_as(
        "INSERT INTO org_roles (tenant_id, name, scopes) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, name) DO UPDATE SET scopes = EXCLUDED.scopes
         RETURNING xmax = 0",
    )
    .bind(tenant.id)
    .bind(name)
    .bind(&scopes)
    .fetch_one(&mut *tx)
    .await?;
    if created {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM org_roles WHERE tenant_id = $1")
            .bind(tenant.id)
            .fetch_one(&mut *tx)
            .await?;
        if n > roles::MAX_ROLES_PER_TENANT {
            return Err(ApiError::FieldInvalid(
                "roles_limit",
                "a tenant may define at most 64 roles",
            ));
        }
    }
    audit::record(
        &mut tx,
        Event::new(tenant.id, admin.actor(), EventType::OrgRoleDefined)
            .subject(name)
            .detail("scopes", scopes.clone()),
    )
    .await?;
    tx.commit().await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        ApiJson(RoleView {
            name: name.to_owned(),
            scopes,
        }),
    )
        .into_response())
}

/// `DELETE /v1/admin/tenants/{slug}/org-roles/{name}`: 409 `role_in_use` while a member holds it
/// or a pending invitation offers it, 409 `role_protected` for `owner`.
pub async fn delete_role(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = &admin.tenant;
    if name == roles::OWNER {
        return Err(ApiError::RoleProtected);
    }
    let mut tx = state.db().begin().await?;
    let offered: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM org_invitations WHERE tenant_id = $1 AND $2 = ANY(roles)
           AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now() LIMIT 1",
    )
    .bind(tenant.id)
    .bind(&name)
    .fetch_optional(&mut *tx)
    .await?;
    if offered.is_some() {
        return Err(ApiError::RoleInUse);
    }
    // Held roles are protected by the foreign key (RESTRICT).
    let deleted = sqlx::query("DELETE FROM org_roles WHERE tenant_id = $1 AND name = $2")
        .bind(tenant.id)
        .bind(&name)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => ApiError::RoleInUse,
            _ => e.into(),
        })?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::RoleNotFound);
    }
    audit::record(
        &mut tx,
        Event::new(tenant.id, admin.actor(), EventType::OrgRoleDeleted).subject(&name),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
