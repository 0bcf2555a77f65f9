//! The access matrix (issue #11): every `/v1` operation of the served OpenAPI
//! document × every identity (admin, the vendor's, a partner's and a
//! sub-partner's dispatcher, reviewer, technician, customer, anonymous) × the
//! object's relation to the caller, asserted against one declarative table
//! ([`ROWS`]). The test fails when an operation is missing from the table, when
//! the table names an operation the document lacks, and when the server routes
//! a `/v1` operation the document does not list.
//!
//! Relations: for dispatchers, where the object's organisation sits from the
//! caller's (`own`, `child` = below it, `parent` = above it, `sibling` = same
//! parent, `unrelated`); for technicians and customers `own` or `other`'s;
//! admins and reviewers see the network (`network`).
//!
//! **Adding an operation:** add one [`Row`]: its `"METHOD /path"` as in the
//! document, the identities that may use it (the rest get 403), how `{id}` is
//! filled ([`Objects`]) and whether scope then decides ([`Scope`]), the success
//! status, and a body. `exceptions` lists cells that differ from the rule, each
//! with why.
//!
//! One seeded network per backend; every cell is one request.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Phone, TestApp, booking};

both_backends!(every_operation_answers_every_identity_and_relation_as_the_table_says);

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Who {
    Admin,
    VendorDispatcher,
    PartnerDispatcher,
    SubDispatcher,
    Reviewer,
    Technician,
    Customer,
    Anonymous,
}

use Who::*;

const EVERYONE: [Who; 8] =
    [Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Reviewer, Technician, Customer, Anonymous];
const DISPATCHERS: &[Who] = &[VendorDispatcher, PartnerDispatcher, SubDispatcher];
const SIGNED_IN: &[Who] = &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Reviewer, Technician, Customer];
const ADMIN: &[Who] = &[Admin];
const ADMIN_DISPATCHERS: &[Who] = &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher];
const ADMIN_DISPATCHERS_REVIEWER: &[Who] = &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Reviewer];

/// The object's relation to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rel {
    Own,
    Child,
    Parent,
    Sibling,
    Unrelated,
    Other,
    /// Admins, reviewers, anonymous callers, and operations without an object.
    Network,
}

impl fmt::Display for Rel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How `{id}` (or a body's id) is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objects {
    /// No object: one cell per identity.
    None,
    /// The seven organisations of [`Place`].
    Orgs,
    /// A technician in each place (the technician caller's own is in `Field`).
    Technicians,
    /// The dispatcher login of each place.
    Users,
    /// A fresh request in each place (booked by its dispatcher, a skill nobody has: it stays `unassignable`
    /// there), plus the customer's own; fresh per row, so a row's changes never reach another row.
    Jobs,
    /// A fresh job offered to each place below the vendor.
    Offered,
    /// A fresh job assigned to the place's technician.
    Assigned,
    /// The client card of each of a fresh [`Objects::Jobs`] set.
    Cards,
    /// One photo uploaded by the technician caller.
    Photo,
}

/// Whether the object's relation decides (outside scope: 404, never 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// No scope beyond the role.
    Role,
    /// Dispatchers: own or child (their subtree); technicians and customers: their own.
    Subtree,
    /// Dispatchers of exactly that organisation (an offer's answer).
    Exact,
    /// Anyone, signed in or not (an unguessable token or credentials in the body decide).
    Public,
}

struct Row {
    /// `METHOD /path` as in the document.
    op: &'static str,
    /// Who may use it at all (the rest: 403; anonymous: 401).
    roles: &'static [Who],
    objects: Objects,
    scope: Scope,
    /// The status a permitted call answers. Rows whose first permitted call changes the object's state
    /// accept 409 from the later permitted calls on the same object (`once`).
    ok: u16,
    once: bool,
    body: fn(&Fx, &Obj) -> Option<Value>,
    /// Cells that differ from the rule: (who, relation, status, why).
    exceptions: &'static [(Who, Rel, u16, &'static str)],
}

const fn row(op: &'static str, roles: &'static [Who], objects: Objects, scope: Scope, ok: u16) -> Row {
    Row { op, roles, objects, scope, ok, once: false, body: no_body, exceptions: &[] }
}

impl Row {
    const fn body(mut self, body: fn(&Fx, &Obj) -> Option<Value>) -> Row {
        self.body = body;
        self
    }
    const fn once(mut self) -> Row {
        self.once = true;
        self
    }
    const fn except(mut self, exceptions: &'static [(Who, Rel, u16, &'static str)]) -> Row {
        self.exceptions = exceptions;
        self
    }

    fn method(&self) -> Method {
        let m = self.op.split(' ').next().unwrap_or_default();
        Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET)
    }
    fn path(&self) -> &'static str {
        self.op.split(' ').nth(1).unwrap_or_default()
    }

    /// What `who` gets on an object in relation `rel`.
    fn expected(&self, who: Who, rel: Rel) -> u16 {
        if let Some((.., status, _)) = self.exceptions.iter().find(|(w, r, ..)| *w == who && *r == rel) {
            return *status;
        }
        if self.scope == Scope::Public {
            return self.ok;
        }
        if who == Anonymous {
            return 401;
        }
        if !self.roles.contains(&who) {
            return 403;
        }
        let visible = match self.scope {
            Scope::Role | Scope::Public => true,
            Scope::Subtree => matches!(rel, Rel::Own | Rel::Child | Rel::Network),
            Scope::Exact => matches!(rel, Rel::Own | Rel::Network),
        };
        if visible { self.ok } else { 404 }
    }
}

fn no_body(_: &Fx, _: &Obj) -> Option<Value> {
    None
}
fn empty(_: &Fx, _: &Obj) -> Option<Value> {
    Some(json!({}))
}

