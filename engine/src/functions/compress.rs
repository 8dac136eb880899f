//! Compression to and from base64 text (`gzip_*`, `zlib_*`), and GUIDs as base64 in .NET's
//! byte order (`base64_encode_fromguid`, `base64_decode_toguid`).

use std::collections::HashMap;
use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::read::{GzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};

use super::library::{RowDef, def};
use super::rowwise::{Out, Ret, V};

#[derive(Clone, Copy)]
enum Container {
    Gzip,
    Zlib,
}

fn compress(data: &[u8], container: Container, level: Compression) -> std::io::Result<Vec<u8>> {
    match container {
        Container::Gzip => {
            let mut e = GzEncoder::new(Vec::new(), level);
            e.write_all(data)?;
            e.finish()
        }
        Container::Zlib => {
            let mut e = ZlibEncoder::new(Vec::new(), level);
            e.write_all(data)?;
            e.finish()
        }
    }
}

/// Deflate at the default level, or stored when that does not make the data smaller (what
/// Kusto gives for short strings).
fn compress_to_base64(text: &str, container: Container) -> Out {
    let packed = compress(text.as_bytes(), container, Compression::default()).and_then(|packed| match packed.len() > text.len() {
        true => compress(text.as_bytes(), container, Compression::none()),
        false => Ok(packed),
    });
    match packed {
        Ok(mut bytes) => {
            if let Container::Gzip = container {
                // The gzip header's XFL byte: flate2 marks stored data "fastest"; Kusto leaves 0.
                bytes[8] = 0;
            }
            Out::Str(STANDARD.encode(bytes))
        }
        Err(_) => Out::Null,
    }
}

/// The text a base64 string decompresses to; empty when it is not base64, not compressed that
/// way, or not UTF-8.
fn decompress_from_base64(text: &str, container: Container) -> Out {
    let Ok(bytes) = STANDARD.decode(text.trim()) else { return Out::Str(String::new()) };
    let mut out = String::new();
    let read = match container {
        Container::Gzip => GzDecoder::new(bytes.as_slice()).read_to_string(&mut out),
        Container::Zlib => ZlibDecoder::new(bytes.as_slice()).read_to_string(&mut out),
    };
    Out::Str(if read.is_ok() { out } else { String::new() })
}

/// A GUID's 16 bytes as .NET's `Guid.ToByteArray` lays them out: the first three groups
/// little-endian, the last two as written.
fn guid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.trim().trim_matches(|c| c == '{' || c == '}').chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    Some(b)
}

fn guid_text(mut b: [u8; 16]) -> String {
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

pub fn register(m: &mut HashMap<&'static str, RowDef>) {
    fn text(v: &V) -> String {
        v.text().into_owned()
    }
    def(m, "gzip_compress_to_base64_string", 1, 1, Ret::Str, |a| compress_to_base64(&text(&a[0]), Container::Gzip));
    def(m, "gzip_decompress_from_base64_string", 1, 1, Ret::Str, |a| decompress_from_base64(&text(&a[0]), Container::Gzip));
    def(m, "zlib_compress_to_base64_string", 1, 1, Ret::Str, |a| compress_to_base64(&text(&a[0]), Container::Zlib));
    def(m, "zlib_decompress_from_base64_string", 1, 1, Ret::Str, |a| decompress_from_base64(&text(&a[0]), Container::Zlib));
    def(m, "base64_encode_fromguid", 1, 1, Ret::Str, |a| guid_bytes(&text(&a[0])).map_or(Out::Null, |b| Out::Str(STANDARD.encode(b))));
    def(m, "base64_decode_toguid", 1, 1, Ret::Str, |a| match STANDARD.decode(text(&a[0]).trim()) {
        Ok(bytes) => <[u8; 16]>::try_from(bytes.as_slice()).map_or(Out::Null, |b| Out::Str(guid_text(b))),
        Err(_) => Out::Null,
    });
}
