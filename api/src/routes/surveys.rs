//! `/v1/surveys/{token}`: the customer's survey link; `/v1/settings/surveys`:
//! when surveys are issued.

use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::quality::{self, SurveyTrigger};
use crate::app::surveys::{self, AnswerInput};
use crate::auth::AuthUser;
use crate::domain::{JobKind, Role};
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

/// What the survey link shows: what is rated, nothing personal.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyView {
    pub kind: JobKind,
    /// Local date of the visit, YYYY-MM-DD.
    pub date: String,
    pub technician_first_name: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// True once answered (a second answer is 409).
    pub answered: bool,
}

/// `POST /v1/surveys/{token}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyAnswer {
    /// Net promoter answer, 0–10.
    pub nps: i64,
    /// Satisfaction, 1–5.
    pub csat: i64,
    /// Customer effort, 1–7.
    pub ces: i64,
    /// At most 2,000 characters.
    #[serde(default)]
    pub comment: Option<String>,
}

/// What is being rated (anyone with the link; 404 unknown or expired after 30 days).
#[utoipa::path(get, path = "/v1/surveys/{token}", tag = "quality",
    responses((status = 200, body = SurveyView), (status = 404, description = "unknown or expired")))]
#[get("/v1/surveys/{token}")]
pub async fn get_one(state: web::Data<AppState>, token: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let token = token.into_inner();
    let now = state.now();
    let s = state.db.run(move |conn| surveys::subject(conn, &token, now)).await?;
    let view = SurveyView {
        kind: s.kind,
        date: s.date,
        technician_first_name: s.technician_first_name,
        expires_at: s.expires_at,
        answered: s.answered,
    };
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(view))
}

/// Answers the survey once (409 `survey_answered` the second time).
#[utoipa::path(post, path = "/v1/surveys/{token}", tag = "quality", request_body = SurveyAnswer,
    responses((status = 204), (status = 404, description = "unknown or expired"),
        (status = 409, description = "already answered"), (status = 422, description = "a value out of range")))]
#[post("/v1/surveys/{token}")]
pub async fn answer(
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: Json<SurveyAnswer>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let input = AnswerInput { nps: b.nps, csat: b.csat, ces: b.ces, comment: b.comment };
    surveys::validate_answer(&input)?;
    let token = token.into_inner();
    let now = state.now();
    state.db.write(move |conn| surveys::answer(conn, &token, &input, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// When surveys are issued.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveySettings {
    /// `approval` (default): when the vendor approves the work; `completion`: when the technician completes it.
    pub trigger: SurveyTrigger,
}

/// The survey setting (admin).
#[utoipa::path(get, path = "/v1/settings/surveys", tag = "quality",
    responses((status = 200, body = SurveySettings), (status = 403, description = "not an admin (`forbidden`)")), security(("bearer" = [])))]
#[get("/v1/settings/surveys")]
pub async fn get_settings(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let trigger = state.db.run(quality::survey_trigger).await?;
    Ok(HttpResponse::Ok().json(SurveySettings { trigger }))
}

/// Changes when surveys are issued (admin); jobs already past the trigger keep what they have.
#[utoipa::path(put, path = "/v1/settings/surveys", tag = "quality", request_body = SurveySettings,
    responses((status = 200, body = SurveySettings), (status = 403, description = "not an admin (`forbidden`)")), security(("bearer" = [])))]
#[put("/v1/settings/surveys")]
pub async fn put_settings(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<SurveySettings>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let trigger = body.0.trigger;
    state.db.write(move |conn| quality::set_survey_trigger(conn, trigger)).await?;
    Ok(HttpResponse::Ok().json(SurveySettings { trigger }))
}
