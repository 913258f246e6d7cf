//! The operator's view of a tenant's audit trail, and its retention.
//!
//! `GET /v1/admin/tenants/{slug}/audit-events`: newest first, in the stable order
//! (`occurred_at`, `id`) descending, a page at a time behind a `{micros}.{uuid}` cursor
//! (`crate::pagination`). Events appended while
//! someone pages are newer than every cursor, so paging never skips or repeats an event.

use crate::audit::{self, Event, EventType};
use crate::auth::TenantAdmin;
use crate::error::ApiError;
use crate::errors;
use crate::extract::ApiJson;
use crate::openapi::{query_param, tags, PageQuery, SlugPath, JSON_BODY, TENANT_ADMIN};
use crate::pagination::{Page, TimeCursor};
use crate::routes::my_sessions::rfc3339;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::ToSchema;
use uuid::Uuid;

/// Bounds of a tenant's retention, in days (the schema checks them too).
pub const MIN_RETENTION_DAYS: i32 = 1;
pub const MAX_RETENTION_DAYS: i32 = 3650;

/// The filters of one request, validated.
#[derive(Debug, Default)]
struct Filters {
    user: Option<Uuid>,
    event_type: Option<EventType>,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
}

fn invalid(code: &'static str, message: &'static str) -> ApiError {
    ApiError::FieldInvalid(code, message)
}

fn instant(raw: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| {
        invalid(
            "time_range_invalid",
            "from and to must be RFC 3339 instants",
        )
    })
}

