//! Throwaway databases for the benchmarks: a temporary SQLite file, or a
//! fresh PostgreSQL database next to `--postgres-url`, removed afterwards.

use anyhow::Context as _;
use chrono::Utc;

/// Removes the database; call it when the benchmark is done.
pub type Cleanup = Box<dyn FnOnce()>;

/// A new empty database for `backend` (`sqlite` or `postgres`), named after
/// `label` (e.g. `sync`), and how to remove it.
pub fn database(label: &str, backend: &str, postgres_url: &str) -> anyhow::Result<(String, Cleanup)> {
    let tag = format!("{}_{}", std::process::id(), Utc::now().timestamp_millis());
    if backend == "sqlite" {
        let path = std::env::temp_dir().join(format!("sortie-bench-{label}-{tag}.sqlite3"));
        let url = format!("sqlite://{}", path.display());
        let cleanup = move || {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        };
        return Ok((url, Box::new(cleanup)));
    }
    let name = format!("sortie_bench_{label}_{tag}");
    crate::db::create_postgres_database(postgres_url, &name)
        .context("Failed to create a database at --postgres-url")?;
    let cut = postgres_url.rfind('/').unwrap_or(postgres_url.len());
    let url = format!("{}/{name}", &postgres_url[..cut]);
    let admin_url = postgres_url.to_owned();
    let cleanup = move || crate::db::drop_postgres_database(&admin_url, &name);
    Ok((url, Box::new(cleanup)))
}
