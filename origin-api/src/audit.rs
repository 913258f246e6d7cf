//! The audit trail: one append-only row per security-relevant action (`audit_events`, migration 0040).
//!
//! An event is written with [`record`] on the connection of the transaction that makes the change it
//! records, so both commit or neither does. Postgres refuses UPDATE, TRUNCATE and any DELETE but the
//! retention purge ([`purge_expired`]); `occurred_at` is the database's clock.
//!
//! Where a request came from (client address, user-agent summary) is captured once per request by
//! [`capture_source`] and read by [`record`], so a handler's audit call stays one line and no handler
//! can forget or forge it. Events recorded outside a request (the maintenance loop) have none.
//!
//! Never put a secret in an event: no password, token, cookie, code or key material, and no e-mail
//! address of an account that does not exist (its throttle hash identifies it instead).

use crate::client_ip::ClientIp;
use crate::state::AppState;
use crate::throttle::{Key, Reservation, Scope};
use crate::user_agent;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use uuid::Uuid;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A user of the tenant, signed in or having just proven who they are.
    User(Uuid),
    /// Someone who has not proven who they are (a failed sign-in): kind `user`, no id.
    Unverified,
    /// The operator, through the admin API's bootstrap token.
    Admin,
    /// An admin API key of the tenant (its id).
    AdminKey(Uuid),
    /// The origin itself (maintenance, automatic reactions).
    System,
}

impl Actor {
    pub fn kind(self) -> &'static str {
        match self {
            Actor::User(_) | Actor::Unverified => "user",
            Actor::Admin | Actor::AdminKey(_) => "admin",
            Actor::System => "system",
        }
    }

    pub fn id(self) -> Option<String> {
        match self {
            Actor::User(id) => Some(id.to_string()),
            Actor::Admin => Some(ADMIN_BOOTSTRAP_ID.to_owned()),
            Actor::AdminKey(id) => Some(id.to_string()),
            Actor::System | Actor::Unverified => None,
        }
    }
}

/// The actor id of the bootstrap admin credential (`ORIGIN_ADMIN_TOKEN`); an admin API key acts
/// under its own id.
pub const ADMIN_BOOTSTRAP_ID: &str = "bootstrap";