/// The table. Statuses are the success of a well-formed call unless said otherwise.
const ROWS: &[Row] = &[
    // Sign-in: credentials decide, not the caller's token.
    row("POST /v1/auth/login", SIGNED_IN, Objects::None, Scope::Public, 200)
        .body(|_, _| Some(json!({"email": "reviewer@demo.sortie", "password": "demo"}))),
    row("POST /v1/auth/refresh", SIGNED_IN, Objects::None, Scope::Public, 401)
        .body(|_, _| Some(json!({"refresh_token": "not-a-refresh-token"}))),
    row("POST /v1/auth/logout", SIGNED_IN, Objects::None, Scope::Public, 204)
        .body(|_, _| Some(json!({"refresh_token": "not-a-refresh-token"}))),
    // Every signed-in role may change its password; a wrong current password is 401 (so the identity keeps working).
    row("POST /v1/auth/password", SIGNED_IN, Objects::None, Scope::Role, 401)
        .body(|_, _| Some(json!({"current_password": "wrong", "new_password": "long enough password"}))),
    // Organisations.
    row("POST /v1/orgs", ADMIN_DISPATCHERS, Objects::Orgs, Scope::Subtree, 201)
        .body(|fx, o| Some(json!({"parent_id": o.id, "name": fx.unique("Matrix Org")}))),
    row("GET /v1/orgs", ADMIN_DISPATCHERS_REVIEWER, Objects::None, Scope::Role, 200),
    row("GET /v1/orgs/{id}", ADMIN_DISPATCHERS_REVIEWER, Objects::Orgs, Scope::Subtree, 200),
    row("PATCH /v1/orgs/{id}", ADMIN_DISPATCHERS, Objects::Orgs, Scope::Subtree, 200)
        .body(|fx, o| Some(json!({"name": fx.org_names[&o.id]}))),
    row("PUT /v1/orgs/{id}/territories", ADMIN, Objects::Orgs, Scope::Role, 200)
        .body(|fx, o| Some(fx.territories[&o.id].clone())),
    row("GET /v1/orgs/{id}/territories", ADMIN_DISPATCHERS_REVIEWER, Objects::Orgs, Scope::Subtree, 200),
    row("PUT /v1/orgs/{id}/agreement", ADMIN, Objects::Orgs, Scope::Role, 200).body(|_, _| {
        Some(json!({"accept_within_min": {"low": 240, "normal": 120, "high": 60, "urgent": 30},
            "arrive_within_min": {"low": 2880, "normal": 1440, "high": 480, "urgent": 240}, "first_time_fix_target": 0.8}))
    }),
    row("GET /v1/orgs/{id}/agreement", ADMIN_DISPATCHERS_REVIEWER, Objects::Orgs, Scope::Subtree, 200),
    row("POST /v1/orgs/{id}/plan", ADMIN_DISPATCHERS, Objects::Orgs, Scope::Subtree, 200),
    row("GET /v1/orgs/{id}/scorecard", ADMIN_DISPATCHERS_REVIEWER, Objects::Orgs, Scope::Subtree, 200),
    row("GET /v1/orgs/{id}/service", ADMIN_DISPATCHERS_REVIEWER, Objects::Orgs, Scope::Subtree, 200),
    // Technicians (`org_id` in the body of a create is the object).
    row("POST /v1/technicians", ADMIN_DISPATCHERS, Objects::Orgs, Scope::Subtree, 201).body(|fx, o| {
        Some(json!({"org_id": o.id, "name": fx.unique("Matrix Tech"), "home_base": {"lat": 55.7, "lon": 37.6},
            "shift": {"start": "09:00", "end": "18:00"}, "daily_capacity": 4}))
    }),
    row("GET /v1/technicians", ADMIN_DISPATCHERS, Objects::None, Scope::Role, 200),
    row("GET /v1/technicians/{id}", &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Technician], Objects::Technicians, Scope::Subtree, 200),
    row("PATCH /v1/technicians/{id}", ADMIN_DISPATCHERS, Objects::Technicians, Scope::Subtree, 200)
        .body(|_, _| Some(json!({"daily_capacity": 4}))),
    row("GET /v1/technicians/{id}/route", &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Technician], Objects::Technicians, Scope::Subtree, 200),
    row("POST /v1/technicians/{id}/position", &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Technician], Objects::Technicians, Scope::Subtree, 204)
        .body(|_, _| Some(json!({"lat": 55.7, "lon": 37.6}))),
    row("GET /v1/technicians/{id}/scorecard", ADMIN_DISPATCHERS_REVIEWER, Objects::Technicians, Scope::Subtree, 200),
    // Users (`org_id` in the body of a create is the object).
    row("POST /v1/users", ADMIN_DISPATCHERS, Objects::Orgs, Scope::Subtree, 201).body(|fx, o| {
        Some(json!({"email": format!("{}@matrix.example", fx.unique("user").to_lowercase().replace(' ', "-")),
            "password": "long enough password", "role": "dispatcher", "org_id": o.id}))
    }),
    row("GET /v1/users/me", SIGNED_IN, Objects::None, Scope::Role, 200),
    row("GET /v1/users", ADMIN_DISPATCHERS, Objects::None, Scope::Role, 200),
    row("GET /v1/users/{id}", ADMIN_DISPATCHERS, Objects::Users, Scope::Subtree, 200),
    row("PATCH /v1/users/{id}", ADMIN_DISPATCHERS, Objects::Users, Scope::Subtree, 200).body(|_, _| Some(json!({"active": true}))),
    // Requests and the client card.
    row("POST /v1/requests", &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Customer], Objects::None, Scope::Role, 201)
        .body(|fx, _| Some(stranded_booking(fx))),
    row("GET /v1/requests/{id}", &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Reviewer, Customer], Objects::Jobs, Scope::Subtree, 200),
    row("POST /v1/requests/{id}/cancel", &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Customer], Objects::Jobs, Scope::Subtree, 200)
        .once().body(empty),
    row("POST /v1/requests/{id}/reschedule", &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Customer], Objects::Jobs, Scope::Subtree, 200)
        .body(|_, _| Some(json!({"window": booking()["window"]}))),
    row("GET /v1/track/{token}", SIGNED_IN, Objects::None, Scope::Public, 200),
    row("GET /v1/customers/me", &[Customer], Objects::None, Scope::Role, 200),
    row("PATCH /v1/customers/me", &[Customer], Objects::None, Scope::Role, 200)
        .body(|_, _| Some(json!({"notify_opt_out": false}))),
    row("GET /v1/customers/{id}", &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Customer], Objects::Cards, Scope::Subtree, 200),
    row("PATCH /v1/customers/{id}", ADMIN, Objects::Cards, Scope::Role, 200).body(|_, _| Some(json!({"preferred_address_form": "Matrix"}))),
    // Jobs.
    row("GET /v1/jobs", ADMIN_DISPATCHERS_REVIEWER, Objects::None, Scope::Role, 200),
    row("GET /v1/jobs/{id}", ADMIN_DISPATCHERS_REVIEWER, Objects::Jobs, Scope::Subtree, 200),
    row("GET /v1/jobs/{id}/events", ADMIN_DISPATCHERS_REVIEWER, Objects::Jobs, Scope::Subtree, 200),
    row("GET /v1/jobs/{id}/explanation", ADMIN_DISPATCHERS, Objects::Jobs, Scope::Subtree, 200),
    row("POST /v1/jobs/{id}/cancel", ADMIN_DISPATCHERS, Objects::Jobs, Scope::Subtree, 200).once().body(empty),
    // Offers: only the offered organisation's dispatchers answer.
    row("POST /v1/jobs/{id}/accept", DISPATCHERS, Objects::Offered, Scope::Exact, 200).once().body(empty),
    row("POST /v1/jobs/{id}/decline", DISPATCHERS, Objects::Offered, Scope::Exact, 200)
        .once()
        .body(|_, _| Some(json!({"reason": "matrix"}))),
    row("POST /v1/jobs/{id}/subcontract", DISPATCHERS, Objects::Offered, Scope::Exact, 200)
        .once()
        .body(|fx, o| Some(json!({"org_id": fx.child_of[o.org.as_deref().unwrap_or_default()]}))),
    row("POST /v1/jobs/{id}/reassign", ADMIN_DISPATCHERS, Objects::Assigned, Scope::Subtree, 200)
        .body(|fx, o| Some(json!({"technician_id": fx.second_tech[o.org.as_deref().unwrap_or_default()]}))),
    // The vendor's queue.
    row("POST /v1/jobs/{id}/offer", ADMIN_DISPATCHERS, Objects::Jobs, Scope::Subtree, 200)
        .once()
        .body(|fx, _| Some(json!({"org_id": fx.place(Place::Field)}))),
    row("POST /v1/jobs/{id}/assign", ADMIN_DISPATCHERS, Objects::Jobs, Scope::Subtree, 200)
        .once()
        .body(|fx, o| Some(json!({"technician_id": fx.first_tech[o.org.as_deref().unwrap_or_default()]}))),
    row("POST /v1/jobs/{id}/redispatch", ADMIN_DISPATCHERS, Objects::Jobs, Scope::Subtree, 200).body(empty),
    // Review: the access check passes, then the state refuses (none of these jobs is in review).
    row("GET /v1/reviews", &[Admin, Reviewer], Objects::None, Scope::Role, 200),
    row("POST /v1/jobs/{id}/review", &[Admin, Reviewer], Objects::Jobs, Scope::Role, 409)
        .body(|_, _| Some(json!({"verdict": "approve"}))),
    row("GET /v1/photos/{sha256}", &[Admin, VendorDispatcher, PartnerDispatcher, SubDispatcher, Reviewer, Technician], Objects::Photo, Scope::Subtree, 200)
        .except(&[
            (VendorDispatcher, Rel::Child, 404, "a dispatcher sees a photo through a work report in its scope; this one is attached to none"),
            (PartnerDispatcher, Rel::Child, 404, "the same"),
            (SubDispatcher, Rel::Child, 404, "the same"),
        ]),
    // Phones.
    row("POST /v1/devices", &[VendorDispatcher, PartnerDispatcher, SubDispatcher, Technician, Customer], Objects::None, Scope::Role, 201)
        .body(|_, _| Some(json!({"platform": "android", "push_token": "matrix", "app_version": "1.0.0"}))),
    row("POST /v1/sync/pull", &[Technician], Objects::None, Scope::Role, 200)
        .body(|fx, _| Some(json!({"device_id": fx.device, "cursor": null}))),
    row("POST /v1/sync/push", &[Technician], Objects::None, Scope::Role, 200)
        .body(|fx, _| Some(json!({"device_id": fx.device, "mutations": []}))),
    // The fixture stored these bytes already: the idempotent upload answers 200 (201 the first time).
    row("PUT /v1/photos/{sha256}", &[Technician], Objects::None, Scope::Role, 200),
    // Surveys: the link's token decides (an unknown one is 404 for everyone).
    row("GET /v1/surveys/{token}", SIGNED_IN, Objects::None, Scope::Public, 404),
    row("POST /v1/surveys/{token}", SIGNED_IN, Objects::None, Scope::Public, 404)
        .body(|_, _| Some(json!({"nps": 9, "csat": 5, "ces": 2}))),
    row("GET /v1/settings/surveys", ADMIN, Objects::None, Scope::Role, 200),
    row("PUT /v1/settings/surveys", ADMIN, Objects::None, Scope::Role, 200).body(|fx, _| Some(fx.survey_settings.clone())),
    // Personal data. Erasure: the access check passes, then the state refuses (each card has an open request).
    row("GET /v1/consent-texts/current", SIGNED_IN, Objects::None, Scope::Public, 200),
    row("GET /v1/customers/me/export", &[Customer], Objects::None, Scope::Role, 200),
    row("GET /v1/customers/{id}/export", &[Admin, Customer], Objects::Cards, Scope::Subtree, 200),
    row("POST /v1/customers/{id}/erase", ADMIN, Objects::Cards, Scope::Role, 409),
    row("GET /v1/audit", ADMIN, Objects::None, Scope::Role, 200),
    // Operations.
    row("GET /v1/outbox", ADMIN, Objects::None, Scope::Role, 200),
    row("POST /v1/outbox/{id}/retry", ADMIN, Objects::None, Scope::Role, 404),
];

