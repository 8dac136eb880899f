//! Geospatial functions over GeoJSON points, lines and polygons: measures (length, area,
//! perimeter, azimuth, angle), centroids, distances and closest points, containment and
//! intersection tests, points along lines, and `geo_from_wkt`. Edges are great-circle arcs
//! (see `geo_sphere.rs`). A shape that is not valid GeoJSON of the expected kind gives null.

use std::collections::HashMap;
use std::ops::Add;

use serde_json::{Value as Json, json};

use super::geo_sphere::{self as sphere, EARTH_RADIUS_M, Vec3};
use super::library::{RowDef, def};
use super::rowwise::{Out, Ret, V};

/// A (longitude, latitude) in degrees.
pub(super) type Pos = (f64, f64);

/// A GeoJSON geometry, its positions checked to be on the globe. Points and collections are
/// parsed for validation (`geo_from_wkt`) though no function measures them yet.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub(super) enum Shape {
    Point(Pos),
    MultiPoint(Vec<Pos>),
    Line(Vec<Pos>),
    MultiLine(Vec<Vec<Pos>>),
    Polygon(Vec<Vec<Pos>>),
    MultiPolygon(Vec<Vec<Vec<Pos>>>),
    Collection(Vec<Shape>),
}

fn valid_pos(lon: f64, lat: f64) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

fn pos(j: &Json) -> Option<Pos> {
    let items = j.as_array()?;
    let (lon, lat) = (items.first()?.as_f64()?, items.get(1)?.as_f64()?);
    valid_pos(lon, lat).then_some((lon, lat))
}

fn positions(j: &Json) -> Option<Vec<Pos>> {
    j.as_array()?.iter().map(pos).collect()
}

fn rings(j: &Json) -> Option<Vec<Vec<Pos>>> {
    j.as_array()?.iter().map(positions).collect()
}

fn parse_geojson(j: &Json) -> Option<Shape> {
    let kind = j.get("type")?.as_str()?;
    if kind == "GeometryCollection" {
        return Some(Shape::Collection(j.get("geometries")?.as_array()?.iter().map(parse_geojson).collect::<Option<_>>()?));
    }
    let c = j.get("coordinates")?;
    Some(match kind {
        "Point" => Shape::Point(pos(c)?),
        "MultiPoint" => Shape::MultiPoint(positions(c)?),
        "LineString" => Shape::Line(positions(c)?),
        "MultiLineString" => Shape::MultiLine(rings(c)?),
        "Polygon" => Shape::Polygon(rings(c)?),
        "MultiPolygon" => Shape::MultiPolygon(c.as_array()?.iter().map(rings).collect::<Option<_>>()?),
        _ => return None,
    })
}

/// The shape a function argument holds: dynamic GeoJSON, or GeoJSON text.
pub(super) fn shape(v: &V) -> Option<Shape> {
    match v.json().as_ref() {
        Json::String(text) => parse_geojson(&serde_json::from_str(text).ok()?),
        other => parse_geojson(other),
    }
}

fn vectors(points: &[Pos]) -> Vec<Vec3> {
    points.iter().map(|(lon, lat)| Vec3::from_lon_lat(*lon, *lat)).collect()
}

/// A line's vertices, when it is a valid line: two positions at least, not all the same.
pub(super) fn line_vertices(line: &[Pos]) -> Option<Vec<Vec3>> {
    (line.len() >= 2 && line.iter().any(|p| *p != line[0])).then(|| vectors(line))
}

/// The lines of a LineString or MultiLineString.
pub(super) fn lines(s: &Shape) -> Option<Vec<Vec<Vec3>>> {
    match s {
        Shape::Line(l) => Some(vec![line_vertices(l)?]),
        Shape::MultiLine(ls) if !ls.is_empty() => ls.iter().map(|l| line_vertices(l)).collect(),
        _ => None,
    }
}

/// A ring's loop of vertices: closed, with three distinct vertices at least; the closing
/// vertex and repeated vertices are dropped.
pub(super) fn ring_loop(ring: &[Pos]) -> Option<Vec<Vec3>> {
    if ring.len() < 4 || ring.first() != ring.last() {
        return None;
    }
    let mut vertices: Vec<Pos> = Vec::new();
    for p in &ring[..ring.len() - 1] {
        if vertices.last() != Some(p) {
            vertices.push(*p);
        }
    }
    let mut distinct = vertices.clone();
    distinct.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    distinct.dedup();
    let loop_ = vectors(&vertices);
    (distinct.len() >= 3 && sphere::ring_signed_area(&loop_) != 0.0).then_some(loop_)
}

