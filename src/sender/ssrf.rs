//! SSRF guard: which URLs and addresses the sender may connect to.
//!
//! A webhook URL is user input. Left unchecked, a sender can be pointed at `127.0.0.1:6379`, the
//! cloud metadata service at `169.254.169.254` or anything else on its private network. The guard
//! works at two levels:
//!
//! 1. **URL text** ([`AddressPolicy::check_url`]): scheme (https only by default), no credentials
//!    in the URL, no port 0, and IP-literal hosts classified right away (hyper never resolves a
//!    literal, so this is where literals are caught).
//! 2. **Connect time**: the sender's HTTP client resolves host names through a resolver that drops
//!    every forbidden address, so a name that resolves (or re-resolves, DNS rebinding) to a
//!    private address is refused for the address actually connected to, not for the text.
//!
//! Tests and local development opt out explicitly with [`AddressPolicy::allow_http`] and
//! [`AddressPolicy::allow_private_addresses`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;

/// Most addresses the guarded resolver hands to the connector for one name.
const MAX_RESOLVED: usize = 16;

/// Which destinations the sender accepts.
///
/// The default is strict: `https` only, public unicast addresses only, no credentials in URLs.
///
/// ```
/// use chathooks::sender::AddressPolicy;
/// let strict = AddressPolicy::default();
/// assert!(strict.check_url("https://hooks.example.com/in").is_ok());
/// assert!(strict.check_url("http://hooks.example.com/in").is_err());
/// assert!(strict.check_url("https://169.254.169.254/latest/meta-data").is_err());
/// assert!(strict.check_url("https://user@hooks.example.com/").is_err());
///
/// let local = AddressPolicy::default().allow_http(true).allow_private_addresses(true);
/// assert!(local.check_url("http://127.0.0.1:3000/webhooks/sam").is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AddressPolicy {
    allow_http: bool,
    allow_private: bool,
    allow_userinfo: bool,
}

impl AddressPolicy {
    /// Accept plain `http://` URLs (off by default: webhook bodies carry personal data).
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Accept loopback, private, link-local, CGNAT, multicast, unspecified and reserved
    /// addresses (off by default). For tests and local development.
    pub fn allow_private_addresses(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// Accept URLs with credentials (`https://user:pass@host/`), sent as basic auth (off by
    /// default: credentials in URLs end up in logs, and `trusted.example@evil` tricks readers).
    pub fn allow_userinfo(mut self, allow: bool) -> Self {
        self.allow_userinfo = allow;
        self
    }

    /// Whether plain `http://` is accepted.
    pub fn allows_http(&self) -> bool {
        self.allow_http
    }

    /// Whether non-public addresses are accepted.
    pub fn allows_private_addresses(&self) -> bool {
        self.allow_private
    }

    /// Whether `ip` may be connected to under this policy.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Check a URL's text: parseable, scheme, credentials, port, and IP-literal hosts. Host names
    /// are checked again, for the addresses they resolve to, when the sender connects.
    pub fn check_url(&self, url: &str) -> Result<(), Refused> {
        let parsed =
            reqwest::Url::parse(url).map_err(|_| Refused::new("not a valid absolute URL"))?;
        self.check_parsed(&parsed)
    }

    pub(crate) fn check_parsed(&self, url: &reqwest::Url) -> Result<(), Refused> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(Refused::new("plain http is not allowed (https only)")),
            _ => {
                return Err(Refused::new(
                    "only http and https URLs can receive webhooks",
                ))
            }
        }
        if !self.allow_userinfo && (!url.username().is_empty() || url.password().is_some()) {
            return Err(Refused::new("credentials in the URL are not allowed"));
        }
        if url.port() == Some(0) {
            return Err(Refused::new("port 0 is not a destination"));
        }
        // The URL parser has already normalised IP literals (`0x7f.1`, `2130706433`, `[::ffff:…]`).
        let host = url.host_str().unwrap_or("");
        if host.is_empty() {
            return Err(Refused::new("URL has no host"));
        }
        if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let ip: Ipv6Addr = v6
                .parse()
                .map_err(|_| Refused::new("URL has an invalid IPv6 host"))?;
            return self.check_ip(IpAddr::V6(ip));
        }
        match host.parse::<Ipv4Addr>() {
            Ok(ip) => self.check_ip(IpAddr::V4(ip)),
            Err(_) => {
                let name = host;
                // Resolvers answer these locally; refusing by name gives a clearer message than
                // the connect-time refusal that would follow.
                let name = name.trim_end_matches('.');
                if !self.allow_private
                    && (name.eq_ignore_ascii_case("localhost")
                        || name.to_ascii_lowercase().ends_with(".localhost"))
                {
                    return Err(Refused::new("localhost is not a public address"));
                }
                Ok(())
            }
        }
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.permits(ip) {
            Ok(())
        } else {
            Err(Refused::new(
                "address is loopback, private, link-local or otherwise not public",
            ))
        }
    }
}

/// Why a destination was refused by the SSRF guard. Never contains resolved addresses of
/// internal hosts beyond what the URL itself said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    reason: &'static str,
}

