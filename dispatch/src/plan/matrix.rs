//! Travel distances and times between locations: a trait a road router can implement,
//! and a dense matrix computed from coordinates (great-circle or Euclidean).

use super::{Instance, Location};

/// Distances and travel times between locations, indexed like [`Instance::locations`].
pub trait TravelMatrix {
    /// Distance driven from `from` to `to` (metres, or Euclidean units).
    fn distance(&self, from: usize, to: usize) -> f64;
    /// Time to drive from `from` to `to`, in seconds.
    fn travel_secs(&self, from: usize, to: usize) -> f64;
}

/// How [`DenseMatrix::for_instance`] turns coordinates into travel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Haversine distance in metres on a sphere of radius 6 371 km, driven at a constant speed.
    GreatCircle {
        /// Average speed in metres per second.
        speed_m_per_s: f64,
    },
    /// Real-valued Euclidean distance and travel time equal to distance (the Solomon convention).
    Euclidean,
}

/// Mean Earth radius used by [`Metric::GreatCircle`].
pub const EARTH_RADIUS_M: f64 = 6_371_000.0;

/// A full matrix held in memory, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseMatrix {
    /// Number of locations (rows and columns).
    pub size: usize,
    /// `distance[from * size + to]`.
    pub distance: Vec<f64>,
    /// `travel_secs[from * size + to]`.
    pub travel_secs: Vec<f64>,
}

impl DenseMatrix {
    /// The matrix for `instance.locations` under `instance.metric`.
    pub fn for_instance(instance: &Instance) -> Self {
        Self::from_locations(&instance.locations, instance.metric)
    }

    /// The matrix for `locations` under `metric`.
    pub fn from_locations(locations: &[Location], metric: Metric) -> Self {
        let size = locations.len();
        let mut distance = Vec::with_capacity(size * size);
        let mut travel_secs = Vec::with_capacity(size * size);
        for a in locations {
            for b in locations {
                let (d, t) = match metric {
                    Metric::Euclidean => {
                        let d = (a.x - b.x).hypot(a.y - b.y);
                        (d, d)
                    }
                    Metric::GreatCircle { speed_m_per_s } => {
                        let d = great_circle_m(*a, *b);
                        (d, d / speed_m_per_s)
                    }
                };
                distance.push(d);
                travel_secs.push(t);
            }
        }
        DenseMatrix { size, distance, travel_secs }
    }
}

impl TravelMatrix for DenseMatrix {
    fn distance(&self, from: usize, to: usize) -> f64 {
        self.distance[from * self.size + to]
    }

    fn travel_secs(&self, from: usize, to: usize) -> f64 {
        self.travel_secs[from * self.size + to]
    }
}

/// Haversine distance in metres between two longitude/latitude points in degrees.
pub fn great_circle_m(a: Location, b: Location) -> f64 {
    let (lat1, lat2) = (a.y.to_radians(), b.y.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.x - a.x).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}
