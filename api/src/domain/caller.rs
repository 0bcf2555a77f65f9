//! Who is asking, and which jobs and organisations that lets them see.

use crate::domain::Role;

/// The authenticated caller, as every use case receives it (the HTTP layer
/// loads it fresh on each request: `auth::AuthUser` is this type).
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: String,
    pub role: Role,
    pub org_id: Option<String>,
    /// Materialised path of the user's organisation ("/root/…/org/").
    pub org_path: Option<String>,
    pub technician_id: Option<String>,
    pub customer_id: Option<String>,
}

/// Which jobs a caller may see (DESIGN.md, Visibility).
#[derive(Debug, Clone, Copy)]
pub enum JobScope<'a> {
    /// Admins and reviewers.
    All,
    /// Jobs whose chain holds an organisation with this path prefix.
    Subtree(&'a str),
    /// A customer's own requests.
    Customer(&'a str),
    /// A technician's own assignments.
    Technician(&'a str),
}

impl Caller {
    /// The subtree path a dispatcher works in; `None` for roles that see the whole network.
    pub fn subtree(&self) -> Option<&str> {
        match self.role {
            Role::Admin | Role::Reviewer => None,
            _ => Some(self.org_path.as_deref().unwrap_or("/nothing/")),
        }
    }

    /// Whether the caller manages the organisation at `path` (admin: all; dispatcher: own subtree).
    pub fn manages(&self, path: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Dispatcher => self.org_path.as_deref().is_some_and(|own| path.starts_with(own)),
            _ => false,
        }
    }

    /// Which jobs the caller may see.
    pub fn job_scope(&self) -> JobScope<'_> {
        match self.role {
            Role::Admin | Role::Reviewer => JobScope::All,
            Role::Dispatcher => JobScope::Subtree(self.org_path.as_deref().unwrap_or("/nothing/")),
            Role::Customer => JobScope::Customer(self.customer_id.as_deref().unwrap_or("")),
            Role::Technician => JobScope::Technician(self.technician_id.as_deref().unwrap_or("")),
        }
    }
}
