//! Reshaping lines and polygons: `geo_line_densify` / `geo_polygon_densify` (planar edges made
//! to follow great circles within a tolerance) and `geo_line_simplify` /
//! `geo_polygon_simplify` (Douglas-Peucker with great-circle distances).

use std::collections::HashMap;
use std::ops::Add;

use serde_json::{Value as Json, json};

use super::geo_shapes::{Pos, Shape, line_vertices, number, ring_loop, shape};
use super::geo_sphere::{self as sphere, EARTH_RADIUS_M, Vec3};
use super::library::{RowDef, def};
use super::rowwise::{Out, Ret, V};

/// The tolerance, in meters, when none is given.
const DEFAULT_TOLERANCE_M: f64 = 10.0;
/// Densifying stops halving an edge after this many levels.
const MAX_DENSIFY_DEPTH: u32 = 20;

fn tolerance(a: &[V], i: usize) -> Option<f64> {
    match a.get(i) {
        None => Some(DEFAULT_TOLERANCE_M),
        Some(v) if v.is_null() => Some(DEFAULT_TOLERANCE_M),
        Some(v) => v.real().filter(|t| *t > 0.0),
    }
}

fn vec(p: Pos) -> Vec3 {
    Vec3::from_lon_lat(p.0, p.1)
}

fn coordinates(points: &[Pos]) -> Json {
    Json::Array(points.iter().map(|(lon, lat)| json!([number(*lon), number(*lat)])).collect())
}

/// The planar edge a→b cut in halves until each half's planar midpoint lies within the
/// tolerance of the great-circle midpoint. Pushes the points before b.
fn densify_edge(a: Pos, b: Pos, tolerance: f64, depth: u32, out: &mut Vec<Pos>) {
    let middle = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    let great_circle_middle = vec(a).add(vec(b)).normalize();
    if depth >= MAX_DENSIFY_DEPTH || vec(middle).angle(great_circle_middle) * EARTH_RADIUS_M <= tolerance {
        out.push(a);
        return;
    }
    densify_edge(a, middle, tolerance, depth + 1, out);
    densify_edge(middle, b, tolerance, depth + 1, out);
}

fn densify(points: &[Pos], tolerance: f64) -> Vec<Pos> {
    let mut out = Vec::new();
    for w in points.windows(2) {
        densify_edge(w[0], w[1], tolerance, 0, &mut out);
    }
    out.extend(points.last());
    out
}

/// Douglas-Peucker: the points that stay when every dropped one lies within the tolerance of
/// the simplified line.
fn simplify(points: &[Pos], tolerance: f64) -> Vec<Pos> {
    fn keep(points: &[Pos], from: usize, to: usize, tolerance: f64, kept: &mut Vec<bool>) {
        let (a, b) = (vec(points[from]), vec(points[to]));
        let farthest =
            (from + 1..to).map(|i| (i, sphere::distance_to_edge(vec(points[i]), a, b) * EARTH_RADIUS_M)).max_by(|x, y| x.1.total_cmp(&y.1));
        if let Some((i, d)) = farthest
            && d > tolerance
        {
            kept[i] = true;
            keep(points, from, i, tolerance, kept);
            keep(points, i, to, tolerance, kept);
        }
    }
    let mut kept = vec![false; points.len()];
    kept[0] = true;
    kept[points.len() - 1] = true;
    keep(points, 0, points.len() - 1, tolerance, &mut kept);
    points.iter().zip(kept).filter(|(_, k)| *k).map(|(p, _)| *p).collect()
}

/// Whether every point lies within the tolerance of the first: simplifying would leave a
/// point, not a line.
fn collapses(points: &[Pos], tolerance: f64) -> bool {
    points.iter().all(|p| vec(points[0]).angle(vec(*p)) * EARTH_RADIUS_M <= tolerance)
}

fn line_out(points: Vec<Pos>) -> Out {
    Out::Json(json!({"type": "LineString", "coordinates": coordinates(&points)}))
}

/// A polygon's rings after `f`, when each is a valid ring before and after.
fn map_rings(rings: &[Vec<Pos>], f: impl Fn(&[Pos]) -> Option<Vec<Pos>>) -> Option<Json> {
    if rings.is_empty() {
        return None;
    }
    let out: Vec<Json> = rings
        .iter()
        .map(|r| {
            ring_loop(r)?;
            let reshaped = f(r)?;
            ring_loop(&reshaped)?;
            Some(coordinates(&reshaped))
        })
        .collect::<Option<_>>()?;
    Some(json!({"type": "Polygon", "coordinates": out}))
}

pub fn register(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "geo_line_densify", 1, 3, Ret::Dynamic, |a| match (shape(&a[0]), tolerance(a, 1)) {
        (Some(Shape::Line(l)), Some(t)) if line_vertices(&l).is_some() => line_out(densify(&l, t)),
        _ => Out::Null,
    });
    def(m, "geo_polygon_densify", 1, 3, Ret::Dynamic, |a| match (shape(&a[0]), tolerance(a, 1)) {
        (Some(Shape::Polygon(rings)), Some(t)) => map_rings(&rings, |r| Some(densify(r, t))).map_or(Out::Null, Out::Json),
        _ => Out::Null,
    });
    def(m, "geo_line_simplify", 1, 2, Ret::Dynamic, |a| match (shape(&a[0]), tolerance(a, 1)) {
        (Some(Shape::Line(l)), Some(t)) if line_vertices(&l).is_some() && !collapses(&l, t) => line_out(simplify(&l, t)),
        _ => Out::Null,
    });
    def(m, "geo_polygon_simplify", 1, 2, Ret::Dynamic, |a| match (shape(&a[0]), tolerance(a, 1)) {
        (Some(Shape::Polygon(rings)), Some(t)) => map_rings(&rings, |r| Some(simplify(r, t))).map_or(Out::Null, Out::Json),
        _ => Out::Null,
    });
}
