//! Strict parsing of GeoJSON Polygon/MultiPolygon geometries (RFC 7946)
//! into `geo` types, naming the offending field on error.

use geo::{BoundingRect, Coord, LineString, MultiPolygon, Polygon};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app_error::ApiError;

/// Most vertices accepted in one geometry.
pub const MAX_VERTICES: usize = 100_000;

/// A GeoJSON geometry as received: `{"type": "Polygon"|"MultiPolygon", "coordinates": …}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Geometry {
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub coordinates: Value,
}

/// Parses and validates a geometry into a MultiPolygon (a Polygon becomes one part).
pub fn to_multi_polygon(field: &str, g: &Geometry) -> Result<MultiPolygon<f64>, ApiError> {
    let coords = format!("{field}.coordinates");
    let polygons = match g.kind.as_str() {
        "Polygon" => vec![polygon(&coords, &g.coordinates)?],
        "MultiPolygon" => {
            let parts =
                g.coordinates.as_array().ok_or_else(|| ApiError::invalid(&coords, "must be an array of polygons"))?;
            if parts.is_empty() {
                return Err(ApiError::invalid(&coords, "must have at least one polygon"));
            }
            parts.iter().enumerate().map(|(i, p)| polygon(&format!("{coords}[{i}]"), p)).collect::<Result<_, _>>()?
        }
        other => {
            return Err(ApiError::invalid(
                format!("{field}.type"),
                format!("must be Polygon or MultiPolygon, not `{other}`"),
            ));
        }
    };
    let vertices: usize = polygons
        .iter()
        .map(|p: &Polygon<f64>| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
        .sum();
    if vertices > MAX_VERTICES {
        return Err(ApiError::invalid(coords, format!("must have at most {MAX_VERTICES} vertices")));
    }
    Ok(MultiPolygon(polygons))
}

fn polygon(field: &str, v: &Value) -> Result<Polygon<f64>, ApiError> {
    let rings = v.as_array().ok_or_else(|| ApiError::invalid(field, "must be an array of linear rings"))?;
    if rings.is_empty() {
        return Err(ApiError::invalid(field, "must have an exterior ring"));
    }
    let mut parsed = rings.iter().enumerate().map(|(i, r)| ring(&format!("{field}[{i}]"), r));
    let exterior = parsed.next().unwrap_or_else(|| Ok(LineString(vec![])))?;
    let interiors = parsed.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

fn ring(field: &str, v: &Value) -> Result<LineString<f64>, ApiError> {
    let points = v.as_array().ok_or_else(|| ApiError::invalid(field, "must be an array of positions"))?;
    if points.len() < 4 {
        return Err(ApiError::invalid(field, "a linear ring needs at least 4 positions"));
    }
    let mut coords = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        let pos = p.as_array().filter(|a| a.len() == 2 || a.len() == 3);
        let (lon, lat) = match pos.map(|a| (a[0].as_f64(), a[1].as_f64())) {
            Some((Some(lon), Some(lat))) => (lon, lat),
            _ => return Err(ApiError::invalid(format!("{field}[{i}]"), "must be a position [lon, lat]")),
        };
        if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
            return Err(ApiError::invalid(
                format!("{field}[{i}]"),
                "longitude must be within ±180 and latitude within ±90",
            ));
        }
        coords.push(Coord { x: lon, y: lat });
    }
    if coords.first() != coords.last() {
        return Err(ApiError::invalid(field, "a linear ring must end where it starts"));
    }
    Ok(LineString(coords))
}