/// A polygon: its shell, then its holes.
pub(super) type Loops = Vec<Vec<Vec3>>;

/// The polygons of a Polygon or MultiPolygon.
pub(super) fn polygons(s: &Shape) -> Option<Vec<Loops>> {
    let one = |rings: &Vec<Vec<Pos>>| -> Option<Loops> {
        if rings.is_empty() {
            return None;
        }
        rings.iter().map(|r| ring_loop(r)).collect()
    };
    match s {
        Shape::Polygon(rings) => Some(vec![one(rings)?]),
        Shape::MultiPolygon(ps) if !ps.is_empty() => ps.iter().map(one).collect(),
        _ => None,
    }
}

/// The area a loop encloses: the smaller side of it, whichever way it runs.
fn loop_area(ring: &[Vec3]) -> f64 {
    let a = sphere::ring_signed_area(ring).abs();
    a.min(4.0 * std::f64::consts::PI - a)
}

fn loop_contains(ring: &[Vec3], p: Vec3) -> bool {
    sphere::winding_angle(p, ring).abs() > std::f64::consts::PI
}

pub(super) fn polygon_contains(polygon: &Loops, p: Vec3) -> bool {
    loop_contains(&polygon[0], p) && !polygon[1..].iter().any(|hole| loop_contains(hole, p))
}

/// Each edge of a loop, the closing one included.
fn loop_edges(ring: &[Vec3]) -> impl Iterator<Item = (Vec3, Vec3)> + '_ {
    (0..ring.len()).map(move |i| (ring[i], ring[(i + 1) % ring.len()]))
}

fn line_edges(line: &[Vec3]) -> impl Iterator<Item = (Vec3, Vec3)> + '_ {
    line.windows(2).map(|w| (w[0], w[1]))
}

/// The point of the edges closest to p.
fn closest_on_edges(p: Vec3, edges: impl Iterator<Item = (Vec3, Vec3)>) -> Option<Vec3> {
    edges.map(|(a, b)| sphere::closest_on_edge(p, a, b)).min_by(|x, y| p.angle(*x).total_cmp(&p.angle(*y)))
}

/// The distance in meters from p to the nearest of the edges.
fn distance_to_edges(p: Vec3, edges: impl Iterator<Item = (Vec3, Vec3)>) -> Option<f64> {
    edges.map(|(a, b)| sphere::distance_to_edge(p, a, b)).min_by(f64::total_cmp).map(|angle| angle * EARTH_RADIUS_M)
}

fn point_json(v: Vec3) -> Json {
    let (lon, lat) = v.lon_lat();
    json!({"type": "Point", "coordinates": [number(lon), number(lat)]})
}

/// A coordinate as JSON: whole degrees print as integers (`[1,2]`), as Kusto prints them.
pub(super) fn number(x: f64) -> Json {
    if x.fract() == 0.0 && x.abs() <= 360.0 {
        return Json::from(x as i64);
    }
    serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
}

fn point_arg(a: &[V], lon: usize, lat: usize) -> Option<Vec3> {
    let (x, y) = (a[lon].real()?, a[lat].real()?);
    valid_pos(x, y).then(|| Vec3::from_lon_lat(x, y))
}

fn real(v: Option<f64>) -> Out {
    v.map_or(Out::Null, Out::Real)
}

fn point_out(v: Option<Vec3>) -> Out {
    v.map_or(Out::Null, |p| Out::Json(point_json(p)))
}

/// The initial bearing from a to b, clockwise from north, in [0, 2π).
fn azimuth(a: Vec3, b: Vec3) -> Option<f64> {
    let ((lon1, lat1), (lon2, lat2)) = (a.lon_lat(), b.lon_lat());
    if a == b {
        return None;
    }
    let (p1, p2, dl) = (lat1.to_radians(), lat2.to_radians(), (lon2 - lon1).to_radians());
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    Some(y.atan2(x).rem_euclid(2.0 * std::f64::consts::PI))
}

fn line_length(line: &[Vec3]) -> f64 {
    line_edges(line).map(|(a, b)| a.angle(b)).sum()
}

