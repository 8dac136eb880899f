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
    let text = text.trim();
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok()?),
        None => (text, 32),
    };
    let addr: Ipv4Addr = addr.parse().ok()?;
    Ipv4Net::new(addr, prefix).ok().map(|n| n.trunc())
}

/// RFC 1918 private ranges.
fn private_ranges() -> [Ipv4Net; 3] {
    [
        Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 8).expect("valid prefix"),
        Ipv4Net::new(Ipv4Addr::new(172, 16, 0, 0), 12).expect("valid prefix"),
        Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16).expect("valid prefix"),
    ]
}

fn bool_type(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Boolean)
}

pub fn ipv4_is_private() -> ScalarUDF {
    KqlUdf::scalar("kql_ipv4_is_private", bool_type, |args, rows| {
        let arrays = arrays(args, rows)?;
        let ips = StrArray::try_new(&arrays[0])?;
        let ranges = private_ranges();
        let out: BooleanArray =
            (0..ips.len()).map(|i| ips.get(i).and_then(parse_ipv4_net).map(|ip| ranges.iter().any(|r| r.contains(&ip)))).collect();
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
                    Some(range) => (0..ips.len()).map(|i| ips.get(i).and_then(parse_ipv4_net).map(|ip| range.contains(&ip))).collect(),
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
        let out: BooleanArray =
            (0..ips.len()).map(|i| ips.get(i).and_then(parse_ipv4_net).map(|ip| ranges.iter().any(|r| r.contains(&ip)))).collect();
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
    }
}