/// (min_lon, min_lat, max_lon, max_lat) of a geometry.
pub fn bbox(g: &MultiPolygon<f64>) -> (f64, f64, f64, f64) {
    g.bounding_rect().map_or((0.0, 0.0, 0.0, 0.0), |r| (r.min().x, r.min().y, r.max().x, r.max().y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn square(x0: f64, y0: f64, size: f64) -> Geometry {
        Geometry {
            kind: "Polygon".into(),
            coordinates: json!([[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]]),
        }
    }

    #[test]
    fn a_square_parses_into_one_polygon_with_its_bounding_box() -> anyhow::Result<()> {
        let g = to_multi_polygon("g", &square(30.0, 50.0, 2.0))?;
        assert_eq!(g.0.len(), 1);
        assert_eq!(bbox(&g), (30.0, 50.0, 32.0, 52.0));
        Ok(())
    }

    #[test]
    fn an_open_ring_is_refused_with_its_field() {
        let g = Geometry { kind: "Polygon".into(), coordinates: json!([[[0, 0], [1, 0], [1, 1], [0, 1]]]) };
        let err = to_multi_polygon("territories[0].geometry", &g).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("a linear ring must end where it starts"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A closed ring of 3–30 distinct-ish vertices inside the valid range (the first repeated last).
        fn ring_coords() -> impl Strategy<Value = Vec<[f64; 2]>> {
            prop::collection::vec((-180.0f64..=180.0, -90.0f64..=90.0).prop_map(|(x, y)| [x, y]), 3..30).prop_map(
                |mut pts| {
                    pts.push(pts[0]);
                    pts
                },
            )
        }

        fn polygon_coords() -> impl Strategy<Value = Vec<Vec<[f64; 2]>>> {
            prop::collection::vec(ring_coords(), 1..4)
        }

        /// Any JSON value a client could send as `coordinates`, nested like GeoJSON but anything at the leaves.
        fn any_coordinates() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(|f| json!(f)),
                prop_oneof![Just(1e308), Just(-1e308), Just(180.000001), Just(-90.5)].prop_map(|f| json!(f)),
                any::<i64>().prop_map(|n| json!(n)),
                ".{0,8}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 64, 8, |inner| prop::collection::vec(inner, 0..8).prop_map(Value::Array))
        }

        fn read_back(p: &Polygon<f64>) -> Vec<Vec<[f64; 2]>> {
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .map(|r| r.0.iter().map(|c| [c.x, c.y]).collect())
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn any_coordinates_parse_or_are_refused_naming_a_field_under_the_geometry(
                kind in prop_oneof![Just("Polygon".to_owned()), Just("MultiPolygon".to_owned()), ".{0,12}"],
                coordinates in any_coordinates(),
            ) {
                let g = Geometry { kind, coordinates };
                if let Err(e) = to_multi_polygon("g", &g) {
                    match e {
                        ApiError::Invalid { code, field, .. } => {
                            prop_assert_eq!(code, "invalid_value");
                            prop_assert!(field.as_deref().is_some_and(|f| f.starts_with("g.")), "{:?}", field);
                        }
                        other => prop_assert!(false, "not a 422: {other:?}"),
                    }
                }
            }

            #[test]
            fn a_valid_polygon_and_multipolygon_read_back_exactly(parts in prop::collection::vec(polygon_coords(), 1..4)) {
                let multi = Geometry { kind: "MultiPolygon".into(), coordinates: json!(parts) };
                let parsed = to_multi_polygon("g", &multi);
                prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
                let read: Vec<_> = parsed.map(|m| m.0.iter().map(read_back).collect()).unwrap_or_default();
                prop_assert_eq!(&read, &parts);
                let single = Geometry { kind: "Polygon".into(), coordinates: json!(parts[0]) };
                let read: Vec<_> = to_multi_polygon("g", &single).map(|m| m.0.iter().map(read_back).collect()).unwrap_or_default();
                prop_assert_eq!(read, vec![parts[0].clone()]);
            }

            #[test]
            fn an_open_short_or_out_of_range_ring_is_refused(mut ring in ring_coords(), which in 0usize..3, at in any::<prop::sample::Index>()) {
                let n = ring.len();
                match which {
                    0 => ring[n - 1] = [ring[0][0] + 0.5, ring[0][1]],
                    1 => ring.truncate(3),
                    _ => ring[at.index(n - 1)] = [1e300, -1e300],
                }
                let g = Geometry { kind: "Polygon".into(), coordinates: json!([ring]) };
                prop_assert!(to_multi_polygon("g", &g).is_err(), "{:?} was accepted", g.coordinates);
            }
        }
    }
}
