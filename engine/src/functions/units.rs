//! `convert_angle`, `convert_energy`, `convert_force`, `convert_length`, `convert_mass`,
//! `convert_speed`, `convert_temperature`, `convert_volume`: unit conversions with the unit
//! names Kusto takes (those of the UnitsNet library). Each unit is its size in the quantity's
//! base unit; temperatures also carry an offset.

use std::collections::HashMap;

use super::library::{RowDef, def};
use super::rowwise::{Out, Ret, V};

const ANGLE: &[(&str, f64)] = &[
    ("Radian", 1.0),
    ("Degree", std::f64::consts::PI / 180.0),
    ("Arcminute", std::f64::consts::PI / 180.0 / 60.0),
    ("Arcsecond", std::f64::consts::PI / 180.0 / 3600.0),
    ("Gradian", std::f64::consts::PI / 200.0),
    ("Revolution", 2.0 * std::f64::consts::PI),
    ("Milliradian", 1e-3),
    ("Microradian", 1e-6),
    ("Nanoradian", 1e-9),
    ("Centiradian", 1e-2),
    ("Deciradian", 1e-1),
    ("Millidegree", std::f64::consts::PI / 180.0 / 1e3),
    ("Microdegree", std::f64::consts::PI / 180.0 / 1e6),
    ("Nanodegree", std::f64::consts::PI / 180.0 / 1e9),
    ("NatoMil", 2.0 * std::f64::consts::PI / 6400.0),
];

const ENERGY: &[(&str, f64)] = &[
    ("Joule", 1.0),
    ("Kilojoule", 1e3),
    ("Megajoule", 1e6),
    ("Gigajoule", 1e9),
    ("Millijoule", 1e-3),
    ("Calorie", 4.184),
    ("Kilocalorie", 4184.0),
    ("BritishThermalUnit", 1055.05585262),
    ("KilobritishThermalUnit", 1055055.85262),
    ("ElectronVolt", 1.602176634e-19),
    ("Erg", 1e-7),
    ("FootPound", 1.355817948),
    ("WattHour", 3600.0),
    ("KilowattHour", 3.6e6),
    ("MegawattHour", 3.6e9),
    ("GigawattHour", 3.6e12),
    ("ThermEc", 105505585.262),
    ("ThermUs", 105480400.0),
];

const FORCE: &[(&str, f64)] = &[
    ("Newton", 1.0),
    ("Decanewton", 10.0),
    ("Kilonewton", 1e3),
    ("Meganewton", 1e6),
    ("Millinewton", 1e-3),
    ("Micronewton", 1e-6),
    ("Dyn", 1e-5),
    ("KilogramForce", 9.80665),
    ("TonneForce", 9806.65),
    ("PoundForce", 4.448_221_615_260_5),
    ("KilopoundForce", 4_448.221_615_260_5),
    ("OunceForce", 0.27801385095378),
    ("Poundal", 0.138254954376),
];

const LENGTH: &[(&str, f64)] = &[
    ("Meter", 1.0),
    ("Kilometer", 1e3),
    ("Hectometer", 1e2),
    ("Decameter", 1e1),
    ("Decimeter", 1e-1),
    ("Centimeter", 1e-2),
    ("Millimeter", 1e-3),
    ("Micrometer", 1e-6),
    ("Nanometer", 1e-9),
    ("Inch", 0.0254),
    ("Foot", 0.3048),
    ("Yard", 0.9144),
    ("Mile", 1609.344),
    ("NauticalMile", 1852.0),
    ("Mil", 2.54e-5),
    ("Microinch", 2.54e-8),
    ("Fathom", 1.8288),
    ("Chain", 20.1168),
    ("Hand", 0.1016),
    ("AstronomicalUnit", 1.4959787070e11),
    ("LightYear", 9.46073047258e15),
    ("Parsec", 3.08567758128e16),
    ("UsSurveyFoot", 1200.0 / 3937.0),
];

const MASS: &[(&str, f64)] = &[
    ("Kilogram", 1.0),
    ("Gram", 1e-3),
    ("Milligram", 1e-6),
    ("Microgram", 1e-9),
    ("Nanogram", 1e-12),
    ("Hectogram", 0.1),
    ("Decagram", 0.01),
    ("Tonne", 1e3),
    ("Kilotonne", 1e6),
    ("Megatonne", 1e9),
    ("Pound", 0.45359237),
    ("Kilopound", 453.59237),
    ("Megapound", 453592.37),
    ("Ounce", 0.028349523125),
    ("Stone", 6.35029318),
    ("ShortTon", 907.18474),
    ("LongTon", 1016.0469088),
    ("Grain", 6.479891e-5),
    ("Slug", 14.593902937206),
];