/// The point a fraction of the way along a line, by length.
fn point_along(line: &[Vec3], fraction: f64) -> Vec3 {
    let mut remaining = fraction.clamp(0.0, 1.0) * line_length(line);
    for (a, b) in line_edges(line) {
        let edge = a.angle(b);
        if remaining <= edge && edge > 0.0 {
            return sphere::interpolate(a, b, remaining / edge);
        }
        remaining -= edge;
    }
    line[line.len() - 1]
}

/// How far along a line (as a fraction of its length) its point closest to p lies.
fn locate(line: &[Vec3], p: Vec3) -> f64 {
    let total = line_length(line);
    let (mut best, mut best_distance, mut before) = (0.0, f64::INFINITY, 0.0);
    for (a, b) in line_edges(line) {
        let q = sphere::closest_on_edge(p, a, b);
        let d = p.angle(q);
        if d < best_distance {
            best_distance = d;
            best = before + a.angle(q);
        }
        before += a.angle(b);
    }
    if total == 0.0 { 0.0 } else { best / total }
}

fn edges_cross(x: impl Iterator<Item = (Vec3, Vec3)>, y: impl Iterator<Item = (Vec3, Vec3)>) -> bool {
    let y: Vec<(Vec3, Vec3)> = y.collect();
    x.into_iter().any(|(a, b)| y.iter().any(|(c, d)| sphere::edges_intersect(a, b, *c, *d)))
}

pub(super) fn polygon_edges(p: &Loops) -> impl Iterator<Item = (Vec3, Vec3)> + '_ {
    p.iter().flat_map(|ring| loop_edges(ring))
}

fn register_measures(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "geo_azimuth", 4, 4, Ret::Real, |a| real(point_arg(a, 0, 1).zip(point_arg(a, 2, 3)).and_then(|(p, q)| azimuth(p, q))));
    // The angle at the second point between the first and the third, in [0, π].
    def(m, "geo_angle", 6, 6, Ret::Real, |a| {
        let (Some(p1), Some(p2), Some(p3)) = (point_arg(a, 0, 1), point_arg(a, 2, 3), point_arg(a, 4, 5)) else { return Out::Null };
        match (azimuth(p2, p1), azimuth(p2, p3)) {
            (Some(x), Some(y)) => {
                let d = (x - y).abs();
                Out::Real(d.min(2.0 * std::f64::consts::PI - d))
            }
            _ => Out::Null,
        }
    });
    def(m, "geo_line_length", 1, 1, Ret::Real, |a| {
        real(shape(&a[0]).as_ref().and_then(lines).map(|ls| ls.iter().map(|l| line_length(l)).sum::<f64>() * EARTH_RADIUS_M))
    });
    def(m, "geo_polygon_area", 1, 1, Ret::Real, |a| {
        real(shape(&a[0]).as_ref().and_then(polygons).map(|ps| {
            let steradians: f64 = ps.iter().map(|p| loop_area(&p[0]) - p[1..].iter().map(|h| loop_area(h)).sum::<f64>()).sum();
            steradians * EARTH_RADIUS_M * EARTH_RADIUS_M
        }))
    });
    def(m, "geo_polygon_perimeter", 1, 1, Ret::Real, |a| {
        real(
            shape(&a[0])
                .as_ref()
                .and_then(polygons)
                .map(|ps| ps.iter().flatten().map(|r| loop_edges(r).map(|(x, y)| x.angle(y)).sum::<f64>()).sum::<f64>() * EARTH_RADIUS_M),
        )
    });
    def(m, "geo_line_centroid", 1, 1, Ret::Dynamic, |a| {
        point_out(shape(&a[0]).as_ref().and_then(lines).map(|ls| {
            ls.iter().flat_map(|l| line_edges(l)).fold(Vec3::ZERO, |acc, (x, y)| acc.add(sphere::edge_centroid(x, y))).normalize()
        }))
    });
    def(m, "geo_polygon_centroid", 1, 1, Ret::Dynamic, |a| {
        point_out(shape(&a[0]).as_ref().and_then(polygons).map(|ps| {
            // Each loop's centroid counts with the sign that makes the shell add and holes subtract.
            let oriented = |ring: &Vec<Vec3>, sign: f64| {
                let s = if sphere::ring_signed_area(ring) >= 0.0 { sign } else { -sign };
                sphere::ring_centroid(ring).scale(s)
            };
            ps.iter()
                .fold(Vec3::ZERO, |acc, p| p[1..].iter().fold(acc.add(oriented(&p[0], 1.0)), |acc, h| acc.add(oriented(h, -1.0))))
                .normalize()
        }))
    });
}

