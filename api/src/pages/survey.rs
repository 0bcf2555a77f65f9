//! The survey page `/survey/{token}` (the link customers get once the work is approved): NPS, CSAT, CES and a
//! comment, answered once (`app::surveys`, as `GET/POST /v1/surveys/{token}`).

use actix_web::{get, post, web};
use maud::html;
use serde::Deserialize;

use super::page::{Ctx, PageResult};
use crate::app::surveys::{self, AnswerInput};
use crate::error::ApiError;

/// `/survey/{token}`: the quality loop's survey (NPS, CSAT, CES, comment), answered once.
#[get("/survey/{token}")]
pub async fn survey(ctx: Ctx, token: web::Path<String>) -> PageResult {
    let token = token.into_inner();
    let now = ctx.now();
    let t = token.clone();
    let s = ctx.state.db.run(move |conn| surveys::subject(conn, &t, now)).await.map_err(|e| ctx.fail(e))?;
    let scale = |name: &str, label: &str, from: i32, to: i32| {
        html! {
            label for=(name) { (label) }
            select #(name) name=(name) required {
                option value="" { "—" }
                @for n in from..=to { option value=(n) { (n) } }
            }
        }
    };
    let body = html! {
        h1 { (ctx.t("survey")) }
        p { (ctx.t(s.kind.as_str())) " · " (ctx.t("visit_of")) " " (s.date)
            @if let Some(name) = &s.technician_first_name { " · " (ctx.t("technician")) ": " (name) } }
        @if s.answered {
            p.ok #thanks role="status" { (ctx.t("thanks")) }
        } @else {
            form.stack method="post" action=(format!("/survey/{token}")) {
                (ctx.csrf_field())
                (scale("nps", ctx.t("nps"), 0, 10))
                (scale("csat", ctx.t("csat"), 1, 5))
                (scale("ces", ctx.t("ces"), 1, 7))
                label for="comment" { (ctx.t("comment")) }
                textarea #comment name="comment" maxlength="2000" {}
                button type="submit" { (ctx.t("send")) }
            }
        }
    };
    Ok(ctx.page(ctx.t("survey"), body))
}

#[derive(Debug, Deserialize)]
pub struct SurveyForm {
    #[serde(default)]
    csrf: String,
    nps: String,
    csat: String,
    ces: String,
    comment: Option<String>,
}

/// Records the answer (`surveys::answer`: once; a second answer is 409) and shows the thanks.
#[post("/survey/{token}")]
pub async fn answer_survey(ctx: Ctx, token: web::Path<String>, form: web::Form<SurveyForm>) -> PageResult {
    ctx.check_csrf(&form.csrf)?;
    let num = |field: &str, v: &str| v.trim().parse::<i64>().map_err(|_| ApiError::invalid(field, "choose a value"));
    let input = (|| {
        Ok::<_, ApiError>(AnswerInput {
            nps: num("nps", &form.nps)?,
            csat: num("csat", &form.csat)?,
            ces: num("ces", &form.ces)?,
            comment: form.comment.clone().filter(|c| !c.trim().is_empty()),
        })
    })()
    .map_err(|e| ctx.fail(e))?;
    let token = token.into_inner();
    let now = ctx.now();
    let t = token.clone();
    ctx.state.db.write(move |conn| surveys::answer(conn, &t, &input, now)).await.map_err(|e| ctx.fail(e))?;
    Ok(ctx.see_other(&format!("/survey/{token}")))
}
