//! The incoming request, read where the runtime holds it.
//!
//! Every call across the wasm boundary copies strings, and the hot path needs only the method, the URL
//! and three headers, so the request stays a `web_sys::Request` and those are read in one call
//! (`js/incoming.js`), as UTF-8 bytes kept in one buffer. `worker::Request` would eagerly read `cf`,
//! and `Url` would parse a URL the runtime has already parsed and serialized.

use std::ops::Range;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::Request;

#[wasm_bindgen(module = "/js/incoming.js")]
extern "C" {
    /// UTF-8 bytes, not a `String`: wasm-bindgen copies a returned string into the wasm memory one
    /// character at a time in JS (~22,000 instructions per request for a bearer token's request,
    /// counted under callgrind), and a byte array in one native copy.
    #[wasm_bindgen(js_name = readRequest)]
    fn read_request(request: &Request) -> Vec<u8>;
}

pub struct Incoming {
    pub raw: Request,
    read: Read,
    /// Where the path starts in the URL (after `scheme://authority`).
    path_at: usize,
    /// Where the query's `?` is in the URL, if there is one.
    query_at: Option<usize>,
    /// When the request arrived, in Unix seconds: the time its token is judged at.
    now: i64,
}

impl Incoming {
    pub fn new(raw: Request) -> Incoming {
        let read = Read::parse(read_request(&raw));
        let (path_at, query_at) = split_url(read.url());
        Incoming {
            raw,
            read,
            path_at,
            query_at,
            now: crate::now_unix(),
        }
    }

    /// When the request arrived, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.now
    }

    pub fn method(&self) -> &str {
        self.read.method()
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&str> {
        self.read.field(&self.read.host)
    }

    /// The `Origin` header.
    pub fn origin(&self) -> Option<&str> {
        self.read.field(&self.read.origin)
    }

    /// The `Authorization` header.
    pub fn authorization(&self) -> Option<&str> {
        self.read.field(&self.read.authorization)
    }

    /// Any other header's value; `None` when absent. Off the hot path: each call crosses into the
    /// runtime.
    pub fn header(&self, name: &str) -> Option<String> {
        self.raw.headers().get(name).ok().flatten()
    }

    /// The path, still percent-encoded, as the runtime serialized it.
    pub fn path(&self) -> &str {
        let url = self.read.url();
        &url[self.path_at..self.query_at.unwrap_or(url.len())]
    }

    /// Path and query (`/a/b?c=d`): what the upstream is asked for.
    pub fn path_and_query(&self) -> &str {
        &self.read.url()[self.path_at..]
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        let url = self.read.url();
        match url.find(':') {
            Some(i) if url[i..].starts_with("://") => &url[..i],
            _ => "https",
        }
    }

    /// The request converted for the cold paths written against `worker::Request`.
    pub fn into_worker(self) -> worker::Request {
        worker::Request::from(self.raw)
    }
}

impl std::fmt::Debug for Incoming {
    // Only what routing sees: headers may hold credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("method", &self.read.method())
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

/// What `readRequest` answers (see `js/incoming.js` for the format): the text as it came, and where
/// each field is in it. Debug only in tests: it holds the bearer token.
#[cfg_attr(test, derive(Debug))]
struct Read {
    text: String,
    method: Range<usize>,
    url: Range<usize>,
    host: Option<Range<usize>>,
    origin: Option<Range<usize>>,
    authorization: Option<Range<usize>>,
}

impl Read {
    fn parse(bytes: Vec<u8>) -> Read {
        // TextEncoder writes only valid UTF-8 (a lone surrogate becomes U+FFFD).
        let text = String::from_utf8(bytes).unwrap_or_default();
        let mut at = 0;
        let mut lines = text.split('\n').map(|line| {
            let range = at..at + line.len();
            at = range.end + 1;
            range
        });
        let mut next = || lines.next().unwrap_or_default();
        let header = |line: Range<usize>| {
            (text.as_bytes().get(line.clone()).and_then(<[u8]>::first) == Some(&b':'))
                .then(|| line.start + 1..line.end)
        };
        let (method, url) = (next(), next());
        let (host, origin, authorization) = (header(next()), header(next()), header(next()));
        Read {
            method,
            url,
            host,
            origin,
            authorization,
            text,
        }
    }

    fn method(&self) -> &str {
        &self.text[self.method.clone()]
    }

    fn url(&self) -> &str {
        &self.text[self.url.clone()]
    }

    fn field(&self, range: &Option<Range<usize>>) -> Option<&str> {
        range.clone().map(|r| &self.text[r])
    }
}

/// Where the path and the query start in a WHATWG-serialized absolute URL. Serialization puts the
/// path right after the authority and never leaves it empty for http(s), and a `?` or `#` inside the
/// path is always percent-encoded, so the first `/` after `://` starts the path and the first `?`
/// after it starts the query. Requests carry no fragment.
fn split_url(url: &str) -> (usize, Option<usize>) {
    // The first `:` ends the scheme. (Not `find("://")`: a substring search sets up a two-way
    // searcher, ~2,800 wasm instructions per request, counted under callgrind.)
    let authority_at = match url.find(':') {
        Some(i) if url[i..].starts_with("://") => i + 3,
        _ => 0,
    };
    let path_at = url[authority_at..]
        .find('/')
        .map_or(url.len(), |i| authority_at + i);
    let query_at = url[path_at..].find('?').map(|i| path_at + i);
    (path_at, query_at)
}

#[cfg(test)]
mod tests {
    use super::{split_url, Read};

    #[test]
    fn what_the_runtime_read_is_split_into_fields() {
        let read = Read::parse(b"GET\nhttps://a.example/x?y\n:a.example\n\n:Bearer t.t.t".to_vec());
        assert_eq!(read.method(), "GET");
        assert_eq!(read.url(), "https://a.example/x?y");
        assert_eq!(read.field(&read.host), Some("a.example"));
        assert_eq!(read.field(&read.origin), None);
        assert_eq!(read.field(&read.authorization), Some("Bearer t.t.t"));
        let empty_values = Read::parse(b"POST\nhttps://b/\n:\n:\n".to_vec());
        assert_eq!(
            empty_values.field(&empty_values.host),
            Some(""),
            "present but empty"
        );
        assert_eq!(empty_values.field(&empty_values.origin), Some(""));
        assert_eq!(empty_values.field(&empty_values.authorization), None);
        let missing_lines = Read::parse(b"GET".to_vec());
        assert_eq!(missing_lines.url(), "");
        assert_eq!(missing_lines.field(&missing_lines.host), None);
    }

    fn parts(url: &str) -> (&str, &str) {
        let (p, q) = split_url(url);
        (&url[p..q.unwrap_or(url.len())], &url[p..])
    }

    #[test]
    fn path_and_query_come_from_the_serialized_url() {
        assert_eq!(
            parts("http://127.0.0.1:8787/api/hello"),
            ("/api/hello", "/api/hello")
        );
        assert_eq!(
            parts("https://api.example.com/orgs/a%2Fb/x?y=1&z=/w?"),
            ("/orgs/a%2Fb/x", "/orgs/a%2Fb/x?y=1&z=/w?")
        );
        assert_eq!(parts("https://example.com/"), ("/", "/"));
        assert_eq!(parts("https://example.com/?q"), ("/", "/?q"));
        assert_eq!(
            parts("https://user:pw@example.com:443/a/../b"),
            ("/a/../b", "/a/../b")
        );
    }
}