fn register_distances(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "geo_point_in_polygon", 3, 3, Ret::Bool, |a| match (point_arg(a, 0, 1), shape(&a[2]).as_ref().and_then(polygons)) {
        (Some(p), Some(ps)) => Out::Bool(ps.iter().any(|poly| polygon_contains(poly, p))),
        _ => Out::Null,
    });
    def(m, "geo_distance_point_to_line", 3, 3, Ret::Real, |a| match (point_arg(a, 0, 1), shape(&a[2]).as_ref().and_then(lines)) {
        (Some(p), Some(ls)) => real(distance_to_edges(p, ls.iter().flat_map(|l| line_edges(l)))),
        _ => Out::Null,
    });
    def(m, "geo_closest_point_on_line", 3, 3, Ret::Dynamic, |a| match (point_arg(a, 0, 1), shape(&a[2]).as_ref().and_then(lines)) {
        (Some(p), Some(ls)) => point_out(closest_on_edges(p, ls.iter().flat_map(|l| line_edges(l)))),
        _ => Out::Null,
    });
    def(m, "geo_distance_point_to_polygon", 3, 3, Ret::Real, |a| match (point_arg(a, 0, 1), shape(&a[2]).as_ref().and_then(polygons)) {
        (Some(p), Some(ps)) if ps.iter().any(|poly| polygon_contains(poly, p)) => Out::Real(0.0),
        (Some(p), Some(ps)) => real(distance_to_edges(p, ps.iter().flat_map(polygon_edges))),
        _ => Out::Null,
    });
    def(m, "geo_closest_point_on_polygon", 3, 3, Ret::Dynamic, |a| match (point_arg(a, 0, 1), shape(&a[2]).as_ref().and_then(polygons)) {
        (Some(p), Some(ps)) if ps.iter().any(|poly| polygon_contains(poly, p)) => point_out(Some(p)),
        (Some(p), Some(ps)) => point_out(closest_on_edges(p, ps.iter().flat_map(polygon_edges))),
        _ => Out::Null,
    });
    def(m, "geo_line_interpolate_point", 2, 2, Ret::Dynamic, |a| match (shape(&a[0]), a[1].real()) {
        (Some(Shape::Line(l)), Some(f)) if (0.0..=1.0).contains(&f) => point_out(line_vertices(&l).map(|l| point_along(&l, f))),
        _ => Out::Null,
    });
    def(m, "geo_line_locate_point", 3, 3, Ret::Real, |a| match (shape(&a[0]), point_arg(a, 1, 2)) {
        (Some(Shape::Line(l)), Some(p)) => real(line_vertices(&l).map(|l| locate(&l, p))),
        _ => Out::Null,
    });
}

fn register_intersections(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "geo_intersects_2lines", 2, 2, Ret::Bool, |a| {
        match (shape(&a[0]).as_ref().and_then(lines), shape(&a[1]).as_ref().and_then(lines)) {
            (Some(x), Some(y)) => Out::Bool(edges_cross(x.iter().flat_map(|l| line_edges(l)), y.iter().flat_map(|l| line_edges(l)))),
            _ => Out::Null,
        }
    });
    def(m, "geo_intersects_line_with_polygon", 2, 2, Ret::Bool, |a| {
        match (shape(&a[0]).as_ref().and_then(lines), shape(&a[1]).as_ref().and_then(polygons)) {
            (Some(ls), Some(ps)) => Out::Bool(
                ls.iter().flatten().any(|v| ps.iter().any(|p| polygon_contains(p, *v)))
                    || edges_cross(ls.iter().flat_map(|l| line_edges(l)), ps.iter().flat_map(polygon_edges)),
            ),
            _ => Out::Null,
        }
    });
    def(m, "geo_intersects_2polygons", 2, 2, Ret::Bool, |a| {
        match (shape(&a[0]).as_ref().and_then(polygons), shape(&a[1]).as_ref().and_then(polygons)) {
            (Some(x), Some(y)) => Out::Bool(
                x.iter().flat_map(|p| p[0].iter()).any(|v| y.iter().any(|p| polygon_contains(p, *v)))
                    || y.iter().flat_map(|p| p[0].iter()).any(|v| x.iter().any(|p| polygon_contains(p, *v)))
                    || edges_cross(x.iter().flat_map(polygon_edges), y.iter().flat_map(polygon_edges)),
            ),
            _ => Out::Null,
        }
    });
}

