//! The demo network, seeded into an empty database in demo mode: a vendor,
//! one regional partner per federal district, sub-partners to depth 4 in
//! places, ~300 technicians in real Russian cities weighted by population
//! (GeoNames data, CC BY 4.0; see `api/data/ATTRIBUTION.md`), and a login
//! for every role. Deterministic: the same seed gives the same network.

use anyhow::Context as _;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::json;

use crate::app::network::slugify;
use crate::db::DbConnection;
use crate::domain::Role;
use crate::domain::shift::every_day;
use crate::domain::{PartQty, Shift};
use crate::storage::{self, customers, json, orgs, technicians, users};

/// The city list, embedded so the binary needs no files at run time.
const CITIES_CSV: &str = include_str!("../data/ru_cities.csv");

/// The shared demo password (demo mode only).
pub const DEMO_PASSWORD: &str = "demo";
/// How many technicians the demo network has.
pub const DEMO_TECHNICIANS: usize = 300;

/// A city from the embedded list.
#[derive(Debug, Clone)]
pub struct City {
    pub name: String,
    /// The Russian name (the web booking form finds a typed city by either).
    pub name_ru: String,
    pub lat: f64,
    pub lon: f64,
    pub population: u64,
    pub timezone: String,
}

/// Parses the embedded city list.
pub fn cities() -> Vec<City> {
    CITIES_CSV
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.trim_end_matches('\r').split(',').collect();
            (f.len() >= 8).then(|| City {
                name: f[1].to_owned(),
                name_ru: f[2].to_owned(),
                lat: f[3].parse().unwrap_or(0.0),
                lon: f[4].parse().unwrap_or(0.0),
                population: f[5].parse().unwrap_or(0),
                timezone: f[7].to_owned(),
            })
        })
        .collect()
}

/// Great-circle distance in kilometres.
fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let at = |p: (f64, f64)| dispatch::model::LatLon::new(p.0, p.1);
    dispatch::spatial::haversine_m(at(a), at(b)) / 1000.0
}

/// Federal districts, approximated by the nearest district centre.
const DISTRICTS: &[(&str, &str, &str)] = &[
    ("central", "Central Service Partner", "Moscow"),
    ("northwest", "North-West Service Partner", "Saint Petersburg"),
    ("south", "South Service Partner", "Rostov-on-Don"),
    ("caucasus", "North Caucasus Service Partner", "Pyatigorsk"),
    ("volga", "Volga Service Partner", "Nizhniy Novgorod"),
    ("ural", "Ural Service Partner", "Yekaterinburg"),
    ("siberia", "Siberia Service Partner", "Novosibirsk"),
    ("fareast", "Far East Service Partner", "Vladivostok"),
];

const SKILLS: &[&str] = &["pos_terminal", "cash_register", "fiscal_drive", "appliance", "network", "software"];
const SKUS: &[&str] = &["fn-36", "printer-head", "psu-12v", "card-reader", "display-7in"];

/// Who to show in the start-up banner.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub organisations: usize,
    pub technicians: usize,
    pub dispatcher_logins: Vec<String>,
}

struct OrgSeed {
    id: String,
    slug: String,
    path: String,
    level: i32,
    lat: f64,
    lon: f64,
}

