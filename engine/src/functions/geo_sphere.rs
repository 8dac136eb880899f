//! Geometry on the sphere, as Kusto computes it (it uses Google's S2 library): points are unit
//! vectors, edges are great-circle arcs, and lengths and areas scale by the Earth radius Kusto
//! uses. The formulas follow S2's (l'Huilier's triangle area, "true centroids"), so results
//! agree with Kusto's to the last digits.

use std::ops::{Add, Sub};

/// The Earth radius, in meters, behind Kusto's geospatial lengths and areas.
pub const EARTH_RADIUS_M: f64 = 6_371_010.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vec3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

impl Vec3 {
    pub const ZERO: Vec3 = Vec3 { x: 0.0, y: 0.0, z: 0.0 };

    /// The unit vector of a (longitude, latitude) in degrees.
    pub fn from_lon_lat(lon: f64, lat: f64) -> Vec3 {
        let (l, p) = (lon.to_radians(), lat.to_radians());
        Vec3 { x: p.cos() * l.cos(), y: p.cos() * l.sin(), z: p.sin() }
    }

    /// (longitude, latitude) in degrees of the direction of this vector.
    pub fn lon_lat(self) -> (f64, f64) {
        let lat = self.z.atan2((self.x * self.x + self.y * self.y).sqrt());
        let lon = self.y.atan2(self.x);
        (lon.to_degrees(), lat.to_degrees())
    }

    pub fn scale(self, k: f64) -> Vec3 {
        Vec3 { x: self.x * k, y: self.y * k, z: self.z * k }
    }

