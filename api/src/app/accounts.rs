//! Accounts: admins manage everyone; a dispatcher manages the dispatchers and
//! technicians of its own subtree. Passwords are hashed by the caller (off
//! the async runtime) before these run.

use chrono::NaiveDateTime;

use crate::app::audit::{self, Subject};
use crate::app_error::ApiError;
use crate::auth::password;
use crate::db::{DbConnection, is_unique_violation};
use crate::domain::{AuditAction, Caller, Invalids, Role, validate};
use crate::storage::{self, customers, orgs, technicians, tokens, users};

/// An account as typed (the API's body or the console's form), before any check.
#[derive(Debug, Clone)]
pub struct AccountDraft {
    pub email: String,
    /// The password in clear (typed by an API client, or generated for the console); hashed after the checks.
    pub password: String,
    pub role: Role,
    pub name: Option<String>,
    pub org_id: Option<String>,
    pub technician_id: Option<String>,
    pub customer_id: Option<String>,
}

/// A checked account waiting for its password's hash: only [`AccountDraft::check`] makes one.
#[derive(Debug)]
pub struct CheckedAccount {
    account: NewAccount,
    password: String,
}

impl AccountDraft {
    /// The rules of a new account, every field checked: an e-mail address, a password of the policy, a name, and
    /// a role the caller may create (403 before a password hash is spent on it).
    pub fn check(self, caller: &Caller) -> Result<CheckedAccount, ApiError> {
        let mut bad = Invalids::default();
        let email = bad.check(validate::email("email", &self.email));
        bad.check(password::policy("password", &self.password));
        let name =
            bad.check(self.name.as_deref().map(|n| validate::text("name", n, validate::MAX_NAME_CHARS)).transpose());
        let (Some(email), Some(name)) = (email, name) else { return Err(bad.into()) };
        if !bad.is_empty() {
            return Err(bad.into());
        }
        may_create(caller, self.role)?;
        let account = NewAccount {
            email,
            password_hash: String::new(),
            role: self.role,
            name,
            org_id: self.org_id,
            technician_id: self.technician_id,
            customer_id: self.customer_id,
        };
        Ok(CheckedAccount { account, password: self.password })
    }
}

impl CheckedAccount {
    /// The password in clear, to hash (off the async runtime, through the bounded hasher).
    pub fn password(&self) -> String {
        self.password.clone()
    }

    /// The account to create, with the password's hash.
    pub fn with_hash(self, password_hash: String) -> NewAccount {
        NewAccount { password_hash, ..self.account }
    }
}

/// A validated new account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub name: Option<String>,
    pub org_id: Option<String>,
    pub technician_id: Option<String>,
    pub customer_id: Option<String>,
}

/// What a new account is linked to.
type Links = (Option<String>, Option<String>, Option<String>);

/// The organisation, technician and card a new account of `role` belongs to,
/// each checked to be in the caller's scope (404 otherwise).
fn links(conn: &mut DbConnection, caller: &Caller, a: &NewAccount) -> Result<Links, ApiError> {
    match a.role {
        Role::Admin | Role::Reviewer => {
            let root = orgs::root(conn)?.ok_or(ApiError::NotFound)?;
            if a.org_id.as_deref().is_some_and(|o| o != root.id) {
                return Err(ApiError::invalid("org_id", "admins and reviewers belong to the vendor organisation"));
            }
            Ok((Some(root.id), None, None))
        }
        Role::Dispatcher => {
            let org_id =
                a.org_id.as_deref().ok_or_else(|| ApiError::invalid("org_id", "a dispatcher needs an organisation"))?;
            let org = orgs::find(conn, org_id)?.filter(|o| caller.manages(&o.path)).ok_or(ApiError::NotFound)?;
            Ok((Some(org.id), None, None))
        }
        Role::Technician => {
            let tid = a
                .technician_id
                .as_deref()
                .ok_or_else(|| ApiError::invalid("technician_id", "a technician login needs a technician"))?;
            let (t, path) = technicians::find_with_org_path(conn, tid)?.ok_or(ApiError::NotFound)?;
            if !caller.manages(&path) {
                return Err(ApiError::NotFound);
            }
            Ok((Some(t.org_id), Some(t.id), None))
        }
        Role::Customer => {
            let card = match a.customer_id.as_deref() {
                Some(cid) => Some(customers::find(conn, cid)?.ok_or(ApiError::NotFound)?.id),
                None => None,
            };
            Ok((None, None, card))
        }
    }
}

