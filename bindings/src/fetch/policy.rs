//! The outbound address policy of `fetch()`: which IP addresses a script may
//! connect to. Checked on the addresses DNS returned (and on IP literals),
//! right before connecting, so a name that resolves to 127.0.0.1 is caught
//! the same as the literal (no DNS-rebinding bypass). Not for names: a
//! policy on host names would be bypassed by any resolver trick.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A CIDR string that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a network in CIDR notation (like 10.0.0.0/8, fd00::/8 or 127.0.0.1)")]
pub struct BadCidr(String);

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadCidr(s.to_string());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses
    /// count as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`, so IPv4 rules apply to mapped addresses.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Why an address is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918, 100.64.0.0/10 (carrier-grade NAT), fc00::/7.
    Private,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// 169.254.169.254 and fd00:ec2::254: cloud instance metadata.
    Metadata,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// Broadcast, multicast, documentation, benchmarking and reserved ranges.
    Reserved,
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressKind::Loopback => "a loopback address",
            AddressKind::Private => "a private-network address",
            AddressKind::LinkLocal => "a link-local address",
            AddressKind::Metadata => "the cloud metadata address",
            AddressKind::Unspecified => "an unspecified address",
            AddressKind::Reserved => "a reserved or multicast address",
        })
    }
}

/// What kind of non-public address `ip` is; `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<AddressKind> {
    match canonical(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some(AddressKind::Metadata)
    } else if ip.is_loopback() {
        Some(AddressKind::Loopback)
    } else if a == 0 {
        Some(AddressKind::Unspecified)
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some(AddressKind::Private)
    } else if ip.is_link_local() {
        Some(AddressKind::LinkLocal)
    } else if ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
    {
        Some(AddressKind::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    let seg = ip.segments();
    if seg == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] {
        Some(AddressKind::Metadata)
    } else if ip.is_loopback() {
        Some(AddressKind::Loopback)
    } else if ip.is_unspecified() {
        Some(AddressKind::Unspecified)
    } else if seg[0] & 0xfe00 == 0xfc00 {
        Some(AddressKind::Private)
    } else if seg[0] & 0xffc0 == 0xfe80 {
        Some(AddressKind::LinkLocal)
    } else if ip.is_multicast() || (seg[0] == 0x2001 && seg[1] == 0x0db8) || seg[0] == 0x0064 {
        // 64:ff9b::/96 (NAT64) could reach any IPv4 address, private ones
        // included; it is treated as reserved.
        Some(AddressKind::Reserved)
    } else {
        None
    }
}

/// Which addresses outbound requests may reach.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Allow every address (the origin proxy, or `[fetch] allow_private`).
    pub allow_all: bool,
    /// Non-public networks allowed anyway (`[fetch] allow`).
    pub allow: Vec<Cidr>,
}

/// A connection the policy refuses.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "fetch to {host} was blocked: it resolves to {ip}, which is {kind}, and outbound requests to loopback, \
     private, link-local and metadata addresses are denied. To allow it, add the network to `allow` \
     (for example allow = [\"{ip}/32\"]) or set allow_private = true in the [fetch] section of islet.toml."
)]
pub struct Denied {
    /// The host name of the URL.
    pub host: String,
    /// The address it resolved to.
    pub ip: IpAddr,
    /// Why that address is refused.
    pub kind: AddressKind,
}

impl Policy {
    /// A policy that allows everything.
    pub fn allow_all() -> Policy {
        Policy {
            allow_all: true,
            allow: Vec::new(),
        }
    }

    /// Checks one resolved address of `host`.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Denied> {
        if self.allow_all {
            return Ok(());
        }
        let Some(kind) = classify(ip) else {
            return Ok(());
        };
        if self.allow.iter().any(|net| net.contains(ip)) {
            return Ok(());
        }
        Err(Denied {
            host: host.to_string(),
            ip: canonical(ip),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classifies_addresses() {
        assert_eq!(classify(ip("127.0.0.1")), Some(AddressKind::Loopback));
        assert_eq!(classify(ip("127.8.9.1")), Some(AddressKind::Loopback));
        assert_eq!(classify(ip("::1")), Some(AddressKind::Loopback));
        assert_eq!(classify(ip("::ffff:127.0.0.1")), Some(AddressKind::Loopback));
        assert_eq!(classify(ip("10.1.2.3")), Some(AddressKind::Private));
        assert_eq!(classify(ip("172.16.0.1")), Some(AddressKind::Private));
        assert_eq!(classify(ip("172.31.255.1")), Some(AddressKind::Private));
        assert_eq!(classify(ip("192.168.1.1")), Some(AddressKind::Private));
        assert_eq!(classify(ip("100.64.0.1")), Some(AddressKind::Private));
        assert_eq!(classify(ip("fd12::1")), Some(AddressKind::Private));
        assert_eq!(classify(ip("fc00::1")), Some(AddressKind::Private));
        assert_eq!(classify(ip("169.254.1.1")), Some(AddressKind::LinkLocal));
        assert_eq!(classify(ip("fe80::1")), Some(AddressKind::LinkLocal));
        assert_eq!(classify(ip("169.254.169.254")), Some(AddressKind::Metadata));
        assert_eq!(classify(ip("0.0.0.0")), Some(AddressKind::Unspecified));
        assert_eq!(classify(ip("::")), Some(AddressKind::Unspecified));
        assert_eq!(classify(ip("224.0.0.1")), Some(AddressKind::Reserved));
        assert_eq!(classify(ip("255.255.255.255")), Some(AddressKind::Reserved));
        assert_eq!(classify(ip("8.8.8.8")), None);
        assert_eq!(classify(ip("172.32.0.1")), None);
        assert_eq!(classify(ip("2606:4700::1111")), None);
    }

    #[test]
    fn cidrs_parse_and_match() {
        let net: Cidr = "127.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("127.1.2.3")));
        assert!(net.contains(ip("::ffff:127.0.0.1")));
        assert!(!net.contains(ip("128.0.0.1")));
        let one: Cidr = "10.0.0.5".parse().unwrap();
        assert!(one.contains(ip("10.0.0.5")));
        assert!(!one.contains(ip("10.0.0.6")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("10.0.0.1")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("example.com/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn policy_denies_with_a_hint_and_honours_the_allow_list() {
        let deny = Policy::default();
        let err = deny.check("localhost", ip("127.0.0.1")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("loopback"), "{text}");
        assert!(text.contains("allow_private"), "{text}");
        assert!(deny.check("example.com", ip("93.184.216.34")).is_ok());
        let allow = Policy {
            allow_all: false,
            allow: vec!["127.0.0.0/8".parse().unwrap()],
        };
        assert!(allow.check("localhost", ip("127.0.0.1")).is_ok());
        assert!(allow.check("x", ip("10.0.0.1")).is_err());
        assert!(Policy::allow_all().check("x", ip("10.0.0.1")).is_ok());
    }
}