/// Where objects live, seen from the partner (`Central`) and sub-partner (`Moscow`) dispatchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Place {
    Vendor,
    Central,
    Moscow,
    Field,
    CentralSibling,
    Volga,
    VolgaSub,
}

const PLACES: [Place; 7] =
    [Place::Vendor, Place::Central, Place::Moscow, Place::Field, Place::CentralSibling, Place::Volga, Place::VolgaSub];

/// One object a cell is asked about.
#[derive(Debug, Clone)]
struct Obj {
    label: String,
    id: String,
    org: Option<String>,
    tech: Option<String>,
    customer: Option<String>,
}

impl Obj {
    fn none() -> Obj {
        Obj { label: "-".into(), id: uuid::Uuid::nil().to_string(), org: None, tech: None, customer: None }
    }
}

/// The seeded network as the matrix uses it.
struct Fx {
    tokens: HashMap<Who, String>,
    orgs: HashMap<Place, String>,
    /// Every organisation's parent.
    parent: HashMap<String, Option<String>>,
    org_names: HashMap<String, String>,
    /// Each place's territories as a `PUT` body (what it has, so an admin's put changes nothing).
    territories: HashMap<String, Value>,
    /// A child organisation made under each place.
    child_of: HashMap<String, String>,
    /// Two technicians per place (the first of `Field` is the technician caller's own).
    first_tech: HashMap<String, String>,
    second_tech: HashMap<String, String>,
    my_tech: String,
    my_customer: String,
    device: String,
    photo_sha: String,
    track_token: String,
    survey_settings: Value,
    counter: std::sync::atomic::AtomicU64,
}

