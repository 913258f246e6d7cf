//! Which address a request comes from, for the brute-force limits.
//!
//! By default the TCP peer: behind a load balancer that is the balancer, so every client shares one
//! limit, which fails safe. Only when configured (`ORIGIN_CLIENT_IP_HEADER` with
//! `ORIGIN_TRUSTED_PROXIES`) is a header read, and only from a peer that is a trusted proxy: the
//! client is the rightmost address in it that is not itself a trusted proxy. A client can write
//! anything into the left of `X-Forwarded-For`, so nothing left of that is ever believed.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::HeaderName;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Where the client address comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientIpSource {
    /// The TCP peer.
    #[default]
    Peer,
    /// `header`, when the peer is one of `trusted_proxies`; the peer otherwise.
    Header {
        header: HeaderName,
        trusted_proxies: Vec<IpNet>,
    },
}

/// The client address a limit is keyed on. IPv6 clients are keyed by their /64, the smallest prefix
/// a single subscriber usually holds; IPv4-mapped addresses count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(IpAddr);

impl ClientIp {
    pub fn new(address: IpAddr) -> Self {
        ClientIp(match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            v4 => v4,
        })
    }

    /// The limit key: the address, or the /64 network for IPv6.
    pub fn key(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("{v6}/64"),
        }
    }
}

impl ClientIpSource {
    /// The client of a request from `peer` with `headers`.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> ClientIp {
        let ClientIpSource::Header {
            header,
            trusted_proxies,
        } = self
        else {
            return ClientIp::new(peer);
        };
        let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
        if !trusted(&peer) {
            return ClientIp::new(peer);
        }
        // Every instance of the header, in order, as one list; walk it from the right.
        let hops: Vec<&str> = headers
            .get_all(header)
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("").split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // Garbage: the hop we trusted last is the client.
                break;
            };
            client = ip;
            if !trusted(&ip) {
                break;
            }
        }
        ClientIp::new(client)
    }
}

/// `203.0.113.7`, `2001:db8::1`, `203.0.113.7:4711` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// Parses `ORIGIN_TRUSTED_PROXIES`: comma-separated addresses or CIDR networks.
pub fn parse_trusted_proxies(raw: &str) -> Option<Vec<IpNet>> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .ok()
                .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
        })
        .collect::<Option<Vec<_>>>()
        .filter(|v| !v.is_empty())
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // `serve` and the tests' apps always provide it; without it no limit could be keyed.
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "the server runs without peer addresses (into_make_service_with_connect_info)"
                ))
            })?;
        Ok(state.client_ip_source().resolve(peer.ip(), &parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn behind_proxies() -> ClientIpSource {
        ClientIpSource::Header {
            header: HeaderName::from_static("x-forwarded-for"),
            trusted_proxies: parse_trusted_proxies("10.0.0.0/8, 192.0.2.1").unwrap(),
        }
    }

    #[test]
    fn by_default_the_peer_is_the_client_whatever_the_headers_say() {
        let client = ClientIpSource::Peer.resolve(ip("198.51.100.9"), &xff(&["203.0.113.7"]));
        assert_eq!(client.key(), "198.51.100.9");
    }

    #[test]
    fn a_trusted_proxy_names_the_client_in_the_rightmost_untrusted_hop() {
        let source = behind_proxies();
        let spoofed = xff(&["6.6.6.6, 203.0.113.7, 10.1.2.3"]);
        assert_eq!(
            source.resolve(ip("192.0.2.1"), &spoofed).key(),
            "203.0.113.7"
        );
        // Split over several header lines, the order is kept.
        let split = xff(&["6.6.6.6", "203.0.113.7:4711", "10.1.2.3"]);
        assert_eq!(source.resolve(ip("10.9.9.9"), &split).key(), "203.0.113.7");
    }

    #[test]
    fn a_header_from_an_untrusted_peer_is_ignored() {
        let client = behind_proxies().resolve(ip("198.51.100.9"), &xff(&["203.0.113.7"]));
        assert_eq!(client.key(), "198.51.100.9");
    }

    #[test]
    fn garbage_or_a_missing_header_leaves_the_last_trusted_hop_as_the_client() {
        let source = behind_proxies();
        assert_eq!(
            source.resolve(ip("192.0.2.1"), &HeaderMap::new()).key(),
            "192.0.2.1"
        );
        assert_eq!(
            source
                .resolve(ip("192.0.2.1"), &xff(&["203.0.113.7, not-an-ip, 10.0.0.5"]))
                .key(),
            "10.0.0.5"
        );
    }

    #[test]
    fn ipv6_clients_share_their_64_and_mapped_ipv4_counts_as_ipv4() {
        assert_eq!(
            ClientIp::new(ip("2001:db8:1:2:aaaa::1")).key(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            ClientIp::new(ip("2001:db8:1:2:bbbb::2")),
            ClientIp::new(ip("2001:db8:1:2:aaaa::1"))
        );
        assert_eq!(ClientIp::new(ip("::ffff:203.0.113.7")).key(), "203.0.113.7");
    }

    #[test]
    fn trusted_proxies_must_all_parse() {
        assert!(parse_trusted_proxies("10.0.0.0/8,::1").is_some());
        assert!(parse_trusted_proxies("10.0.0.0/8,nope").is_none());
        assert!(parse_trusted_proxies(" , ").is_none());
    }
}
