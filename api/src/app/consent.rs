//! Consent texts (shipped in the repository, `api/consent/<version>.<lang>.md`,
//! versioned, Russian and English) and the consent a booking records.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::Language;
use crate::storage::consents::{self, Consent};

/// One published version of the consent text in one language.
#[derive(Debug, Clone, Copy)]
pub struct ConsentText {
    pub version: &'static str,
    pub language: Language,
    pub published_at: &'static str,
    /// Markdown.
    pub text: &'static str,
}

/// Every published text, oldest version first; the last version is the current one. A new version is a
/// new pair of files and two entries here; old versions stay, since stored consents name them.
pub const TEXTS: &[ConsentText] = &[
    ConsentText {
        version: "2026-12-01",
        language: Language::Ru,
        published_at: "2026-12-01T00:00:00Z",
        text: include_str!("../../consent/2026-12-01.ru.md"),
    },
    ConsentText {
        version: "2026-12-01",
        language: Language::En,
        published_at: "2026-12-01T00:00:00Z",
        text: include_str!("../../consent/2026-12-01.en.md"),
    },
];

/// The current text in a language.
pub fn current(language: Language) -> Option<&'static ConsentText> {
    TEXTS.iter().rev().find(|t| t.language == language)
}

/// The text of a version in a language.
pub fn find(version: &str, language: Language) -> Option<&'static ConsentText> {
    TEXTS.iter().find(|t| t.version == version && t.language == language)
}

/// The consent a booking carries: the processing of personal data for the visit (always, or there is no
/// consent object), and optionally notifications and marketing, to a published text version.
#[derive(Debug, Clone)]
pub struct GivenConsent {
    pub text_version: String,
    pub language: Language,
    pub notifications: bool,
    pub marketing: bool,
}

impl GivenConsent {
    /// Checks the parts a client sends (errors name `consent.*`).
    pub fn parse(
        personal_data: bool,
        text_version: &str,
        language: Language,
        notifications: bool,
        marketing: bool,
    ) -> Result<GivenConsent, ApiError> {
        if !personal_data {
            return Err(ApiError::invalid(
                "consent.personal_data",
                "must be true: a visit cannot be arranged without processing the contact and address",
            ));
        }
        if find(text_version, language).is_none() {
            return Err(ApiError::invalid(
                "consent.text_version",
                "no such consent text in this language (GET /v1/consent-texts/current)",
            ));
        }
        Ok(GivenConsent { text_version: text_version.to_owned(), language, notifications, marketing })
    }
}

/// Records a booking's consent (in the booking's transaction).
pub fn record(
    conn: &mut DbConnection,
    given: &GivenConsent,
    customer_id: &str,
    job_id: &str,
    recorded_by: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    consents::insert(
        conn,
        &Consent {
            id: crate::storage::new_id(),
            customer_id: customer_id.to_owned(),
            job_id: Some(job_id.to_owned()),
            recorded_by: recorded_by.to_owned(),
            text_version: given.text_version.clone(),
            language: given.language,
            personal_data: true,
            notifications: given.notifications,
            marketing: given.marketing,
            given_at: now,
        },
    )?;
    Ok(())
}

/// When a text was published, for the wire.
pub fn published_at(text: &ConsentText) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.published_at).ok().map(|t| t.with_timezone(&Utc))
}
