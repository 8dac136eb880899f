//! IPv4 functions. Each row's text is parsed in place (no allocation); ranges that are
//! constants are parsed once per batch. A string that is not IPv4 gives null, as in Kusto.

use std::net::Ipv4Addr;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::ScalarUDF;
use ipnet::Ipv4Net;

use super::{KqlUdf, StrArray, arrays, result, scalar_str};

/// Parses `a.b.c.d` or `a.b.c.d/n` into the network it names (host bits cleared).
pub fn parse_ipv4_net(text: &str) -> Option<Ipv4Net> {
    // Nearly every value in a log is a plain address: read it directly, without the general
    // parser below (a third of the beaconing rule's scan was spent parsing addresses).
    if let Some(addr) = dotted_quad(text.as_bytes()) {
        return Ipv4Net::new(addr, 32).ok();
    }
    let text = text.trim();
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok()?),
        None => (text, 32),
    };
    let addr: Ipv4Addr = addr.parse().ok()?;
    Ipv4Net::new(addr, prefix).ok().map(|n| n.trunc())
}

/// `text` as an address when it is exactly four decimal octets (0 to 255, no leading zero)
/// joined by dots; otherwise None, and the caller tries the general parser. It answers as
/// `Ipv4Addr::from_str` does, the same address or none (a test compares the two).
fn dotted_quad(text: &[u8]) -> Option<Ipv4Addr> {
    if !(7..=15).contains(&text.len()) {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut at = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if text.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let start = at;
        let mut value = 0u32;
        while at < text.len() && at - start < 3 && text[at].is_ascii_digit() {
            value = value * 10 + u32::from(text[at] - b'0');
            at += 1;
        }
        let digits = at - start;
        if digits == 0 || value > 255 || (digits > 1 && text[start] == b'0') {
            return None;
        }
        *octet = value as u8;
    }
    (at == text.len()).then(|| Ipv4Addr::from(octets))
}

/// RFC 1918 private ranges.
fn private_ranges() -> Ranges {
    Ranges::new(&[
        Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 8).expect("valid prefix"),
        Ipv4Net::new(Ipv4Addr::new(172, 16, 0, 0), 12).expect("valid prefix"),
        Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16).expect("valid prefix"),
    ])
}

/// Networks to test addresses against, each as its first address and netmask, so that a test
/// is two integer operations (`Ipv4Net::contains` recomputes both for every call).
struct Ranges(Vec<(u32, u32, u8)>);

impl Ranges {
    fn new(nets: &[Ipv4Net]) -> Ranges {
        Ranges(nets.iter().map(|n| (u32::from(n.network()), u32::from(n.netmask()), n.prefix_len())).collect())
    }

    /// Whether any range holds all of `net` (an address is a network of prefix 32), as
    /// `Ipv4Net::contains` says.
    #[inline]
    fn any_contains(&self, net: Ipv4Net) -> bool {
        let first = u32::from(net.network());
        self.0.iter().any(|&(network, mask, prefix)| net.prefix_len() >= prefix && first & mask == network)
    }

    /// For each row of `ips`: null where the row is null or not IPv4, else whether a range
    /// holds it. One loop per array layout, so that the layout is not looked up per row.
    fn test_each(&self, ips: &StrArray) -> BooleanArray {
        fn each<'a>(ranges: &Ranges, rows: impl Iterator<Item = Option<&'a str>>) -> BooleanArray {
            rows.map(|text| text.and_then(parse_ipv4_net).map(|net| ranges.any_contains(net))).collect()
        }
        match ips {
            StrArray::Utf8(a) => each(self, a.iter()),
            StrArray::Large(a) => each(self, a.iter()),
            StrArray::View(a) => each(self, a.iter()),
        }
    }
}

fn bool_type(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Boolean)
}

pub fn ipv4_is_private() -> ScalarUDF {
    KqlUdf::scalar("kql_ipv4_is_private", bool_type, |args, rows| {
        let arrays = arrays(args, rows)?;
        let ips = StrArray::try_new(&arrays[0])?;
        let out = private_ranges().test_each(&ips);
        result(args, Arc::new(out) as ArrayRef)
    })
}

pub fn ipv4_is_in_range() -> ScalarUDF {
    KqlUdf::scalar("kql_ipv4_is_in_range", bool_type, |args, rows| {
        let arrays = arrays(args, rows)?;
        let ips = StrArray::try_new(&arrays[0])?;
        let out: BooleanArray = match scalar_str(&args[1]) {
            Some(range) => {
                // A range that is not IPv4 (Sigma's converted rules list "::1/128" among them)
                // gives null, as the docs say, rather than failing the query.
                match parse_ipv4_net(&range) {
                    Some(range) => Ranges::new(&[range]).test_each(&ips),
                    None => BooleanArray::new_null(ips.len()),
                }
            }
            None => {
                let ranges = StrArray::try_new(&arrays[1])?;
                (0..ips.len())
                    .map(|i| {
                        let ip = ips.get(i).and_then(parse_ipv4_net)?;
                        let range = ranges.get(i).and_then(parse_ipv4_net)?;
                        Some(range.contains(&ip))
                    })
                    .collect()
            }
        };
        result(args, Arc::new(out) as ArrayRef)
    })
}

