//! `/t/{tenant}/v1/orgs…`: a signed-in user's organizations, their members, and the organization
//! the caller's session acts for.
//!
//! What a caller may do is decided by their roles in the organization, read from Postgres (never
//! from the token, which may be minutes old): every scope check below names the scope it needs. A
//! user who is not a member sees nothing (404 `org_not_found`), whatever exists.

use crate::audit::{self, Actor, Event, EventType};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::openapi::{tags, PageQuery, TenantPath, BEARER, JSON_BODY, PAGE};
use crate::orgs::roles::{self, RoleSet};
use crate::orgs::{self, MemberRow, OrgRow};
use crate::pagination::{Page, TimeCursor};
use crate::revocation::{self, EdgeOutcome};
use crate::routes::my_sessions::rfc3339;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An organization as its member sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgView {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    /// RFC 3339.
    pub(crate) created_at: String,
    /// The caller's roles there, sorted.
    pub(crate) roles: Vec<String>,
    /// The scopes those roles grant, sorted.
    pub(crate) scopes: Vec<String>,
    /// Whether the caller's session acts for it.
    pub(crate) active: bool,
}

impl OrgView {
    pub(crate) fn new(org: OrgRow, roles: &RoleSet, active: bool) -> Result<Self, ApiError> {
        Ok(OrgView {
            id: org.id,
            name: org.name,
            created_at: rfc3339(org.created_at)?,
            roles: roles.names(),
            scopes: roles.scopes().into_iter().map(str::to_owned).collect(),
            active,
        })
    }
}

/// A member as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    user_id: Uuid,
    email: String,
    roles: Vec<String>,
    /// RFC 3339.
    joined_at: String,
}

impl TryFrom<MemberRow> for MemberView {
    type Error = ApiError;

