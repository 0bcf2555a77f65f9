//! Value checks used by request validation. Each returns an [`Invalid`] naming the
//! field, so handlers read as a list of rules.

use chrono::NaiveTime;

use crate::domain::Invalid;

/// Longest name, address or free-text line accepted.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest problem description or reason.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Most items in a list field (skills, parts).
pub const MAX_LIST_ITEMS: usize = 100;

/// A non-blank string of at most `max` characters, trimmed.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Invalid::new(field, "must not be blank"));
    }
    if trimmed.chars().count() > max {
        return Err(Invalid::new(field, format!("must be at most {max} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(Invalid::new(field, "must not contain bidirectional override or isolate characters"));
    }
    Ok(trimmed.to_owned())
}

/// Unicode bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they reorder
/// how the text around them is shown ("Trojan Source"), so a name or note could display as something else.
/// The plain marks (U+200E, U+200F) only steer neutral characters and stay allowed.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A latitude/longitude pair inside the valid ranges.
pub fn lat_lon(field: &str, lat: f64, lon: f64) -> Result<(), Invalid> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(Invalid::new(format!("{field}.lat"), "must be between -90 and 90"));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(Invalid::new(format!("{field}.lon"), "must be between -180 and 180"));
    }
    Ok(())
}

/// A service radius in km: more than 0, at most 20,000 (half the equator).
pub fn max_travel_km(field: &str, value: f64) -> Result<f64, Invalid> {
    if !value.is_finite() || value <= 0.0 || value > 20_000.0 {
        return Err(Invalid::new(field, "must be more than 0 and at most 20000 km"));
    }
    Ok(value)
}

/// An IANA time zone name such as `Europe/Moscow`.
pub fn timezone(field: &str, value: &str) -> Result<chrono_tz::Tz, Invalid> {
    value.parse::<chrono_tz::Tz>().map_err(|_| Invalid::new(field, format!("`{value}` is not an IANA time zone")))
}

/// A local time of day, "HH:MM".
pub fn hh_mm(field: &str, value: &str) -> Result<NaiveTime, Invalid> {
    NaiveTime::parse_from_str(value, "%H:%M").map_err(|_| Invalid::new(field, "must be a time of day as \"HH:MM\""))
}

/// A lower-cased e-mail address with one `@` and a dotted domain.
pub fn email(field: &str, value: &str) -> Result<String, Invalid> {
    let v = value.trim().to_lowercase();
    let ok = v.len() <= 254
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !v.contains(char::is_whitespace)
        && v.matches('@').count() == 1;
    if ok { Ok(v) } else { Err(Invalid::new(field, "must be an e-mail address")) }
}

/// A phone number normalised to E.164; numbers without a country code are
/// read as Russian (+7), the demo network's country.
pub fn phone(field: &str, value: &str) -> Result<String, Invalid> {
    let parsed = phonenumber::parse(Some(phonenumber::country::Id::RU), value.trim())
        .map_err(|_| Invalid::new(field, "must be a phone number"))?;
    if !phonenumber::is_valid(&parsed) {
        return Err(Invalid::new(field, "must be a valid phone number"));
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

/// A skill or SKU code: 1–64 of `a-z 0-9 _ - .`.
pub fn code(field: &str, value: &str) -> Result<(), Invalid> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
    if ok { Ok(()) } else { Err(Invalid::new(field, "must be 1-64 characters of a-z, 0-9, '_', '-', '.'")) }
}

/// A list of at most [`MAX_LIST_ITEMS`] distinct codes.
pub fn codes(field: &str, values: &[String]) -> Result<(), Invalid> {
    if values.len() > MAX_LIST_ITEMS {
        return Err(Invalid::new(field, format!("must have at most {MAX_LIST_ITEMS} items")));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, v) in values.iter().enumerate() {
        code(&format!("{field}[{i}]"), v)?;
        if !seen.insert(v) {
            return Err(Invalid::new(format!("{field}[{i}]"), "is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(phone("p", "8 (912) 345-67-89").ok().as_deref(), Some("+79123456789"));
        assert_eq!(phone("p", "+7 912 345 67 89").ok().as_deref(), Some("+79123456789"));
        assert!(phone("p", "12").is_err());
    }

    #[test]
    fn text_rejects_bidirectional_overrides_but_keeps_marks() {
        for bad in ["Ivan \u{202E}vorteP", "a\u{2066}b\u{2069}", "\u{202A}x"] {
            assert!(text("name", bad, 100).is_err(), "{bad:?}");
        }
        assert!(text("name", "Иван \u{200F}Петров", 100).is_ok());
    }

    #[test]
    fn text_rejects_blank_and_overlong_values() {
        assert!(text("name", "  ", 10).is_err());
        assert!(text("name", &"x".repeat(11), 10).is_err());
        assert_eq!(text("name", " Ivan ", 10).ok().as_deref(), Some("Ivan"));
    }
}
