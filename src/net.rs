//! Which address a request comes from.
//!
//! The socket peer, unless the peer is one of `TRUSTED_PROXIES`: then `X-Forwarded-For` is read
//! **right to left**, skipping trusted proxies, and the first address that is not one of them is
//! the client. Each proxy appends the address it received the connection from, so the entries on
//! the right were written by proxies we trust and everything to the left of the first untrusted
//! entry was written by the client itself: a client cannot choose its address by prepending
//! entries, because reading stops before it reaches them.
//!
//! - Several `X-Forwarded-For` header lines are one list, in order.
//! - An entry may carry a port (`203.0.113.7:4711`, `[2001:db8::1]:4711`) or brackets; IPv4-mapped
//!   IPv6 addresses (`::ffff:203.0.113.7`, what a dual-stack socket reports) count as IPv4.
//! - An entry that is not an address (`unknown`, garbage) stops the walk: the client is the last
//!   address read before it (a trusted proxy), since nothing beyond it can be believed.
//! - When every entry is a trusted proxy, the client is the leftmost one (e.g. a health check
//!   sent by the proxy itself).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// An address range such as `10.0.0.0/8` or `fd00::/8`; a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `address` or `address/prefix`. The bits after the prefix must be zero
    /// (`10.0.0.1/8` is refused: it is ambiguous), and a `/0` range is refused: trusting every
    /// address would let any client choose its own with `X-Forwarded-For`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                format!("`{text}` is not an IP address or a range such as 10.0.0.0/8 or fd00::/8")
            })?;
        let bits = max_prefix(address);
        let prefix = match prefix {
            None => bits,
            Some(prefix) => match prefix.parse::<u8>() {
                Ok(prefix) if prefix <= bits => prefix,
                _ => {
                    return Err(format!(
                        "`{text}`: the prefix length must be a number from 1 to {bits}"
                    ));
                }
            },
        };
        // `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
        let (address, prefix) = match address {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (address, prefix),
            },
            _ => (address, prefix),
        };
        if prefix == 0 {
            return Err(format!(
                "`{text}` trusts every address, so any client could set its own address with \
                 X-Forwarded-For; list the addresses or ranges of your proxies instead"
            ));
        }
        let network = mask(address, prefix);
        if network != address {
            return Err(format!(
                "`{text}` has bits set after the /{prefix} prefix; did you mean `{network}/{prefix}`?"
            ));
        }
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        same_family(ip, self.network) && mask(ip, self.prefix) == self.network
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == max_prefix(self.network) {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

/// `TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` entries are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpRange>);

impl TrustedProxies {
    /// A comma-separated list of addresses and ranges; every bad entry is reported.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        let mut problems = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match IpRange::parse(entry) {
                Ok(range) => ranges.push(range),
                Err(problem) => problems.push(problem),
            }
        }
        if problems.is_empty() {
            Ok(Self(ranges))
        } else {
            Err(problems.join("; "))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> &[IpRange] {
        &self.0
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client address of a request whose connection came from `peer` (see the module doc).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
            let Ok(line) = line.to_str() else {
                return client;
            };
            for entry in line.rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
                match parse_forwarded_address(entry) {
                    Some(ip) => {
                        client = ip;
                        if !self.contains(ip) {
                            return ip;
                        }
                    }
                    None => return client,
                }
            }
        }
        client
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, range) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{range}")?;
        }
        Ok(())
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port or in brackets.
fn parse_forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_matches('"');
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse::<Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

/// The address limits count under: an IPv4 address as is, an IPv6 address by its /64 network,
/// which one subscriber usually holds whole (counting each /128 separately would let one client
/// rotate through 2^64 addresses to escape every limit).
pub fn limited_address(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        v6 @ IpAddr::V6(_) => mask(v6, 64),
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    matches!(
        (a, b),
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_))
    )
}