    fn try_from(m: MemberRow) -> Result<Self, ApiError> {
        Ok(MemberView {
            user_id: m.user_id,
            email: m.email,
            roles: m.roles,
            joined_at: rfc3339(m.joined_at)?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    members: Vec<MemberView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Engines"}))]
pub struct OrgName {
    /// 1 to 200 printable characters, trimmed.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub(crate) name: String,
}

/// Roles to hold: 1 to 16 names of roles the tenant defines.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"roles": ["member"]}))]
pub struct Roles {
    #[schema(min_items = 1, max_items = 16)]
    pub(crate) roles: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// `null`: act for no organization.
    org_id: Option<Uuid>,
}

/// A member's roles after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberRoles {
    pub(crate) user_id: Uuid,
    pub(crate) org_id: Uuid,
    /// Sorted.
    pub(crate) roles: Vec<String>,
}

/// The organization a session acts for after a switch.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveOrg {
    session_id: Uuid,
    /// `null`: none.
    active_org_id: Option<Uuid>,
}

/// What a change that revokes sessions answers when the edge has not acknowledged every notice yet
/// (the outbox retries).
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgePending {
    /// `pending`.
    #[schema(value_type = String, pattern = "^pending$")]
    edge: &'static str,
}

/// `{org_id}`: an organization of the tenant.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Documents what the handlers' `ApiPath` reads.
pub struct OrgPath {
    /// The tenant's slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    tenant: String,
    /// The organization's id (anything else names none: 404 `org_not_found`).
    org_id: String,
}

/// `{org_id}/members/{user_id}`: a member of an organization.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Documents what the handlers' `ApiPath` reads.
pub struct MemberPath {
    /// The tenant's slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    tenant: String,
    /// The organization's id.
    org_id: String,
    /// The member's user id.
    user_id: String,
}

/// A caller's organization route that checks a scope of theirs there.
const MEMBER_OF: crate::openapi::Codes =
    &[(403, &["permission_denied"]), (404, &["org_not_found"])];

/// The caller's roles in the organization, which must grant `scope`: 404 `org_not_found` for a
/// non-member, 403 `permission_denied` naming the scope otherwise.
pub(crate) async fn caller_with(
    conn: &mut PgConnection,
    auth: &Authenticated,
    org_id: Uuid,
    scope: &'static str,
) -> Result<RoleSet, ApiError> {
    let held = orgs::roles_of(conn, auth.tenant.id, org_id, auth.user_id)
        .await?
        .ok_or(ApiError::OrgNotFound)?;
    if !held.has_scope(scope) {
        return Err(ApiError::OrgScopeMissing(scope));
    }
    Ok(held)
}

async fn active_org_of(
    conn: &mut PgConnection,
    auth: &Authenticated,
) -> Result<Option<Uuid>, sqlx::Error> {
    let (active,): (Option<Uuid>,) =
        sqlx::query_as("SELECT active_org_id FROM sessions WHERE id = $1 AND tenant_id = $2")
            .bind(auth.session_id)
            .bind(auth.tenant.id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(active)
}

/// Makes the caller's session act for `org_id` when it acts for none yet (a first organization
/// created or joined); true when it did.
pub(crate) async fn adopt_if_none(
    conn: &mut PgConnection,
    auth: &Authenticated,
    org_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET active_org_id = $3 WHERE id = $1 AND tenant_id = $2 AND active_org_id IS NULL",
    )
    .bind(auth.session_id)
    .bind(auth.tenant.id)
    .bind(org_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

errors!(CreateOrgErrors = [BEARER, JSON_BODY, &[(422, &["name_invalid"])]]);

/// Creates an organization; the caller becomes its owner (and, when their session acts for none, it
/// acts for this one from the next refresh).
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/orgs",
    operation_id = "create_org",
    tag = tags::ORGS,
    params(TenantPath),
    request_body = OrgName,
    security(("access_token" = [])),
    responses((status = 201, description = "The organization, the caller its owner", body = OrgView), CreateOrgErrors),
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<OrgName>,
) -> Result<(StatusCode, ApiJson<OrgView>), ApiError> {
    let name = orgs::parse_name(&body.name)?;
    let mut tx = state.db().begin().await?;
    let (org_id, created_at) = orgs::insert(&mut tx, auth.tenant.id, name).await?;
    let owner = RoleSet::resolve(&mut tx, auth.tenant.id, &[roles::OWNER.to_owned()]).await?;
    orgs::add_member(&mut tx, auth.tenant.id, org_id, auth.user_id, &owner).await?;
    let active = adopt_if_none(&mut tx, &auth, org_id).await?;
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::OrgCreated,
        )
        .subject(org_id)
        .detail("roles", owner.names()),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %auth.tenant.id, org.id = %org_id, user.id = %auth.user_id, "organization created");
    let org = OrgRow {
        id: org_id,
        name: name.to_owned(),
        created_at,
    };
    Ok((
        StatusCode::CREATED,
        ApiJson(OrgView::new(org, &owner, active)?),
    ))
}

/// One of the caller's organizations with their roles there and the scopes those grant.
#[derive(Debug, sqlx::FromRow)]
struct MyOrgRow {
    id: Uuid,
    name: String,
    created_at: OffsetDateTime,
    roles: Vec<String>,
    scopes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgList {
    orgs: Vec<OrgView>,
}

errors!(ListMyOrgsErrors = [BEARER]);

/// The caller's organizations, in the order they joined them, with their roles and scopes there.
#[utoipa::path(
    get,
    path = "/t/{tenant}/v1/orgs",
    operation_id = "list_my_orgs",
    tag = tags::ORGS,
    params(TenantPath),
    security(("access_token" = [])),
    responses((status = 200, description = "The caller's organizations", body = OrgList), ListMyOrgsErrors),
)]
pub async fn list_mine(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let mut conn = state.db().acquire().await?;
    let active = active_org_of(&mut conn, &auth).await?;
    let rows: Vec<MyOrgRow> = sqlx::query_as(
        "SELECT o.id, o.name, o.created_at,
                array_agg(DISTINCT mr.role ORDER BY mr.role) AS roles,
                COALESCE((SELECT array_agg(DISTINCT s ORDER BY s) FROM org_member_roles mr2
                          JOIN org_roles r ON r.tenant_id = mr2.tenant_id AND r.name = mr2.role,
                          unnest(r.scopes) AS s
                          WHERE mr2.org_id = o.id AND mr2.user_id = m.user_id), '{}') AS scopes
         FROM org_memberships m
         JOIN organizations o ON o.tenant_id = m.tenant_id AND o.id = m.org_id
         JOIN org_member_roles mr ON mr.org_id = m.org_id AND mr.user_id = m.user_id
         WHERE m.tenant_id = $1 AND m.user_id = $2
         GROUP BY o.id, o.name, o.created_at, m.user_id, m.created_at
         ORDER BY m.created_at, o.id",
    )
    .bind(auth.tenant.id)
    .bind(auth.user_id)
    .fetch_all(&mut *conn)
    .await?;
    let orgs = rows
        .into_iter()
        .map(|row| {
            Ok(OrgView {
                id: row.id,
                name: row.name,
                created_at: rfc3339(row.created_at)?,
                roles: row.roles,
                scopes: row.scopes,
                active: active == Some(row.id),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(no_store(ApiJson(OrgList { orgs })))
}

pub(crate) fn no_store(body: impl IntoResponse) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], body).into_response()
}

errors!(ShowOrgErrors = [BEARER, MEMBER_OF]);

/// One of the caller's organizations (`org:read`).
#[utoipa::path(
    get,
    path = "/t/{tenant}/v1/orgs/{org_id}",
    operation_id = "show_org",
    tag = tags::ORGS,
    params(OrgPath),
    security(("access_token" = [])),
    responses((status = 200, description = "The organization", body = OrgView), ShowOrgErrors),
)]
pub async fn show(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let org_id = orgs::parse_org_id(&raw_org)?;
    let mut conn = state.db().acquire().await?;
    let held = caller_with(&mut conn, &auth, org_id, roles::ORG_READ).await?;
    let org = orgs::find(&mut conn, auth.tenant.id, org_id).await?;
    let active = active_org_of(&mut conn, &auth).await? == Some(org_id);
    Ok(no_store(ApiJson(OrgView::new(org, &held, active)?)))
}

