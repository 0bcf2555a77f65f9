//! The pull cursor: a position in the server's change order, opaque to the phone.
//!
//! The change log is read in `(tx, seq)` order: `tx` is the writing
//! transaction's id on PostgreSQL (0 on SQLite, which has one writer, so its
//! `seq` alone is commit order) and `seq` the change-log sequence number.
//! A cursor says "every change up to and including this key was delivered".

use serde::{Deserialize, Serialize};

/// The only cursor version this library writes; older or newer ones answer `reset_required`.
pub const CURSOR_VERSION: u8 = 1;

/// A decoded cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Format version ([`CURSOR_VERSION`]).
    pub v: u8,
    /// Transaction id of the last delivered change (0 on SQLite).
    pub tx: u64,
    /// Sequence number of the last delivered change.
    pub seq: i64,
}

/// Why a cursor cannot be served; the phone answers by pulling from scratch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not something this server wrote.
    #[error("the cursor is not a valid cursor")]
    Malformed,
    /// Written by another protocol version.
    #[error("cursor version {0} is not supported")]
    Version(u8),
}

impl Cursor {
    /// The position before every change.
    pub fn start() -> Cursor {
        Cursor { v: CURSOR_VERSION, tx: 0, seq: 0 }
    }

    /// A cursor at `(tx, seq)`.
    pub fn at(tx: u64, seq: i64) -> Cursor {
        Cursor { v: CURSOR_VERSION, tx, seq }
    }

    /// The opaque wire form: `c1.` followed by the hex of the JSON.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut out = String::with_capacity(3 + json.len() * 2);
        out.push_str("c1.");
        for b in json {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        out
    }

    /// Parses the wire form.
    pub fn decode(text: &str) -> Result<Cursor, CursorError> {
        let hex = text.strip_prefix("c1.").ok_or(CursorError::Malformed)?;
        if hex.len() % 2 != 0 || hex.len() > 512 {
            return Err(CursorError::Malformed);
        }
        let bytes: Option<Vec<u8>> =
            hex.as_bytes().chunks(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect();
        let bytes = bytes.ok_or(CursorError::Malformed)?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        if cursor.v != CURSOR_VERSION {
            return Err(CursorError::Version(cursor.v));
        }
        if cursor.seq < 0 {
            return Err(CursorError::Malformed);
        }
        Ok(cursor)
    }

    /// The key changes are ordered by.
    pub fn key(&self) -> (u64, i64) {
        (self.tx, self.seq)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}
