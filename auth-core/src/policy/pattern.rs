//! Path and host patterns.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Segment {
    Literal(String),
    /// `{name}`: exactly one non-empty segment, captured.
    Param(String),
    /// `*`: exactly one non-empty segment.
    One,
    /// `**`: the rest of the path, possibly empty; last segment only.
    Rest,
}

/// A compiled path pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PathPattern {
    segments: Vec<Segment>,
}

impl PathPattern {
    pub(crate) fn compile(pattern: &str) -> Result<Self, &'static str> {
        let body = pattern
            .strip_prefix('/')
            .ok_or("path must start with '/'")?;
        let parts: Vec<&str> = body.split('/').collect();
        let last = parts.len().saturating_sub(1);
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let seg =
                match *part {
                    "**" if i == last => Segment::Rest,
                    "**" => return Err("'**' may only end a path"),
                    "*" => Segment::One,
                    p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => {
                        let name = p.get(1..p.len() - 1).unwrap_or("");
                        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                            return Err("a parameter name may hold only letters, digits and '_'");
                        }
                        if segments
                            .iter()
                            .any(|s| matches!(s, Segment::Param(n) if n == name))
                        {
                            return Err("a parameter name is used twice");
                        }
                        Segment::Param(name.to_owned())
                    }
                    p if p.contains(['{', '}', '*', '%', '?', '#', '\\']) => return Err(
                        "a literal segment may not contain '{', '}', '*', '%', '?', '#' or '\\'",
                    ),
                    "." | ".." => return Err("dot segments are not allowed"),
                    p => Segment::Literal(p.to_owned()),
                };
            segments.push(seg);
        }
        Ok(PathPattern { segments })
    }

    pub(crate) fn has_param(&self, name: &str) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Param(n) if n == name))
    }

    /// (literal segments, single-segment wildcards, no `**` tail): larger is more specific.
    pub(crate) fn specificity(&self) -> (usize, usize, bool) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let singles = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Param(_) | Segment::One))
            .count();
        (literals, singles, !self.segments.contains(&Segment::Rest))
    }

    /// Matches raw path segments, returning the captured parameters.
    pub(crate) fn matches<'a>(&'a self, path: &[&str]) -> Option<Vec<(&'a str, String)>> {
        let mut params = Vec::new();
        let mut rest = path;
        for seg in &self.segments {
            match seg {
                Segment::Rest => return Some(params),
                Segment::Literal(lit) => match rest.split_first() {
                    Some((head, tail)) if head == lit => rest = tail,
                    _ => return None,
                },
                Segment::One | Segment::Param(_) => match rest.split_first() {
                    Some((head, tail)) if !head.is_empty() => {
                        if let Segment::Param(name) = seg {
                            params.push((name.as_str(), (*head).to_owned()));
                        }
                        rest = tail;
                    }
                    _ => return None,
                },
            }
        }
        rest.is_empty().then_some(params)
    }
}

/// A host pattern: an exact name or `*.suffix` (one or more labels). Compared case-insensitively,
/// without the port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum HostPattern {
    Exact(String),
    Suffix(String),
}

impl HostPattern {
    pub(crate) fn compile(pattern: &str) -> Result<Self, &'static str> {
        let lower = pattern.to_ascii_lowercase();
        let valid = |h: &str| {
            !h.is_empty()
                && h.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        match lower.strip_prefix("*.") {
            Some(suffix) if valid(suffix) => Ok(HostPattern::Suffix(format!(".{suffix}"))),
            None if valid(&lower) => Ok(HostPattern::Exact(lower)),
            _ => Err("host must be a DNS name or '*.' followed by one"),
        }
    }

    pub(crate) fn matches(&self, host: &str) -> bool {
        let host = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        let host = host.to_ascii_lowercase();
        match self {
            HostPattern::Exact(h) => host == *h,
            HostPattern::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Suffix(s) => write!(f, "*{s}"),
        }
    }
}

/// Encoded separators and dot segments read differently to different servers; such paths are
/// refused rather than guessed at.
///
/// Byte comparisons, not a lower-cased copy searched for substrings: this runs on every request,
/// and in wasm each substring search sets up a two-way searcher (with the copy, ~3,000 instructions
/// per request, counted under callgrind).
pub(crate) fn is_ambiguous(path: &str) -> bool {
    const DOT_SEGMENTS: [&str; 6] = [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."];
    let encoded_separator = path
        .as_bytes()
        .windows(3)
        .any(|w| matches!(w, [b'%', b'2', b'f' | b'F'] | [b'%', b'5', b'c' | b'C']));
    encoded_separator
        || path.contains('\\')
        || path
            .split('/')
            .any(|s| DOT_SEGMENTS.iter().any(|d| s.eq_ignore_ascii_case(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_parameters_are_captured() {
        let p = PathPattern::compile("/orgs/{org}/projects/{project}").unwrap();
        let got = p.matches(&["orgs", "acme", "projects", "7"]).unwrap();
        assert_eq!(
            got,
            vec![("org", "acme".to_owned()), ("project", "7".to_owned())]
        );
        assert!(p.matches(&["orgs", "", "projects", "7"]).is_none());
        assert!(p.matches(&["orgs", "acme", "projects"]).is_none());
    }

    #[test]
    fn a_tail_matches_the_rest_including_nothing() {
        let p = PathPattern::compile("/api/**").unwrap();
        assert!(p.matches(&["api"]).is_some());
        assert!(p.matches(&["api", "a", "b"]).is_some());
        assert!(p.matches(&["apix"]).is_none());
    }

    #[test]
    fn hosts_match_exactly_or_by_suffix_without_port_or_case() {
        let exact = HostPattern::compile("API.example.com").unwrap();
        assert!(exact.matches("api.example.com:8443"));
        assert!(!exact.matches("x.api.example.com"));
        let wild = HostPattern::compile("*.example.com").unwrap();
        assert!(wild.matches("a.b.Example.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("evil-example.com"));
        assert!(HostPattern::compile("*.").is_err());
        assert!(HostPattern::compile("a/b").is_err());
    }
}