/// What happened. The stored names are part of the API (filters, consumers): rename none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    SignInSucceeded,
    SignInFailed,
    /// A failure that put an account or a client address under a delay.
    LockoutStarted,
    SignUp,
    PasskeyAdded,
    PasskeyRemoved,
    SessionRevoked,
    OtherSessionsRevoked,
    SignOutEverywhere,
    AdminUserSessionsRevoked,
    TenantNotBeforeSet,
    TenantCreated,
    TenantAuditRetentionSet,
    OAuthClientCreated,
    OAuthClientDeleted,
    RefreshTokenReused,
    /// An authorization code presented again; the session it opened is revoked.
    AuthorizationCodeReused,
    TenantUpdated,
    UserDisabled,
    UserEnabled,
    /// The user's personal data is gone; the trail keeps only their id.
    UserDeleted,
    AdminKeyCreated,
    AdminKeyRevoked,
    /// An admin asked for a rotation now (the steps it caused are recorded as their own events).
    SigningKeysRotated,
    /// An emergency revocation of a signing key.
    SigningKeyRevoked,
    /// A step of a key's life, by the schedule (`system`) or caused by an admin's request.
    SigningKeyPromoted,
    SigningKeyCreated,
    SigningKeyUnpublished,
    /// An organization was created (by a user, who became its owner, or by an admin).
    OrgCreated,
    OrgUpdated,
    OrgDeleted,
    OrgMemberAdded,
    OrgMemberRolesChanged,
    /// A member removed by another member or an admin; their sessions acting for it are revoked.
    OrgMemberRemoved,
    OrgMemberLeft,
    OrgInvitationCreated,
    OrgInvitationRevoked,
    OrgInvitationAccepted,
    /// A tenant's role created or its scopes changed (admin).
    OrgRoleDefined,
    OrgRoleDeleted,
    ActiveOrgSwitched,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        EventType::SignInSucceeded,
        EventType::SignInFailed,
        EventType::LockoutStarted,
        EventType::SignUp,
        EventType::PasskeyAdded,
        EventType::PasskeyRemoved,
        EventType::SessionRevoked,
        EventType::OtherSessionsRevoked,
        EventType::SignOutEverywhere,
        EventType::AdminUserSessionsRevoked,
        EventType::TenantNotBeforeSet,
        EventType::TenantCreated,
        EventType::TenantAuditRetentionSet,
        EventType::OAuthClientCreated,
        EventType::OAuthClientDeleted,
        EventType::RefreshTokenReused,
        EventType::AuthorizationCodeReused,
        EventType::TenantUpdated,
        EventType::UserDisabled,
        EventType::UserEnabled,
        EventType::UserDeleted,
        EventType::AdminKeyCreated,
        EventType::AdminKeyRevoked,
        EventType::SigningKeysRotated,
        EventType::SigningKeyRevoked,
        EventType::SigningKeyPromoted,
        EventType::SigningKeyCreated,
        EventType::SigningKeyUnpublished,
        EventType::OrgCreated,
        EventType::OrgUpdated,
        EventType::OrgDeleted,
        EventType::OrgMemberAdded,
        EventType::OrgMemberRolesChanged,
        EventType::OrgMemberRemoved,
        EventType::OrgMemberLeft,
        EventType::OrgInvitationCreated,
        EventType::OrgInvitationRevoked,
        EventType::OrgInvitationAccepted,
        EventType::OrgRoleDefined,
        EventType::OrgRoleDeleted,
        EventType::ActiveOrgSwitched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SignInSucceeded => "sign_in.succeeded",
            EventType::SignInFailed => "sign_in.failed",
            EventType::LockoutStarted => "sign_in.lockout",
            EventType::SignUp => "user.signed_up",
            EventType::PasskeyAdded => "passkey.added",
            EventType::PasskeyRemoved => "passkey.removed",
            EventType::SessionRevoked => "session.revoked",
            EventType::OtherSessionsRevoked => "session.others_revoked",
            EventType::SignOutEverywhere => "session.signed_out_everywhere",
            EventType::AdminUserSessionsRevoked => "admin.user_sessions_revoked",
            EventType::TenantNotBeforeSet => "admin.tenant_not_before_set",
            EventType::TenantCreated => "admin.tenant_created",
            EventType::TenantAuditRetentionSet => "admin.audit_retention_set",
            EventType::OAuthClientCreated => "admin.oauth_client_created",
            EventType::OAuthClientDeleted => "admin.oauth_client_deleted",
            EventType::RefreshTokenReused => "session.refresh_token_reused",
            EventType::AuthorizationCodeReused => "session.authorization_code_reused",
            EventType::TenantUpdated => "admin.tenant_updated",
            EventType::UserDisabled => "admin.user_disabled",
            EventType::UserEnabled => "admin.user_enabled",
            EventType::UserDeleted => "admin.user_deleted",
            EventType::AdminKeyCreated => "admin.api_key_created",
            EventType::AdminKeyRevoked => "admin.api_key_revoked",
            EventType::SigningKeysRotated => "admin.signing_keys_rotated",
            EventType::SigningKeyRevoked => "admin.signing_key_revoked",
            EventType::SigningKeyPromoted => "signing_key.promoted",
            EventType::SigningKeyCreated => "signing_key.created",
            EventType::SigningKeyUnpublished => "signing_key.unpublished",
            EventType::OrgCreated => "org.created",
            EventType::OrgUpdated => "org.updated",
            EventType::OrgDeleted => "org.deleted",
            EventType::OrgMemberAdded => "org.member_added",
            EventType::OrgMemberRolesChanged => "org.member_roles_changed",
            EventType::OrgMemberRemoved => "org.member_removed",
            EventType::OrgMemberLeft => "org.member_left",
            EventType::OrgInvitationCreated => "org.invitation_created",
            EventType::OrgInvitationRevoked => "org.invitation_revoked",
            EventType::OrgInvitationAccepted => "org.invitation_accepted",
            EventType::OrgRoleDefined => "org.role_defined",
            EventType::OrgRoleDeleted => "org.role_deleted",
            EventType::ActiveOrgSwitched => "session.active_org_switched",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

/// One event, built with [`Event::new`] and the setters below.
#[derive(Debug, Clone)]
pub struct Event {
    tenant_id: Uuid,
    actor: Actor,
    event_type: EventType,
    success: bool,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
    subject: Option<String>,
    details: serde_json::Map<String, serde_json::Value>,
}