/// Well-known text → GeoJSON: POINT, LINESTRING, POLYGON, their MULTI forms and
/// GEOMETRYCOLLECTION.
mod wkt {
    use serde_json::{Value as Json, json};

    struct Parser<'a> {
        text: &'a str,
        at: usize,
    }

    impl Parser<'_> {
        fn skip_space(&mut self) {
            while self.text[self.at..].starts_with(char::is_whitespace) {
                self.at += 1;
            }
        }

        fn eat(&mut self, c: char) -> Option<()> {
            self.skip_space();
            self.text[self.at..].starts_with(c).then(|| self.at += 1)
        }

        fn word(&mut self) -> Option<String> {
            self.skip_space();
            let len = self.text[self.at..].find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(self.text.len() - self.at);
            (len > 0).then(|| {
                let w = self.text[self.at..self.at + len].to_ascii_uppercase();
                self.at += len;
                w
            })
        }

        fn number(&mut self) -> Option<f64> {
            self.skip_space();
            let len =
                self.text[self.at..].find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c))).unwrap_or(self.text.len() - self.at);
            let n = self.text[self.at..self.at + len].parse().ok()?;
            self.at += len;
            Some(n)
        }

        fn position(&mut self) -> Option<Json> {
            let (x, y) = (self.number()?, self.number()?);
            Some(json!([super::number(x), super::number(y)]))
        }

        /// `(item, item, ...)`
        fn list(&mut self, item: fn(&mut Self) -> Option<Json>) -> Option<Json> {
            self.eat('(')?;
            let mut out = vec![item(self)?];
            while self.eat(',').is_some() {
                out.push(item(self)?);
            }
            self.eat(')')?;
            Some(Json::Array(out))
        }

        fn positions(&mut self) -> Option<Json> {
            self.list(Self::position)
        }

        fn rings(&mut self) -> Option<Json> {
            self.list(Self::positions)
        }

        /// A MULTIPOINT item: `1 2` or `(1 2)`.
        fn multipoint_item(&mut self) -> Option<Json> {
            self.skip_space();
            if self.text[self.at..].starts_with('(') {
                self.eat('(')?;
                let p = self.position()?;
                self.eat(')')?;
                Some(p)
            } else {
                self.position()
            }
        }

        fn geometry(&mut self) -> Option<Json> {
            let kind = self.word()?;
            Some(match kind.as_str() {
                "POINT" => {
                    self.eat('(')?;
                    let p = self.position()?;
                    self.eat(')')?;
                    json!({"type": "Point", "coordinates": p})
                }
                "LINESTRING" => json!({"type": "LineString", "coordinates": self.positions()?}),
                "POLYGON" => json!({"type": "Polygon", "coordinates": self.rings()?}),
                "MULTIPOINT" => json!({"type": "MultiPoint", "coordinates": self.list(Self::multipoint_item)?}),
                "MULTILINESTRING" => json!({"type": "MultiLineString", "coordinates": self.rings()?}),
                "MULTIPOLYGON" => json!({"type": "MultiPolygon", "coordinates": self.list(Self::rings)?}),
                "GEOMETRYCOLLECTION" => json!({"type": "GeometryCollection", "geometries": self.list(Self::geometry)?}),
                _ => return None,
            })
        }
    }

    pub fn to_geojson(text: &str) -> Option<Json> {
        let mut p = Parser { text, at: 0 };
        let g = p.geometry()?;
        p.skip_space();
        (p.at == text.len()).then_some(g)
    }
}

pub fn register(m: &mut HashMap<&'static str, RowDef>) {
    register_measures(m);
    register_distances(m);
    register_intersections(m);
    def(m, "geo_from_wkt", 1, 1, Ret::Dynamic, |a| {
        // Positions are checked as GeoJSON's are.
        match wkt::to_geojson(&a[0].text()) {
            Some(g) if parse_geojson(&g).is_some() => Out::Json(g),
            _ => Out::Null,
        }
    });
}
