//! The `sortie` command line. With no subcommand it serves.

pub mod bench_dispatch;
pub mod bench_outbox;
pub mod bench_scorecard;
pub mod bench_sync;
pub mod plan;
mod throwaway;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::auth::password;
use crate::config::Config;
use crate::db::write_tx;
use crate::demo;
use crate::domain::Role;
use crate::error::ApiError;
use crate::startup::{self, Application};
use crate::storage::{self, orgs, users};

/// Sortie: field-service dispatch and on-site visit planning.
///
/// Configuration comes from environment variables (DATABASE_URL, SORTIE_BIND,
/// SORTIE_JWT_SECRET, SORTIE_DEMO, RUST_LOG, …; see the README); flags override them.
#[derive(Debug, Parser)]
#[command(name = "sortie", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (the default): migrate, seed the demo network if asked, serve.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Create the vendor organisation and the first admin on an empty database (production set-up).
    Init(InitArgs),
    /// Plan one Solomon-format VRPTW instance; prints the checked plan as JSON.
    Plan {
        /// The instance file (Solomon format; CRLF, headers and blank lines are fine).
        file: std::path::PathBuf,
        #[command(flatten)]
        args: plan::PlanArgs,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `sortie bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Plan every *.txt instance of DIR and compare with the best-known solutions (bks.csv) beside them.
    Plan {
        /// A directory of Solomon-format instances with bks.csv (and bks_distance_only.csv).
        dir: std::path::PathBuf,
        #[command(flatten)]
        args: plan::PlanArgs,
        /// Only instances whose name starts with this (e.g. `rc2`).
        #[arg(long)]
        only: Option<String>,
    },
    /// Mobile sync over HTTP on SQLite and PostgreSQL: a 20-job day's pull, a 100-mutation push, many phones at once.
    Sync(bench_sync::SyncBenchArgs),
    /// Scorecards over HTTP on SQLite and PostgreSQL: a year of history seeded, vendor/partner/technician reads timed.
    Scorecard(bench_scorecard::ScorecardBenchArgs),
    /// Notifications through the outbox worker and FCM HTTP v1 against a local fake FCM (20 ms latency):
    /// throughput, and the outbox lag at a steady rate.
    Outbox(bench_outbox::OutboxBenchArgs),
    /// Booking and dispatch over HTTP: N technicians, M bookings from C clients; decision time, reads of the job board.
    Dispatch(bench_dispatch::DispatchBenchArgs),
    /// The clients of `bench dispatch`, run by it in a child process (parameters as JSON on stdin).
    #[command(hide = true)]
    DispatchLoad,
}

/// Flags of `sortie serve`.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [env: SORTIE_BIND, default 127.0.0.1:8080].
    #[arg(long)]
    pub bind: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Seed the demo network into an empty database [env: SORTIE_DEMO; default on for SQLite, off for PostgreSQL].
    #[arg(long, conflicts_with = "no_demo")]
    pub demo: bool,
    /// Never seed demo data.
    #[arg(long)]
    pub no_demo: bool,
}

/// Database selection.
#[derive(Debug, Default, clap::Args)]
pub struct DbArgs {
    /// `sqlite://path` or `postgres://…` [env: DATABASE_URL, default sqlite://sortie.db].
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Flags of `sortie init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The vendor's display name.
    #[arg(long)]
    pub vendor_name: String,
    /// The vendor's IANA time zone.
    #[arg(long, default_value = "Europe/Moscow")]
    pub timezone: String,
    /// The first admin's e-mail.
    #[arg(long)]
    pub admin_email: String,
    /// The first admin's password [env: SORTIE_ADMIN_PASSWORD]; generated and printed when absent.
    #[arg(long, env = "SORTIE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

/// Parses arguments and runs; returns the process exit code.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "sortie failed");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_with(db: &DbArgs) -> anyhow::Result<Config> {
    let mut config = Config::from_env()?;
    if let Some(url) = &db.database_url {
        let demo_default = crate::db::Backend::from_url(url) == crate::db::Backend::Sqlite;
        if std::env::var("SORTIE_DEMO").is_err() {
            config.demo = demo_default;
        }
        config.database_url = url.clone();
    }
    Ok(config)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => {
            let config = config_with(&args)?;
            crate::telemetry::init(config.log_json);
            tokio::task::spawn_blocking(move || startup::open_database(&config)).await??;
            println!("migrations applied");
            Ok(())
        }
        Command::Init(args) => init(args).await,
        Command::Plan { file, args } => tokio::task::spawn_blocking(move || plan::plan(&file, &args)).await?,
        Command::Bench(BenchCommand::Plan { dir, args, only }) => {
            tokio::task::spawn_blocking(move || plan::bench_plan(&dir, &args, only.as_deref())).await?
        }
        Command::Bench(BenchCommand::Sync(args)) => bench_sync::bench_sync(&args).await,
        Command::Bench(BenchCommand::Scorecard(args)) => bench_scorecard::bench_scorecard(&args).await,
        Command::Bench(BenchCommand::Outbox(args)) => bench_outbox::bench_outbox(&args).await,
        Command::Bench(BenchCommand::Dispatch(args)) => bench_dispatch::bench_dispatch(&args).await,
        Command::Bench(BenchCommand::DispatchLoad) => bench_dispatch::dispatch_load().await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = config_with(&args.db)?;
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    if args.demo {
        config.demo = true;
    }
    if args.no_demo {
        config.demo = false;
    }
    crate::telemetry::init(config.log_json);
    let app = Application::build(config.clone()).await?;
    print_banner(&config, &app);
    app.run_until_stopped().await.context("Server failed")?;
    tracing::info!("Stopped");
    Ok(())
}

fn print_banner(config: &Config, app: &Application) {
    let host = if config.bind.ip().is_unspecified() { "127.0.0.1".to_owned() } else { config.bind.ip().to_string() };
    let url = format!("http://{host}:{}", app.port());
    println!("\nSortie is serving at {url}  (API docs: {url}/docs)");
    println!("web console: {url}/console/jobs  ·  sign in: {url}/login  ·  customers book at {url}/book");
    println!("technicians' app (installable, works offline): {url}/app/");
    println!("database: {}", redact(&config.database_url));
    if !app.demo_database {
        // Demo logins exist only in a database seeded as the demo.
        println!();
        return;
    }
    match &app.demo {
        Some(summary) => println!(
            "demo network seeded: {} organisations, {} technicians",
            summary.organisations, summary.technicians
        ),
        None => println!("demo mode: the database already had data, nothing seeded"),
    }
    let first_dispatcher = app
        .demo
        .as_ref()
        .and_then(|s| s.dispatcher_logins.first().cloned())
        .unwrap_or_else(|| "dispatcher@central.demo.sortie".into());
    println!("\nDemo logins (password `{}` for all):", demo::DEMO_PASSWORD);
    println!("  admin       admin@demo.sortie");
    println!("  reviewer    reviewer@demo.sortie");
    println!("  dispatcher  {first_dispatcher}  (one per organisation: dispatcher@<slug>.demo.sortie)");
    println!(
        "  technician  tech1@demo.sortie … tech{}@demo.sortie  (in the app at {url}/app/, e.g. tech22@demo.sortie)",
        demo::DEMO_TECHNICIANS
    );
    println!("  customer    customer@demo.sortie");
    // Who is who for the booking below: the demo network is deterministic, and
    // scripts/smoke.sh checks these logins against the README's walk-through.
    println!("\nWalk through the demo (README.md, \"Walk through the demo\", has every command):");
    println!("  1. customer@demo.sortie books the visit below (Tverskaya 1, Moscow, from an hour from now)");
    println!("  2. dispatch offers it to Moscow North Crew, the organisation of the nearest eligible technician;");
    println!("     dispatcher@central-moscow-field-north.demo.sortie accepts it: POST /v1/jobs/{{id}}/accept {{}}");
    println!("     (the vendor's dispatcher@vendor.demo.sortie sees its chain: GET /v1/jobs/{{id}}/events)");
    println!("  3. the technician, Dmitry T22, logs in as tech22@demo.sortie on his phone: POST /v1/devices,");
    println!("     POST /v1/sync/pull, POST /v1/sync/push job.set_status en_route, on_site, completed");
    println!(
        "  4. reviewer@demo.sortie approves the work: GET /v1/reviews, POST /v1/jobs/{{id}}/review {{\"verdict\":\"approve\"}}"
    );
    println!("  5. the customer follows it at {url}/v1/track/<tracking_token> (no login) and rates it (survey_url)");
    // A window in the coming hours: a phone sets off only to a visit of its
    // local today or of the next 12 hours, so the walk-through works at once.
    let now = chrono::Utc::now();
    let start = (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:00:00Z");
    let end = (now + chrono::Duration::hours(14)).format("%Y-%m-%dT%H:00:00Z");
    println!("\nBook a visit as the demo customer (bash):");
    println!(
        "  TOKEN=$(curl -s {url}/v1/auth/login -H 'content-type: application/json' \\\n    -d '{{\"email\":\"customer@demo.sortie\",\"password\":\"demo\"}}' | sed -nE 's/.*\"access_token\":\"([^\"]+)\".*/\\1/p')\n  test -n \"$TOKEN\" || echo 'login failed: no token' >&2"
    );
    println!(
        "  curl -s {url}/v1/requests -H \"authorization: Bearer $TOKEN\" -H 'content-type: application/json' \\\n    -H \"Idempotency-Key: $(date +%s)\" -d '{{\"kind\":\"home_visit\",\"location\":{{\"lat\":55.7558,\"lon\":37.6173}},\"address\":\"Tverskaya 1, Moscow\",\"problem\":\"The cash register does not print receipts\",\"required_skills\":[\"cash_register\"],\"window\":{{\"start\":\"{start}\",\"end\":\"{end}\"}},\"priority\":\"normal\",\"contact\":{{\"name\":\"Ivan Petrov\",\"phone\":\"+7 916 123-45-67\"}}}}'; echo"
    );
    println!("  # then open {url}/v1/track/<tracking_token> from the answer\n");
}

/// Hides a password in a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn init(args: InitArgs) -> anyhow::Result<()> {
    let mut config = config_with(&args.db)?;
    config.demo = false;
    crate::telemetry::init(config.log_json);
    let email = crate::domain::validate::email("admin_email", &args.admin_email).map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::domain::validate::timezone("timezone", &args.timezone).map_err(|e| anyhow::anyhow!("{e}"))?;
    let generated = args.admin_password.is_none();
    let plain = args.admin_password.unwrap_or_else(|| crate::auth::jwt::new_refresh_token()[..20].to_owned());
    password::check_policy("admin_password", &plain).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = password::hash(&plain)?;
    let vendor_name = args.vendor_name.clone();
    let timezone = args.timezone.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let db = startup::open_database(&config)?;
        let mut conn = db.get()?;
        let now = storage::db_time(chrono::Utc::now());
        write_tx(&mut conn, |conn| {
            if orgs::root(conn)?.is_some() {
                return Err(ApiError::conflict(
                    "already_initialised",
                    "the database already has a vendor organisation",
                    serde_json::json!({}),
                ));
            }
            // A real vendor's database: the signing secret must come from the environment.
            crate::storage::settings::get_or_insert(
                conn,
                crate::storage::settings::ORIGIN,
                crate::storage::settings::ORIGIN_INIT,
            )?;
            let id = storage::new_id();
            let path = format!("/{id}/");
            orgs::insert(
                conn,
                &orgs::NewOrg {
                    id: &id,
                    parent_id: None,
                    name: &vendor_name,
                    slug: "vendor",
                    level: 0,
                    path: &path,
                    timezone: &timezone,
                    manual_routing: false,
                    parts: "[]",
                    created_at: now,
                    updated_at: now,
                    max_travel_km: None,
                },
            )?;
            orgs::put_agreement(
                conn,
                &id,
                r#"{"low":240,"normal":120,"high":60,"urgent":15}"#,
                r#"{"low":4320,"normal":2880,"high":1440,"urgent":240}"#,
                0.8,
                now,
            )?;
            users::insert(
                conn,
                &users::NewUser {
                    id: &storage::new_id(),
                    email: &email,
                    password_hash: &hash,
                    role: Role::Admin,
                    name: None,
                    org_id: Some(&id),
                    technician_id: None,
                    customer_id: None,
                    active: true,
                    password_changed_at: now,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))
    })
    .await??;
    println!("created vendor `{}` and admin {}", args.vendor_name, args.admin_email);
    if generated {
        println!("admin password (shown once): {plain}");
    }
    Ok(())
}