const PHOTO: &[u8] = b"matrix photo bytes";

impl Fx {
    fn place(&self, p: Place) -> &str {
        &self.orgs[&p]
    }

    fn unique(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{prefix} {n}")
    }

    fn caller_org(&self, who: Who) -> Option<&str> {
        match who {
            VendorDispatcher => Some(self.place(Place::Vendor)),
            PartnerDispatcher => Some(self.place(Place::Central)),
            SubDispatcher => Some(self.place(Place::Moscow)),
            _ => None,
        }
    }

    fn is_ancestor(&self, above: &str, of: &str) -> bool {
        let mut at = self.parent.get(of).cloned().flatten();
        while let Some(p) = at {
            if p == above {
                return true;
            }
            at = self.parent.get(&p).cloned().flatten();
        }
        false
    }

    fn relation(&self, who: Who, obj: &Obj) -> Rel {
        match who {
            Admin | Reviewer | Anonymous => Rel::Network,
            Technician => match &obj.tech {
                Some(t) if *t == self.my_tech => Rel::Own,
                None if obj.org.is_none() => Rel::Network,
                _ => Rel::Other,
            },
            Customer => match &obj.customer {
                Some(c) if *c == self.my_customer => Rel::Own,
                None if obj.org.is_none() => Rel::Network,
                _ => Rel::Other,
            },
            VendorDispatcher | PartnerDispatcher | SubDispatcher => {
                let (Some(me), Some(at)) = (self.caller_org(who), obj.org.as_deref()) else { return Rel::Network };
                if me == at {
                    Rel::Own
                } else if self.is_ancestor(me, at) {
                    Rel::Child
                } else if self.is_ancestor(at, me) {
                    Rel::Parent
                } else if self.parent.get(me) == self.parent.get(at) {
                    Rel::Sibling
                } else {
                    Rel::Unrelated
                }
            }
        }
    }
}

async fn ok_json(r: anyhow::Result<crate::helpers::Resp>, what: &str) -> anyhow::Result<Value> {
    let r = r?;
    anyhow::ensure!(r.status.is_success(), "{what}: {} {}", r.status, r.body);
    Ok(r.body)
}

/// A booking nobody can take (a skill no technician has), with its own phone so it makes its own card.
fn stranded_booking(fx: &Fx) -> Value {
    let mut b = booking();
    let n = fx.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    b["required_skills"] = json!(["matrix_nobody_has_this"]);
    b["contact"] = json!({"name": "Matrix Person", "phone": format!("+7 903 {:03}-{:02}-{:02}", n % 1000, (n / 1000) % 100, 11)});
    b
}

impl Fx {
    async fn build(app: &TestApp) -> anyhow::Result<Fx> {
        let admin = app.login("admin@demo.sortie").await?;
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                Some(c) => format!("/v1/orgs?limit=200&cursor={c}"),
                None => "/v1/orgs?limit=200".to_owned(),
            };
            let page = ok_json(app.get(&page, &admin).await, "orgs").await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let mut parent = HashMap::new();
        let mut org_names = HashMap::new();
        let mut by_slug = HashMap::new();
        for o in &items {
            let id = o["id"].as_str().unwrap_or_default().to_owned();
            parent.insert(id.clone(), o["parent_id"].as_str().map(str::to_owned));
            org_names.insert(id.clone(), o["name"].as_str().unwrap_or_default().to_owned());
            by_slug.insert(o["slug"].as_str().unwrap_or_default().to_owned(), id);
        }
        let slug = |s: &str| by_slug.get(s).cloned().ok_or_else(|| anyhow::anyhow!("no organisation {s}"));
        let child_other_than = |of: &str, not: Option<&str>| {
            items
                .iter()
                .filter(|o| o["parent_id"] == of && Some(o["id"].as_str().unwrap_or_default()) != not)
                .map(|o| o["id"].as_str().unwrap_or_default().to_owned())
                .min()
                .ok_or_else(|| anyhow::anyhow!("no child of {of}"))
        };
        let mut orgs = HashMap::new();
        orgs.insert(Place::Vendor, slug("vendor")?);
        orgs.insert(Place::Central, slug("central")?);
        orgs.insert(Place::Moscow, slug("central-moscow")?);
        orgs.insert(Place::Field, slug("central-moscow-field")?);
        orgs.insert(Place::CentralSibling, child_other_than(&orgs[&Place::Central], Some(&orgs[&Place::Moscow]))?);
        orgs.insert(Place::Volga, slug("volga")?);
        orgs.insert(Place::VolgaSub, child_other_than(&orgs[&Place::Volga], None)?);

