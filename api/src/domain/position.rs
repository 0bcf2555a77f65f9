//! A point on the Earth.

use crate::domain::{Invalid, validate};

/// Latitude and longitude in degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

impl Position {
    /// A position inside the valid ranges; errors name `field.lat` / `field.lon`.
    pub fn parse(field: &str, lat: f64, lon: f64) -> Result<Position, Invalid> {
        validate::lat_lon(field, lat, lon)?;
        Ok(Position { lat, lon })
    }
}