/// `ipv4_is_in_any_range(ip, r1, r2, ...)`; the planner spreads a dynamic array of ranges
/// into separate constant arguments.
pub fn ipv4_is_in_any_range() -> ScalarUDF {
    KqlUdf::scalar("kql_ipv4_is_in_any_range", bool_type, |args, rows| {
        let arrays = arrays(args, rows)?;
        let ips = StrArray::try_new(&arrays[0])?;
        let mut ranges = Vec::with_capacity(args.len() - 1);
        for arg in &args[1..] {
            match scalar_str(arg) {
                Some(r) => match parse_ipv4_net(&r) {
                    Some(net) => ranges.push(net),
                    None => return exec_err!("ipv4_is_in_any_range: '{r}' is not an IPv4 range"),
                },
                None => return exec_err!("ipv4_is_in_any_range: ranges must be constants"),
            }
        }
        let out = Ranges::new(&ranges).test_each(&ips);
        result(args, Arc::new(out) as ArrayRef)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_and_prefixes() {
        assert_eq!(parse_ipv4_net("10.1.2.3").map(|n| n.to_string()), Some("10.1.2.3/32".into()));
        assert_eq!(parse_ipv4_net("10.1.2.3/24").map(|n| n.to_string()), Some("10.1.2.0/24".into()));
        assert_eq!(parse_ipv4_net("fe80::1"), None);
        assert_eq!(parse_ipv4_net("10.1.2"), None);
        assert_eq!(parse_ipv4_net("10.1.2.3/33"), None);
        assert_eq!(parse_ipv4_net(" 10.1.2.3 ").map(|n| n.to_string()), Some("10.1.2.3/32".into()));
    }

    /// A range test on integers answers what `Ipv4Net::contains` answers, for addresses and
    /// networks of every prefix length, inside, outside and straddling the ranges.
    #[test]
    fn range_tests_agree_with_ipnet() {
        let ranges: Vec<Ipv4Net> = ["10.0.0.0/8", "172.16.0.0/12", "192.168.1.0/24", "1.2.3.4/32", "0.0.0.0/0", "128.0.0.0/1"]
            .iter()
            .map(|r| parse_ipv4_net(r).expect("a range"))
            .collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut probes: Vec<Ipv4Net> = Vec::new();
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Addresses near the ranges' edges as well as anywhere.
            let base = [0x0A00_0000u32, 0xAC10_0000, 0xC0A8_0100, 0x0102_0304, 0x8000_0000, state as u32][(state >> 40) as usize % 6];
            let addr = base.wrapping_add((state >> 32) as u32 % 4096).wrapping_sub(2048);
            let prefix = [32u8, 32, 24, 16, 12, 8, 1, 0, (state >> 20) as u8 % 33][(state >> 50) as usize % 9];
            probes.push(Ipv4Net::new(Ipv4Addr::from(addr), prefix).expect("prefix up to 32").trunc());
        }
        for range in &ranges {
            let ours = Ranges::new(std::slice::from_ref(range));
            for probe in &probes {
                assert_eq!(ours.any_contains(*probe), range.contains(probe), "{range} holds {probe}");
            }
        }
    }

    /// The fast path gives the standard parser's answer, the same address or none:
    /// checked over 400,000 pseudo-random strings of 7 to 15 characters drawn from a small
    /// alphabet that holds the troublesome cases (leading zeros, octets over 255, signs, spaces,
    /// missing parts), and over the edge cases listed below.
    #[test]
    fn the_fast_path_agrees_with_the_standard_parser() {
        let alphabet = b"0125.9+ /";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut accepted = 0;
        for _ in 0..400_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 7 + (state % 9) as usize;
            let text: String = (0..len).map(|k| alphabet[((state >> (k * 4 % 60)) % alphabet.len() as u64) as usize] as char).collect();
            let fast = dotted_quad(text.as_bytes());
            let standard = text.parse::<Ipv4Addr>().ok();
            // The same answer both ways: the fast path also takes every plain address.
            assert_eq!(fast, standard, "{text:?}");
            accepted += usize::from(fast.is_some());
        }
        for text in ["0.0.0.0", "255.255.255.255", "10.1.2.3", "192.168.100.200"] {
            assert_eq!(dotted_quad(text.as_bytes()), text.parse().ok(), "{text}");
        }
        for text in [
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            "1.2.3.4/8",
            " 1.2.3.4",
            "1.2.3.-4",
            "1.2.3.1000",
            "1..2.3",
            ".1.2.3.4",
            "1.2.3.00",
            "1.2.3.4.5",
        ] {
            assert_eq!(dotted_quad(text.as_bytes()), None, "{text}");
        }
        assert!(accepted > 0, "the random strings include plain addresses");
    }
}
