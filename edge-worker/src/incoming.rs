//! The incoming request, read where the runtime holds it.
//!
//! Every call across the wasm boundary copies strings, and the hot path needs only the method, the URL
//! and a handful of headers, so the request stays a `web_sys::Request` and is read on demand
//! (`worker::Request` would eagerly read `cf`, and `Url` would parse a URL the runtime has already
//! parsed and serialized).

use web_sys::{Headers, Request};

pub struct Incoming {
    pub raw: Request,
    pub headers: Headers,
    method: String,
    /// Read once: routing and forwarding both need it.
    host: Option<String>,
    url: String,
    /// Where the path starts in `url` (after `scheme://authority`).
    path_at: usize,
    /// Where the query's `?` is in `url`, if there is one.
    query_at: Option<usize>,
}

impl Incoming {
    pub fn new(raw: Request) -> Incoming {
        let url = raw.url();
        let (path_at, query_at) = split_url(&url);
        let headers = raw.headers();
        Incoming {
            host: headers.get("host").ok().flatten(),
            headers,
            method: raw.method(),
            raw,
            url,
            path_at,
            query_at,
        }
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// A header's value; `None` when absent.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }

    /// The path, still percent-encoded, as the runtime serialized it.
    pub fn path(&self) -> &str {
        &self.url[self.path_at..self.query_at.unwrap_or(self.url.len())]
    }

    /// Path and query (`/a/b?c=d`): what the upstream is asked for.
    pub fn path_and_query(&self) -> &str {
        &self.url[self.path_at..]
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.url.split_once("://").map_or("https", |(s, _)| s)
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
            .field("method", &self.method)
            .field("path", &self.path())
            .finish_non_exhaustive()
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
    use super::split_url;

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
