//! Grid cells on the globe: H3 cells (through h3o, a Rust port of Uber's H3 that gives the
//! same cell tokens), S2 cells (through the s2 crate, a port of Google's S2 geometry) and
//! geohash cells. Points and polygons come out as GeoJSON, longitude
//! first; a cell token that is not valid gives null (an empty string for the functions that
//! return tokens), as Kusto does.

use std::collections::HashMap;

use h3o::{CellIndex, LatLng, Resolution};
use serde_json::{Value as Json, json};

use super::geo_shapes::number;
use super::geo_sphere::{self as sphere, Vec3};
use super::library::{RowDef, def};
use super::rowwise::{Out, Ret, V};

/// H3 resolution when `geo_point_to_h3cell` is given none.
const DEFAULT_H3_RESOLUTION: i64 = 6;
/// The largest ring distance `geo_h3cell_rings` takes.
const MAX_H3_RING: i64 = 142;
/// How many levels below a cell `geo_h3cell_children` goes.
const MAX_H3_CHILD_LEVELS: i64 = 5;

fn point(lon: f64, lat: f64) -> Json {
    json!({"type": "Point", "coordinates": [number(lon), number(lat)]})
}

/// A closed GeoJSON polygon through the given (lon, lat) vertices.
fn polygon(vertices: &[(f64, f64)]) -> Json {
    let mut ring: Vec<Json> = vertices.iter().map(|(lon, lat)| json!([number(*lon), number(*lat)])).collect();
    if let Some(first) = ring.first().cloned() {
        ring.push(first);
    }
    json!({"type": "Polygon", "coordinates": [ring]})
}

fn cell(v: &V) -> Option<CellIndex> {
    match v {
        V::Null => None,
        other => other.text().trim().parse().ok(),
    }
}

fn resolution(r: i64) -> Option<Resolution> {
    u8::try_from(r).ok().and_then(|r| Resolution::try_from(r).ok())
}

fn tokens(cells: impl IntoIterator<Item = CellIndex>) -> Json {
    Json::Array(cells.into_iter().map(|c| Json::String(c.to_string())).collect())
}

/// The cells at exactly distance `k`, in the order of H3's C library (which Kusto gives):
/// h3o's ring walk yields the same cycle one step earlier. Near pentagons it falls back to a
/// slower walk whose order is its own.
fn ring(c: CellIndex, k: u32) -> Vec<CellIndex> {
    let mut cells = c.grid_ring::<Vec<_>>(k);
    if k > 0 && !cells.is_empty() {
        cells.rotate_left(1);
    }
    cells
}

fn register_h3(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "geo_point_to_h3cell", 2, 3, Ret::Str, |a| {
        let res = match a.get(2) {
            Some(r) => r.long(),
            None => Some(DEFAULT_H3_RESOLUTION),
        };
        let (Some(lon), Some(lat), Some(res)) = (a[0].real(), a[1].real(), res.and_then(resolution)) else {
            return Out::Str(String::new());
        };
        if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
            return Out::Str(String::new());
        }
        match LatLng::new(lat, lon) {
            Ok(ll) => Out::Str(ll.to_cell(res).to_string()),
            Err(_) => Out::Str(String::new()),
        }
    });
    def(m, "geo_h3cell_level", 1, 1, Ret::Int, |a| cell(&a[0]).map_or(Out::Null, |c| Out::Long(u8::from(c.resolution()) as i64)));
    def(m, "geo_h3cell_to_central_point", 1, 1, Ret::Dynamic, |a| match cell(&a[0]) {
        Some(c) => {
            let ll = LatLng::from(c);
            Out::Json(point(ll.lng(), ll.lat()))
        }
        None => Out::Null,
    });
    def(m, "geo_h3cell_to_polygon", 1, 1, Ret::Dynamic, |a| match cell(&a[0]) {
        Some(c) => {
            let vertices: Vec<(f64, f64)> = c.boundary().iter().map(|ll| (ll.lng(), ll.lat())).collect();
            Out::Json(polygon(&vertices))
        }
        None => Out::Null,
    });
    def(m, "geo_h3cell_parent", 1, 2, Ret::Str, |a| {
        let Some(c) = cell(&a[0]) else { return Out::Str(String::new()) };
        let level = u8::from(c.resolution()) as i64;
        let target = match a.get(1) {
            Some(r) => r.long(),
            None => Some(level - 1),
        };
        match target.filter(|t| *t < level).and_then(resolution).and_then(|r| c.parent(r)) {
            Some(p) => Out::Str(p.to_string()),
            None => Out::Str(String::new()),
        }
    });
    def(m, "geo_h3cell_children", 1, 2, Ret::Dynamic, |a| {
        let Some(c) = cell(&a[0]) else { return Out::Null };
        let level = u8::from(c.resolution()) as i64;
        let target = match a.get(1) {
            Some(r) => r.long(),
            None => Some(level + 1),
        };
        // At most five levels down (16,807 children), as Kusto allows.
        match target.filter(|t| *t > level && *t - level <= MAX_H3_CHILD_LEVELS).and_then(resolution) {
            Some(r) => Out::Json(tokens(c.children(r))),
            None => Out::Null,
        }
    });
    def(m, "geo_h3cell_neighbors", 1, 1, Ret::Dynamic, |a| cell(&a[0]).map_or(Out::Null, |c| Out::Json(tokens(ring(c, 1)))));
    def(m, "geo_h3cell_rings", 2, 2, Ret::Dynamic, |a| match (cell(&a[0]), a[1].long()) {
        (Some(c), Some(k)) if (0..=MAX_H3_RING).contains(&k) => {
            Out::Json(Json::Array((0..=k as u32).map(|d| tokens(ring(c, d))).collect()))
        }
        _ => Out::Null,
    });
}