        let mut territories = HashMap::new();
        let mut child_of = HashMap::new();
        let mut first_tech = HashMap::new();
        let mut second_tech = HashMap::new();
        let mut my_tech = String::new();
        for place in PLACES {
            let org = orgs[&place].clone();
            let t = ok_json(app.get(&format!("/v1/orgs/{org}/territories"), &admin).await, "territories").await?;
            let put: Vec<Value> = t["items"]
                .as_array()
                .or(t.as_array())
                .into_iter()
                .flatten()
                .map(|t| json!({"geometry": t["geometry"], "exclusive": t["exclusive"]}))
                .collect();
            territories.insert(org.clone(), Value::Array(put));
            let child = ok_json(
                app.post("/v1/orgs", &admin, &json!({"parent_id": org, "name": format!("Matrix child of {place:?}")})).await,
                "child org",
            )
            .await?;
            child_of.insert(org.clone(), child["id"].as_str().unwrap_or_default().to_owned());
            let mut techs = Vec::new();
            for n in 0..2 {
                let t = ok_json(
                    app.post(
                        "/v1/technicians",
                        &admin,
                        &json!({"org_id": org, "name": format!("Matrix {place:?} {n}"), "home_base": {"lat": 55.7, "lon": 37.6},
                            "shift": {"start": "00:00", "end": "23:59"}, "daily_capacity": 50}),
                    )
                    .await,
                    "technician",
                )
                .await?;
                techs.push(t["id"].as_str().unwrap_or_default().to_owned());
            }
            if place == Place::Field {
                my_tech = techs[0].clone();
            }
            first_tech.insert(org.clone(), techs[0].clone());
            second_tech.insert(org, techs[1].clone());
        }

        let mut tokens = HashMap::new();
        for (who, email) in [
            (Admin, "admin@demo.sortie"),
            (VendorDispatcher, "dispatcher@vendor.demo.sortie"),
            (PartnerDispatcher, "dispatcher@central.demo.sortie"),
            (SubDispatcher, "dispatcher@central-moscow.demo.sortie"),
            (Reviewer, "reviewer@demo.sortie"),
            (Customer, "customer@demo.sortie"),
        ] {
            tokens.insert(who, app.login(email).await?);
        }
        let tech = app
            .new_login(
                &admin,
                &json!({"email": "matrix-tech@matrix.example", "password": "long enough password",
                    "role": "technician", "technician_id": my_tech}),
            )
            .await?;
        tokens.insert(Technician, tech.clone());
        let phone = Phone::register(app, &tech).await?;
        let photo_sha = sha256_hex(PHOTO);
        let put = app.client.put(format!("{}/v1/photos/{photo_sha}", app.base)).bearer_auth(&tech).body(PHOTO).send().await?;
        anyhow::ensure!(put.status().is_success(), "photo upload: {}", put.status());

