//! The incoming request, read where the runtime holds it.
//!
//! Every call across the wasm boundary copies strings, and the hot path needs only the method, the URL
//! and three headers, so the request stays a `web_sys::Request` and those are read in one call
//! (`js/incoming.js`). `worker::Request` would eagerly read `cf`, and `Url` would parse a URL the
//! runtime has already parsed and serialized.

use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::Request;

#[wasm_bindgen(module = "/js/incoming.js")]
extern "C" {
    #[wasm_bindgen(js_name = readRequest)]
    fn read_request(request: &Request) -> String;
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
        let read = Read::parse(&read_request(&raw));
        let (path_at, query_at) = split_url(&read.url);
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
        &self.read.method
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&str> {
        self.read.host.as_deref()
    }

    /// The `Origin` header.
    pub fn origin(&self) -> Option<&str> {
        self.read.origin.as_deref()
    }

    /// The `Authorization` header.
    pub fn authorization(&self) -> Option<&str> {
        self.read.authorization.as_deref()
    }

    /// Any other header's value; `None` when absent. Off the hot path: each call crosses into the
    /// runtime.
    pub fn header(&self, name: &str) -> Option<String> {
        self.raw.headers().get(name).ok().flatten()
    }

    /// The path, still percent-encoded, as the runtime serialized it.
    pub fn path(&self) -> &str {
        &self.read.url[self.path_at..self.query_at.unwrap_or(self.read.url.len())]
    }

    /// Path and query (`/a/b?c=d`): what the upstream is asked for.
    pub fn path_and_query(&self) -> &str {
        &self.read.url[self.path_at..]
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        let url = &self.read.url;
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
            .field("method", &self.read.method)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

/// What `readRequest` answers: see `js/incoming.js` for the format. Debug only in tests: it holds
/// the bearer token.
#[derive(PartialEq)]
#[cfg_attr(test, derive(Debug))]
struct Read {
    method: String,
    url: String,
    host: Option<String>,
    origin: Option<String>,
    authorization: Option<String>,
}

impl Read {
    fn parse(text: &str) -> Read {
        let mut lines = text.split('\n');
        let mut next = || lines.next().unwrap_or_default();
        let header = |line: &str| line.strip_prefix(':').map(str::to_owned);
        Read {
            method: next().to_owned(),
            url: next().to_owned(),
            host: header(next()),
            origin: header(next()),
            authorization: header(next()),
        }
    }
}

/// Where the path and the query start in a WHATWG-serialized absolute URL. Serialization puts the
/// path right after the authority and never leaves it empty for http(s), and a `?` or `#` inside the
/// path is always percent-encoded, so the first `/` after `://` starts the path and the first `?`
/// after it starts the query. Requests carry no fragment.
fn split_url(url: &str) -> (usize, Option<usize>) {
    let authority_at = url.find("://").map_or(0, |i| i + 3);
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
        let read = Read::parse("GET\nhttps://a.example/x?y\n:a.example\n\n:Bearer t.t.t");
        assert_eq!(
            read,
            Read {
                method: "GET".into(),
                url: "https://a.example/x?y".into(),
                host: Some("a.example".into()),
                origin: None,
                authorization: Some("Bearer t.t.t".into()),
            }
        );
        let empty_values = Read::parse("POST\nhttps://b/\n:\n:\n");
        assert_eq!(empty_values.host.as_deref(), Some(""), "present but empty");
        assert_eq!(empty_values.origin.as_deref(), Some(""));
        assert_eq!(empty_values.authorization, None);
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
