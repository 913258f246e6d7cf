//! `/v1/admin/tenants/{slug}/orgs…` and `/org-roles…`: the operator's view of a tenant's
//! organizations, memberships and role definitions.
//!
//! The admin is not a member and is not bound by the members' scope rules; the one invariant every
//! path keeps still holds here: an organization keeps at least one owner (409 `last_owner`).

use crate::audit::{self, Event, EventType};
use crate::auth::TenantAdmin;
use crate::error::ApiError;
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::openapi::{tags, PageQuery, SlugPath, JSON_BODY, PAGE, TENANT_ADMIN};
use crate::orgs::roles::{self, RoleSet};
use crate::orgs::{self, OrgRow};
use crate::pagination::{Page, TimeCursor};
use crate::revocation;
use crate::routes::my_sessions::rfc3339;
use crate::routes::orgs::{
    member_page, no_content_or_pending, EdgePending, MemberPage, MemberRoles, OrgName, Roles,
};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An organization as the admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminOrgView {
    id: Uuid,
    name: String,
    /// RFC 3339.
    created_at: String,
    /// How many members it has.
    members: i64,
}

/// `{slug}/orgs/{org_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Documents what the handlers' `ApiPath` reads.
pub struct AdminOrgPath {
    /// The tenant's slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    slug: String,
    /// The organization's id (anything else names none: 404 `org_not_found`).
    org_id: String,
}

/// `{slug}/orgs/{org_id}/members/{user_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Documents what the handlers' `ApiPath` reads.
pub struct AdminMemberPath {
    /// The tenant's slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    slug: String,
    /// The organization's id.
    org_id: String,
    /// The user's id.
    user_id: String,
}

/// `{slug}/org-roles/{name}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Documents what the handlers' `ApiPath` reads.
pub struct RolePath {
    /// The tenant's slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    slug: String,
    /// The role's name: 1 to 32 of `a-z 0-9 _ -`, starting with a letter.
    #[param(pattern = "^[a-z][a-z0-9_-]{0,31}$")]
    name: String,
}

const ORG: crate::openapi::Codes = &[(404, &["org_not_found"])];

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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Engines"}))]
pub struct AdminNewOrg {
    /// 1 to 200 printable characters, trimmed.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: String,
    /// A user of the tenant who becomes the owner; omitted: the organization starts without members
    /// until one is added (with the owner role).
    owner_user_id: Option<Uuid>,
}

errors!(
    AdminCreateOrgErrors = [
        TENANT_ADMIN,
        JSON_BODY,
        &[(404, &["user_not_found"]), (422, &["name_invalid"])],
    ]
);

/// Creates an organization of the tenant, with an owner if given.
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{slug}/orgs",
    operation_id = "admin_create_org",
    tag = tags::ADMIN,
    params(SlugPath),
    request_body = AdminNewOrg,
    security(("admin_token" = [])),
    responses((status = 201, description = "The organization", body = AdminOrgView), AdminCreateOrgErrors),
)]
pub async fn create(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AdminNewOrg>,
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

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminOrgList {
    orgs: Vec<AdminOrgView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

errors!(AdminListOrgsErrors = [TENANT_ADMIN, PAGE]);

/// The tenant's organizations, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}/orgs",
    operation_id = "admin_list_orgs",
    tag = tags::ADMIN,
    params(SlugPath, PageQuery),
    security(("admin_token" = [])),
    responses((status = 200, description = "A page of organizations", body = AdminOrgList), AdminListOrgsErrors),
)]
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

errors!(AdminOrgErrors = [TENANT_ADMIN, ORG]);

/// One organization of the tenant.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}/orgs/{org_id}",
    operation_id = "admin_show_org",
    tag = tags::ADMIN,
    params(AdminOrgPath),
    security(("admin_token" = [])),
    responses((status = 200, description = "The organization", body = AdminOrgView), AdminOrgErrors),
)]
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

errors!(AdminRenameOrgErrors = [TENANT_ADMIN, JSON_BODY, ORG, &[(422, &["name_invalid"])]]);

/// Renames an organization.
#[utoipa::path(
    patch,
    path = "/v1/admin/tenants/{slug}/orgs/{org_id}",
    operation_id = "admin_rename_org",
    tag = tags::ADMIN,
    params(AdminOrgPath),
    request_body = OrgName,
    security(("admin_token" = [])),
    responses((status = 200, description = "The organization", body = AdminOrgView), AdminRenameOrgErrors),
)]
pub async fn rename(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<OrgName>,
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

/// Deletes an organization: every session acting for it is revoked, here and at the edge.
#[utoipa::path(
    delete,
    path = "/v1/admin/tenants/{slug}/orgs/{org_id}",
    operation_id = "admin_delete_org",
    tag = tags::ADMIN,
    params(AdminOrgPath),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "Deleted; the edge has every revocation (or pushes are off)"),
        (status = 202, description = "Deleted; the outbox retries some revocations", body = EdgePending),
        AdminOrgErrors,
    ),
)]
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

