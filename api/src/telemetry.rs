//! Logging setup: `tracing` with an `EnvFilter` from `RUST_LOG` (default `info`).
//! Text logs are one line per event: a newline or carriage return inside a
//! value (a field name typed by a client, an error message) is written as
//! `\n` / `\r`, so nobody can forge a log line.

use std::io::Write;

use tracing_subscriber::EnvFilter;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_with_a_newline_in_a_value_stays_one_line() -> std::io::Result<()> {
        let mut w = OneLine(Vec::new());
        w.write_all(b"WARN unknown field `a\nINFO forged line\r` in body\n")?;
        let text = String::from_utf8_lossy(&w.0).into_owned();
        assert_eq!(text, "WARN unknown field `a\\nINFO forged line\\r` in body\n");
        assert_eq!(text.lines().count(), 1);
        Ok(())
    }
}