const SPEED: &[(&str, f64)] = &[
    ("MeterPerSecond", 1.0),
    ("MeterPerMinute", 1.0 / 60.0),
    ("MeterPerHour", 1.0 / 3600.0),
    ("KilometerPerSecond", 1e3),
    ("KilometerPerMinute", 1e3 / 60.0),
    ("KilometerPerHour", 1e3 / 3600.0),
    ("CentimeterPerSecond", 1e-2),
    ("CentimeterPerMinute", 1e-2 / 60.0),
    ("CentimeterPerHour", 1e-2 / 3600.0),
    ("MillimeterPerSecond", 1e-3),
    ("MillimeterPerMinute", 1e-3 / 60.0),
    ("MillimeterPerHour", 1e-3 / 3600.0),
    ("FootPerSecond", 0.3048),
    ("FootPerMinute", 0.3048 / 60.0),
    ("FootPerHour", 0.3048 / 3600.0),
    ("InchPerSecond", 0.0254),
    ("InchPerMinute", 0.0254 / 60.0),
    ("InchPerHour", 0.0254 / 3600.0),
    ("YardPerSecond", 0.9144),
    ("MilePerHour", 1609.344 / 3600.0),
    ("Knot", 1852.0 / 3600.0),
    ("Mach", 340.29),
];

const VOLUME: &[(&str, f64)] = &[
    ("CubicMeter", 1.0),
    ("CubicKilometer", 1e9),
    ("CubicDecimeter", 1e-3),
    ("CubicCentimeter", 1e-6),
    ("CubicMillimeter", 1e-9),
    ("Liter", 1e-3),
    ("Milliliter", 1e-6),
    ("Centiliter", 1e-5),
    ("Deciliter", 1e-4),
    ("Hectoliter", 1e-1),
    ("Kiloliter", 1.0),
    ("Megaliter", 1e3),
    ("CubicFoot", 0.0283168466),
    ("CubicInch", 1.6387064e-5),
    ("CubicYard", 0.764554858),
    ("CubicMile", 4.16818182544058e9),
    ("AcreFoot", 1.0 / 0.000810714),
    ("UsGallon", 0.003785411784),
    ("ImperialGallon", 0.00454609),
    ("UsQuart", 0.000946352946),
    ("UsPint", 0.000473176473),
    ("UsOunce", 2.957_352_956_253_76e-5),
    ("ImperialOunce", 2.841_306_249_996_29e-5),
    ("UsCustomaryCup", 0.0002365882365),
    ("MetricCup", 0.00025),
    ("OilBarrel", 0.158987294928),
    ("UsTablespoon", 1.478676478125e-5),
    ("UsTeaspoon", 4.92892159375e-6),
];

/// The size of `unit` in the base unit of its quantity.
fn factor(table: &[(&str, f64)], unit: &str) -> Option<f64> {
    table.iter().find(|(name, _)| name.eq_ignore_ascii_case(unit)).map(|(_, f)| *f)
}

fn convert(table: &'static [(&'static str, f64)], a: &[V]) -> Out {
    match (a[0].real(), factor(table, &a[1].text()), factor(table, &a[2].text())) {
        (Some(v), Some(from), Some(to)) => Out::Real(v * from / to),
        _ => Out::Null,
    }
}

/// Kelvin from a temperature in `unit`, and back.
fn to_kelvin(v: f64, unit: &str) -> Option<f64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "kelvin" => v,
        "degreecelsius" => v + 273.15,
        "millidegreecelsius" => v / 1000.0 + 273.15,
        "degreefahrenheit" => (v + 459.67) * 5.0 / 9.0,
        "degreerankine" => v * 5.0 / 9.0,
        "degreedelisle" => 373.15 - v * 2.0 / 3.0,
        "degreenewton" => v * 100.0 / 33.0 + 273.15,
        "degreereaumur" => v * 5.0 / 4.0 + 273.15,
        "degreeroemer" => (v - 7.5) * 40.0 / 21.0 + 273.15,
        _ => return None,
    })
}

fn from_kelvin(k: f64, unit: &str) -> Option<f64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "kelvin" => k,
        "degreecelsius" => k - 273.15,
        "millidegreecelsius" => (k - 273.15) * 1000.0,
        "degreefahrenheit" => k * 9.0 / 5.0 - 459.67,
        "degreerankine" => k * 9.0 / 5.0,
        "degreedelisle" => (373.15 - k) * 3.0 / 2.0,
        "degreenewton" => (k - 273.15) * 33.0 / 100.0,
        "degreereaumur" => (k - 273.15) * 4.0 / 5.0,
        "degreeroemer" => (k - 273.15) * 21.0 / 40.0 + 7.5,
        _ => return None,
    })
}

pub fn register(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "convert_angle", 3, 3, Ret::Real, |a| convert(ANGLE, a));
    def(m, "convert_energy", 3, 3, Ret::Real, |a| convert(ENERGY, a));
    def(m, "convert_force", 3, 3, Ret::Real, |a| convert(FORCE, a));
    def(m, "convert_length", 3, 3, Ret::Real, |a| convert(LENGTH, a));
    def(m, "convert_mass", 3, 3, Ret::Real, |a| convert(MASS, a));
    def(m, "convert_speed", 3, 3, Ret::Real, |a| convert(SPEED, a));
    def(m, "convert_volume", 3, 3, Ret::Real, |a| convert(VOLUME, a));
    def(m, "convert_temperature", 3, 3, Ret::Real, |a| {
        let kelvin = a[0].real().and_then(|v| to_kelvin(v, &a[1].text()));
        kelvin.and_then(|k| from_kelvin(k, &a[2].text())).map_or(Out::Null, Out::Real)
    });
}
