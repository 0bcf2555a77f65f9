//! Customers' e-mail (through an SMTP sink) and SMS (through a fake gateway):
//! the MIME and request formats, a refused recipient recorded as a failure, a
//! gateway answering 500 retried and then failed, and neither holding up the other.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::fakes::{Answer, FakeFcm, SmtpSink};
use crate::helpers::{Backend, TestApp, TestDb, soon};
use crate::outbox::{fixture, notify_booking, rows};
use api::clock::Clock as _;

both_backends!(customers_get_e_mail_and_sms_and_a_failing_channel_blocks_nothing);

async fn customers_get_e_mail_and_sms_and_a_failing_channel_blocks_nothing(backend: Backend) -> anyhow::Result<()> {
    // Arrange: an SMTP sink refusing one address, an SMS gateway answering 500 four times.
    let smtp = SmtpSink::start(&["refused@probe.example"]).await?;
    let gateway = FakeFcm::start().await?;
    let (smtp_url, sms_url) = (smtp.url(), format!("{}/sms", gateway.base));
    let app = TestApp::spawn_on(TestDb::fresh(backend).await?, move |c| {
        c.notify.smtp_url = Some(smtp_url.into());
        c.notify.mail_from = Some("Sortie <noreply@sortie.example>".into());
        c.notify.sms_url = Some(sms_url);
        c.notify.sms_token = Some("sms-secret".into());
        c.notify.public_url = "https://sortie.example".into();
        c.notify.max_attempts = 4;
        c.notify.backoff = Duration::from_secs(10);
    })
    .await?;
    let f = fixture(&app).await?;
    gateway.script((0..4).map(|_| Answer::status(500, json!({"error": "down"}))));

    // Act: the demo customer books (its card has an e-mail; the booking a phone).
    let booked = app.book(&f.customer, &notify_booking(soon(app.clock.now(), 2, 4)), None).await?;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let link = format!("https://sortie.example/track/{}", booked.str("tracking_token"));
    app.outbox_pass().await?;

    // Assert: the e-mail went out at once, plain text plus HTML, while the SMS waits for a retry.
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].from, "noreply@sortie.example");
    assert_eq!(mails[0].to, vec!["customer@demo.sortie".to_owned()]);
    let data = &mails[0].data;
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(data.contains("text/plain") && data.contains("text/html"), "{data}");
    assert!(data.contains("Subject: =?utf-8?"), "an encoded Russian subject: {data}");
    let plain = plain_text(data)?;
    assert!(plain.starts_with("Заявка принята, визит ") && plain.ends_with(&link), "{plain}");
    assert!(data.contains("<a href=3D\"https"), "a link in the HTML part: {data}");
    let all = rows(&app).await?;
    let status = |channel: &str| all.iter().find(|r| r.channel == channel).map(|r| r.status.clone());
    assert_eq!(status("email").as_deref(), Some("sent"));
    assert_eq!(status("sms").as_deref(), Some("pending"));

    // The gateway got the documented request: JSON {to, text}, the bearer token, one segment with the link.
    let sms = gateway.received();
    assert_eq!(sms[0].path, "/sms");
    assert_eq!(sms[0].authorization, "Bearer sms-secret");
    assert_eq!(sms[0].body["to"], "+79161234567");
    let text = sms[0].body["text"].as_str().unwrap_or_default();
    assert!(text.chars().count() <= 70, "one UCS-2 segment: {text}");
    assert!(text.ends_with(&link), "{text}");

    // 500 every time: failed after 4 attempts, recorded.
    for _ in 0..3 {
        app.clock.advance(chrono::Duration::hours(2));
        app.outbox_pass().await?;
    }
    let all = rows(&app).await?;
    let sms_row = all.iter().find(|r| r.channel == "sms").expect("the SMS row");
    assert_eq!((sms_row.status.as_str(), sms_row.attempts), ("failed", 4));
    assert!(sms_row.last_error.as_deref().unwrap_or_default().contains("500"), "{:?}", sms_row.last_error);

    // A refused recipient: the e-mail fails with the server's reason; the SMS of the same booking is sent.
    let mut b = notify_booking(soon(app.clock.now(), 2, 4));
    b["contact"] = json!({"name": "Olga", "phone": "+7 913 000-11-22", "email": "refused@probe.example"});
    let booked = app.book(&f.dispatcher, &b, None).await?;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    app.outbox_pass().await?;
    let all = rows(&app).await?;
    let email = all.iter().find(|r| r.recipient == "refused@probe.example").expect("the e-mail row");
    assert_eq!(email.status, "failed");
    assert!(email.last_error.as_deref().unwrap_or_default().contains("550"), "{:?}", email.last_error);
    let sms = all.iter().find(|r| r.recipient == "+79130001122").expect("the SMS row");
    assert_eq!(sms.status, "sent");
    Ok(())
}

/// The plain-text part of a multipart message (base64, as lettre encodes non-ASCII text).
fn plain_text(data: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    let start = data.find("Content-Type: text/plain").ok_or_else(|| anyhow::anyhow!("no text part"))?;
    let part = &data[start..];
    let body_at = part.find("\n\n").ok_or_else(|| anyhow::anyhow!("no body"))? + 2;
    let body = &part[body_at..part.find("\n--").unwrap_or(part.len())];
    let compact: String = body.split_whitespace().collect();
    Ok(String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact)?)?)
}