        let customer = tokens[&Customer].clone();
        let me = ok_json(app.get("/v1/users/me", &customer).await, "customer me").await?;
        let mut fx = Fx {
            tokens,
            orgs,
            parent,
            org_names,
            territories,
            child_of,
            first_tech,
            second_tech,
            my_tech,
            my_customer: me["customer_id"].as_str().unwrap_or_default().to_owned(),
            device: phone.device_id.clone(),
            photo_sha,
            track_token: String::new(),
            survey_settings: Value::Null,
            counter: std::sync::atomic::AtomicU64::new(0),
        };
        let own = ok_json(app.book(&customer, &stranded_booking(&fx), None).await, "customer booking").await?;
        fx.track_token = own["tracking_token"].as_str().unwrap_or_default().to_owned();
        if fx.my_customer.is_empty() {
            fx.my_customer = own["customer_id"].as_str().unwrap_or_default().to_owned();
        }
        fx.survey_settings = ok_json(app.get("/v1/settings/surveys", &admin).await, "survey settings").await?;
        Ok(fx)
    }

    fn dispatcher_of(&self, place: Place) -> Who {
        match place {
            Place::Vendor => VendorDispatcher,
            Place::Central => PartnerDispatcher,
            Place::Moscow => SubDispatcher,
            _ => Admin,
        }
    }

    /// A stranded request of each place (booked by the place's demo dispatcher, so the place is its general
    /// contractor and only link), plus the customer's own (the vendor's).
    async fn jobs(&self, app: &TestApp) -> anyhow::Result<Vec<Obj>> {
        let mut out = Vec::new();
        for place in PLACES {
            let org = self.place(place).to_owned();
            let booker = self.dispatcher_of(place);
            let token = match booker {
                Admin => app.login(&format!("dispatcher@{}.demo.sortie", self.slug(app, &org).await?)).await?,
                w => self.tokens[&w].clone(),
            };
            let r = ok_json(app.book(&token, &stranded_booking(self), None).await, "stranded booking").await?;
            out.push(Obj {
                label: format!("{place:?}'s request"),
                id: r["id"].as_str().unwrap_or_default().to_owned(),
                org: Some(org),
                tech: None,
                customer: r["customer_id"].as_str().map(str::to_owned),
            });
        }
        let r = ok_json(app.book(&self.tokens[&Customer], &stranded_booking(self), None).await, "customer booking").await?;
        out.push(Obj {
            label: "the customer's own request".into(),
            id: r["id"].as_str().unwrap_or_default().to_owned(),
            org: Some(self.place(Place::Vendor).to_owned()),
            tech: None,
            customer: Some(self.my_customer.clone()),
        });
        Ok(out)
    }

    async fn slug(&self, app: &TestApp, org: &str) -> anyhow::Result<String> {
        let admin = &self.tokens[&Admin];
        let o = ok_json(app.get(&format!("/v1/orgs/{org}"), admin).await, "org").await?;
        Ok(o["slug"].as_str().unwrap_or_default().to_owned())
    }

    async fn objects(&self, app: &TestApp, kind: Objects) -> anyhow::Result<Vec<Obj>> {
        let admin = &self.tokens[&Admin];
        let at = |place: Place, id: &str, label: &str| Obj {
            label: format!("{place:?}'s {label}"),
            id: id.to_owned(),
            org: Some(self.place(place).to_owned()),
            tech: None,
            customer: None,
        };
        Ok(match kind {
            Objects::None => vec![Obj::none()],
            Objects::Orgs => PLACES.iter().map(|p| at(*p, self.place(*p), "organisation")).collect(),
            Objects::Technicians => PLACES
                .iter()
                .map(|p| {
                    let id = &self.first_tech[self.place(*p)];
                    Obj { tech: Some(id.clone()), ..at(*p, id, "technician") }
                })
                .collect(),
            Objects::Users => {
                let mut out = Vec::new();
                for p in PLACES {
                    let email = format!("dispatcher@{}.demo.sortie", self.slug(app, self.place(p)).await?);
                    let me = ok_json(app.get("/v1/users/me", &app.login(&email).await?).await, "me").await?;
                    out.push(at(p, me["id"].as_str().unwrap_or_default(), "dispatcher login"));
                }
                out
            }
            Objects::Jobs => self.jobs(app).await?,
            Objects::Cards => self
                .jobs(app)
                .await?
                .into_iter()
                .map(|j| Obj { label: j.label.replace("request", "client card"), id: j.customer.clone().unwrap_or_default(), ..j })
                .collect(),
            Objects::Offered => {
                let mut out = Vec::new();
                for p in PLACES.into_iter().filter(|p| *p != Place::Vendor) {
                    let r = ok_json(app.book(&self.tokens[&VendorDispatcher], &stranded_booking(self), None).await, "book")
                        .await?;
                    let id = r["id"].as_str().unwrap_or_default().to_owned();
                    ok_json(
                        app.post(&format!("/v1/jobs/{id}/offer"), admin, &json!({"org_id": self.place(p)})).await,
                        "offer",
                    )
                    .await?;
                    out.push(at(p, &id, "offered job"));
                }
                out
            }
            Objects::Assigned => {
                let mut out = Vec::new();
                for p in PLACES {
                    let org = self.place(p);
                    let r = ok_json(app.book(admin, &stranded_booking(self), None).await, "book").await?;
                    let id = r["id"].as_str().unwrap_or_default().to_owned();
                    ok_json(
                        app.post(&format!("/v1/jobs/{id}/assign"), admin, &json!({"technician_id": self.first_tech[org]}))
                            .await,
                        "assign",
                    )
                    .await?;
                    out.push(at(p, &id, "assigned job"));
                }
                out
            }
            Objects::Photo => vec![Obj {
                label: "the technician's photo".into(),
                id: self.photo_sha.clone(),
                org: Some(self.place(Place::Field).to_owned()),
                tech: Some(self.my_tech.clone()),
                customer: None,
            }],
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One request of a cell.
async fn call(app: &TestApp, fx: &Fx, row: &Row, who: Who, obj: &Obj) -> anyhow::Result<crate::helpers::Resp> {
    let token = match row.path() {
        "/v1/surveys/{token}" => "no-such-survey-token",
        _ => &fx.track_token,
    };
    let path = row.path().replace("{id}", &obj.id).replace("{sha256}", &fx.photo_sha).replace("{token}", token);
    let bearer = fx.tokens.get(&who).map(String::as_str);
    if row.op == "PUT /v1/photos/{sha256}" {
        let mut req = app.client.put(format!("{}{path}", app.base)).body(PHOTO);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let res = req.send().await?;
        return Ok(crate::helpers::Resp { status: res.status(), headers: res.headers().clone(), body: res.json().await.unwrap_or(Value::Null) });
    }
    let body = (row.body)(fx, obj);
    app.call(row.method(), &path, bearer, body.as_ref()).await
}

async fn every_operation_answers_every_identity_and_relation_as_the_table_says(backend: Backend) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let documented = documented_operations(&app).await?;
    let fx = Fx::build(&app).await?;

    // Act and assert: the table covers the document exactly, and every cell answers as the table says.
    let tabled: BTreeSet<String> = ROWS.iter().map(|r| r.op.to_owned()).collect();
    let missing: Vec<_> = documented.difference(&tabled).collect();
    let stale: Vec<_> = tabled.difference(&documented).collect();
    assert!(missing.is_empty(), "operations without a row in access_matrix::ROWS: {missing:#?}");
    assert!(stale.is_empty(), "rows for operations the document does not list: {stale:#?}");
    assert_eq!(tabled.len(), ROWS.len(), "an operation has two rows");

    let mut mismatches = Vec::new();
    let mut cells = 0;
    let mut by_status: std::collections::BTreeMap<u16, usize> = Default::default();
    for row in ROWS {
        for obj in fx.objects(&app, row.objects).await? {
            // Refusals first: a cell that should change nothing runs before the ones that may.
            let mut order: Vec<(Who, Rel, u16)> =
                EVERYONE.iter().map(|w| (*w, fx.relation(*w, &obj), 0)).map(|(w, r, _)| (w, r, row.expected(w, r))).collect();
            order.sort_by_key(|(.., e)| (*e == row.ok) as u8);
            let mut succeeded = false;
            for (who, rel, expected) in order {
                let r = call(&app, &fx, row, who, &obj).await?;
                cells += 1;
                *by_status.entry(r.status.as_u16()).or_default() += 1;
                let got = r.status.as_u16();
                let fine = got == expected || (row.once && succeeded && expected == row.ok && got == 409);
                succeeded |= expected == row.ok && got == row.ok;
                if !fine {
                    mismatches.push(format!(
                        "{} as {who:?} on {} ({rel}): expected {expected}, got {got} {}",
                        row.op, obj.label, r.body
                    ));
                }
                if got >= 500 {
                    mismatches.push(format!("{} as {who:?} answered {got}", row.op));
                }
            }
        }
    }
    eprintln!("access matrix ({backend:?}): {} operations, {cells} cells, statuses {by_status:?}", ROWS.len());
    assert!(mismatches.is_empty(), "{} of {cells} cells differ from the table:\n{}", mismatches.len(), mismatches.join("\n"));
    Ok(())
}

/// `METHOD /path` of every `/v1` operation in the served document, after checking that it describes exactly
/// what the server routes: every `/v1` request the router sends to a handler matches a documented operation,
/// and every documented operation reaches a handler.
async fn documented_operations(app: &TestApp) -> anyhow::Result<BTreeSet<String>> {
    let doc = app.call(Method::GET, "/openapi.json", None, None).await?.body;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten().filter(|(p, _)| p.starts_with("/v1")) {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m.to_uppercase()) {
            documented.insert(format!("{method} {path}"));
        }
    }
    use actix_web::{App, HttpRequest, HttpResponse, test, web};
    let service = test::init_service(
        App::new().configure(api::routes::configure).configure(api::pages::configure).default_service(web::to(
            |req: HttpRequest| async move {
                HttpResponse::NotFound().insert_header((FALLBACK, "1")).body(format!("{:?}", req.resource_map()))
            },
        )),
    )
    .await;
    let routes = async |method: &str, path: &str| -> anyhow::Result<bool> {
        let req = test::TestRequest::default()
            .method(actix_web::http::Method::from_bytes(method.as_bytes())?)
            .uri(path)
            .to_request();
        let res = test::call_service(&service, req).await;
        Ok(res.headers().get(FALLBACK).is_none())
    };
    // The router's `/v1` patterns, from actix's resource map (its `Debug` form lists each pattern).
    let dump = test::call_and_read_body(&service, test::TestRequest::get().uri("/__no_such_path__").to_request()).await;
    let dump = String::from_utf8_lossy(&dump);
    let patterns: BTreeSet<String> = dump
        .split("Single(\"")
        .skip(1)
        .filter_map(|piece| piece.find("\")").map(|end| piece[..end].to_owned()))
        .filter(|p| p.starts_with("/v1"))
        .collect();
    let mut routed = BTreeSet::new();
    for path in patterns.iter().map(|p| fill(p)) {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if routes(method, &path).await? {
                routed.insert(format!("{method} {path}"));
            }
        }
    }
    anyhow::ensure!(routed.len() > 40, "found only {} routed operations: the probe is broken", routed.len());
    let undocumented: Vec<_> = routed.iter().filter(|r| !documented.iter().any(|d| op_matches(d, r))).collect();
    assert!(undocumented.is_empty(), "routed but not in /openapi.json: {undocumented:#?}");
    let mut unrouted = Vec::new();
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap_or_default();
        if !routes(method, &fill(path)).await? {
            unrouted.push(op);
        }
    }
    assert!(unrouted.is_empty(), "in /openapi.json but not routed: {unrouted:#?}");
    Ok(documented)
}