const GEOHASH_ALPHABET: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The cell of a geohash: (west, south, east, north).
fn geohash_bounds(hash: &str) -> Option<(f64, f64, f64, f64)> {
    if hash.is_empty() || hash.len() > 18 {
        return None;
    }
    let (mut lon, mut lat) = ((-180.0f64, 180.0f64), (-90.0f64, 90.0f64));
    let mut even = true;
    for c in hash.bytes() {
        let idx = GEOHASH_ALPHABET.iter().position(|x| *x == c.to_ascii_lowercase())?;
        for shift in (0..5).rev() {
            let range = if even { &mut lon } else { &mut lat };
            let mid = (range.0 + range.1) / 2.0;
            if (idx >> shift) & 1 == 1 {
                range.0 = mid
            } else {
                range.1 = mid
            }
            even = !even;
        }
    }
    Some((lon.0, lat.0, lon.1, lat.1))
}

fn geohash_encode(lon: f64, lat: f64, precision: usize) -> String {
    let (mut lon_r, mut lat_r) = ((-180.0f64, 180.0f64), (-90.0f64, 90.0f64));
    let mut even = true;
    let mut out = String::with_capacity(precision);
    for _ in 0..precision {
        let mut idx = 0usize;
        for _ in 0..5 {
            let (range, value) = if even { (&mut lon_r, lon) } else { (&mut lat_r, lat) };
            let mid = (range.0 + range.1) / 2.0;
            idx <<= 1;
            if value >= mid {
                idx |= 1;
                range.0 = mid;
            } else {
                range.1 = mid;
            }
            even = !even;
        }
        out.push(GEOHASH_ALPHABET[idx] as char);
    }
    out
}

/// The eight cells around a geohash, in the order Kusto gives them (south-west, north-west,
/// south-east, north, west, north-east, east, south). Longitudes wrap around the
/// antimeridian; there is no cell beyond a pole.
fn geohash_neighbors(hash: &str) -> Option<Vec<String>> {
    let (w, s, e, n) = geohash_bounds(hash)?;
    let (width, height) = (e - w, n - s);
    let (lon, lat) = ((w + e) / 2.0, (s + n) / 2.0);
    const OFFSETS: [(f64, f64); 8] = [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (0.0, 1.0), (-1.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, -1.0)];
    let mut out = Vec::new();
    for (dx, dy) in OFFSETS {
        let y = lat + dy * height;
        if !(-90.0..=90.0).contains(&y) {
            continue;
        }
        let mut x = lon + dx * width;
        if x > 180.0 {
            x -= 360.0;
        } else if x < -180.0 {
            x += 360.0;
        }
        out.push(geohash_encode(x, y, hash.len()));
    }
    Some(out)
}

