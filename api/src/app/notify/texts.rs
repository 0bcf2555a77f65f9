//! The words of every notification, in Russian and English, rendered when a
//! row is sent (so links use the current public URL). Customers' texts carry
//! no personal data: times, the tracking or survey link, nothing else.

use chrono::{DateTime, Utc};

use crate::domain::Language;
use crate::domain::notification::Message;

/// A rendered notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Push title, e-mail subject.
    pub title: String,
    /// The text (push body, e-mail plain part, SMS before fitting).
    pub body: String,
    /// The link the message is about, if any (kept whole when an SMS is shortened).
    pub link: Option<String>,
}

fn local(at: DateTime<Utc>, timezone: &str) -> DateTime<chrono::FixedOffset> {
    match timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at.with_timezone(&tz).fixed_offset(),
        Err(_) => at.fixed_offset(),
    }
}

fn when(lang: Language, (from, to): (DateTime<Utc>, DateTime<Utc>), timezone: &str) -> String {
    let (from, to) = (local(from, timezone), local(to, timezone));
    let day = match lang {
        Language::Ru => from.format("%d.%m").to_string(),
        Language::En => from.format("%-d %b").to_string(),
    };
    format!("{day} {}–{}", from.format("%H:%M"), to.format("%H:%M"))
}

fn at(at: DateTime<Utc>, timezone: &str) -> String {
    local(at, timezone).format("%d.%m %H:%M").to_string()
}

/// Renders a message; `base_url` is the public address links start with (no trailing slash).
pub fn render(message: &Message, base_url: &str) -> Rendered {
    let track = |token: &str| Some(format!("{base_url}/track/{token}"));
    let r = |title: &str, body: String, link: Option<String>| Rendered { title: title.to_owned(), body, link };
    match message {
        Message::Sync => r("", String::new(), None),
        Message::JobNew { window_start, timezone, .. } => {
            r("Новый выезд", format!("Новый выезд на {}. Откройте приложение.", at(*window_start, timezone)), None)
        }
        Message::JobMoved { window_start, timezone, .. } => {
            r("Выезд перенесён", format!("Выезд перенесён на {}.", at(*window_start, timezone)), None)
        }
        Message::JobCancelled { .. } => r("Выезд отменён", "Выезд снят с вашего плана.".to_owned(), None),
        Message::JobReturned { .. } => {
            r("Работа возвращена", "Проверка вернула работу на доработку. Откройте приложение.".to_owned(), None)
        }
        Message::OfferNew { deadline, timezone, .. } => {
            r("Новая заявка", format!("Новое предложение заявки. Ответьте до {}.", at(*deadline, timezone)), None)
        }
        Message::OfferExpiring { deadline, timezone, .. } => {
            r("Заявка истекает", format!("Предложение истекает в {}.", at(*deadline, timezone)), None)
        }
        Message::BookingConfirmed { lang, tracking_token, window, timezone } => match lang {
            Language::Ru => r(
                "Заявка принята",
                format!("Заявка принята, визит {}. Статус: ", when(*lang, *window, timezone)),
                track(tracking_token),
            ),
            Language::En => r(
                "Booking confirmed",
                format!("Booking confirmed, visit {}. Status: ", when(*lang, *window, timezone)),
                track(tracking_token),
            ),
        },
        Message::Reminder { lang, tracking_token, window, timezone } => match lang {
            Language::Ru => r(
                "Напоминание о визите",
                format!("Завтра визит мастера, {}. ", when(*lang, *window, timezone)),
                track(tracking_token),
            ),
            Language::En => r(
                "Visit reminder",
                format!("Reminder: technician visit tomorrow, {}. ", when(*lang, *window, timezone)),
                track(tracking_token),
            ),
        },
        Message::OnTheWay { lang, tracking_token, eta, timezone } => match lang {
            Language::Ru => r(
                "Мастер в пути",
                format!("Мастер выехал, прибудет {}. ", when(*lang, *eta, timezone)),
                track(tracking_token),
            ),
            Language::En => r(
                "Technician on the way",
                format!("The technician is on the way, arriving {}. ", when(*lang, *eta, timezone)),
                track(tracking_token),
            ),
        },
        Message::Rescheduled { lang, tracking_token, window, timezone } => match lang {
            Language::Ru => r(
                "Визит перенесён",
                format!("Визит перенесён на {}. ", when(*lang, *window, timezone)),
                track(tracking_token),
            ),
            Language::En => r(
                "Visit moved",
                format!("Your visit moved to {}. ", when(*lang, *window, timezone)),
                track(tracking_token),
            ),
        },
        Message::Cancelled { lang, tracking_token } => match lang {
            Language::Ru => r("Визит отменён", "Визит отменён. ".to_owned(), track(tracking_token)),
            Language::En => r("Visit cancelled", "Your visit is cancelled. ".to_owned(), track(tracking_token)),
        },
        Message::Survey { lang, survey_token } => {
            let link = Some(format!("{base_url}/survey/{survey_token}"));
            match lang {
                Language::Ru => r("Оцените визит", "Работа принята. Оцените визит: ".to_owned(), link),
                Language::En => r("Rate your visit", "The work is done. Please rate the visit: ".to_owned(), link),
            }
        }
    }
}

