//! Invitations: an organization's offer of roles to an e-mail address, accepted by the user of that
//! address when signed in and holding the invitation's token.
//!
//! The token is 256 random bits shown once to whoever invites (the origin sends no mail: they pass it
//! on, e.g. in a link to their app); only its SHA-256 is stored. Accepting needs both the token and a
//! signed-in account with the invited address, so neither a leaked link nor an account registered
//! under someone else's address is enough alone. An invitation is single use and expires after
//! [`INVITATION_LIFETIME`].

use crate::error::ApiError;
use crate::orgs::roles::RoleSet;
use crate::tokens::{hash_refresh_token, RefreshToken};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// How long an invitation can be accepted.
pub const INVITATION_LIFETIME: time::Duration = time::Duration::days(7);

/// An invitation as listed (never its token).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub roles: Vec<String>,
    pub invited_by: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A new invitation and the token to hand to the invited person.
#[derive(Debug)]
pub struct Created {
    pub invitation: InvitationRow,
    pub token: String,
    /// The pending invitation to the same address it replaced.
    pub replaced: Option<Uuid>,
}

/// Invites `email` (already validated) with `roles`; a pending invitation to the same address is
/// revoked in favour of this one. Call with the organization locked.
pub async fn create(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
    email: &str,
    roles: &RoleSet,
    invited_by: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<Created, sqlx::Error> {
    let replaced: Option<(Uuid,)> = sqlx::query_as(
        "UPDATE org_invitations SET revoked_at = $4
         WHERE tenant_id = $1 AND org_id = $2 AND lower(email) = lower($3)
           AND accepted_at IS NULL AND revoked_at IS NULL
         RETURNING id",
    )
    .bind(tenant_id)
    .bind(org_id)
    .bind(email)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    // The same generator as refresh tokens: 256 random bits, base64url.
    let token = RefreshToken::generate();
    let invitation: InvitationRow = sqlx::query_as(
        "INSERT INTO org_invitations (id, tenant_id, org_id, email, roles, token_hash, invited_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING id, org_id, email, roles, invited_by, created_at, expires_at",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(org_id)
    .bind(email)
    .bind(roles.names())
    .bind(token.hash.as_slice())
    .bind(invited_by)
    .bind(now)
    .bind(now + INVITATION_LIFETIME)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Created {
        invitation,
        token: token.value,
        replaced: replaced.map(|(id,)| id),
    })
}

/// An organization's pending invitations, oldest first.
pub async fn pending(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
) -> Result<Vec<InvitationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, org_id, email, roles, invited_by, created_at, expires_at FROM org_invitations
         WHERE tenant_id = $1 AND org_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL
           AND expires_at > now()
         ORDER BY created_at, id",
    )
    .bind(tenant_id)
    .bind(org_id)
    .fetch_all(&mut *conn)
    .await
}

/// Revokes a pending invitation of the organization; false when there is none.
pub async fn revoke(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    org_id: Uuid,
    invitation_id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE org_invitations SET revoked_at = $4
         WHERE tenant_id = $1 AND org_id = $2 AND id = $3 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(org_id)
    .bind(invitation_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An invitation presented for acceptance, locked until the transaction ends.
#[derive(Debug, sqlx::FromRow)]
pub struct Presented {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub roles: Vec<String>,
    pub expires_at: OffsetDateTime,
    pub accepted: bool,
    pub revoked: bool,
}

/// The invitation of the tenant whose token this is, locked; 404 `invitation_not_found` for none.
pub async fn find_for_accept(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    token: &str,
) -> Result<Presented, ApiError> {
    sqlx::query_as(
        "SELECT id, org_id, email, roles, expires_at, accepted_at IS NOT NULL AS accepted,
                revoked_at IS NOT NULL AS revoked
         FROM org_invitations WHERE tenant_id = $1 AND token_hash = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(hash_refresh_token(token).as_slice())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(ApiError::InvitationNotFound)
}

impl Presented {
    /// Whether `user_email` may accept it now: single use, unexpired, for this address
    /// (compared without regard to case, as sign-in compares addresses).
    pub fn check(&self, user_email: &str, now: OffsetDateTime) -> Result<(), ApiError> {
        if self.accepted {
            return Err(ApiError::InvitationUsed);
        }
        if self.revoked {
            return Err(ApiError::InvitationRevoked);
        }
        if self.expires_at <= now {
            return Err(ApiError::InvitationExpired);
        }
        if self.email.to_lowercase() != user_email.to_lowercase() {
            return Err(ApiError::InvitationEmailMismatch);
        }
        Ok(())
    }
}

pub async fn mark_accepted(
    conn: &mut PgConnection,
    invitation_id: Uuid,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE org_invitations SET accepted_at = $2, accepted_by = $3 WHERE id = $1")
        .bind(invitation_id)
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
