//! The Solomon text format of the VRPTW benchmarks (Solomon 1987; Gehring & Homberger 1999).
//!
//! A name line, a `VEHICLE` block (`NUMBER CAPACITY`), then a `CUSTOMER` table of rows
//! `CUST NO. XCOORD. YCOORD. DEMAND READY TIME DUE DATE SERVICE TIME`, row 0 being the depot.
//! Parsing is lenient: CRLF line ends, blank lines and header lines are skipped; every
//! line of exactly seven numbers after `CUSTOMER` is a row. Distances are real-valued
//! Euclidean and travel time equals distance (no rounding).

use super::{Instance, Location, Metric, Technician, TimeWindow, Visit};

/// Why a Solomon file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// No `VEHICLE` line followed by a `NUMBER CAPACITY` pair of numbers.
    #[error("no VEHICLE section with NUMBER and CAPACITY")]
    MissingVehicles,
    /// No `CUSTOMER` line.
    #[error("no CUSTOMER section")]
    MissingCustomers,
    /// The customer table has no depot row.
    #[error("the customer table is empty")]
    EmptyTable,
    /// A line in the customer table that looks like a row but is not one.
    #[error("line {line}: {reason}")]
    BadRow {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Reads a Solomon instance: location 0 is the depot, visit `i` is customer row `i`, and every
/// one of the NUMBER vehicles is a technician starting and ending at the depot within its window.
pub fn parse(text: &str) -> Result<Instance, ParseError> {
    let mut name = String::new();
    let mut fleet: Option<(usize, f64)> = None;
    let mut seen_vehicle = false;
    let mut seen_customer = false;
    let mut rows: Vec<[f64; 7]> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("VEHICLE") {
            seen_vehicle = true;
            continue;
        }
        if upper.starts_with("CUSTOMER") {
            seen_customer = true;
            continue;
        }
        if name.is_empty() && !seen_vehicle && !seen_customer {
            name = line.to_string();
            continue;
        }
        let numbers: Vec<Option<f64>> = line.split_whitespace().map(|t| t.parse().ok()).collect();
        if numbers.iter().any(Option::is_none) {
            continue; // a header line
        }
        let numbers: Vec<f64> = numbers.into_iter().flatten().collect();
        if seen_customer {
            let row: [f64; 7] = numbers.as_slice().try_into().map_err(|_| ParseError::BadRow {
                line: i + 1,
                reason: format!("expected 7 numbers, found {}", numbers.len()),
            })?;
            rows.push(row);
        } else if seen_vehicle && fleet.is_none() && numbers.len() == 2 {
            if numbers[0] < 0.0 || numbers[0].fract() != 0.0 {
                return Err(ParseError::BadRow { line: i + 1, reason: "vehicle NUMBER is not a count".into() });
            }
            fleet = Some((numbers[0] as usize, numbers[1]));
        }
    }
    let (number, capacity) = fleet.ok_or(ParseError::MissingVehicles)?;
    if !seen_customer {
        return Err(ParseError::MissingCustomers);
    }
    let depot = *rows.first().ok_or(ParseError::EmptyTable)?;
    let locations = rows.iter().map(|r| Location { x: r[1], y: r[2] }).collect();
    let shift = TimeWindow { start: depot[4], end: depot[5] };
    let technicians = (0..number)
        .map(|k| Technician {
            id: format!("vehicle-{}", k + 1),
            start_location: 0,
            end_location: 0,
            shift,
            capacity,
            skills: Vec::new(),
        })
        .collect();
    let visits = rows
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, r)| Visit {
            id: format!("{}", r[0]),
            location: i,
            window: TimeWindow { start: r[4], end: r[5] },
            service_secs: r[6],
            demand: r[3],
            required_skills: Vec::new(),
        })
        .collect();
    Ok(Instance { name, locations, metric: Metric::Euclidean, technicians, visits })
}