fn register_geohash(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "geo_point_to_geohash", 2, 3, Ret::Str, |a| {
        // An explicit null precision gives an empty hash, as a missing one gives precision 5.
        let precision = match a.get(2) {
            Some(p) if p.is_null() => return Out::Str(String::new()),
            Some(p) => p.long().unwrap_or(0),
            None => 5,
        };
        match (a[0].real(), a[1].real()) {
            (Some(lon), Some(lat)) if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) && (1..=18).contains(&precision) => {
                Out::Str(geohash_encode(lon, lat, precision as usize))
            }
            _ => Out::Str(String::new()),
        }
    });
    def(m, "geo_geohash_to_central_point", 1, 1, Ret::Dynamic, |a| match geohash_bounds(&a[0].text()) {
        Some((w, s, e, n)) => Out::Json(point((w + e) / 2.0, (s + n) / 2.0)),
        None => Out::Null,
    });
    def(m, "geo_geohash_to_polygon", 1, 1, Ret::Dynamic, |a| match geohash_bounds(&a[0].text()) {
        Some((w, s, e, n)) => Out::Json(polygon(&[(w, s), (e, s), (e, n), (w, n)])),
        None => Out::Null,
    });
    def(m, "geo_geohash_neighbors", 1, 1, Ret::Dynamic, |a| match geohash_neighbors(&a[0].text()) {
        Some(cells) => Out::Json(Json::Array(cells.into_iter().map(Json::String).collect())),
        None => Out::Null,
    });
}

/// S2 level when `geo_point_to_s2cell` is given none.
const DEFAULT_S2_LEVEL: i64 = 11;
const MAX_S2_LEVEL: i64 = 30;

fn s2_cell(v: &V) -> Option<s2::cellid::CellID> {
    let token = v.text();
    let token = token.trim();
    if token.is_empty() || token.len() > 16 || !token.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(s2::cellid::CellID::from_token(token)).filter(|c| c.is_valid())
}

fn s2_lon_lat(p: &s2::point::Point) -> (f64, f64) {
    let ll = s2::latlng::LatLng::from(p);
    (ll.lng.deg(), ll.lat.deg())
}

fn register_s2(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "geo_point_to_s2cell", 2, 3, Ret::Str, |a| {
        let level = match a.get(2) {
            Some(r) => r.long(),
            None => Some(DEFAULT_S2_LEVEL),
        };
        let (Some(lon), Some(lat), Some(level)) = (a[0].real(), a[1].real(), level.filter(|l| (0..=MAX_S2_LEVEL).contains(l))) else {
            return Out::Str(String::new());
        };
        if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
            return Out::Str(String::new());
        }
        let leaf = s2::cellid::CellID::from(s2::latlng::LatLng::from_degrees(lat, lon));
        Out::Str(leaf.parent(level as u64).to_token())
    });
    def(m, "geo_s2cell_to_central_point", 1, 1, Ret::Dynamic, |a| match s2_cell(&a[0]) {
        Some(c) => {
            let (lon, lat) = s2_lon_lat(&s2::cell::Cell::from(c).center());
            Out::Json(point(lon, lat))
        }
        None => Out::Null,
    });
    def(m, "geo_s2cell_to_polygon", 1, 1, Ret::Dynamic, |a| match s2_cell(&a[0]) {
        Some(c) => {
            let vertices: Vec<(f64, f64)> = s2::cell::Cell::from(c).vertices().iter().map(s2_lon_lat).collect();
            Out::Json(polygon(&vertices))
        }
        None => Out::Null,
    });
    def(m, "geo_polygon_to_s2cells", 1, 3, Ret::Dynamic, |a| {
        let polygons = super::geo_shapes::shape(&a[0]).as_ref().and_then(super::geo_shapes::polygons);
        covering_out(a, polygons.map(|ps| move |cell: &s2::cell::Cell| ps.iter().any(|p| cell_meets_polygon(cell, p))))
    });
    def(m, "geo_line_to_s2cells", 1, 3, Ret::Dynamic, |a| {
        let lines = super::geo_shapes::shape(&a[0]).as_ref().and_then(super::geo_shapes::lines);
        covering_out(a, lines.map(|ls| move |cell: &s2::cell::Cell| ls.iter().any(|l| cell_meets_line(cell, l))))
    });
    def(m, "geo_s2cell_neighbors", 1, 1, Ret::Dynamic, |a| match s2_cell(&a[0]) {
        Some(c) => Out::Json(Json::Array(c.all_neighbors(c.level()).iter().map(|n| Json::String(n.to_token())).collect())),
        None => Out::Null,
    });
}