/// `ip` with every bit after the first `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    fn client(proxies: &str, peer: &str, lines: &[&str]) -> IpAddr {
        trusted(proxies).client_ip(ip(peer), &headers(lines))
    }

    #[test]
    fn ranges_parse_addresses_and_cidrs() {
        for (text, shown) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            (" 192.168.1.7 ", "192.168.1.7"),
            ("192.168.1.7/32", "192.168.1.7"),
            ("172.16.0.0/12", "172.16.0.0/12"),
            ("fd00::/8", "fd00::/8"),
            ("::1", "::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
            ("::ffff:10.1.2.3", "10.1.2.3"),
        ] {
            assert_eq!(IpRange::parse(text).unwrap().to_string(), shown, "{text}");
        }
    }

    #[test]
    fn bad_ranges_are_refused_with_the_reason() {
        for (text, why) in [
            ("10.0.0.1/8", "did you mean `10.0.0.0/8`"),
            ("10.0.0.0/33", "from 1 to 32"),
            ("fd00::/129", "from 1 to 128"),
            ("10.0.0.0/x", "prefix length"),
            ("0.0.0.0/0", "trusts every address"),
            ("::/0", "trusts every address"),
            ("localhost", "not an IP address"),
            ("10.0.0", "not an IP address"),
            ("", "not an IP address"),
        ] {
            let error = IpRange::parse(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
        let error = TrustedProxies::parse("10.0.0.0/8, nope, 10.0.0.1/8").unwrap_err();
        assert!(
            error.contains("`nope`") && error.contains("`10.0.0.1/8`"),
            "{error}"
        );
    }

    #[test]
    fn ranges_contain_their_addresses_only() {
        let range = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(range.contains(ip("10.0.0.0")));
        assert!(range.contains(ip("10.255.255.255")));
        assert!(!range.contains(ip("11.0.0.0")));
        assert!(!range.contains(ip("9.255.255.255")));
        assert!(range.contains(ip("::ffff:10.1.2.3")), "mapped IPv4 is IPv4");
        assert!(!range.contains(ip("::a01:203")), "IPv4-compatible is IPv6");

        let range = IpRange::parse("2001:db8::/32").unwrap();
        assert!(range.contains(ip("2001:db8:ffff::1")));
        assert!(!range.contains(ip("2001:db9::1")));
        assert!(!range.contains(ip("32.1.13.184")), "no cross-family match");

        let one = IpRange::parse("192.0.2.1").unwrap();
        assert!(one.contains(ip("192.0.2.1")) && !one.contains(ip("192.0.2.2")));
        let odd = IpRange::parse("192.0.2.128/25").unwrap();
        assert!(odd.contains(ip("192.0.2.200")) && !odd.contains(ip("192.0.2.127")));
        let list = trusted("10.0.0.0/8, 192.168.0.0/16 ,,fd00::/8");
        assert_eq!(list.ranges().len(), 3);
        assert!(list.contains(ip("192.168.3.4")) && list.contains(ip("fd12::1")));
        assert!(!list.contains(ip("203.0.113.1")));
        assert_eq!(list.to_string(), "10.0.0.0/8, 192.168.0.0/16, fd00::/8");
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        assert_eq!(
            client("", "203.0.113.9", &["198.51.100.1"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            client("10.0.0.0/8", "203.0.113.9", &["198.51.100.1"]),
            ip("203.0.113.9"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            client("", "::ffff:203.0.113.9", &[]),
            ip("203.0.113.9"),
            "a dual-stack socket's mapped address is the IPv4 client"
        );
    }

    #[test]
    fn a_trusted_peer_forwards_the_address_it_received() {
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Without the header, the proxy itself.
        assert_eq!(client("10.0.0.1", "10.0.0.1", &[]), ip("10.0.0.1"));
    }

    #[test]
    fn read_right_to_left_skipping_trusted_hops() {
        // client → 10.0.0.2 (CDN edge) → 10.0.0.1 (load balancer) → us
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.1", &["198.51.100.7, 10.0.0.2"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client(
                "10.0.0.0/8, fd00::/8",
                "fd00::1",
                &["198.51.100.7, fd00::2, 10.9.9.9"]
            ),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn prepended_entries_cannot_spoof_the_address() {
        // The client sent `X-Forwarded-For: 1.2.3.4, 10.0.0.5`; the proxy appended its peer.
        assert_eq!(
            client(
                "10.0.0.0/8",
                "10.0.0.1",
                &["1.2.3.4, 10.0.0.5, 198.51.100.7"]
            ),
            ip("198.51.100.7")
        );
        // The same with the client's entries on a header line of their own.
        assert_eq!(
            client(
                "10.0.0.0/8",
                "10.0.0.1",
                &["1.2.3.4", "8.8.8.8, 198.51.100.7"]
            ),
            ip("198.51.100.7")
        );
        // Garbage on the left is never reached.
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["not-an-ip, 198.51.100.7"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn several_header_lines_are_one_list_in_order() {
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.1", &["198.51.100.7", "10.0.0.3"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client(
                "10.0.0.0/8",
                "10.0.0.1",
                &["10.0.0.4", "198.51.100.8, 10.0.0.3"]
            ),
            ip("198.51.100.8")
        );
    }

    #[test]
    fn ports_brackets_and_spaces_are_tolerated() {
        for entry in [
            "198.51.100.7:4711",
            " 198.51.100.7 ",
            "\"198.51.100.7\"",
            "::ffff:198.51.100.7",
        ] {
            assert_eq!(
                client("10.0.0.1", "10.0.0.1", &[entry]),
                ip("198.51.100.7"),
                "{entry}"
            );
        }
        for entry in ["[2001:db8::7]:4711", "[2001:db8::7]", "2001:db8::7"] {
            assert_eq!(
                client("10.0.0.1", "10.0.0.1", &[entry]),
                ip("2001:db8::7"),
                "{entry}"
            );
        }
        // Empty entries are skipped.
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["198.51.100.7, , ,"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn an_unreadable_entry_stops_at_the_last_known_hop() {
        assert_eq!(
            client(
                "10.0.0.0/8",
                "10.0.0.1",
                &["198.51.100.7, unknown, 10.0.0.2"]
            ),
            ip("10.0.0.2")
        );
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.1", &["198.51.100.7, unknown"]),
            ip("10.0.0.1")
        );
        let mut opaque = HeaderMap::new();
        opaque.append(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"198.51.100.7, \xff").unwrap(),
        );
        assert_eq!(
            trusted("10.0.0.1").client_ip(ip("10.0.0.1"), &opaque),
            ip("10.0.0.1"),
            "a header that is not text is not read"
        );
    }

    #[test]
    fn when_every_hop_is_trusted_the_leftmost_is_the_client() {
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.1", &["10.0.0.3, 10.0.0.2"]),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn ipv6_counts_per_64_and_ipv4_per_address() {
        assert_eq!(
            limited_address(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            limited_address(ip("2001:db8:1:2::1")),
            limited_address(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            limited_address(ip("2001:db8:1:2::1")),
            limited_address(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limited_address(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(
            limited_address(ip("::ffff:198.51.100.7")),
            ip("198.51.100.7")
        );
    }
}