errors!(RenameOrgErrors = [BEARER, JSON_BODY, MEMBER_OF, &[(422, &["name_invalid"])]]);

/// Renames an organization (`org:write`).
#[utoipa::path(
    patch,
    path = "/t/{tenant}/v1/orgs/{org_id}",
    operation_id = "rename_org",
    tag = tags::ORGS,
    params(OrgPath),
    request_body = OrgName,
    security(("access_token" = [])),
    responses((status = 200, description = "The organization", body = OrgView), RenameOrgErrors),
)]
pub async fn rename(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<OrgName>,
) -> Result<ApiJson<OrgView>, ApiError> {
    let org_id = orgs::parse_org_id(&raw_org)?;
    let name = orgs::parse_name(&body.name)?;
    let mut tx = state.db().begin().await?;
    orgs::lock(&mut tx, auth.tenant.id, org_id).await?;
    let held = caller_with(&mut tx, &auth, org_id, roles::ORG_WRITE).await?;
    orgs::rename(&mut tx, auth.tenant.id, org_id, name).await?;
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::OrgUpdated,
        )
        .subject(org_id),
    )
    .await?;
    let org = orgs::find(&mut tx, auth.tenant.id, org_id).await?;
    let active = active_org_of(&mut tx, &auth).await? == Some(org_id);
    tx.commit().await?;
    Ok(ApiJson(OrgView::new(org, &held, active)?))
}

errors!(DeleteOrgErrors = [BEARER, MEMBER_OF]);

/// Deletes an organization (`org:delete`): every session acting for it is revoked, here and at the
/// edge.
#[utoipa::path(
    delete,
    path = "/t/{tenant}/v1/orgs/{org_id}",
    operation_id = "delete_org",
    tag = tags::ORGS,
    params(OrgPath),
    security(("access_token" = [])),
    responses(
        (status = 204, description = "Deleted; the edge has every revocation (or pushes are off)"),
        (status = 202, description = "Deleted; the outbox retries some revocations", body = EdgePending),
        DeleteOrgErrors,
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let org_id = orgs::parse_org_id(&raw_org)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    orgs::lock(&mut tx, auth.tenant.id, org_id).await?;
    caller_with(&mut tx, &auth, org_id, roles::ORG_DELETE).await?;
    let revoked = orgs::delete(&mut tx, &state, auth.tenant.id, org_id, now).await?;
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::OrgDeleted,
        )
        .subject(org_id)
        .detail("revoked", revoked.count),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %auth.tenant.id, org.id = %org_id, sessions.revoked = revoked.count, "organization deleted");
    let outcome = revocation::push_committed(&state, revoked).await?;
    Ok(no_content_or_pending(outcome))
}

/// 204, or 202 `{"edge": "pending"}` when some revocation notices are left to the outbox retry.
pub(crate) fn no_content_or_pending(outcome: EdgeOutcome) -> Response {
    match outcome {
        EdgeOutcome::Disabled | EdgeOutcome::Delivered => StatusCode::NO_CONTENT.into_response(),
        EdgeOutcome::Pending => (
            StatusCode::ACCEPTED,
            ApiJson(EdgePending { edge: "pending" }),
        )
            .into_response(),
    }
}