/// `/v1/jobs/{id}/accept` → `/v1/jobs/x/accept`.
fn fill(pattern: &str) -> String {
    pattern.split('/').map(|s| if s.starts_with('{') { "x" } else { s }).collect::<Vec<_>>().join("/")
}

/// Whether the documented `METHOD /template` describes the request `METHOD /path`.
fn op_matches(documented: &str, request: &str) -> bool {
    let (Some((dm, dp)), Some((rm, rp))) = (documented.split_once(' '), request.split_once(' ')) else { return false };
    let (d, r): (Vec<&str>, Vec<&str>) = (dp.split('/').collect(), rp.split('/').collect());
    dm == rm && d.len() == r.len() && d.iter().zip(&r).all(|(d, r)| d.starts_with('{') || d == r)
}

const FALLBACK: &str = "x-matrix-fallback";


both_backends!(ids_of_another_subtree_smuggled_in_bodies_and_mutations_are_refused_like_unknown_ids);

/// A job of `place` assigned (by the admin, through the vendor queue) to the place's first technician.
async fn assigned_job(app: &TestApp, fx: &Fx, tech: &str) -> anyhow::Result<String> {
    let admin = &fx.tokens[&Admin];
    let r = ok_json(app.book(admin, &stranded_booking(fx), None).await, "book").await?;
    let id = r["id"].as_str().unwrap_or_default().to_owned();
    ok_json(app.post(&format!("/v1/jobs/{id}/assign"), admin, &json!({"technician_id": tech})).await, "assign").await?;
    Ok(id)
}

