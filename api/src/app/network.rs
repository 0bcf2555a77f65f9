//! Network administration: organisations (with their territories and
//! service agreements) and technicians. Every change is logged in the change
//! log, which every replica's dispatch cache and the technicians' phones follow.

use chrono::{DateTime, Utc};
use geo::MultiPolygon;
use serde_json::json;

use crate::app::audit::{self, Subject};
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::{
    Absence, AuditAction, Caller, ChangeEntity, Invalid, Invalids, PartQty, PerPriority, Position, Shift, validate,
};
use crate::geojson::{self, Geometry};
use crate::storage::change_log::{self, Change};
use crate::storage::{self, db_time, json, offers, orgs, technicians};

/// A slug from a display name: ASCII letters and digits kept, the rest joined by '-'.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').chars().take(48).collect::<String>();
    if out.len() < 2 { format!("org-{}", &storage::new_id()[..8]) } else { out }
}

/// A validated new organisation.
#[derive(Debug, Clone)]
pub struct NewOrg {
    pub parent_id: String,
    pub name: String,
    pub slug: Option<String>,
    pub timezone: Option<String>,
    pub manual_routing: bool,
    pub parts: Vec<PartQty>,
    /// km; `None`: the parent's.
    pub max_travel_km: Option<f64>,
}

/// The audit details of a partial update: the names of the fields given (never their values).
fn changed(fields: &[(&str, bool)]) -> serde_json::Value {
    json!({"fields": fields.iter().filter(|(_, given)| *given).map(|(name, _)| *name).collect::<Vec<_>>()})
}

/// Creates an organisation under a parent the caller manages.
pub fn create_org(
    conn: &mut DbConnection,
    caller: &Caller,
    new: NewOrg,
    now: DateTime<Utc>,
) -> Result<orgs::Org, ApiError> {
    let now = db_time(now);
    let parent = orgs::find(conn, &new.parent_id)?.filter(|p| caller.manages(&p.path)).ok_or(ApiError::NotFound)?;
    let id = storage::new_id();
    let slug = new.slug.clone().unwrap_or_else(|| slugify(&new.name));
    if orgs::find_by_slug(conn, &slug)?.is_some() {
        return Err(ApiError::conflict("slug_taken", format!("slug `{slug}` is taken"), json!({"field": "slug"})));
    }
    let path = format!("{}{id}/", parent.path);
    let name = validate::text("name", &new.name, validate::MAX_NAME_CHARS)?;
    orgs::insert(
        conn,
        &orgs::NewOrg {
            id: &id,
            parent_id: Some(&parent.id),
            name: &name,
            slug: &slug,
            level: parent.level + 1,
            path: &path,
            timezone: new.timezone.as_deref().unwrap_or(&parent.timezone),
            manual_routing: new.manual_routing,
            parts: &json::parts_text(&new.parts)?,
            created_at: now,
            updated_at: now,
            max_travel_km: new.max_travel_km,
        },
    )?;
    change_log::log_change(conn, Change::upsert(ChangeEntity::Org, &id, None), now)?;
    audit::record(
        conn,
        caller,
        AuditAction::OrgCreate,
        Subject::of("org", &id),
        &json!({"parent_id": parent.id}),
        now,
    )?;
    orgs::find(conn, &id)?.ok_or(ApiError::NotFound)
}

/// Changes to an organisation (only the fields given).
#[derive(Debug, Clone, Default)]
pub struct OrgUpdate {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub manual_routing: Option<bool>,
    pub parts: Option<Vec<PartQty>>,
    /// `Some(None)` clears it (back to the parent's).
    pub max_travel_km: Option<Option<f64>>,
}

/// Changes an organisation the caller manages.
pub fn update_org(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    update: OrgUpdate,
    now: DateTime<Utc>,
) -> Result<orgs::Org, ApiError> {
    let now = db_time(now);
    let org = orgs::find(conn, id)?.filter(|o| caller.manages(&o.path)).ok_or(ApiError::NotFound)?;
    let fields = changed(&[
        ("name", update.name.is_some()),
        ("timezone", update.timezone.is_some()),
        ("manual_routing", update.manual_routing.is_some()),
        ("parts", update.parts.is_some()),
        ("max_travel_km", update.max_travel_km.is_some()),
    ]);
    audit::record(conn, caller, AuditAction::OrgUpdate, Subject::of("org", &org.id), &fields, now)?;
    let changes = orgs::OrgChanges {
        name: update.name,
        timezone: update.timezone,
        manual_routing: update.manual_routing,
        parts: update.parts.as_deref().map(json::parts_text).transpose()?,
        updated_at: Some(now),
        max_travel_km: update.max_travel_km,
    };
    orgs::update(conn, &org.id, &changes)?;
    change_log::log_change(conn, Change::upsert(ChangeEntity::Org, &org.id, None), now)?;
    orgs::find(conn, &org.id)?.ok_or(ApiError::NotFound)
}