impl Refused {
    fn new(reason: &'static str) -> Self {
        Refused { reason }
    }

    /// Why the destination was refused.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "destination refused: {}", self.reason)
    }
}

impl std::error::Error for Refused {}

/// `true` for globally routable unicast addresses; `false` for loopback, private (RFC 1918, ULA),
/// link-local, CGNAT, multicast, broadcast, unspecified, documentation, benchmarking, reserved and
/// IETF special-purpose ranges. IPv4 addresses embedded in IPv6 (mapped `::ffff:0:0/96`,
/// compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged as the IPv4 address.
///
/// ```
/// use chathooks::sender::is_public;
/// assert!(is_public("93.184.216.34".parse().unwrap()));
/// assert!(!is_public("169.254.169.254".parse().unwrap()));
/// assert!(!is_public("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(!is_public("fd00::1".parse().unwrap()));
/// ```
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let forbidden = a == 0 // "this network", includes 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !forbidden
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let o = ip.octets();
    let embedded_v4 = |i: usize| Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]);
    // ::/96 (unspecified, loopback, deprecated IPv4-compatible) and ::ffff:0:0/96 (mapped).
    if s[..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff) {
        return (s[5] == 0xffff || !(s[6] == 0 && s[7] <= 1)) && is_public_v4(embedded_v4(12));
    }
    // ::ffff:0:0:0/96, IPv4-translated (SIIT).
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        return is_public_v4(embedded_v4(12));
    }
    // 64:ff9b::/96, well-known NAT64 prefix: judge the IPv4 it translates to.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return is_public_v4(embedded_v4(12));
    }
    // 2002::/16, 6to4: the IPv4 address is in bits 16..48.
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(2));
    }
    let forbidden = (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 /48
        || (s[0] == 0x100 && s[1..4] == [0; 3]) // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] < 0x200) // IETF protocol assignments 2001::/23 (Teredo, benchmarking, ORCHID)
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x3fff && s[1] < 0x1000) // documentation 3fff::/20
        || s[0] == 0x5f00 // SRv6 SIDs
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00; // multicast
    !forbidden
}

/// Error returned by the guarded resolver when a name resolves only to forbidden addresses.
#[derive(Debug)]
pub(crate) struct BlockedAddress;

impl fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("host resolves only to addresses the SSRF guard forbids")
    }
}

impl std::error::Error for BlockedAddress {}

/// reqwest resolver that filters every resolved address through the policy at connect time.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    pub(crate) policy: AddressPolicy,
    /// Fixed answers for some names (like curl's `--resolve`); filtered like any other answer.
    pub(crate) overrides: Arc<HashMap<String, Vec<SocketAddr>>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let policy = self.policy;
        let fixed = self.overrides.get(&host).cloned();
        let fut: Pin<Box<dyn Future<Output = Result<reqwest::dns::Addrs, BoxError>> + Send>> =
            Box::pin(async move {
                let resolved = match fixed {
                    Some(addrs) => addrs,
                    None => tokio::task::spawn_blocking(move || {
                        (host.as_str(), 0u16)
                            .to_socket_addrs()
                            .map(|it| it.take(MAX_RESOLVED * 4).collect::<Vec<SocketAddr>>())
                    })
                    .await
                    .map_err(|e| -> BoxError { Box::new(e) })?
                    .map_err(|e| -> BoxError { Box::new(e) })?,
                };
                let allowed: Vec<SocketAddr> = resolved
                    .into_iter()
                    .filter(|a| policy.permits(a.ip()))
                    .take(MAX_RESOLVED)
                    .collect();
                if allowed.is_empty() {
                    return Err(Box::new(BlockedAddress) as BoxError);
                }
                Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
            });
        fut
    }
}

/// `true` if `err` (or anything in its source chain) is the guard's connect-time refusal.
pub(crate) fn is_blocked(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    // Error chains are short; the bound keeps a cyclic custom source() from looping forever.
    for _ in 0..32 {
        match cur {
            Some(e) if e.is::<BlockedAddress>() => return true,
            Some(e) => cur = e.source(),
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forbidden_ranges() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
    }

    #[test]
    fn public_ranges() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(s)), "{s} must be allowed");
        }
    }

    #[test]
    fn url_text_checks() {
        let strict = AddressPolicy::default();
        for bad in [
            "ftp://example.com/",
            "http://example.com/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data/",
            "https://localhost/",
            "https://api.localhost./",
            "https://user@example.com/",
            "https://user:pass@example.com/",
            "https://example.com@127.0.0.1/",
            "https://example.com:0/",
            "not a url",
            "/relative",
        ] {
            assert!(strict.check_url(bad).is_err(), "{bad} must be refused");
        }
        assert!(strict
            .check_url("https://example.com:8443/hook?x=1")
            .is_ok());
        let open = AddressPolicy::default()
            .allow_http(true)
            .allow_private_addresses(true)
            .allow_userinfo(true);
        assert!(open.check_url("http://user@127.0.0.1:9/").is_ok());
        assert!(open.check_url("ftp://127.0.0.1/").is_err());
    }
}