impl Event {
    /// A successful action; a user actor is also its subject user.
    pub fn new(tenant_id: Uuid, actor: Actor, event_type: EventType) -> Self {
        Event {
            tenant_id,
            actor,
            event_type,
            success: true,
            user_id: match actor {
                Actor::User(id) => Some(id),
                _ => None,
            },
            session_id: None,
            subject: None,
            details: serde_json::Map::new(),
        }
    }

    pub fn failed(mut self) -> Self {
        self.success = false;
        self
    }

    pub fn user(mut self, user_id: Uuid) -> Self {
        self.user_id = Some(user_id);
        self
    }

    pub fn session(mut self, session_id: Uuid) -> Self {
        self.session_id = Some(session_id);
        self
    }

    /// Another subject: a passkey id, a client id, a key id.
    pub fn subject(mut self, id: impl ToString) -> Self {
        self.subject = Some(id.to_string());
        self
    }

    /// A detail. Never a secret (see the module's doc).
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// Where a request came from, as recorded.
#[derive(Debug, Clone, Default)]
struct Source {
    ip: Option<ClientIp>,
    user_agent: Option<String>,
}

tokio::task_local! {
    static SOURCE: Source;
}

/// Middleware: makes the request's client address and user-agent summary available to [`record`].
pub async fn capture_source(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| state.client_ip_source().resolve(peer.ip(), headers));
    let user_agent = Some(user_agent::describe(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    ));
    SOURCE
        .scope(Source { ip, user_agent }, next.run(request))
        .await
}

/// Appends `event`. Call it on the transaction of the change it records.
pub async fn record(conn: &mut sqlx::PgConnection, event: Event) -> Result<(), sqlx::Error> {
    let source = SOURCE.try_with(Source::clone).unwrap_or_default();
    sqlx::query(
        "INSERT INTO audit_events (tenant_id, actor_kind, actor_id, event_type, outcome,
                                   subject_user_id, subject_session_id, subject_id, ip, user_agent, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::inet, $10, $11)",
    )
    .bind(event.tenant_id)
    .bind(event.actor.kind())
    .bind(event.actor.id())
    .bind(event.event_type.as_str())
    .bind(if event.success { "success" } else { "failure" })
    .bind(event.user_id)
    .bind(event.session_id)
    .bind(event.subject)
    .bind(source.ip.map(|ip| ip.key()))
    .bind(source.user_agent)
    .bind(serde_json::Value::Object(event.details))
    .execute(conn)
    .await?;
    Ok(())
}

/// A refused sign-in (`method`: `password` or `passkey`), and the lockouts it starts, in one
/// transaction (the attempt's count was committed by the throttle already).
///
/// The account is named by the throttle's hash of the normalised e-mail, whether it exists or not:
/// that is enough to match failures against one account without collecting the addresses attackers
/// try. An existing account is also named by its user id, which its admin can look up.
pub async fn record_sign_in_failure(
    db: &sqlx::PgPool,
    tenant_id: Uuid,
    user_id: Option<Uuid>,
    email: Option<&str>,
    method: &'static str,
    reservation: &Reservation,
) -> Result<(), sqlx::Error> {
    let account = email.map(Key::account);
    let name = |event: Event| {
        let event = match &account {
            Some(account) => event.detail("account", account.value()),
            None => event,
        };
        match user_id {
            Some(id) => event.user(id),
            None => event,
        }
    };
    let mut tx = db.begin().await?;
    record(
        &mut tx,
        name(
            Event::new(tenant_id, Actor::Unverified, EventType::SignInFailed)
                .failed()
                .detail("method", method),
        ),
    )
    .await?;
    for key in reservation.exhausted() {
        let event = Event::new(tenant_id, Actor::System, EventType::LockoutStarted)
            .detail("scope", key.scope().as_str());
        record(
            &mut tx,
            match key.scope() {
                Scope::Account => name(event),
                // The address is the event's own `ip`.
                Scope::Ip => event,
            },
        )
        .await?;
    }
    tx.commit().await
}

/// Deletes events past their tenant's retention (the maintenance loop); returns how many.
pub async fn purge_expired(db: &sqlx::PgPool) -> Result<i64, sqlx::Error> {
    let (purged,): (i64,) = sqlx::query_as("SELECT audit_purge_expired()")
        .fetch_one(db)
        .await?;
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_round_trips_and_fits_the_schema_check() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
            let (head, tail) = t.as_str().split_once('.').unwrap();
            assert!(!head.is_empty() && !tail.is_empty());
            assert!(t
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'));
        }
        assert_eq!(EventType::parse("nope"), None);
    }
}