/// One page of an organization's members, by join date.
pub(crate) async fn member_page(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let page = Page::<TimeCursor>::parse_plain(query)?;
    let rows = orgs::members(conn, tenant_id, org_id, page.after, page.fetch()).await?;
    let (rows, next_cursor) = page.finish(rows, |m| TimeCursor {
        at: m.joined_at,
        id: m.user_id,
    });
    let members = rows
        .into_iter()
        .map(MemberView::try_from)
        .collect::<Result<_, _>>()?;
    Ok(no_store(ApiJson(MemberPage {
        members,
        next_cursor,
    })))
}

errors!(ListMembersErrors = [BEARER, MEMBER_OF, PAGE]);

/// An organization's members by join date, a page at a time (`members:read`).
#[utoipa::path(
    get,
    path = "/t/{tenant}/v1/orgs/{org_id}/members",
    operation_id = "list_org_members",
    tag = tags::ORGS,
    params(OrgPath, PageQuery),
    security(("access_token" = [])),
    responses((status = 200, description = "A page of members", body = MemberPage), ListMembersErrors),
)]
pub async fn members(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let org_id = orgs::parse_org_id(&raw_org)?;
    let mut conn = state.db().acquire().await?;
    caller_with(&mut conn, &auth, org_id, roles::MEMBERS_READ).await?;
    member_page(&mut conn, auth.tenant.id, org_id, query.as_deref()).await
}

fn parse_user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::MemberNotFound)
}

errors!(
    SetMemberRolesErrors = [
        BEARER,
        JSON_BODY,
        MEMBER_OF,
        &[
            (403, &["role_not_grantable"]),
            (404, &["member_not_found"]),
            (409, &["last_owner"]),
            (422, &["roles_invalid", "role_unknown"]),
        ],
    ]
);

/// Replaces a member's roles (`members:write`): the caller may add or take away only roles whose
/// scopes they hold; the last owner stays one. The member's tokens change at their next refresh.
#[utoipa::path(
    put,
    path = "/t/{tenant}/v1/orgs/{org_id}/members/{user_id}/roles",
    operation_id = "set_org_member_roles",
    tag = tags::ORGS,
    params(MemberPath),
    request_body = Roles,
    security(("access_token" = [])),
    responses((status = 200, description = "The member's roles", body = MemberRoles), SetMemberRolesErrors),
)]
pub async fn set_member_roles(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_, raw_org, raw_user)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<Roles>,
) -> Result<ApiJson<MemberRoles>, ApiError> {
    let org_id = orgs::parse_org_id(&raw_org)?;
    let user_id = parse_user_id(&raw_user)?;
    let mut tx = state.db().begin().await?;
    orgs::lock(&mut tx, auth.tenant.id, org_id).await?;
    let held = caller_with(&mut tx, &auth, org_id, roles::MEMBERS_WRITE).await?;
    let current = orgs::roles_of(&mut tx, auth.tenant.id, org_id, user_id)
        .await?
        .ok_or(ApiError::MemberNotFound)?;
    let wanted = RoleSet::resolve(&mut tx, auth.tenant.id, &body.roles).await?;
    if !held.may_grant(&wanted.without(&current)) || !held.may_grant(&current.without(&wanted)) {
        return Err(ApiError::RoleNotGrantable);
    }
    orgs::set_roles(&mut tx, auth.tenant.id, org_id, user_id, &current, &wanted).await?;
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::OrgMemberRolesChanged,
        )
        .user(user_id)
        .subject(org_id)
        .detail("before", current.names())
        .detail("roles", wanted.names()),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(MemberRoles {
        user_id,
        org_id,
        roles: wanted.names(),
    }))
}

errors!(
    RemoveMemberErrors = [
        BEARER,
        MEMBER_OF,
        &[
            (403, &["role_not_grantable"]),
            (404, &["member_not_found"]),
            (409, &["last_owner"]),
        ],
    ]
);