/// An organisation the caller may see (admins and reviewers all; dispatchers their subtree).
pub fn find_visible_org(conn: &mut DbConnection, caller: &Caller, id: &str) -> Result<orgs::Org, ApiError> {
    let prefix = caller.subtree();
    orgs::find(conn, id)?.filter(|o| prefix.is_none_or(|p| o.path.starts_with(p))).ok_or(ApiError::NotFound)
}

/// One territory to store: its GeoJSON and parsed shape.
#[derive(Clone)]
pub struct NewTerritory {
    pub geometry: Geometry,
    pub shape: MultiPolygon<f64>,
    pub exclusive: bool,
}

/// Replaces an organisation's territories. An exclusive territory that
/// overlaps an exclusive one of an unrelated organisation is a 409.
pub fn put_territories(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    territories: &[NewTerritory],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let now = db_time(now);
    let org = orgs::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let mut rows = Vec::with_capacity(territories.len());
    for (i, t) in territories.iter().enumerate() {
        let bbox = geojson::bbox(&t.shape);
        if t.exclusive {
            for (other, other_path) in orgs::exclusive_candidates(conn, &org.id, bbox)? {
                let related = other_path.starts_with(&org.path) || org.path.starts_with(&other_path);
                if related {
                    continue;
                }
                let other_shape = geojson::to_multi_polygon("stored", &serde_json::from_str(&other.geometry)?)?;
                if dispatch::territories::overlaps(&t.shape, &other_shape) {
                    return Err(ApiError::conflict(
                        "territory_overlap",
                        format!("territory [{i}] overlaps an exclusive territory of organisation {}", other.org_id),
                        json!({"field": format!("[{i}].geometry"), "org_id": other.org_id}),
                    ));
                }
            }
        }
        rows.push(orgs::NewTerritory {
            id: storage::new_id(),
            org_id: org.id.clone(),
            geometry: serde_json::to_string(&t.geometry)?,
            exclusive: t.exclusive,
            min_lon: bbox.0,
            min_lat: bbox.1,
            max_lon: bbox.2,
            max_lat: bbox.3,
            created_at: now,
        });
    }
    orgs::replace_territories(conn, &org.id, &rows)?;
    let details = json!({"territories": rows.len()});
    audit::record(conn, caller, AuditAction::TerritoriesSet, Subject::of("org", &org.id), &details, now)?;
    change_log::log_change(conn, Change::upsert(ChangeEntity::Org, &org.id, None), now)?;
    Ok(())
}

/// A territory as stored. Its id is new at every replacement of the organisation's list, so a change aimed at
/// one id misses once the list changed.
pub struct StoredTerritory {
    pub id: String,
    pub geometry: Geometry,
    pub exclusive: bool,
}

/// An organisation's own territories as stored.
pub fn territories(conn: &mut DbConnection, org_id: &str) -> Result<Vec<StoredTerritory>, ApiError> {
    orgs::territories_of(conn, org_id)?
        .into_iter()
        .map(|t| Ok(StoredTerritory { geometry: serde_json::from_str(&t.geometry)?, exclusive: t.exclusive, id: t.id }))
        .collect()
}

/// The agreement that applies to an organisation, read.
pub struct Agreement {
    /// The organisation whose own agreement this is.
    pub inherited_from: String,
    pub accept_within_min: PerPriority,
    pub arrive_within_min: PerPriority,
    pub first_time_fix_target: f64,
    pub updated_at: DateTime<Utc>,
}

/// The agreement that applies: the organisation's own, else its nearest ancestor's.
pub fn effective_agreement(conn: &mut DbConnection, org: &orgs::Org) -> Result<Agreement, ApiError> {
    let a = orgs::effective_agreement(conn, org)?.ok_or(ApiError::NotFound)?;
    Ok(Agreement {
        accept_within_min: json::per_priority(&a.accept_within_min)?,
        arrive_within_min: json::per_priority(&a.arrive_within_min)?,
        first_time_fix_target: a.first_time_fix_target,
        updated_at: storage::utc(a.updated_at),
        inherited_from: a.org_id,
    })
}

