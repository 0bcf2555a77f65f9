use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, test, web};
use tracing_actix_web::TracingLogger;

use super::{OneLine, RequestSpan};
use crate::error::ApiError;

/// Everything the subscriber writes, for the assertions.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

async fn missing() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn broken() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Unexpected(anyhow::anyhow!("disk on fire").context("saving the job")))
}

#[actix_web::test]
async fn a_client_error_is_one_info_line_and_a_server_error_one_error_line_with_the_request_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_env_filter("info").with_ansi(false).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = test::init_service(
        App::new()
            .route("/missing", web::get().to(missing))
            .route("/broken", web::get().to(broken))
            .wrap(TracingLogger::<RequestSpan>::new()),
    )
    .await;

    let res = test::call_service(&app, test::TestRequest::get().uri("/missing").to_request()).await;
    assert_eq!(res.status(), 404);
    let lines = captured.lines();
    assert_eq!(lines.len(), 1, "one line for a 404: {lines:?}");
    assert!(lines[0].contains(" INFO ") && lines[0].contains("status=404"), "{lines:?}");
    assert!(lines[0].contains("request_id="), "{lines:?}");
    assert!(!lines[0].contains("user_agent") && !lines[0].contains("WARN"), "no request span repeated: {lines:?}");

    let res = test::call_service(&app, test::TestRequest::get().uri("/broken").to_request()).await;
    assert_eq!(res.status(), 500);
    let lines = captured.lines();
    assert_eq!(lines.len(), 2, "one more line for a 500: {lines:?}");
    assert!(lines[1].contains(" ERROR ") && lines[1].contains("status=500"), "{lines:?}");
    assert!(lines[1].contains("saving the job: disk on fire"), "the whole cause is logged: {lines:?}");
    let id = lines[1].split("request_id=").nth(1).and_then(|s| s.split_whitespace().next()).unwrap_or_default();
    assert!(id.len() >= 32, "a request id: {lines:?}");
}

#[::core::prelude::v1::test]
fn an_event_with_a_newline_in_a_value_stays_one_line() -> std::io::Result<()> {
    let mut w = OneLine(Vec::new());
    w.write_all(b"WARN unknown field `a\nINFO forged line\r` in body\n")?;
    let text = String::from_utf8_lossy(&w.0).into_owned();
    assert_eq!(text, "WARN unknown field `a\\nINFO forged line\\r` in body\n");
    assert_eq!(text.lines().count(), 1);
    Ok(())
}