/// Removes a member (`members:write`, and every role the member holds must be one the caller could
/// grant): the member's sessions acting for the organization are revoked, here and at the edge.
#[utoipa::path(
    delete,
    path = "/t/{tenant}/v1/orgs/{org_id}/members/{user_id}",
    operation_id = "remove_org_member",
    tag = tags::ORGS,
    params(MemberPath),
    security(("access_token" = [])),
    responses(
        (status = 204, description = "Removed; the edge has every revocation (or pushes are off)"),
        (status = 202, description = "Removed; the outbox retries some revocations", body = EdgePending),
        RemoveMemberErrors,
    ),
)]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_, raw_org, raw_user)): ApiPath<(String, String, String)>,
) -> Result<Response, ApiError> {
    let org_id = orgs::parse_org_id(&raw_org)?;
    let user_id = parse_user_id(&raw_user)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    orgs::lock(&mut tx, auth.tenant.id, org_id).await?;
    let held = caller_with(&mut tx, &auth, org_id, roles::MEMBERS_WRITE).await?;
    let current = orgs::roles_of(&mut tx, auth.tenant.id, org_id, user_id)
        .await?
        .ok_or(ApiError::MemberNotFound)?;
    if !held.may_grant(&current) {
        return Err(ApiError::RoleNotGrantable);
    }
    let revoked = orgs::end_membership(
        &mut tx,
        &state,
        auth.tenant.id,
        org_id,
        user_id,
        &current,
        true,
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::OrgMemberRemoved,
        )
        .user(user_id)
        .subject(org_id)
        .detail("roles", current.names())
        .detail("revoked", revoked.count),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %auth.tenant.id, org.id = %org_id, user.id = %user_id, sessions.revoked = revoked.count, "member removed");
    let outcome = revocation::push_committed(&state, revoked).await?;
    Ok(no_content_or_pending(outcome))
}

errors!(LeaveOrgErrors = [BEARER, &[(404, &["org_not_found"]), (409, &["last_owner"])]]);

/// The caller leaves the organization (409 `last_owner` for the last owner). Their sessions stop
/// acting for it; tokens already issued say so until their next refresh.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/orgs/{org_id}/leave",
    operation_id = "leave_org",
    tag = tags::ORGS,
    params(OrgPath),
    security(("access_token" = [])),
    responses((status = 204, description = "Left"), LeaveOrgErrors),
)]
pub async fn leave(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let org_id = orgs::parse_org_id(&raw_org)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    orgs::lock(&mut tx, auth.tenant.id, org_id).await?;
    let current = orgs::roles_of(&mut tx, auth.tenant.id, org_id, auth.user_id)
        .await?
        .ok_or(ApiError::OrgNotFound)?;
    orgs::end_membership(
        &mut tx,
        &state,
        auth.tenant.id,
        org_id,
        auth.user_id,
        &current,
        false,
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::OrgMemberLeft,
        )
        .subject(org_id)
        .detail("roles", current.names()),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

errors!(SwitchOrgErrors = [BEARER, JSON_BODY, &[(404, &["org_not_found"])]]);

/// The caller's session acts for this organization (or, with `null`, for none) from its next
/// refresh, without signing in again.
#[utoipa::path(
    put,
    path = "/t/{tenant}/v1/orgs/active",
    operation_id = "switch_active_org",
    tag = tags::ORGS,
    params(TenantPath),
    request_body = Switch,
    security(("access_token" = [])),
    responses((status = 200, description = "The session's organization", body = ActiveOrg), SwitchOrgErrors),
)]
pub async fn switch(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<Switch>,
) -> Result<ApiJson<ActiveOrg>, ApiError> {
    let mut tx = state.db().begin().await?;
    if let Some(org_id) = body.org_id {
        if !orgs::is_member(&mut tx, auth.tenant.id, org_id, auth.user_id).await? {
            return Err(ApiError::OrgNotFound);
        }
    }
    // `is_member` holds the membership against removal until this commits: a removal then finds
    // this session acting for the organization and revokes it.
    sqlx::query("UPDATE sessions SET active_org_id = $3 WHERE id = $1 AND tenant_id = $2")
        .bind(auth.session_id)
        .bind(auth.tenant.id)
        .bind(body.org_id)
        .execute(&mut *tx)
        .await?;
    let mut event = Event::new(
        auth.tenant.id,
        Actor::User(auth.user_id),
        EventType::ActiveOrgSwitched,
    )
    .session(auth.session_id);
    if let Some(org_id) = body.org_id {
        event = event.subject(org_id);
    }
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(ApiJson(ActiveOrg {
        session_id: auth.session_id,
        active_org_id: body.org_id,
    }))
}
