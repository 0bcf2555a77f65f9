//! Enumerations stored as TEXT. Each maps to the same snake_case word on the
//! wire, in the database (CHECK constraints list them) and in Rust. The
//! diesel derives must sit on the type; the `ToSql`/`FromSql` impls are in
//! `storage::sql_enums`.

use diesel::sql_types::Text;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
            diesel::AsExpression, diesel::FromSqlRow)]
        #[serde(rename_all = "snake_case")]
        #[diesel(sql_type = Text)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stored and wire form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses the stored and wire form.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

    };
}

text_enum! {
    /// A user's role, carried in tokens.
    Role {
        Customer => "customer",
        Technician => "technician",
        Dispatcher => "dispatcher",
        Reviewer => "reviewer",
        Admin => "admin",
    }
}

text_enum! {
    /// What a job is.
    JobKind {
        HomeVisit => "home_visit",
        PartsReplacement => "parts_replacement",
    }
}

text_enum! {
    /// How urgent a job is; service agreements give minutes per priority.
    Priority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
}

text_enum! {
    /// A job's lifecycle status (DESIGN.md, Job lifecycle).
    JobStatus {
        New => "new",
        Offered => "offered",
        Accepted => "accepted",
        Scheduled => "scheduled",
        EnRoute => "en_route",
        OnSite => "on_site",
        Completed => "completed",
        InReview => "in_review",
        Approved => "approved",
        Returned => "returned",
        Incomplete => "incomplete",
        Unassignable => "unassignable",
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// What happened to a job (append-only job events).
    EventType {
        Created => "created",
        Offered => "offered",
        Declined => "declined",
        OfferExpired => "offer_expired",
        Escalated => "escalated",
        Subcontracted => "subcontracted",
        Accepted => "accepted",
        Assigned => "assigned",
        Rescheduled => "rescheduled",
        StatusChanged => "status_changed",
        Incomplete => "incomplete",
        Completed => "completed",
        ReviewApproved => "review_approved",
        ReviewReturned => "review_returned",
        Cancelled => "cancelled",
        Unassignable => "unassignable",
    }
}

text_enum! {
    /// How an organisation appears in a job's chain.
    ChainRole {
        Contractor => "contractor",
        Hop => "hop",
        Offeree => "offeree",
        Assignee => "assignee",
    }
}

text_enum! {
    /// Where an offer of a job to an organisation stands.
    OfferStatus {
        Pending => "pending",
        Accepted => "accepted",
        Declined => "declined",
        Expired => "expired",
        Subcontracted => "subcontracted",
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// The vendor's verdict on a work report (`reviews.verdict`, CHECK in migration 000020).
    Verdict {
        Approved => "approved",
        Returned => "returned",
    }
}

text_enum! {
    /// What a change-log row is about (CHECK constraint since migration 000005).
    ChangeEntity {
        Job => "job",
        Technician => "technician",
        Org => "org",
        Route => "route",
    }
}

text_enum! {
    /// What happened to a change-log entity: phones upsert or delete their copy.
    ChangeOp {
        Upsert => "upsert",
        Delete => "delete",
    }
}

text_enum! {
    /// The simpler stage a customer sees, derived from the status.
    Stage {
        Received => "received",
        TechnicianAssigned => "technician_assigned",
        Scheduled => "scheduled",
        OnTheWay => "on_the_way",
        InProgress => "in_progress",
        Done => "done",
        Cancelled => "cancelled",
    }
}

impl JobStatus {
    /// The customer's stage for this status.
    pub fn stage(self) -> Stage {
        match self {
            JobStatus::New | JobStatus::Offered | JobStatus::Unassignable => Stage::Received,
            JobStatus::Accepted => Stage::TechnicianAssigned,
            JobStatus::Scheduled | JobStatus::Returned | JobStatus::Incomplete => Stage::Scheduled,
            JobStatus::EnRoute => Stage::OnTheWay,
            JobStatus::OnSite => Stage::InProgress,
            JobStatus::Completed | JobStatus::InReview | JobStatus::Approved => Stage::Done,
            JobStatus::Cancelled => Stage::Cancelled,
        }
    }

    /// Whether the job is closed for good (tracking links expire after this).
    pub fn is_closed(self) -> bool {
        matches!(self, JobStatus::Approved | JobStatus::Cancelled)
    }

    /// Whether a technician holding this job has it on their day (counts against capacity).
    pub fn books_technician(self) -> bool {
        matches!(
            self,
            JobStatus::Scheduled
                | JobStatus::EnRoute
                | JobStatus::OnSite
                | JobStatus::Completed
                | JobStatus::InReview
                | JobStatus::Approved
                | JobStatus::Returned
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_text() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(*s));
            let json = serde_json::to_string(s).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
    }
}

text_enum! {
    /// How a notification travels (`outbox.channel`, CHECK in migration 000020_outbox).
    Channel {
        Push => "push",
        Email => "email",
        Sms => "sms",
    }
}

text_enum! {
    /// Where an outbox row stands: waiting (or retrying), delivered, given up, or not sent because its
    /// channel is off or its recipient is gone.
    OutboxStatus {
        Pending => "pending",
        Sent => "sent",
        Failed => "failed",
        Skipped => "skipped",
    }
}

text_enum! {
    /// The language of a customer's texts (`customers.language`); Russian unless the card says otherwise.
    Language {
        Ru => "ru",
        En => "en",
    }
}

text_enum! {
    /// The channel a customer prefers (`customers.notify_channel`); the other one stands in when the
    /// preferred contact is missing.
    NotifyChannel {
        Both => "both",
        Email => "email",
        Sms => "sms",
    }
}

text_enum! {
    /// What an audit-log entry records (`audit_log.action`, CHECK in migration 000050_privacy).
    AuditAction {
        /// A client card was shown to someone other than its own customer (API or console).
        CustomerRead => "customer_read",
        CustomerExport => "customer_export",
        CustomerErase => "customer_erase",
        CustomerUpdate => "customer_update",
        UserCreate => "user_create",
        /// Activated, deactivated or renamed.
        UserUpdate => "user_update",
        OrgCreate => "org_create",
        OrgUpdate => "org_update",
        TerritoriesSet => "territories_set",
        AgreementSet => "agreement_set",
        TechnicianCreate => "technician_create",
        TechnicianUpdate => "technician_update",
        OutboxRetry => "outbox_retry",
    }
}
