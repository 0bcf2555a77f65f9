//! Logging setup: `tracing` with an `EnvFilter` from `RUST_LOG` (default `info`),
//! and how a request's outcome is logged ([`RequestSpan`]). Text logs are one
//! line per event: a newline or carriage return inside a value (a field name
//! typed by a client, an error message) is written as `\n` / `\r`, so nobody
//! can forge a log line.

use std::io::Write;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage as _};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::app_error::ApiError;

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: escape codes in a log file or
    // a collector are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi);
    // JSON escapes control characters itself.
    let result =
        if json { builder.json().try_init() } else { builder.with_writer(|| OneLine(std::io::stdout())).try_init() };
    // Already installed: tests build several apps in one process.
    drop(result);
}

/// Writes each formatted event (one `write` of a whole line) with inner line breaks escaped.
pub struct OneLine<W>(pub W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        let mut out = Vec::with_capacity(buf.len() + 8);
        for &b in body {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.push(b),
            }
        }
        if body.len() != buf.len() {
            out.push(b'\n');
        }
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The request span of `tracing-actix-web` (its fields: method, route, request
/// id, status…), with one log line per failed request: a client error (4xx) is
/// the client's business, logged once at `info` with the request id, status,
/// route and error code and without the request span around it; a server
/// error (5xx) at `error` with the request id and the error's details. (The
/// crate's own "Error encountered while processing the incoming HTTP request"
/// warning for every 4xx is turned off: feature `emit_event_on_error`.)
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        DefaultRootSpanBuilder::on_request_start(request)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        match outcome {
            Ok(response) => {
                if let Some(error) = response.response().error() {
                    let request = response.request();
                    let id = request.extensions().get::<RequestId>().map(ToString::to_string);
                    let route = request.match_pattern().unwrap_or_else(|| request.path().to_owned());
                    log_failure(id, request.method().as_str(), &route, response.status(), error);
                }
            }
            Err(error) => log_failure(None, "", "", error.as_response_error().status_code(), error),
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

fn log_failure(
    request_id: Option<String>,
    method: &str,
    route: &str,
    status: actix_web::http::StatusCode,
    error: &Error,
) {
    let request_id = request_id.unwrap_or_default();
    let status = status.as_u16();
    if status >= 500 {
        // The cause's whole chain, without a backtrace.
        let cause = match error.as_error::<ApiError>() {
            Some(ApiError::Unexpected(e)) => format!("{e:#}"),
            _ => error.to_string(),
        };
        tracing::error!(parent: None, request_id, method, route, status, cause, "Request failed: {error}");
    } else {
        tracing::info!(parent: None, request_id, method, route, status, "Client error: {error}");
    }
}

#[cfg(test)]
mod tests;

/// CPU time the calling thread has used so far (`CLOCK_THREAD_CPUTIME_ID`).
///
/// Unlike wall time it does not grow while the thread waits for a core, so on a
/// machine with more busy threads than cores it tells what a step costs apart
/// from how long it waited (the decision histograms record both).
pub fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `clock_gettime` only writes one `timespec` through the pointer, which is valid for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    match (rc, u64::try_from(ts.tv_sec), u32::try_from(ts.tv_nsec)) {
        (0, Ok(secs), Ok(nanos)) => std::time::Duration::new(secs, nanos),
        _ => std::time::Duration::ZERO,
    }
}