/// Sets an organisation's own service agreement; returns the one now in effect.
pub fn put_agreement(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    accept: &PerPriority,
    arrive: &PerPriority,
    first_time_fix_target: f64,
    now: DateTime<Utc>,
) -> Result<(String, Agreement), ApiError> {
    let org = orgs::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let (accept, arrive) = (json::per_priority_text(accept)?, json::per_priority_text(arrive)?);
    orgs::put_agreement(conn, &org.id, &accept, &arrive, first_time_fix_target, db_time(now))?;
    audit::record(conn, caller, AuditAction::AgreementSet, Subject::of("org", &org.id), &json!({}), db_time(now))?;
    let a = effective_agreement(conn, &org)?;
    Ok((org.id, a))
}

/// A technician as typed (the API's body or the console's form), before any check.
#[derive(Debug, Clone, Default)]
pub struct TechnicianDraft {
    pub org_id: String,
    pub name: String,
    pub skills: Vec<String>,
    /// (lat, lon).
    pub home_base: (f64, f64),
    pub shift: ShiftDraft,
    pub absences: Vec<Absence>,
    /// IANA zone; `None`: the organisation's.
    pub timezone: Option<String>,
    pub daily_capacity: i32,
    pub parts: Vec<PartQty>,
    pub active: bool,
    /// km; `None`: its organisation's.
    pub max_travel_km: Option<f64>,
}

/// A weekly shift as typed: local "HH:MM" times and ISO weekdays.
#[derive(Debug, Clone, Default)]
pub struct ShiftDraft {
    pub start: String,
    pub end: String,
    pub days: Vec<u8>,
}

impl ShiftDraft {
    fn check(&self) -> Result<Shift, Invalid> {
        Shift::parse(&self.start, &self.end, self.days.clone())
    }
}

/// Proof that a value went through its `check` (only this module makes one).
#[derive(Debug, Clone, Copy)]
pub struct Checked(());

/// A checked new technician: only [`TechnicianDraft::check`] makes one.
#[derive(Debug, Clone)]
pub struct NewTechnician {
    pub org_id: String,
    pub name: String,
    pub skills: Vec<String>,
    pub home_base: Position,
    pub shift: Shift,
    pub absences: Vec<Absence>,
    pub timezone: Option<String>,
    pub daily_capacity: i32,
    pub parts: Vec<PartQty>,
    pub active: bool,
    /// km; `None`: its organisation's.
    pub max_travel_km: Option<f64>,
    _checked: Checked,
}

/// A day's visits: 0 (off the board) to 100.
fn check_capacity(capacity: i32) -> Result<i32, Invalid> {
    if (0..=100).contains(&capacity) {
        Ok(capacity)
    } else {
        Err(Invalid::new("daily_capacity", "must be between 0 and 100 visits"))
    }
}

fn check_skills(skills: Vec<String>) -> Result<Vec<String>, Invalid> {
    validate::codes("skills", &skills).map(|()| skills)
}

fn check_absences(absences: Vec<Absence>) -> Result<Vec<Absence>, Invalid> {
    crate::domain::shift::validate_absences(&absences).map(|()| absences)
}

fn check_parts(parts: Vec<PartQty>) -> Result<Vec<PartQty>, Invalid> {
    crate::domain::parts::validate_parts("parts", &parts).map(|()| parts)
}

fn check_timezone(tz: String) -> Result<String, Invalid> {
    validate::timezone("timezone", &tz).map(|_| tz)
}

fn check_radius(km: Option<f64>) -> Result<Option<f64>, Invalid> {
    km.map(|km| validate::max_travel_km("max_travel_km", km)).transpose()
}