    pub fn dot(self, o: Vec3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    pub fn cross(self, o: Vec3) -> Vec3 {
        Vec3 { x: self.y * o.z - self.z * o.y, y: self.z * o.x - self.x * o.z, z: self.x * o.y - self.y * o.x }
    }

    pub fn norm(self) -> f64 {
        self.dot(self).sqrt()
    }

    pub fn normalize(self) -> Vec3 {
        let n = self.norm();
        if n == 0.0 { self } else { self.scale(1.0 / n) }
    }

    /// The angle between two vectors, in radians (stable for tiny and near-π angles).
    pub fn angle(self, o: Vec3) -> f64 {
        self.cross(o).norm().atan2(self.dot(o))
    }
}

impl Add for Vec3 {
    type Output = Vec3;
    fn add(self, o: Vec3) -> Vec3 {
        Vec3 { x: self.x + o.x, y: self.y + o.y, z: self.z + o.z }
    }
}

impl Sub for Vec3 {
    type Output = Vec3;
    fn sub(self, o: Vec3) -> Vec3 {
        Vec3 { x: self.x - o.x, y: self.y - o.y, z: self.z - o.z }
    }
}

/// The unsigned area of the spherical triangle abc (l'Huilier's formula).
fn triangle_area(a: Vec3, b: Vec3, c: Vec3) -> f64 {
    let (sa, sb, sc) = (b.angle(c), c.angle(a), a.angle(b));
    let s = 0.5 * (sa + sb + sc);
    let t = (0.5 * s).tan() * (0.5 * (s - sa)).tan() * (0.5 * (s - sb)).tan() * (0.5 * (s - sc)).tan();
    4.0 * t.max(0.0).sqrt().atan()
}

fn ccw_sign(a: Vec3, b: Vec3, c: Vec3) -> f64 {
    if a.cross(b).dot(c) >= 0.0 { 1.0 } else { -1.0 }
}

/// The signed area (steradians) of a closed ring (last vertex not repeated): positive when
/// counter-clockwise. Summed over the fan of triangles from the first vertex.
pub fn ring_signed_area(ring: &[Vec3]) -> f64 {
    (1..ring.len().saturating_sub(1)).map(|i| ccw_sign(ring[0], ring[i], ring[i + 1]) * triangle_area(ring[0], ring[i], ring[i + 1])).sum()
}

/// The "true centroid" of the triangle abc times its area, signed by its orientation (S2's
/// `TrueCentroid`, solved with Cramer's rule relative to a for stability).
fn triangle_centroid(a: Vec3, b: Vec3, c: Vec3) -> Vec3 {
    let ratio = |angle: f64| if angle == 0.0 { 1.0 } else { angle / angle.sin() };
    let (ra, rb, rc) = (ratio(b.angle(c)), ratio(c.angle(a)), ratio(a.angle(b)));
    let x = Vec3 { x: a.x, y: b.x - a.x, z: c.x - a.x };
    let y = Vec3 { x: a.y, y: b.y - a.y, z: c.y - a.y };
    let z = Vec3 { x: a.z, y: b.z - a.z, z: c.z - a.z };
    let r = Vec3 { x: ra, y: rb - ra, z: rc - ra };
    Vec3 { x: y.cross(z).dot(r), y: z.cross(x).dot(r), z: x.cross(y).dot(r) }.scale(0.5)
}

/// The area-weighted centroid vector of a closed ring (not normalised).
pub fn ring_centroid(ring: &[Vec3]) -> Vec3 {
    (1..ring.len().saturating_sub(1)).fold(Vec3::ZERO, |acc, i| acc.add(triangle_centroid(ring[0], ring[i], ring[i + 1])))
}

/// The centroid of the arc ab times its length (S2's `TrueCentroid` of an edge).
pub fn edge_centroid(a: Vec3, b: Vec3) -> Vec3 {
    let (diff, sum) = (a.sub(b), a.add(b));
    let (sin2, cos2) = (diff.dot(diff), sum.dot(sum));
    if cos2 == 0.0 { Vec3::ZERO } else { sum.scale((sin2 / cos2).sqrt()) }
}

/// The point of the arc ab closest to p.
pub fn closest_on_edge(p: Vec3, a: Vec3, b: Vec3) -> Vec3 {
    let n = a.cross(b);
    if n.norm() == 0.0 {
        return a;
    }
    // p projected on the arc's great circle, if that falls between a and b.
    let q = p.sub(n.scale(p.dot(n) / n.dot(n)));
    if q.norm() > 0.0 && a.cross(q).dot(n) >= 0.0 && q.cross(b).dot(n) >= 0.0 {
        return q.normalize();
    }
    if p.angle(a) <= p.angle(b) { a } else { b }
}

/// The angle from p to the nearest point of the arc ab, computed as S2 does: through the
/// squared chord to that point, which keeps the last digits in agreement with Kusto's.
pub fn distance_to_edge(p: Vec3, a: Vec3, b: Vec3) -> f64 {
    let chord_to_angle = |chord2: f64| 2.0 * (chord2.sqrt() / 2.0).min(1.0).asin();
    let vertex2 = p.sub(a).dot(p.sub(a)).min(p.sub(b).dot(p.sub(b)));
    let c = a.cross(b);
    let c2 = c.dot(c);
    if c2 == 0.0 {
        return chord_to_angle(vertex2);
    }
    let cp = c.cross(p);
    // Interior case: p lies in the wedge from a to b around c.
    if a.dot(cp) < 0.0 && b.dot(cp) > 0.0 {
        let p_dot_c = p.dot(c);
        let qr = 1.0 - (cp.dot(cp) / c2).sqrt();
        let interior2 = p_dot_c * p_dot_c / c2 + qr * qr;
        return chord_to_angle(interior2.min(vertex2));
    }
    chord_to_angle(vertex2)
}

/// The point a fraction t of the way along the arc ab (spherical interpolation).
pub fn interpolate(a: Vec3, b: Vec3, t: f64) -> Vec3 {
    let theta = a.angle(b);
    if theta == 0.0 {
        return a;
    }
    let (wa, wb) = (((1.0 - t) * theta).sin() / theta.sin(), (t * theta).sin() / theta.sin());
    a.scale(wa).add(b.scale(wb)).normalize()
}

/// Whether the arcs ab and cd cross or touch.
pub fn edges_intersect(a: Vec3, b: Vec3, c: Vec3, d: Vec3) -> bool {
    let (n1, n2) = (a.cross(b), c.cross(d));
    let side = |n: Vec3, p: Vec3| n.dot(p);
    let (c_side, d_side) = (side(n1, c), side(n1, d));
    let (a_side, b_side) = (side(n2, a), side(n2, b));
    if c_side * d_side > 0.0 || a_side * b_side > 0.0 {
        return false;
    }
    // Both arcs straddle the other's great circle: they meet at ±x; one of them must lie on
    // both arcs (each arc is shorter than a half circle).
    let x = n1.cross(n2);
    if x.norm() == 0.0 {
        // On one great circle: overlap when an end of one lies on the other.
        let on = |p: Vec3, u: Vec3, v: Vec3| (u.angle(p) + p.angle(v) - u.angle(v)).abs() < 1e-12;
        return on(c, a, b) || on(d, a, b) || on(a, c, d) || on(b, c, d);
    }
    let within = |p: Vec3, u: Vec3, v: Vec3| (u.angle(p) + p.angle(v) - u.angle(v)).abs() < 1e-12;
    let x = x.normalize();
    let neg = x.scale(-1.0);
    (within(x, a, b) && within(x, c, d)) || (within(neg, a, b) && within(neg, c, d))
}

/// The sum of the signed angles the ring's edges subtend at p: about ±2π when the ring goes
/// around p, about 0 when it does not.
pub fn winding_angle(p: Vec3, ring: &[Vec3]) -> f64 {
    let tangent = |v: Vec3| v.sub(p.scale(v.dot(p)));
    let mut total = 0.0;
    for i in 0..ring.len() {
        let (a, b) = (tangent(ring[i]), tangent(ring[(i + 1) % ring.len()]));
        total += a.cross(b).dot(p).atan2(a.dot(b));
    }
    total
}