/// 403 unless the caller may create accounts of `role`: admins any, a
/// dispatcher only dispatchers and technicians.
pub fn may_create(caller: &Caller, role: Role) -> Result<(), ApiError> {
    match caller.role {
        Role::Admin => Ok(()),
        Role::Dispatcher if matches!(role, Role::Dispatcher | Role::Technician) => Ok(()),
        _ => Err(ApiError::Forbidden),
    }
}

/// Creates an account. A dispatcher may create only dispatchers and
/// technicians (403 otherwise); a taken e-mail (or a technician that already
/// has a login) is 409 `user_exists`.
pub fn create(
    conn: &mut DbConnection,
    caller: &Caller,
    a: NewAccount,
    now: NaiveDateTime,
) -> Result<users::User, ApiError> {
    may_create(caller, a.role)?;
    let (org_id, technician_id, customer_id) = links(conn, caller, &a)?;
    let id = storage::new_id();
    let inserted = users::insert(
        conn,
        &users::NewUser {
            id: &id,
            email: &a.email,
            password_hash: &a.password_hash,
            role: a.role,
            name: a.name.as_deref(),
            org_id: org_id.as_deref(),
            technician_id: technician_id.as_deref(),
            customer_id: customer_id.as_deref(),
            active: true,
            password_changed_at: now,
            created_at: now,
            updated_at: now,
        },
    );
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(ApiError::conflict(
            "user_exists",
            "a user with this e-mail (or for this technician) already exists",
            serde_json::json!({"field": "email"}),
        )),
        other => other.map_err(ApiError::from),
    }?;
    let subject = Subject { kind: "user", id: &id, customer_id: customer_id.as_deref() };
    audit::record(conn, caller, AuditAction::UserCreate, subject, &serde_json::json!({"role": a.role}), now)?;
    users::find(conn, &id)?.ok_or(ApiError::NotFound)
}

/// A user the caller manages (or the caller itself); 404 otherwise.
pub fn find_managed(conn: &mut DbConnection, caller: &Caller, id: &str) -> Result<users::User, ApiError> {
    let (user, path) = users::find_with_org_path(conn, id)?.ok_or(ApiError::NotFound)?;
    let visible = caller.role == Role::Admin
        || caller.id == user.id
        || (matches!(user.role, Role::Dispatcher | Role::Technician) && path.is_some_and(|p| caller.manages(&p)));
    if visible { Ok(user) } else { Err(ApiError::NotFound) }
}

/// What an account update changes.
#[derive(Debug, Default, Clone)]
pub struct AccountChange {
    /// `false` deactivates: every token of the user stops working at once.
    pub active: Option<bool>,
    pub name: Option<String>,
}

/// Activates, deactivates or renames a user the caller manages. Nobody
/// deactivates themselves (422 `field: active`).
pub fn update(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    change: AccountChange,
    now: NaiveDateTime,
) -> Result<users::User, ApiError> {
    let name = change.name.as_deref().map(|n| validate::text("name", n, validate::MAX_NAME_CHARS)).transpose()?;
    let target = find_managed(conn, caller, id)?;
    if let Some(active) = change.active {
        if target.id == caller.id && !active {
            return Err(ApiError::invalid("active", "you cannot deactivate yourself"));
        }
        users::set_active(conn, &target.id, active, now)?;
        if !active {
            tokens::revoke_user(conn, &target.id, now)?;
            crate::storage::devices::drop_user_tokens(conn, &target.id)?;
        }
    }
    if let Some(name) = &name {
        users::set_name(conn, &target.id, name, now)?;
    }
    let subject = Subject { kind: "user", id: &target.id, customer_id: target.customer_id.as_deref() };
    let details = serde_json::json!({"active": change.active, "renamed": change.name.is_some()});
    audit::record(conn, caller, AuditAction::UserUpdate, subject, &details, now)?;
    users::find(conn, &target.id)?.ok_or(ApiError::NotFound)
}
