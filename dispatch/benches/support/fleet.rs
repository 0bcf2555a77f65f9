//! Synthetic technicians spread like the demo data, shared by the benches and the `gen_technicians` example.
//!
//! Positions: Russian cities from `api/data/ru_cities.csv` (GeoNames, CC-BY 4.0), sampled by population, with
//! a uniform jitter in a disc of 3 km plus 5 km per √(million inhabitants) (Moscow: ~19 km). Organisations:
//! a vendor, 10 partners, 5 sub-partners each, 2 sub-sub-partners under each sub-partner (depth 3); a
//! technician's partner follows its city's region, so organisations are spatially coherent. Skills are
//! independent draws: `pos` 60 %, `fiscal` 40 %, `printer` 30 %, `ten_pct` 10 %, `one_pct` 1 %.
//! `available` (the dynamic part of eligibility: on shift, under capacity…) holds for 90 %.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use dispatch::decision::technician_partitions;
use dispatch::model::{LatLon, OrgId, SkillCode, TechnicianId};
use dispatch::orgs::{Org, OrgTree};
use dispatch::spatial::IndexedTechnician;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CITIES_CSV: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../api/data/ru_cities.csv"));

/// Skill names with the share of technicians holding each.
pub const SKILLS: [(&str, f64); 5] =
    [("pos", 0.60), ("fiscal", 0.40), ("printer", 0.30), ("ten_pct", 0.10), ("one_pct", 0.01)];
/// Bit of `ten_pct` in [`FleetTech::skill_bits`].
pub const TEN_PCT: u8 = 1 << 3;
/// Bit of `one_pct` in [`FleetTech::skill_bits`].
pub const ONE_PCT: u8 = 1 << 4;

/// One synthetic technician; its id is its index in [`Fleet::techs`].
#[derive(Debug, Clone)]
pub struct FleetTech {
    pub id: TechnicianId,
    pub position: LatLon,
    pub org: OrgId,
    pub skill_bits: u8,
    pub available: bool,
}

/// A synthetic network.
pub struct Fleet {
    pub orgs: OrgTree,
    pub techs: Vec<FleetTech>,
    pub sampler: CitySampler,
}

/// Population-weighted city sampler with jitter.
pub struct CitySampler {
    cities: Vec<(f64, f64, f64, u32)>,
    cumulative: Vec<f64>,
}

impl CitySampler {
    pub fn new() -> CitySampler {
        let mut cities = Vec::new();
        for line in CITIES_CSV.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let (lat, lon, pop): (f64, f64, f64) =
                (f[3].parse().unwrap(), f[4].parse().unwrap(), f[5].parse().unwrap());
            let region: u32 = f[6].chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0);
            cities.push((lat, lon, pop, region));
        }
        let mut total = 0.0;
        let cumulative = cities.iter().map(|c| {
            total += c.2;
            total
        });
        let cumulative = cumulative.collect();
        CitySampler { cities, cumulative }
    }

    /// A random position and the region code of its city.
    pub fn sample(&self, rng: &mut StdRng) -> (LatLon, u32) {
        let total = *self.cumulative.last().unwrap();
        let i = self.cumulative.partition_point(|&c| c < rng.random_range(0.0..total)).min(self.cities.len() - 1);
        let (lat, lon, pop, region) = self.cities[i];
        let radius_km = 3.0 + 5.0 * (pop / 1e6).sqrt();
        (jitter(LatLon::new(lat, lon), radius_km * rng.random::<f64>().sqrt(), rng), region)
    }
}

/// Moves a position `km` in a random direction (flat-earth approximation; fine for a few km).
pub fn jitter(p: LatLon, km: f64, rng: &mut StdRng) -> LatLon {
    let bearing = rng.random_range(0.0..std::f64::consts::TAU);
    let lat = (p.lat + km * bearing.cos() / 111.195).clamp(-90.0, 90.0);
    let mut lon = p.lon + km * bearing.sin() / (111.195 * p.lat.to_radians().cos().max(1e-6));
    if lon > 180.0 {
        lon -= 360.0;
    } else if lon < -180.0 {
        lon += 360.0;
    }
    LatLon::new(lat, lon)
}

