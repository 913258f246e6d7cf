//! CORS for routes that browsers call cross-origin: preflights are answered at the edge from the
//! route's policy, without a token, and allowed origins get the response headers they need.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// Exact origins (`https://app.example.com`), or `"*"` for any (not with credentials).
    pub origins: Vec<String>,
    /// Methods a preflight may ask for; the route's methods (or GET, HEAD, POST) when empty.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Request headers a preflight may ask for (case-insensitive).
    #[serde(default = "default_headers")]
    pub headers: Vec<String>,
    /// Response headers exposed to the page.
    #[serde(default)]
    pub expose: Vec<String>,
    #[serde(default = "default_max_age")]
    pub max_age: u32,
    #[serde(default)]
    pub credentials: bool,
}

fn default_headers() -> Vec<String> {
    vec!["authorization".into(), "content-type".into()]
}

fn default_max_age() -> u32 {
    600
}

/// Preflights may be cached by browsers at most this long (Chromium's own cap is two hours).
const MAX_MAX_AGE: u32 = 7200;

impl Cors {
    pub(crate) fn check(&mut self, route_methods: &[String]) -> Result<(), String> {
        if self.origins.is_empty() {
            return Err("cors.origins is empty".into());
        }
        for o in &self.origins {
            let ok = o == "*"
                || ((o.starts_with("https://") || o.starts_with("http://"))
                    && !o.ends_with('/')
                    && o.matches('/').count() == 2);
            if !ok {
                return Err(format!(
                    "cors origin {o:?} must be \"*\" or scheme://host[:port]"
                ));
            }
        }
        if self.credentials && self.origins.iter().any(|o| o == "*") {
            return Err("cors.credentials cannot be combined with the \"*\" origin".into());
        }
        if self.max_age > MAX_MAX_AGE {
            return Err(format!("cors.max_age exceeds {MAX_MAX_AGE}"));
        }
        if self.methods.is_empty() {
            self.methods = if route_methods.is_empty() {
                vec!["GET".into(), "HEAD".into(), "POST".into()]
            } else {
                route_methods.to_vec()
            };
        }
        for m in &mut self.methods {
            *m = m.to_ascii_uppercase();
        }
        for h in &mut self.headers {
            *h = h.to_ascii_lowercase();
        }
        Ok(())
    }

    /// Exposes `headers` too, unless already exposed.
    pub(crate) fn expose_too(&mut self, headers: &[&str]) {
        for h in headers {
            if !self.expose.iter().any(|e| e.eq_ignore_ascii_case(h)) {
                self.expose.push((*h).to_owned());
            }
        }
    }

    /// Whether `origin` may read responses of this route.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }

    /// Headers for a response to an allowed origin (actual requests).
    pub fn response_headers(&self, origin: &str) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("access-control-allow-origin", origin.to_owned()),
            ("vary", "Origin".to_owned()),
        ];
        if self.credentials {
            out.push(("access-control-allow-credentials", "true".to_owned()));
        }
        if !self.expose.is_empty() {
            out.push(("access-control-expose-headers", self.expose.join(", ")));
        }
        out
    }

    /// The preflight answer, or why it is refused.
    pub fn preflight(
        &self,
        origin: &str,
        method: &str,
        request_headers: &str,
    ) -> Result<Vec<(&'static str, String)>, &'static str> {
        if !self.allows_origin(origin) {
            return Err("origin not allowed");
        }
        if !self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
            return Err("method not allowed");
        }
        let asked = request_headers
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty());
        for h in asked {
            if !self.headers.contains(&h) {
                return Err("request header not allowed");
            }
        }
        let mut out = self.response_headers(origin);
        out.push(("access-control-allow-methods", self.methods.join(", ")));
        out.push(("access-control-allow-headers", self.headers.join(", ")));
        out.push(("access-control-max-age", self.max_age.to_string()));
        Ok(out)
    }
}