errors!(AdminListMembersErrors = [TENANT_ADMIN, ORG, PAGE]);

/// An organization's members by join date, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}/orgs/{org_id}/members",
    operation_id = "admin_list_org_members",
    tag = tags::ADMIN,
    params(AdminOrgPath, PageQuery),
    security(("admin_token" = [])),
    responses((status = 200, description = "A page of members", body = MemberPage), AdminListMembersErrors),
)]
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

errors!(
    PutMemberErrors = [
        TENANT_ADMIN,
        JSON_BODY,
        &[
            (404, &["org_not_found", "user_not_found"]),
            (409, &["last_owner"]),
            (422, &["roles_invalid", "role_unknown"]),
        ],
    ]
);

/// Adds a user of the tenant with these roles (201) or replaces a member's roles (200); the last
/// owner stays one. The member's tokens change at their next refresh.
#[utoipa::path(
    put,
    path = "/v1/admin/tenants/{slug}/orgs/{org_id}/members/{user_id}",
    operation_id = "admin_put_org_member",
    tag = tags::ADMIN,
    params(AdminMemberPath),
    request_body = Roles,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Added", body = MemberRoles),
        (status = 200, description = "The member's roles replaced", body = MemberRoles),
        PutMemberErrors,
    ),
)]
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
        ApiJson(MemberRoles {
            user_id,
            org_id,
            roles: wanted.names(),
        }),
    )
        .into_response())
}

errors!(
    AdminRemoveMemberErrors = [
        TENANT_ADMIN,
        &[
            (404, &["org_not_found", "member_not_found"]),
            (409, &["last_owner"]),
        ],
    ]
);

/// Removes a member: their sessions acting for the organization are revoked, here and at the edge.
#[utoipa::path(
    delete,
    path = "/v1/admin/tenants/{slug}/orgs/{org_id}/members/{user_id}",
    operation_id = "admin_remove_org_member",
    tag = tags::ADMIN,
    params(AdminMemberPath),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "Removed; the edge has every revocation (or pushes are off)"),
        (status = 202, description = "Removed; the outbox retries some revocations", body = EdgePending),
        AdminRemoveMemberErrors,
    ),
)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    name: String,
    /// Sorted.
    scopes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleList {
    roles: Vec<RoleView>,
}

errors!(ListRolesErrors = [TENANT_ADMIN]);

/// The tenant's role definitions, by name (new tenants start with `owner`, `admin` and `member`).
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}/org-roles",
    operation_id = "list_org_roles",
    tag = tags::ADMIN,
    params(SlugPath),
    security(("admin_token" = [])),
    responses((status = 200, description = "The roles", body = RoleList), ListRolesErrors),
)]
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scopes": ["projects:read"]}))]
pub struct RoleDefinition {
    /// At most 32 RFC 6749 scope tokens of 1 to 64 printable ASCII characters (no space, `"` or `\\`).
    #[schema(max_items = 32, inline)]
    scopes: Vec<ScopeToken>,
}

/// An RFC 6749 scope token (§3.3).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(pattern = "^[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,64}$")]
pub struct ScopeToken(String);

errors!(
    PutRoleErrors = [
        TENANT_ADMIN,
        JSON_BODY,
        &[(422, &["role_name_invalid", "scopes_invalid", "roles_limit"])],
    ]
);

/// Defines a role (201) or replaces its scopes (200). Members' tokens change at their next refresh.
#[utoipa::path(
    put,
    path = "/v1/admin/tenants/{slug}/org-roles/{name}",
    operation_id = "put_org_role",
    tag = tags::ADMIN,
    params(RolePath),
    request_body = RoleDefinition,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Defined", body = RoleView),
        (status = 200, description = "Its scopes replaced", body = RoleView),
        PutRoleErrors,
    ),
)]
pub async fn put_role(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_, raw_name)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RoleDefinition>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let name = roles::parse_role_name(&raw_name)?;
    let scopes: Vec<String> = body.scopes.into_iter().map(|s| s.0).collect();
    let scopes = roles::parse_scopes(&scopes)?;
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

errors!(
    DeleteRoleErrors = [
        TENANT_ADMIN,
        &[
            (404, &["role_not_found"]),
            (409, &["role_in_use", "role_protected"]),
        ],
    ]
);

/// Deletes a role: 409 `role_in_use` while a member holds it or a pending invitation offers it, 409
/// `role_protected` for `owner`.
#[utoipa::path(
    delete,
    path = "/v1/admin/tenants/{slug}/org-roles/{name}",
    operation_id = "delete_org_role",
    tag = tags::ADMIN,
    params(RolePath),
    security(("admin_token" = [])),
    responses((status = 204, description = "Deleted"), DeleteRoleErrors),
)]
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
