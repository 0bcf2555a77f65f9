//! Cursor pagination shared by list endpoints: `?limit=&cursor=` in,
//! `{items, next_cursor}` out. Cursors are opaque (base64url of a keyset).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// `?limit=&cursor=` (other query parameters are parsed by each endpoint).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page, 1–200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Checks `limit` and returns it with one extra row to detect a next page.
pub fn limit_plus_one(limit: Option<u32>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    Ok(i64::from(limit) + 1)
}

/// Encodes a keyset position.
pub fn encode_cursor(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position.as_bytes())
}

/// Decodes a cursor made by [`encode_cursor`].
pub fn decode_cursor(cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    cursor
        .map(|c| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor this server issued"))
        })
        .transpose()
}

/// Cuts the extra row and builds the page, with the cursor taken from the last item.
pub fn page<R, T>(
    mut rows: Vec<R>,
    limit_plus_one: i64,
    position: impl Fn(&R) -> String,
    map: impl FnMut(R) -> Result<T, ApiError>,
) -> Result<Page<T>, ApiError> {
    let limit = usize::try_from(limit_plus_one - 1).unwrap_or(0);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| encode_cursor(&position(r)))
    } else {
        None
    };
    let items = rows.into_iter().map(map).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next_cursor })
}