impl Filters {
    fn parse(query: Option<&str>) -> Result<(Filters, Page<TimeCursor>), ApiError> {
        let mut filters = Filters::default();
        let page = Page::parse(
            query,
            "known query parameters: user, type, from, to, cursor, limit",
            |name, value| {
                match name {
                    "user" => {
                        filters.user = Some(
                            Uuid::parse_str(value)
                                .map_err(|_| invalid("user_invalid", "user must be a user id"))?,
                        )
                    }
                    "type" => {
                        filters.event_type = Some(EventType::parse(value).ok_or_else(|| {
                            invalid(
                                "type_invalid",
                                "type must be one of the documented event types",
                            )
                        })?)
                    }
                    "from" => filters.from = Some(instant(value)?),
                    "to" => filters.to = Some(instant(value)?),
                    _ => return Ok(false),
                }
                Ok(true)
            },
        )?;
        if let (Some(from), Some(to)) = (filters.from, filters.to) {
            if from > to {
                return Err(invalid("time_range_invalid", "from must not be after to"));
            }
        }
        Ok((filters, page))
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: Uuid,
    occurred_at: OffsetDateTime,
    actor_kind: String,
    actor_id: Option<String>,
    event_type: String,
    outcome: String,
    subject_user_id: Option<Uuid>,
    subject_session_id: Option<Uuid>,
    subject_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
struct ActorView {
    kind: String,
    id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct EventView {
    id: Uuid,
    /// RFC 3339, the database's clock.
    occurred_at: String,
    actor: ActorView,
    #[serde(rename = "type")]
    event_type: String,
    /// `success` or `failure`.
    outcome: String,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
    subject_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
struct EventPage {
    events: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; `null` on the last one.
    next_cursor: Option<String>,
}

/// The query of `audit-events`, read by [`Filters::parse`] (each parameter once, no others).
#[derive(Debug)]
pub struct AuditQuery;

impl utoipa::IntoParams for AuditQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        vec![
            query_param(
                "user",
                "only events about this user",
                string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
            ),
            query_param(
                "type",
                "only events of this type",
                string().enum_values(Some(EventType::ALL.iter().map(|t| t.as_str()))),
            ),
            query_param(
                "from",
                "RFC 3339: events at or after it",
                string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            ),
            query_param(
                "to",
                "RFC 3339: events at or before it (not before `from`)",
                string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            ),
        ]
        .into_iter()
        .chain(PageQuery::into_params(|| None))
        .collect()
    }
}

errors!(
    ListAuditErrors = [
        TENANT_ADMIN,
        &[(
            422,
            &[
                "query_invalid",
                "user_invalid",
                "type_invalid",
                "time_range_invalid",
                "cursor_invalid",
                "limit_invalid",
            ],
        )],
    ]
);

/// The tenant's audit trail, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}/audit-events",
    operation_id = "list_audit_events",
    tag = tags::ADMIN,
    params(SlugPath, AuditQuery),
    security(("admin_token" = [])),
    responses((status = 200, description = "A page of events", body = EventPage), ListAuditErrors),
)]
pub async fn list(
    admin: TenantAdmin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (filters, page) = Filters::parse(query.as_deref())?;
    let tenant = &admin.tenant;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, occurred_at, actor_kind, actor_id, event_type, outcome, subject_user_id,
                subject_session_id, subject_id, abbrev(ip) AS ip, user_agent, details
         FROM audit_events
         WHERE tenant_id = $1
           AND ($2::uuid IS NULL OR subject_user_id = $2)
           AND ($3::text IS NULL OR event_type = $3)
           AND ($4::timestamptz IS NULL OR occurred_at >= $4)
           AND ($5::timestamptz IS NULL OR occurred_at <= $5)
           AND ($6::timestamptz IS NULL OR (occurred_at, id) < ($6, $7::uuid))
         ORDER BY occurred_at DESC, id DESC
         LIMIT $8",
    )
    .bind(tenant.id)
    .bind(filters.user)
    .bind(filters.event_type.map(EventType::as_str))
    .bind(filters.from)
    .bind(filters.to)
    .bind(page.after.map(|p| p.at))
    .bind(page.after.map(|p| p.id))
    .bind(page.fetch())
    .fetch_all(state.db())
    .await?;
    let (rows, next_cursor) = page.finish(rows, |r| TimeCursor {
        at: r.occurred_at,
        id: r.id,
    });
    let events = rows
        .into_iter()
        .map(|r| {
            Ok(EventView {
                id: r.id,
                occurred_at: rfc3339(r.occurred_at)?,
                actor: ActorView {
                    kind: r.actor_kind,
                    id: r.actor_id,
                },
                event_type: r.event_type,
                outcome: r.outcome,
                user_id: r.subject_user_id,
                session_id: r.subject_session_id,
                subject_id: r.subject_id,
                ip: r.ip,
                user_agent: r.user_agent,
                details: r.details,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        ApiJson(EventPage {
            events,
            next_cursor,
        }),
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[schema(minimum = 1, maximum = 3650)]
    #[serde(deserialize_with = "crate::extract::integer")]
    audit_retention_days: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionView {
    audit_retention_days: i32,
}

errors!(
    SetRetentionErrors = [
        TENANT_ADMIN,
        JSON_BODY,
        &[(422, &["audit_retention_days_invalid"])],
    ]
);

/// How many days the tenant's events are kept (1 to 3650; 365 by default); older ones are purged by
/// the maintenance loop.
#[utoipa::path(
    put,
    path = "/v1/admin/tenants/{slug}/audit-retention",
    operation_id = "set_audit_retention",
    tag = tags::ADMIN,
    params(SlugPath),
    request_body = Retention,
    security(("admin_token" = [])),
    responses((status = 200, description = "The retention", body = RetentionView), SetRetentionErrors),
)]
pub async fn set_retention(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Retention>,
) -> Result<ApiJson<RetentionView>, ApiError> {
    let days = body.audit_retention_days;
    if !(MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&days) {
        return Err(invalid(
            "audit_retention_days_invalid",
            "audit_retention_days must be from 1 to 3650",
        ));
    }
    let tenant = &admin.tenant;
    let mut tx = state.db().begin().await?;
    sqlx::query("UPDATE tenants SET audit_retention_days = $2 WHERE id = $1")
        .bind(tenant.id)
        .bind(days)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(tenant.id, admin.actor(), EventType::TenantAuditRetentionSet)
            .detail("audit_retention_days", days),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(RetentionView {
        audit_retention_days: days,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_refuse_what_they_do_not_know() {
        let code = |q: &str| match Filters::parse(Some(q)) {
            Err(e) => e.code(),
            Ok(_) => "ok",
        };
        assert_eq!(code("limit=0"), "limit_invalid");
        assert_eq!(code("limit=201"), "limit_invalid");
        assert_eq!(code("limit=200"), "ok");
        assert_eq!(code("user=bob"), "user_invalid");
        assert_eq!(code("type=sign_in.maybe"), "type_invalid");
        assert_eq!(code("from=yesterday"), "time_range_invalid");
        assert_eq!(
            code("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"),
            "time_range_invalid"
        );
        assert_eq!(code("cursor=abc"), "cursor_invalid");
        assert_eq!(code("limit=1&limit=2"), "query_invalid");
        assert_eq!(code("sort=asc"), "query_invalid");
    }
}