async fn ids_of_another_subtree_smuggled_in_bodies_and_mutations_are_refused_like_unknown_ids(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let fx = Fx::build(&app).await?;
    let admin = fx.tokens[&Admin].clone();
    let central = fx.tokens[&PartnerDispatcher].clone();
    let unknown = uuid::Uuid::new_v4().to_string();
    let foreign_org = fx.place(Place::Volga).to_owned();
    let foreign_tech = fx.first_tech[fx.place(Place::VolgaSub)].clone();
    let central_tech = fx.first_tech[fx.place(Place::Central)].clone();
    let offered = |p: Place| {
        let (app, fx, admin) = (&app, &fx, &admin);
        async move {
            let r = ok_json(app.book(&fx.tokens[&VendorDispatcher], &stranded_booking(fx), None).await, "book").await?;
            let id = r["id"].as_str().unwrap_or_default().to_owned();
            ok_json(app.post(&format!("/v1/jobs/{id}/offer"), admin, &json!({"org_id": fx.place(p)})).await, "offer")
                .await?;
            anyhow::Ok(id)
        }
    };
    let stranded_at_central = async || {
        let r = ok_json(app.book(&central, &stranded_booking(&fx), None).await, "book").await?;
        anyhow::Ok(r["id"].as_str().unwrap_or_default().to_owned())
    };

    // Act and assert: each body names an object of another subtree, then an id that exists nowhere; both
    // answers are the same refusal, and the job is where it was.
    type Case = (&'static str, String, &'static str, Box<dyn Fn(&str) -> Value>);
    let mut cases: Vec<Case> = Vec::new();
    let job = offered(Place::Central).await?;
    cases.push(("subcontract to another partner", job, "subcontract", Box::new(|id| json!({"org_id": id}))));
    let job = offered(Place::Central).await?;
    cases.push(("accept naming another partner's technician", job, "accept", Box::new(|id| json!({"technician_id": id}))));
    let job = assigned_job(&app, &fx, &central_tech).await?;
    cases.push(("reassign to another partner's technician", job, "reassign", Box::new(|id| json!({"technician_id": id}))));
    let job = stranded_at_central().await?;
    cases.push(("offer to another partner", job, "offer", Box::new(|id| json!({"org_id": id}))));
    let job = stranded_at_central().await?;
    cases.push(("assign another partner's technician", job, "assign", Box::new(|id| json!({"technician_id": id}))));
    for (what, job, action, body) in &cases {
        let before = ok_json(app.get(&format!("/v1/jobs/{job}"), &admin).await, "job").await?;
        let foreign = if body("x").get("org_id").is_some() { &foreign_org } else { &foreign_tech };
        let smuggled = app.post(&format!("/v1/jobs/{job}/{action}"), &central, &body(foreign)).await?;
        let made_up = app.post(&format!("/v1/jobs/{job}/{action}"), &central, &body(&unknown)).await?;
        assert!(smuggled.status.is_client_error(), "{what}: {} {}", smuggled.status, smuggled.body);
        assert_eq!(
            (smuggled.status, smuggled.code(), smuggled.field()),
            (made_up.status, made_up.code(), made_up.field()),
            "{what}: the answer tells a foreign id from an unknown one: {} vs {}",
            smuggled.body,
            made_up.body
        );
        let after = ok_json(app.get(&format!("/v1/jobs/{job}"), &admin).await, "job").await?;
        assert_eq!(
            (&before["status"], &before["technician_id"], &before["org_chain"]),
            (&after["status"], &after["technician_id"], &after["org_chain"]),
            "{what}: the job changed"
        );
    }
    // A dispatcher makes a login for another partner's technician.
    for tech in [&foreign_tech, &unknown] {
        let r = app
            .post("/v1/users", &central, &json!({"email": format!("smuggled-{tech}@matrix.example"), "password": "long enough password", "role": "technician", "technician_id": tech}))
            .await?;
        assert_eq!(r.status, reqwest::StatusCode::NOT_FOUND, "a login for technician {tech}: {}", r.body);
    }

    // A technician's phone pushes mutations for a job of another technician (same organisation, even).
    let other = assigned_job(&app, &fx, &fx.second_tech[fx.place(Place::Field)]).await?;
    let tech = &fx.tokens[&Technician];
    let batch = json!({"device_id": fx.device, "mutations": [
        {"seq": 1, "id": uuid::Uuid::new_v4(), "name": "job.set_status", "args": {"job_id": other, "status": "en_route"}},
        {"seq": 2, "id": uuid::Uuid::new_v4(), "name": "job.add_note", "args": {"job_id": other, "note_id": uuid::Uuid::new_v4(), "text": "not mine"}},
        {"seq": 3, "id": uuid::Uuid::new_v4(), "name": "job.set_checklist", "args": {"job_id": other, "item": "power_checked", "value": true}},
        {"seq": 4, "id": uuid::Uuid::new_v4(), "name": "job.add_note", "args": {"job_id": unknown, "note_id": uuid::Uuid::new_v4(), "text": "nobody's"}},
    ]});
    let r = app.post("/v1/sync/push", tech, &batch).await?;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
    let reasons: Vec<&str> =
        r.body["results"].as_array().into_iter().flatten().map(|m| m["reason"].as_str().unwrap_or("applied")).collect();
    assert_eq!(reasons, ["not_assigned"; 4], "{}", r.body);
    let after = ok_json(app.get(&format!("/v1/jobs/{other}"), &admin).await, "job").await?;
    assert_eq!(after["status"], "scheduled", "another technician's job moved");
    // Another technician's device id: the pull and push are 404, as for a device that does not exist.
    let other_phone = {
        let login = app
            .new_login(&admin, &json!({"email": "matrix-other@matrix.example", "password": "long enough password",
                "role": "technician", "technician_id": fx.second_tech[fx.place(Place::Field)]}))
            .await?;
        Phone::register(&app, &login).await?.device_id
    };
    for device in [&other_phone, &unknown] {
        let pull = app.post("/v1/sync/pull", tech, &json!({"device_id": device, "cursor": null})).await?;
        let push = app.post("/v1/sync/push", tech, &json!({"device_id": device, "mutations": []})).await?;
        assert_eq!((pull.status.as_u16(), push.status.as_u16()), (404, 404), "{} {}", pull.body, push.body);
    }
    Ok(())
}