/// The most tokens a covering gives, as in Kusto; more gives null.
const MAX_COVERING_CELLS: usize = 65_536;

fn to_vec3(p: &s2::point::Point) -> Vec3 {
    Vec3 { x: p.0.x, y: p.0.y, z: p.0.z }
}

/// Whether an S2 cell and a line share a point: a vertex in the cell or an edge crossing it.
fn cell_meets_line(cell: &s2::cell::Cell, line: &[Vec3]) -> bool {
    let inside_cell = |v: &Vec3| cell.contains_point(&s2::point::Point(s2::r3::vector::Vector { x: v.x, y: v.y, z: v.z }));
    if line.iter().any(inside_cell) {
        return true;
    }
    let corners: Vec<Vec3> = cell.vertices().iter().map(to_vec3).collect();
    line.windows(2).any(|w| (0..4).any(|i| sphere::edges_intersect(w[0], w[1], corners[i], corners[(i + 1) % 4])))
}

/// Whether an S2 cell and a polygon share a point: a corner of one inside the other, or
/// crossing edges (cell edges are great-circle arcs, as polygon edges are).
fn cell_meets_polygon(cell: &s2::cell::Cell, polygon: &super::geo_shapes::Loops) -> bool {
    let corners: Vec<Vec3> = cell.vertices().iter().map(to_vec3).collect();
    if corners.iter().any(|c| super::geo_shapes::polygon_contains(polygon, *c)) {
        return true;
    }
    let inside_cell = |v: &Vec3| cell.contains_point(&s2::point::Point(s2::r3::vector::Vector { x: v.x, y: v.y, z: v.z }));
    if polygon.iter().flatten().any(inside_cell) {
        return true;
    }
    let cell_edges: Vec<(Vec3, Vec3)> = (0..4).map(|i| (corners[i], corners[(i + 1) % 4])).collect();
    super::geo_shapes::polygon_edges(polygon).any(|(a, b)| cell_edges.iter().any(|(c, d)| sphere::edges_intersect(a, b, *c, *d)))
}

/// The cells of one level that a shape meets, in cell id order; none past the limit.
fn s2_covering(meets: &dyn Fn(&s2::cell::Cell) -> bool, level: u64) -> Option<Vec<s2::cellid::CellID>> {
    let mut out = Vec::new();
    let mut stack: Vec<s2::cellid::CellID> = (0..6).rev().map(s2::cellid::CellID::from_face).collect();
    while let Some(id) = stack.pop() {
        let cell = s2::cell::Cell::from(id);
        if !meets(&cell) {
            continue;
        }
        if id.level() >= level {
            out.push(id);
            if out.len() > MAX_COVERING_CELLS {
                return None;
            }
        } else {
            stack.extend(id.children().into_iter().rev());
        }
    }
    Some(out)
}

/// `geo_*_to_s2cells(shape, level = 11, radius = 0)`: the tokens of the covering, null for a
/// shape that is not valid, a level out of range or too many cells. A buffer radius other than
/// 0 is not supported yet and gives null.
fn covering_out(a: &[V], meets: Option<impl Fn(&s2::cell::Cell) -> bool>) -> Out {
    let level = match a.get(1) {
        Some(l) => l.long(),
        None => Some(DEFAULT_S2_LEVEL),
    };
    let radius_ok = a.get(2).is_none_or(|r| r.real() == Some(0.0));
    match (meets, level.filter(|l| (0..=MAX_S2_LEVEL).contains(l))) {
        (Some(meets), Some(level)) if radius_ok => match s2_covering(&meets, level as u64) {
            Some(cells) => Out::Json(Json::Array(cells.into_iter().map(|c| Json::String(c.to_token())).collect())),
            None => Out::Null,
        },
        _ => Out::Null,
    }
}

pub fn register(m: &mut HashMap<&'static str, RowDef>) {
    register_h3(m);
    register_s2(m);
    register_geohash(m);
}