/// Seeds the demo network. Call inside one transaction on an empty database.
pub fn seed(conn: &mut DbConnection, password_hash: &str, now: chrono::NaiveDateTime) -> anyhow::Result<DemoSummary> {
    let mut rng = StdRng::seed_from_u64(20_261_125);
    let cities = cities();
    let find_city = |name: &str| cities.iter().find(|c| c.name == name).cloned();
    let mut all_orgs: Vec<OrgSeed> = Vec::new();

    let add_org = |conn: &mut DbConnection,
                   parent: Option<&OrgSeed>,
                   slug: &str,
                   name: &str,
                   tz: &str,
                   at: (f64, f64),
                   manual: bool,
                   parts: &[PartQty]|
     -> anyhow::Result<OrgSeed> {
        let id = storage::new_id();
        let path = format!("{}{id}/", parent.map_or("/", |p| p.path.as_str()));
        let level = parent.map_or(0, |p| p.level + 1);
        orgs::insert(
            conn,
            &orgs::NewOrg {
                id: &id,
                parent_id: parent.map(|p| p.id.as_str()),
                name,
                slug,
                level,
                path: &path,
                timezone: tz,
                manual_routing: manual,
                parts: &json::parts_text(parts)?,
                created_at: now,
                updated_at: now,
                max_travel_km: None,
            },
        )
        .with_context(|| format!("Failed to insert demo organisation {slug}"))?;
        Ok(OrgSeed { id, slug: slug.to_owned(), path, level, lat: at.0, lon: at.1 })
    };

    let moscow = find_city("Moscow").context("Moscow is missing from the city list")?;
    let vendor =
        add_org(conn, None, "vendor", "Sortie Demo Vendor", "Europe/Moscow", (moscow.lat, moscow.lon), false, &[])?;
    orgs::put_agreement(
        conn,
        &vendor.id,
        &json!({"low": 240, "normal": 120, "high": 60, "urgent": 15}).to_string(),
        &json!({"low": 4320, "normal": 2880, "high": 1440, "urgent": 240}).to_string(),
        0.8,
        now,
    )?;

    // Regional partners and, per district, sub-partners in the largest cities.
    let mut partners: Vec<OrgSeed> = Vec::new();
    let mut subs: Vec<(usize, OrgSeed)> = Vec::new(); // (district index, org)
    for (slug, name, hub_name) in DISTRICTS {
        let hub = find_city(hub_name).with_context(|| format!("{hub_name} is missing from the city list"))?;
        let manual = *slug == "northwest"; // one partner routes by hand, to show manual routing
        let stock = [PartQty { sku: SKUS[0].into(), qty: 20 }, PartQty { sku: SKUS[2].into(), qty: 10 }];
        partners.push(add_org(conn, Some(&vendor), slug, name, &hub.timezone, (hub.lat, hub.lon), manual, &stock)?);
    }
    let hubs: Vec<(f64, f64)> = partners.iter().map(|p| (p.lat, p.lon)).collect();
    let district_of = |lat: f64, lon: f64| -> usize {
        let mut best = (0, f64::MAX);
        for (i, hub) in hubs.iter().enumerate() {
            let d = distance_km((lat, lon), *hub);
            if d < best.1 {
                best = (i, d);
            }
        }
        best.0
    };
    let mut by_population = cities.clone();
    by_population.sort_by_key(|c| std::cmp::Reverse(c.population));
    let mut per_district = vec![0usize; partners.len()];
    for city in &by_population {
        let d = district_of(city.lat, city.lon);
        if per_district[d] >= 3 {
            continue;
        }
        per_district[d] += 1;
        let slug = format!("{}-{}", partners[d].slug, slugify(&city.name));
        let name = format!("{} Service", city.name);
        let parent = OrgSeed {
            id: partners[d].id.clone(),
            slug: partners[d].slug.clone(),
            path: partners[d].path.clone(),
            level: 1,
            lat: 0.0,
            lon: 0.0,
        };
        subs.push((d, add_org(conn, Some(&parent), &slug, &name, &city.timezone, (city.lat, city.lon), false, &[])?));
    }
    // Depth 3 and 4 in the two largest cities.
    let mut deep: Vec<OrgSeed> = Vec::new();
    for city_name in ["Moscow", "Saint Petersburg"] {
        let Some(city) = find_city(city_name) else { continue };
        let Some((_, level2)) = subs.iter().find(|(_, s)| distance_km((s.lat, s.lon), (city.lat, city.lon)) < 1.0)
        else {
            continue;
        };
        let l2 = OrgSeed {
            id: level2.id.clone(),
            slug: level2.slug.clone(),
            path: level2.path.clone(),
            level: 2,
            lat: city.lat,
            lon: city.lon,
        };
        let l3 = add_org(
            conn,
            Some(&l2),
            &format!("{}-field", l2.slug),
            &format!("{city_name} Field Crew"),
            &city.timezone,
            (city.lat, city.lon),
            false,
            &[],
        )?;
        let l4 = add_org(
            conn,
            Some(&l3),
            &format!("{}-field-north", l2.slug),
            &format!("{city_name} North Crew"),
            &city.timezone,
            (city.lat + 0.1, city.lon),
            false,
            &[],
        )?;
        deep.push(l3);
        deep.push(l4);
    }
    // The Moscow sub-partner owns Moscow and its region exclusively.
    if let Some((_, moscow_sub)) =
        subs.iter().find(|(_, s)| distance_km((s.lat, s.lon), (moscow.lat, moscow.lon)) < 1.0)
    {
        let geometry = json!({"type": "Polygon", "coordinates": [[[35.8, 54.8], [40.2, 54.8], [40.2, 56.9], [35.8, 56.9], [35.8, 54.8]]]});
        orgs::replace_territories(
            conn,
            &moscow_sub.id,
            &[orgs::NewTerritory {
                id: storage::new_id(),
                org_id: moscow_sub.id.clone(),
                geometry: geometry.to_string(),
                exclusive: true,
                min_lon: 35.8,
                min_lat: 54.8,
                max_lon: 40.2,
                max_lat: 56.9,
                created_at: now,
            }],
        )?;
        orgs::put_agreement(
            conn,
            &moscow_sub.id,
            &json!({"low": 180, "normal": 90, "high": 45, "urgent": 10}).to_string(),
            &json!({"low": 2880, "normal": 1440, "high": 720, "urgent": 180}).to_string(),
            0.85,
            now,
        )?;
    }
    all_orgs.push(vendor);
    all_orgs.extend(partners);
    let sub_orgs: Vec<OrgSeed> = subs.into_iter().map(|(_, s)| s).collect();

    // Technicians in cities drawn by population.
    let total: u64 = cities.iter().map(|c| c.population).sum();
    let mut tech_rows = Vec::with_capacity(DEMO_TECHNICIANS);
    let mut tech_users: Vec<(String, String)> = Vec::new();
    for n in 1..=DEMO_TECHNICIANS {
        let mut pick = rng.random_range(0..total);
        let city = cities.iter().find(|c| {
            if pick < c.population {
                true
            } else {
                pick -= c.population;
                false
            }
        });
        let Some(city) = city else { continue };
        // Up to ~8 km from the centre.
        let lat = (city.lat + rng.random_range(-0.07..0.07)).clamp(-90.0, 90.0);
        let lon = city.lon + rng.random_range(-0.1..0.1);
        let lon = if lon > 180.0 {
            lon - 360.0
        } else if lon < -180.0 {
            lon + 360.0
        } else {
            lon
        };
        // The deepest organisation based in this city, else the nearest sub-partner within 250 km, else the district partner.
        let in_city: Vec<&OrgSeed> = deep
            .iter()
            .chain(sub_orgs.iter())
            .filter(|o| distance_km((o.lat, o.lon), (city.lat, city.lon)) < 15.0)
            .collect();
        let org = if !in_city.is_empty() {
            in_city[n % in_city.len()]
        } else {
            let near = sub_orgs
                .iter()
                .map(|o| (o, distance_km((o.lat, o.lon), (lat, lon))))
                .filter(|(_, d)| *d < 250.0)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match near {
                Some((o, _)) => o,
                None => &all_orgs[1 + district_of(lat, lon)],
            }
        };
        let mut skills: Vec<String> = Vec::new();
        for _ in 0..rng.random_range(2..=3) {
            let s = SKILLS[rng.random_range(0..SKILLS.len())].to_owned();
            if !skills.contains(&s) {
                skills.push(s);
            }
        }
        skills.sort();
        let parts = vec![PartQty { sku: SKUS[rng.random_range(0..SKUS.len())].into(), qty: rng.random_range(1..=4) }];
        let shift = Shift::parse("08:00", "20:00", every_day())?;
        let id = storage::new_id();
        let first =
            ["Ivan", "Anna", "Dmitry", "Olga", "Sergey", "Elena", "Alexey", "Maria", "Pavel", "Natalia"][n % 10];
        tech_rows.push(technicians::NewTechnician {
            id: id.clone(),
            org_id: org.id.clone(),
            name: format!("{first} T{n}"),
            skills: serde_json::to_string(&skills)?,
            home_lat: lat,
            home_lon: lon,
            pos_lat: Some(lat),
            pos_lon: Some(lon),
            position_at: Some(now),
            shift: json::shift_text(&shift)?,
            absences: "[]".into(),
            timezone: city.timezone.clone(),
            daily_capacity: rng.random_range(5..=8),
            parts: json::parts_text(&parts)?,
            active: true,
            created_at: now,
            updated_at: now,
            max_travel_km: None,
        });
        tech_users.push((format!("tech{n}@demo.sortie"), id));
    }
    technicians::insert_many(conn, &tech_rows)?;

    // Logins.
    let customer_id = storage::new_id();
    customers::insert(
        conn,
        &customers::NewCustomer {
            id: &customer_id,
            name: "Ivan Petrov",
            phone: Some("+79161234567"),
            email: Some("customer@demo.sortie"),
            preferred_address_form: Some("Ivan Sergeevich"),
            contracted_org_id: None,
            created_at: now,
            updated_at: now,
        },
    )?;
    all_orgs.extend(sub_orgs);
    all_orgs.extend(deep);
    let vendor_id = all_orgs[0].id.clone();
    // (e-mail, role, organisation, technician, customer card)
    type Login = (String, Role, Option<String>, Option<String>, Option<String>);
    let mut logins: Vec<Login> = vec![
        ("admin@demo.sortie".into(), Role::Admin, Some(vendor_id.clone()), None, None),
        ("reviewer@demo.sortie".into(), Role::Reviewer, Some(vendor_id), None, None),
        ("customer@demo.sortie".into(), Role::Customer, None, None, Some(customer_id)),
    ];
    for org in &all_orgs {
        let email = format!("dispatcher@{}.demo.sortie", org.slug);
        logins.push((email, Role::Dispatcher, Some(org.id.clone()), None, None));
    }
    let tech_org: std::collections::HashMap<&str, &str> =
        tech_rows.iter().map(|t| (t.id.as_str(), t.org_id.as_str())).collect();
    for (email, tech_id) in &tech_users {
        let org = tech_org.get(tech_id.as_str()).map(|s| (*s).to_owned());
        logins.push((email.clone(), Role::Technician, org, Some(tech_id.clone()), None));
    }
    let ids: Vec<String> = logins.iter().map(|_| storage::new_id()).collect();
    let rows: Vec<users::NewUser<'_>> = logins
        .iter()
        .zip(&ids)
        .map(|((email, role, org, tech, cust), id)| users::NewUser {
            id,
            email,
            password_hash,
            role: *role,
            name: None,
            org_id: org.as_deref(),
            technician_id: tech.as_deref(),
            customer_id: cust.as_deref(),
            active: true,
            password_changed_at: now,
            created_at: now,
            updated_at: now,
        })
        .collect();
    users::insert_many(conn, &rows)?;
    // Regional partners first (level 1), in district order: the banner shows them.
    let mut ordered: Vec<(i32, usize, String)> = all_orgs
        .iter()
        .enumerate()
        .map(|(i, o)| (if o.level == 0 { 9 } else { o.level }, i, format!("dispatcher@{}.demo.sortie", o.slug)))
        .collect();
    ordered.sort();
    Ok(DemoSummary {
        organisations: all_orgs.len(),
        technicians: tech_rows.len(),
        dispatcher_logins: ordered.into_iter().map(|(_, _, e)| e).collect(),
    })
}