impl TechnicianDraft {
    /// [`TechnicianPatch::check`]'s rules, every field given.
    pub fn check(self) -> Result<NewTechnician, Invalids> {
        // The patch's rules with every field given: one list of rules for both.
        let u = TechnicianPatch {
            name: Some(self.name),
            skills: Some(self.skills),
            home_base: Some(self.home_base),
            shift: Some(self.shift),
            absences: Some(self.absences),
            timezone: self.timezone,
            daily_capacity: Some(self.daily_capacity),
            parts: Some(self.parts),
            active: Some(self.active),
            max_travel_km: Some(self.max_travel_km),
        }
        .check()?;
        let given = |field: &str| Invalids::from(Invalid::new(field, "is required"));
        Ok(NewTechnician {
            org_id: self.org_id,
            name: u.name.ok_or_else(|| given("name"))?,
            skills: u.skills.ok_or_else(|| given("skills"))?,
            home_base: u.home_base.ok_or_else(|| given("home_base"))?,
            shift: u.shift.ok_or_else(|| given("shift"))?,
            absences: u.absences.ok_or_else(|| given("absences"))?,
            timezone: u.timezone,
            daily_capacity: u.daily_capacity.ok_or_else(|| given("daily_capacity"))?,
            parts: u.parts.ok_or_else(|| given("parts"))?,
            active: self.active,
            max_travel_km: u.max_travel_km.flatten(),
            _checked: Checked(()),
        })
    }
}

/// Adds a technician to an organisation the caller manages.
pub fn create_technician(
    conn: &mut DbConnection,
    caller: &Caller,
    b: NewTechnician,
    now: DateTime<Utc>,
) -> Result<technicians::Technician, ApiError> {
    let now = db_time(now);
    let org = orgs::find(conn, &b.org_id)?.filter(|o| caller.manages(&o.path)).ok_or(ApiError::NotFound)?;
    let id = storage::new_id();
    let new = technicians::NewTechnician {
        id: id.clone(),
        org_id: org.id.clone(),
        name: b.name,
        skills: json::codes_text(&b.skills)?,
        home_lat: b.home_base.lat,
        home_lon: b.home_base.lon,
        pos_lat: None,
        pos_lon: None,
        position_at: None,
        shift: json::shift_text(&b.shift)?,
        absences: json::absences_text(&b.absences)?,
        timezone: b.timezone.unwrap_or(org.timezone),
        daily_capacity: b.daily_capacity,
        parts: json::parts_text(&b.parts)?,
        active: b.active,
        created_at: now,
        updated_at: now,
        max_travel_km: b.max_travel_km,
    };
    technicians::insert_many(conn, std::slice::from_ref(&new))?;
    let details = json!({"org_id": org.id});
    audit::record(conn, caller, AuditAction::TechnicianCreate, Subject::of("technician", &id), &details, now)?;
    change_log::log_change(conn, Change::upsert(ChangeEntity::Technician, &id, Some(&id)), now)?;
    technicians::find(conn, &id)?.ok_or(ApiError::NotFound)
}

/// Changes to a technician as typed (only the fields given), before any check.
#[derive(Debug, Clone, Default)]
pub struct TechnicianPatch {
    pub name: Option<String>,
    pub skills: Option<Vec<String>>,
    /// (lat, lon).
    pub home_base: Option<(f64, f64)>,
    pub shift: Option<ShiftDraft>,
    pub absences: Option<Vec<Absence>>,
    pub timezone: Option<String>,
    pub daily_capacity: Option<i32>,
    pub parts: Option<Vec<PartQty>>,
    pub active: Option<bool>,
    /// `Some(None)` clears it (back to the organisation's).
    pub max_travel_km: Option<Option<f64>>,
}

/// Checked changes to a technician: only [`TechnicianPatch::check`] makes one.
#[derive(Debug, Clone)]
pub struct TechnicianUpdate {
    pub name: Option<String>,
    pub skills: Option<Vec<String>>,
    pub home_base: Option<Position>,
    pub shift: Option<Shift>,
    pub absences: Option<Vec<Absence>>,
    pub timezone: Option<String>,
    pub daily_capacity: Option<i32>,
    pub parts: Option<Vec<PartQty>>,
    pub active: Option<bool>,
    pub max_travel_km: Option<Option<f64>>,
    _checked: Checked,
}

