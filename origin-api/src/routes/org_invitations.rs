//! Invitations to an organization: made by a member with `members:write`, accepted by the invited
//! user when signed in (`orgs::invitations` says why it takes both the token and the address).

use crate::audit::{self, Actor, Event, EventType};
use crate::auth::Authenticated;
use crate::domain::Email;
use crate::error::ApiError;
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::openapi::{tags, TenantPath, BEARER, JSON_BODY};
use crate::orgs;
use crate::orgs::invitations::{self, InvitationRow};
use crate::orgs::roles::{self, RoleSet};
use crate::routes::my_sessions::rfc3339;
use crate::routes::orgs::{adopt_if_none, caller_with, OrgPath, OrgView};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "grace@example.com", "roles": ["member"]}))]
pub struct NewInvitation {
    /// The address of the person invited (an account of the tenant signed in with it accepts).
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 1 to 16 names of roles the tenant defines; omitted: `member`.
    #[schema(min_items = 1, max_items = 16)]
    roles: Option<Vec<String>>,
}

/// An invitation as listed: never its token.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    id: Uuid,
    org_id: Uuid,
    email: String,
    roles: Vec<String>,
    invited_by: Option<Uuid>,
    /// RFC 3339.
    created_at: String,
    expires_at: String,
}

impl TryFrom<InvitationRow> for InvitationView {
    type Error = ApiError;

    fn try_from(i: InvitationRow) -> Result<Self, ApiError> {
        Ok(InvitationView {
            id: i.id,
            org_id: i.org_id,
            email: i.email,
            roles: i.roles,
            invited_by: i.invited_by,
            created_at: rfc3339(i.created_at)?,
            expires_at: rfc3339(i.expires_at)?,
        })
    }
}

/// A new invitation: the view and, once only, its token.
#[derive(Serialize, ToSchema)]
pub struct InvitationCreated {
    #[serde(flatten)]
    invitation: InvitationView,
    /// What the invited person presents to accept it; shown once, stored hashed.
    token: String,
}

impl std::fmt::Debug for InvitationCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationCreated")
            .field("invitation", &self.invitation)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

errors!(
    CreateInvitationErrors = [
        BEARER,
        JSON_BODY,
        &[
            (403, &["permission_denied", "role_not_grantable"]),
            (404, &["org_not_found"]),
            (409, &["already_member"]),
            (422, &["email_invalid", "roles_invalid", "role_unknown"]),
        ],
    ]
);

/// Invites an address to the organization (`members:write`, and only roles whose scopes the caller
/// holds): 201 with the token, shown once. A pending invitation to the same address is replaced.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/orgs/{org_id}/invitations",
    operation_id = "create_org_invitation",
    tag = tags::ORGS,
    params(OrgPath),
    request_body = NewInvitation,
    security(("access_token" = [])),
    responses((status = 201, description = "The invitation and its token", body = InvitationCreated), CreateInvitationErrors),
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<NewInvitation>,
) -> Result<Response, ApiError> {
    let org_id = orgs::parse_org_id(&raw_org)?;
    let email = Email::parse(body.email.trim()).map_err(|_| ApiError::EmailInvalid)?;
    let names = body
        .roles
        .unwrap_or_else(|| vec![roles::DEFAULT_INVITED_ROLE.to_owned()]);
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    orgs::lock(&mut tx, auth.tenant.id, org_id).await?;
    let held = caller_with(&mut tx, &auth, org_id, roles::MEMBERS_WRITE).await?;
    let offered = RoleSet::resolve(&mut tx, auth.tenant.id, &names).await?;
    if !held.may_grant(&offered) {
        return Err(ApiError::RoleNotGrantable);
    }
    let member: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM org_memberships m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
         WHERE m.tenant_id = $1 AND m.org_id = $2 AND lower(u.email) = lower($3)",
    )
    .bind(auth.tenant.id)
    .bind(org_id)
    .bind(email.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    if member.is_some() {
        return Err(ApiError::AlreadyMember);
    }
    let created = invitations::create(
        &mut tx,
        auth.tenant.id,
        org_id,
        email.as_str(),
        &offered,
        Some(auth.user_id),
        now,
    )
    .await?;
    // The address is not recorded: it may belong to no account (the invitation's id leads to it).
    let mut event = Event::new(
        auth.tenant.id,
        Actor::User(auth.user_id),
        EventType::OrgInvitationCreated,
    )
    .subject(created.invitation.id)
    .detail("org_id", org_id.to_string())
    .detail("roles", offered.names());
    if let Some(replaced) = created.replaced {
        event = event.detail("replaced", replaced.to_string());
    }
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %auth.tenant.id, org.id = %org_id, invitation.id = %created.invitation.id, "invitation created");
    let body = InvitationCreated {
        invitation: created.invitation.try_into()?,
        token: created.token,
    };
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        ApiJson(body),
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    invitations: Vec<InvitationView>,
}

errors!(
    ListInvitationsErrors = [
        BEARER,
        &[(403, &["permission_denied"]), (404, &["org_not_found"])],
    ]
);

