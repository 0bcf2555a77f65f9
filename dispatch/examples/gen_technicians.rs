//! Writes synthetic technicians (and job locations) as CSV, the same fleet the benches use.
//!
//! `cargo run -p dispatch --example gen_technicians --release -- 100000 > techs.csv` writes
//! `id,lat,lon,eligible` (eligible: holds the 1 % skill and is available, ~0.9 %).
//! `… -- 100000 jobs 10000 > jobs.csv` writes `id,lat,lon` for 10000 job locations drawn the same way.
//! Seeded: the same arguments give the same file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/support/fleet.rs"]
mod fleet;

use std::io::{BufWriter, Write};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map(|a| a.parse()).transpose()?.unwrap_or(100_000);
    let fleet = fleet::fleet(n, 7);
    let mut out = BufWriter::new(std::io::stdout().lock());
    if args.get(1).map(String::as_str) == Some("jobs") {
        let count: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(10_000);
        writeln!(out, "id,lat,lon")?;
        for (i, at) in fleet.jobs(count, 11).iter().enumerate() {
            writeln!(out, "{},{:.7},{:.7}", i + 1, at.lat, at.lon)?;
        }
    } else {
        writeln!(out, "id,lat,lon,eligible")?;
        for t in &fleet.techs {
            let eligible = t.skill_bits & fleet::ONE_PCT != 0 && t.available;
            writeln!(out, "{},{:.7},{:.7},{}", t.id.0, t.position.lat, t.position.lon, eligible)?;
        }
    }
    out.flush()?;
    Ok(())
}
