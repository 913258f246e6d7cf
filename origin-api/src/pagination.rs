//! Keyset pagination for the admin API's lists: a page size within bounds, a cursor naming the last
//! row of the previous page, and query strings read strictly ([`Page::parse`]).
//!
//! Every list is ordered by immutable columns that end in a unique one, and a page starts strictly
//! after its cursor, so rows that exist throughout are listed exactly once however many are
//! inserted or deleted while someone pages. A cursor is plain text with a documented pattern
//! ([`TIME_CURSOR_PATTERN`], [`SLUG_CURSOR_PATTERN`]): every string matching it is a place in the
//! order (a page after it, possibly empty), and anything else is 422 `cursor_invalid`.

use crate::error::ApiError;
use time::OffsetDateTime;
use uuid::Uuid;

/// Rows per page when `limit` is not given, and the most a page may ask for.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// `{micros}.{uuid}`: [`TimeCursor`]'s form. At most 16 digits (past the year 2286), so every match
/// is an instant Postgres and `time` both hold.
pub const TIME_CURSOR_PATTERN: &str =
    "^[0-9]{1,16}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/// A tenant's slug: [`SlugCursor`]'s form (the slugs' own pattern).
pub const SLUG_CURSOR_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,62}$";

const MAX_MICROS_DIGITS: usize = 16;
const MAX_SLUG_CHARS: usize = 63;

/// A list's place in its order, as its `cursor` parameter and `next_cursor` carry it.
pub trait Cursor: Sized {
    /// The cursor of `raw`, or `None` when it does not match the pattern.
    fn parse(raw: &str) -> Option<Self>;
    fn render(&self) -> String;
}

/// A place in an order by (instant, id): the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCursor {
    pub at: OffsetDateTime,
    pub id: Uuid,
}

impl Cursor for TimeCursor {
    fn parse(raw: &str) -> Option<TimeCursor> {
        let (micros, id) = raw.split_once('.')?;
        let digits_only = !micros.is_empty()
            && micros.len() <= MAX_MICROS_DIGITS
            && micros.bytes().all(|b| b.is_ascii_digit());
        // The hyphenated lowercase form only: `Uuid::parse_str` also takes braces, urns and capitals.
        let lowercase_hyphenated = id.len() == 36
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-');
        if !digits_only || !lowercase_hyphenated {
            return None;
        }
        let micros: i128 = micros.parse().ok()?;
        Some(TimeCursor {
            at: OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1_000)?).ok()?,
            id: Uuid::parse_str(id).ok()?,
        })
    }

    /// Microseconds are Postgres's precision, so the instant round-trips exactly.
    fn render(&self) -> String {
        let micros = self.at.unix_timestamp_nanos() / 1_000;
        format!("{micros}.{}", self.id)
    }
}

/// A place in an order by slug (slugs never change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlugCursor(pub String);

impl Cursor for SlugCursor {
    fn parse(raw: &str) -> Option<SlugCursor> {
        let mut bytes = raw.bytes();
        let ok = raw.len() <= MAX_SLUG_CHARS
            && bytes
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| SlugCursor(raw.to_owned()))
    }

    fn render(&self) -> String {
        self.0.clone()
    }
}

/// One list request's paging: where it starts and how many rows it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<C> {
    pub after: Option<C>,
    pub limit: i64,
}

impl<C: Cursor> Page<C> {
    /// Reads `cursor` and `limit` from the query and hands every other parameter to `filter`, which
    /// answers `Ok(false)` for one it does not know either. 422: `query_invalid` for an unknown or
    /// repeated parameter (`known` lists the list's parameters in its message), `cursor_invalid`,
    /// `limit_invalid`, or whatever `filter` refuses.
    pub fn parse(
        query: Option<&str>,
        known: &'static str,
        mut filter: impl FnMut(&str, &str) -> Result<bool, ApiError>,
    ) -> Result<Page<C>, ApiError> {
        let mut page = Page {
            after: None,
            limit: DEFAULT_PAGE_SIZE,
        };
        for (name, value) in parameters(query)? {
            match name.as_str() {
                "cursor" => page.after = Some(C::parse(&value).ok_or_else(cursor_invalid)?),
                "limit" => page.limit = parse_limit(&value)?,
                _ => {
                    if !filter(&name, &value)? {
                        return Err(ApiError::FieldInvalid("query_invalid", known));
                    }
                }
            }
        }
        Ok(page)
    }

    /// [`Page::parse`] for a list that takes `cursor` and `limit` only.
    pub fn parse_plain(query: Option<&str>) -> Result<Page<C>, ApiError> {
        Page::parse(query, "known query parameters: cursor, limit", |_, _| {
            Ok(false)
        })
    }

    /// How many rows to fetch: one more than the page holds, to learn whether another follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the [`Page::fetch`] rows fetched to the page, with the `next_cursor` (the last row's
    /// place, `key` of it) when another page follows.
    pub fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> C) -> (Vec<T>, Option<String>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = more.then(|| rows.last().map(|r| key(r).render())).flatten();
        (rows, next)
    }
}

/// `limit`, or 422 `limit_invalid`.
fn parse_limit(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or(ApiError::FieldInvalid(
            "limit_invalid",
            "limit must be an integer from 1 to 200",
        ))
}

