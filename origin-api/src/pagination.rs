//! Keyset pagination for the admin API's lists: a page size within bounds, an opaque cursor naming
//! the last row of the previous page, and query strings read strictly.
//!
//! Every list is ordered by immutable columns that end in a unique one, and a page starts strictly
//! after its cursor, so rows that exist throughout are listed exactly once however many are
//! inserted or deleted while someone pages.

use crate::error::ApiError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use time::OffsetDateTime;
use uuid::Uuid;

/// Rows per page when `limit` is not given, and the most a page may ask for.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// `limit`, or 422 `limit_invalid`.
pub fn parse_limit(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or(ApiError::FieldInvalid(
            "limit_invalid",
            "limit must be an integer from 1 to 200",
        ))
}

/// The query's parameters in order, or 422 `query_invalid` when one is repeated.
pub fn parameters(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if seen.iter().any(|(n, _)| *n == name) {
            return Err(ApiError::FieldInvalid(
                "query_invalid",
                "a query parameter is repeated",
            ));
        }
        seen.push((name.into_owned(), value.into_owned()));
    }
    Ok(seen)
}

/// 422 `cursor_invalid`.
pub fn cursor_invalid() -> ApiError {
    ApiError::FieldInvalid(
        "cursor_invalid",
        "cursor must be one this endpoint returned",
    )
}

/// A place in an order by (instant, id): the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCursor {
    pub at: OffsetDateTime,
    pub id: Uuid,
}

impl TimeCursor {
    /// Opaque to clients; microseconds are Postgres's precision, so the instant round-trips exactly.
    pub fn encode(self) -> String {
        let micros = self.at.unix_timestamp_nanos() / 1_000;
        URL_SAFE_NO_PAD.encode(format!("{micros}.{}", self.id))
    }

    pub fn decode(raw: &str) -> Option<TimeCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (micros, id) = text.split_once('.')?;
        let micros: i128 = micros.parse().ok()?;
        Some(TimeCursor {
            at: OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1_000)?).ok()?,
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

/// A place in an order by a text key (a slug).
pub fn encode_text(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

pub fn decode_text(raw: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()
}

/// Cuts the `limit + 1` rows fetched to a page, and says whether another page follows.
pub fn split_page<T>(mut rows: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_to_the_microsecond_and_junk_is_refused() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_780_000_000_123_456_000).unwrap();
        let p = TimeCursor {
            at,
            id: Uuid::new_v4(),
        };
        assert_eq!(TimeCursor::decode(&p.encode()), Some(p));
        for junk in ["", "x", "!!!", &URL_SAFE_NO_PAD.encode("12.not-a-uuid")] {
            assert_eq!(TimeCursor::decode(junk), None, "{junk}");
        }
        assert_eq!(
            decode_text(&encode_text("acme-2")).as_deref(),
            Some("acme-2")
        );
        assert_eq!(decode_text("!!"), None);
    }

    #[test]
    fn limits_and_repeats_are_refused() {
        let code = |r: Result<i64, ApiError>| r.map_err(|e| e.code());
        assert_eq!(code(parse_limit("0")), Err("limit_invalid"));
        assert_eq!(code(parse_limit("201")), Err("limit_invalid"));
        assert_eq!(code(parse_limit("x")), Err("limit_invalid"));
        assert_eq!(code(parse_limit("200")), Ok(200));
        assert_eq!(
            parameters(Some("a=1&b=2&a=3")).map_err(|e| e.code()),
            Err("query_invalid")
        );
        assert_eq!(parameters(Some("a=x%20y")).unwrap()[0].1, "x y");
    }

    #[test]
    fn a_page_knows_whether_another_follows() {
        assert_eq!(split_page(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(split_page(vec![1, 2], 2), (vec![1, 2], false));
    }
}