impl TechnicianPatch {
    /// The rules of a technician, each field given checked (the API answers the first error, the console shows all):
    /// a name, distinct skill codes, a position on the Earth, a shift, absences that end after they start, an IANA
    /// zone, 0–100 visits a day, parts, a service radius of (0, 20000] km.
    pub fn check(self) -> Result<TechnicianUpdate, Invalids> {
        let mut bad = Invalids::default();
        let name = bad.check(self.name.map(|n| validate::text("name", &n, validate::MAX_NAME_CHARS)).transpose());
        let skills = bad.check(self.skills.map(check_skills).transpose());
        let home_base = bad.check(self.home_base.map(|(lat, lon)| Position::parse("home_base", lat, lon)).transpose());
        let shift = bad.check(self.shift.as_ref().map(ShiftDraft::check).transpose());
        let absences = bad.check(self.absences.map(check_absences).transpose());
        let timezone = bad.check(self.timezone.map(check_timezone).transpose());
        let daily_capacity = bad.check(self.daily_capacity.map(check_capacity).transpose());
        let parts = bad.check(self.parts.map(check_parts).transpose());
        let max_travel_km = bad.check(self.max_travel_km.map(check_radius).transpose());
        match (name, skills, home_base, shift, absences, timezone, daily_capacity, parts, max_travel_km) {
            (
                Some(name),
                Some(skills),
                Some(home_base),
                Some(shift),
                Some(absences),
                Some(timezone),
                Some(daily_capacity),
                Some(parts),
                Some(max_travel_km),
            ) if bad.is_empty() => Ok(TechnicianUpdate {
                name,
                skills,
                home_base,
                shift,
                absences,
                timezone,
                daily_capacity,
                parts,
                active: self.active,
                max_travel_km,
                _checked: Checked(()),
            }),
            _ => Err(bad),
        }
    }
}

/// Changes a technician of an organisation the caller manages.
pub fn update_technician(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    b: TechnicianUpdate,
    now: DateTime<Utc>,
) -> Result<technicians::Technician, ApiError> {
    let now = db_time(now);
    let t = find_managed_technician(conn, caller, id)?;
    let fields = changed(&[
        ("name", b.name.is_some()),
        ("skills", b.skills.is_some()),
        ("home_base", b.home_base.is_some()),
        ("shift", b.shift.is_some()),
        ("absences", b.absences.is_some()),
        ("timezone", b.timezone.is_some()),
        ("daily_capacity", b.daily_capacity.is_some()),
        ("parts", b.parts.is_some()),
        ("active", b.active.is_some()),
        ("max_travel_km", b.max_travel_km.is_some()),
    ]);
    audit::record(conn, caller, AuditAction::TechnicianUpdate, Subject::of("technician", &t.id), &fields, now)?;
    let changes = technicians::TechnicianChanges {
        name: b.name,
        skills: b.skills.as_deref().map(json::codes_text).transpose()?,
        home_lat: b.home_base.map(|h| h.lat),
        home_lon: b.home_base.map(|h| h.lon),
        shift: b.shift.as_ref().map(json::shift_text).transpose()?,
        absences: b.absences.as_deref().map(json::absences_text).transpose()?,
        timezone: b.timezone,
        daily_capacity: b.daily_capacity,
        parts: b.parts.as_deref().map(json::parts_text).transpose()?,
        active: b.active,
        updated_at: Some(now),
        max_travel_km: b.max_travel_km,
    };
    technicians::update(conn, &t.id, &changes)?;
    // Phones sync their own technician record (skills, shift, parts).
    change_log::log_change(conn, Change::upsert(ChangeEntity::Technician, &t.id, Some(&t.id)), now)?;
    technicians::find(conn, &t.id)?.ok_or(ApiError::NotFound)
}

/// A technician the caller manages (admins all, dispatchers their subtree); 404 otherwise.
pub fn find_managed_technician(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
) -> Result<technicians::Technician, ApiError> {
    let (t, path) = technicians::find_with_org_path(conn, id)?.ok_or(ApiError::NotFound)?;
    if caller.manages(&path) { Ok(t) } else { Err(ApiError::NotFound) }
}

/// A technician the caller may see: admins all, dispatchers their subtree, a technician itself.
pub fn find_visible_technician(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
) -> Result<technicians::Technician, ApiError> {
    let (t, path) = technicians::find_with_org_path(conn, id)?.ok_or(ApiError::NotFound)?;
    let visible = caller.manages(&path) || caller.technician_id.as_deref() == Some(t.id.as_str());
    if visible { Ok(t) } else { Err(ApiError::NotFound) }
}

/// Records a technician's position (the technician itself, or a dispatcher managing it).
pub fn set_position(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    at: Position,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let now = db_time(now);
    let t = find_visible_technician(conn, caller, id)?;
    offers::set_position(conn, &t.id, at.lat, at.lon, now)?;
    change_log::log_change(conn, Change::upsert(ChangeEntity::Technician, &t.id, Some(&t.id)), now)?;
    Ok(())
}