/// The organization's pending invitations (`members:write`).
#[utoipa::path(
    get,
    path = "/t/{tenant}/v1/orgs/{org_id}/invitations",
    operation_id = "list_org_invitations",
    tag = tags::ORGS,
    params(OrgPath),
    security(("access_token" = [])),
    responses((status = 200, description = "The pending invitations", body = InvitationList), ListInvitationsErrors),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_, raw_org)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let org_id = orgs::parse_org_id(&raw_org)?;
    let mut conn = state.db().acquire().await?;
    caller_with(&mut conn, &auth, org_id, roles::MEMBERS_WRITE).await?;
    let invitations = invitations::pending(&mut conn, auth.tenant.id, org_id)
        .await?
        .into_iter()
        .map(InvitationView::try_from)
        .collect::<Result<_, _>>()?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        ApiJson(InvitationList { invitations }),
    )
        .into_response())
}

/// `{org_id}/invitations/{invitation_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Documents what the handler's `ApiPath` reads.
pub struct InvitationPath {
    /// The tenant's slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    tenant: String,
    /// The organization's id.
    org_id: String,
    /// The invitation's id.
    invitation_id: String,
}

errors!(
    RevokeInvitationErrors = [
        BEARER,
        &[
            (403, &["permission_denied"]),
            (404, &["org_not_found", "invitation_not_found"]),
        ],
    ]
);

/// Revokes a pending invitation (`members:write`).
#[utoipa::path(
    delete,
    path = "/t/{tenant}/v1/orgs/{org_id}/invitations/{invitation_id}",
    operation_id = "revoke_org_invitation",
    tag = tags::ORGS,
    params(InvitationPath),
    security(("access_token" = [])),
    responses((status = 204, description = "Revoked"), RevokeInvitationErrors),
)]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_, raw_org, raw_invitation)): ApiPath<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let org_id = orgs::parse_org_id(&raw_org)?;
    let invitation_id =
        Uuid::parse_str(&raw_invitation).map_err(|_| ApiError::InvitationNotFound)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    orgs::lock(&mut tx, auth.tenant.id, org_id).await?;
    caller_with(&mut tx, &auth, org_id, roles::MEMBERS_WRITE).await?;
    if !invitations::revoke(&mut tx, auth.tenant.id, org_id, invitation_id, now).await? {
        return Err(ApiError::InvitationNotFound);
    }
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::OrgInvitationRevoked,
        )
        .subject(invitation_id)
        .detail("org_id", org_id.to_string()),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// The invitation's token.
    #[schema(value_type = String)]
    token: SecretString,
}

errors!(
    AcceptInvitationErrors = [
        BEARER,
        JSON_BODY,
        &[
            (403, &["invitation_email_mismatch"]),
            (404, &["invitation_not_found", "org_not_found"]),
            (409, &["invitation_used", "already_member"]),
            (410, &["invitation_expired", "invitation_revoked"]),
        ],
    ]
);

/// The signed-in user, whose address the invitation is for, joins with its roles. A session acting
/// for no organization acts for this one from its next refresh.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/invitations/accept",
    operation_id = "accept_org_invitation",
    tag = tags::ORGS,
    params(TenantPath),
    request_body = Acceptance,
    security(("access_token" = [])),
    responses((status = 200, description = "The organization joined", body = OrgView), AcceptInvitationErrors),
)]
pub async fn accept(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<Acceptance>,
) -> Result<ApiJson<OrgView>, ApiError> {
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    let presented =
        invitations::find_for_accept(&mut tx, auth.tenant.id, body.token.expose_secret()).await?;
    let (email,): (String,) =
        sqlx::query_as("SELECT email FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(auth.tenant.id)
            .bind(auth.user_id)
            .fetch_one(&mut *tx)
            .await?;
    presented.check(&email, now)?;
    orgs::lock(&mut tx, auth.tenant.id, presented.org_id).await?;
    // A role deleted since the invitation was made is not granted; with none left there is
    // nothing to accept.
    let defined: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT name, scopes FROM org_roles WHERE tenant_id = $1 AND name = ANY($2) FOR KEY SHARE",
    )
    .bind(auth.tenant.id)
    .bind(&presented.roles)
    .fetch_all(&mut *tx)
    .await?;
    let granted = RoleSet::from_rows(defined);
    if granted.is_empty() {
        return Err(ApiError::InvitationRevoked);
    }
    orgs::add_member(
        &mut tx,
        auth.tenant.id,
        presented.org_id,
        auth.user_id,
        &granted,
    )
    .await?;
    invitations::mark_accepted(&mut tx, presented.id, auth.user_id, now).await?;
    let active = adopt_if_none(&mut tx, &auth, presented.org_id).await?;
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::OrgInvitationAccepted,
        )
        .subject(presented.id)
        .detail("org_id", presented.org_id.to_string())
        .detail("roles", granted.names()),
    )
    .await?;
    let org = orgs::find(&mut tx, auth.tenant.id, presented.org_id).await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %auth.tenant.id, org.id = %presented.org_id, user.id = %auth.user_id, "invitation accepted");
    Ok(ApiJson(OrgView::new(org, &granted, active)?))
}