impl Rendered {
    /// The full text: body, then the link.
    pub fn text(&self) -> String {
        match &self.link {
            Some(link) => format!("{}{link}", self.body),
            None => self.body.clone(),
        }
    }

    /// A simple HTML version for e-mail (the link clickable, everything escaped).
    pub fn html(&self) -> String {
        let body = escape(&self.body);
        let link = self.link.as_deref().map(|l| format!("<a href=\"{0}\">{0}</a>", escape(l))).unwrap_or_default();
        format!("<!doctype html><html><body><p>{body}{link}</p></body></html>")
    }

    /// The text as one SMS segment: 160 characters of the GSM alphabet (approximated by printable
    /// ASCII), else 70 (UCS-2, e.g. Cyrillic). A longer text is shortened, never split: the body is cut
    /// at a word with "…" and the link kept whole.
    pub fn sms(&self) -> String {
        let full = self.text();
        let limit = segment_limit(&full);
        if full.chars().count() <= limit {
            return full;
        }
        let link = self.link.as_deref().unwrap_or("");
        let link_len = link.chars().count();
        if link_len + 2 > limit {
            // Even the link alone does not fit: cut the body only (the link is useless cut).
            return cut(&self.body, limit);
        }
        let room = limit - link_len - 1;
        let body = cut(self.body.trim_end(), room);
        if link.is_empty() { body } else { format!("{body} {link}") }
    }
}

/// Characters in one SMS segment for this text.
pub fn segment_limit(text: &str) -> usize {
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) { 160 } else { 70 }
}

fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let head: String = text.chars().take(limit.saturating_sub(1)).collect();
    let head = match head.rfind(' ') {
        Some(i) if i > 0 => head[..i].to_owned(),
        _ => head,
    };
    format!("{}…", head.trim_end())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32) -> DateTime<Utc> {
        use chrono::TimeZone as _;
        Utc.with_ymd_and_hms(2026, 12, 7, h, 0, 0).single().unwrap_or_default()
    }

    #[test]
    fn customer_texts_are_in_the_customers_language_with_local_times_and_the_link() {
        let m = |lang| Message::BookingConfirmed {
            lang,
            tracking_token: "tok".into(),
            window: (t(7), t(9)),
            timezone: "Europe/Moscow".into(),
        };
        let ru = render(&m(Language::Ru), "https://s.example");
        assert_eq!(ru.text(), "Заявка принята, визит 07.12 10:00–12:00. Статус: https://s.example/track/tok");
        let en = render(&m(Language::En), "https://s.example");
        assert_eq!(en.text(), "Booking confirmed, visit 7 Dec 10:00–12:00. Status: https://s.example/track/tok");
        assert!(en.html().contains("<a href=\"https://s.example/track/tok\">"));
    }

    #[test]
    fn a_long_sms_is_shortened_to_one_segment_keeping_the_link() {
        let r = Rendered {
            title: String::new(),
            body: "Мастер выехал, прибудет сегодня между десятью и двенадцатью часами утра. ".into(),
            link: Some("https://s.example/track/abc".into()),
        };
        let sms = r.sms();
        assert!(sms.chars().count() <= 70, "{sms}");
        assert!(sms.ends_with(" https://s.example/track/abc"), "{sms}");
        assert!(sms.contains('…'), "{sms}");
        let short = Rendered { title: String::new(), body: "Visit cancelled. ".into(), link: None };
        assert_eq!(short.sms(), "Visit cancelled. ");
        assert_eq!(segment_limit("plain ascii"), 160);
    }
}
