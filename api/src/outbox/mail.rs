//! E-mail over SMTP with `lettre`: `SORTIE_SMTP_URL` in lettre's URL form
//! (`smtp://[user:password@]host:port`, `?tls=required` for STARTTLS,
//! `smtps://` for TLS), `SORTIE_MAIL_FROM`; a plain-text part and a simple
//! HTML one. A permanent SMTP refusal (5xx, e.g. an unknown recipient) fails
//! the row; a transient one (4xx, connection) retries.

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};

use super::SendError;
use crate::app::notify::texts::Rendered;

/// An SMTP connection pool and the sender address.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// Checks the URL and the From address; errors name their variables.
    pub fn new(url: &SecretString, from: &str) -> anyhow::Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|e| anyhow::anyhow!("SORTIE_SMTP_URL: not a usable SMTP URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        let from: Mailbox =
            from.parse().map_err(|e| anyhow::anyhow!("SORTIE_MAIL_FROM: `{from}` is not an e-mail address: {e}"))?;
        Ok(Mailer { transport, from })
    }

    /// Sends one message to `to`.
    pub async fn send(&self, to: &str, rendered: &Rendered) -> Result<(), SendError> {
        let to: Mailbox = to.parse().map_err(|e| SendError::Fail(format!("not an e-mail address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.title.clone())
            .multipart(MultiPart::alternative_plain_html(rendered.text(), rendered.html()))
            .map_err(|e| SendError::Fail(format!("building the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Fail(format!("SMTP refused: {e}"))),
            Err(e) => Err(SendError::Retry { error: format!("SMTP: {e}"), after: None }),
        }
    }
}