/// Organisation ids: vendor 0; partner p = 1 + p; sub-partner s of p = 100 + 10p + s; its child c = 1000 + 20p + 2s + c.
pub fn org_tree() -> OrgTree {
    let mut rows = vec![Org { id: OrgId(0), parent_id: None, manual_routing: false }];
    for p in 0..10u128 {
        rows.push(Org { id: OrgId(1 + p), parent_id: Some(OrgId(0)), manual_routing: false });
        for s in 0..5u128 {
            let sub = 100 + 10 * p + s;
            rows.push(Org { id: OrgId(sub), parent_id: Some(OrgId(1 + p)), manual_routing: false });
            for c in 0..2u128 {
                rows.push(Org {
                    id: OrgId(1000 + 20 * p + 2 * s + c),
                    parent_id: Some(OrgId(sub)),
                    manual_routing: false,
                });
            }
        }
    }
    OrgTree::build(rows).unwrap()
}

/// `n` technicians, reproducible from `seed`.
pub fn fleet(n: usize, seed: u64) -> Fleet {
    let mut rng = StdRng::seed_from_u64(seed);
    let sampler = CitySampler::new();
    let techs = (0..n)
        .map(|i| {
            let (position, region) = sampler.sample(&mut rng);
            let p = u128::from(region % 10);
            let s = rng.random_range(0..5u128);
            let org = match rng.random_range(0..10u32) {
                0..3 => OrgId(100 + 10 * p + s),
                c => OrgId(1000 + 20 * p + 2 * s + u128::from(c % 2)),
            };
            let mut skill_bits = 0u8;
            for (bit, (_, share)) in SKILLS.iter().enumerate() {
                if rng.random_bool(*share) {
                    skill_bits |= 1 << bit;
                }
            }
            FleetTech { id: TechnicianId(i as u128), position, org, skill_bits, available: rng.random_bool(0.9) }
        })
        .collect();
    Fleet { orgs: org_tree(), techs, sampler }
}

impl FleetTech {
    pub fn skills(&self) -> Vec<SkillCode> {
        SKILLS
            .iter()
            .enumerate()
            .filter(|(bit, _)| self.skill_bits & (1 << bit) != 0)
            .map(|(_, (s, _))| (*s).into())
            .collect()
    }
}

impl Fleet {
    /// The technicians as the index wants them, with their organisation and skill partitions.
    pub fn indexed(&self) -> Vec<IndexedTechnician> {
        self.techs
            .iter()
            .map(|t| IndexedTechnician {
                id: t.id,
                position: t.position,
                partitions: technician_partitions(t.org, &t.skills(), &self.orgs),
            })
            .collect()
    }

    /// Job locations drawn like the technicians (customers live where technicians do).
    pub fn jobs(&self, n: usize, seed: u64) -> Vec<LatLon> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| self.sampler.sample(&mut rng).0).collect()
    }

    /// Filter-first reference: check every technician, compute haversine only for eligible ones, keep the k nearest.
    pub fn brute_force(&self, at: LatLon, k: usize, skill: u8) -> Vec<(TechnicianId, f64)> {
        let mut best: Vec<(TechnicianId, f64)> = Vec::with_capacity(k + 1);
        for t in &self.techs {
            if t.skill_bits & skill == skill && t.available {
                let d = dispatch::spatial::haversine_m(at, t.position);
                if best.len() < k || d < best[best.len() - 1].1 {
                    let pos = best.partition_point(|&(_, b)| b <= d);
                    best.insert(pos, (t.id, d));
                    best.truncate(k);
                }
            }
        }
        best
    }
}