/// The query's parameters in order, or 422 `query_invalid` when one is repeated.
fn parameters(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
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
fn cursor_invalid() -> ApiError {
    ApiError::FieldInvalid(
        "cursor_invalid",
        "cursor must be a next_cursor this list returned",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(query: &str) -> Result<Page<TimeCursor>, &'static str> {
        Page::parse(
            Some(query),
            "known query parameters: q, cursor, limit",
            |name, _| Ok(name == "q"),
        )
        .map_err(|e| e.code())
    }

    #[test]
    fn a_cursor_round_trips_to_the_microsecond_and_junk_is_refused() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_780_000_000_123_456_000).unwrap();
        let p = TimeCursor {
            at,
            id: Uuid::new_v4(),
        };
        assert_eq!(TimeCursor::parse(&p.render()), Some(p));
        assert_eq!(
            TimeCursor::parse("1780000000123456.0b7e6a9c-1f2d-4c3b-9a8e-7d6c5b4a3f21")
                .map(|c| c.render()),
            Some("1780000000123456.0b7e6a9c-1f2d-4c3b-9a8e-7d6c5b4a3f21".to_owned())
        );
        for junk in [
            "",
            "x",
            "12.not-a-uuid",
            ".0b7e6a9c-1f2d-4c3b-9a8e-7d6c5b4a3f21",
            "-1.0b7e6a9c-1f2d-4c3b-9a8e-7d6c5b4a3f21",
            "12345678901234567.0b7e6a9c-1f2d-4c3b-9a8e-7d6c5b4a3f21",
            "12.0B7E6A9C-1F2D-4C3B-9A8E-7D6C5B4A3F21",
            "12.0b7e6a9c1f2d4c3b9a8e7d6c5b4a3f21",
            "12.0b7e6a9c-1f2d-4c3b-9a8e-7d6c5b4a3f2-",
        ] {
            assert_eq!(TimeCursor::parse(junk), None, "{junk}");
        }
        // The largest cursor the pattern allows is an instant.
        assert!(
            TimeCursor::parse("9999999999999999.0b7e6a9c-1f2d-4c3b-9a8e-7d6c5b4a3f21").is_some()
        );
    }

    #[test]
    fn a_slug_cursor_is_a_slug() {
        assert_eq!(
            SlugCursor::parse("acme-2").map(|c| c.render()).as_deref(),
            Some("acme-2")
        );
        for junk in ["", "-acme", "Acme", "a b", &"a".repeat(64)] {
            assert_eq!(SlugCursor::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn the_patterns_say_what_the_parsers_take() {
        let time = regex_automata::meta::Regex::new(TIME_CURSOR_PATTERN).unwrap();
        let slug = regex_automata::meta::Regex::new(SLUG_CURSOR_PATTERN).unwrap();
        let id = Uuid::new_v4();
        for micros in [0_i128, 1_780_000_000_123_456, 9_999_999_999_999_999] {
            let cursor = TimeCursor {
                at: OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).unwrap(),
                id,
            }
            .render();
            assert!(time.is_match(&cursor), "{cursor}");
        }
        for raw in ["12.not-a-uuid", "-1.x", &format!("1.{}", id.simple())] {
            assert!(
                !time.is_match(raw) && TimeCursor::parse(raw).is_none(),
                "{raw}"
            );
        }
        for raw in ["a", "acme-2", "0-", &"a".repeat(63)] {
            assert!(
                slug.is_match(raw) && SlugCursor::parse(raw).is_some(),
                "{raw}"
            );
        }
        for raw in ["-a", "A", &"a".repeat(64)] {
            assert!(
                !slug.is_match(raw) && SlugCursor::parse(raw).is_none(),
                "{raw}"
            );
        }
    }

    #[test]
    fn limits_repeats_and_unknown_parameters_are_refused() {
        assert_eq!(page("limit=0"), Err("limit_invalid"));
        assert_eq!(page("limit=201"), Err("limit_invalid"));
        assert_eq!(page("limit=x"), Err("limit_invalid"));
        assert_eq!(page("limit=200").map(|p| p.limit), Ok(200));
        assert_eq!(page("").map(|p| p.limit), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page("cursor=zzz"), Err("cursor_invalid"));
        assert_eq!(
            page("q=1&limit=2"),
            Ok(Page {
                after: None,
                limit: 2
            })
        );
        assert_eq!(page("sort=asc"), Err("query_invalid"));
        assert_eq!(page("q=1&b=2&q=3"), Err("query_invalid"));
        assert_eq!(parameters(Some("a=x%20y")).unwrap()[0].1, "x y");
    }

    #[test]
    fn a_page_knows_whether_another_follows() {
        let page = Page::<SlugCursor> {
            after: None,
            limit: 2,
        };
        let key = |n: &i32| SlugCursor(n.to_string());
        assert_eq!(
            page.finish(vec![1, 2, 3], key),
            (vec![1, 2], Some("2".to_owned()))
        );
        assert_eq!(page.finish(vec![1, 2], key), (vec![1, 2], None));
        assert_eq!(page.fetch(), 3);
    }
}
