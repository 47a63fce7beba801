//! Command line: parses arguments and calls into the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clerk_graphql::auth::dev_keys::{DevKeys, DevToken};
use clerk_graphql::clerk::{ClerkClient, ClerkClientSettings};
use clerk_graphql::config::Config;
use clerk_graphql::server::{Application, BuildOptions};
use clerk_graphql::{db, metrics, schema, telemetry, users};
use migrations::{Migrator, MigratorTrait};

/// mimalloc instead of the system allocator. A GraphQL request allocates and frees hundreds of
/// small objects (the parsed document, resolver futures, the JSON answer); under callgrind,
/// glibc's malloc and free were about 30 % of the instructions of a `{ viewer { userId } }`
/// request. `scripts/bench`, same machine, glibc → mimalloc: anonymous viewer 19.6k → 24.9k
/// requests/s, one token 14.7k → 19.5k, 10,000 tokens 13.1k → 18.7k, `me` 5.3k → 6.3k; peak RSS
/// 20 → 31 MiB (mimalloc keeps freed pages for reuse).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "GraphQL API server for apps whose users sign in with Clerk",
    after_help = "Every command reads its configuration from environment variables: \
                  `clerk-graphql serve --help` lists them."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (the default).
    #[command(after_long_help = Config::variables_help())]
    Serve,
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Print the GraphQL schema (SDL) to standard output.
    PrintSchema,
    /// Copy every Clerk user into the database (needs CLERK_SECRET_KEY); safe to repeat.
    SyncUsers,
    /// Print a session token signed by the local dev key (dev mode only).
    DevToken(DevTokenArgs),
}

#[derive(clap::Args)]
struct DevTokenArgs {
    /// The Clerk user id (`sub`).
    #[arg(long, default_value = "user_dev_1")]
    user: String,
    /// App role, carried as `metadata.role` (e.g. `admin`).
    #[arg(long)]
    role: Option<String>,
    /// Active organisation id (e.g. `org_1`).
    #[arg(long)]
    org: Option<String>,
    /// Role in the organisation (e.g. `admin`; default `member`).
    #[arg(long, requires = "org")]
    org_role: Option<String>,
    /// Organisation permission `org:<feature>:<permission>`; repeatable.
    #[arg(long = "permission", requires = "org")]
    permissions: Vec<String>,
    /// Email, carried as the `email` claim.
    #[arg(long)]
    email: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..=86_400 * 30))]
    ttl: i64,
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply all pending migrations (the default).
    Up,
    /// Revert the last `steps` migrations.
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List applied and pending migrations.
    Status,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::PrintSchema) = cli.command {
        print!("{}", schema::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match telemetry::init(&config) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: traces cannot be exported: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        None | Some(Command::Serve) => serve(config).await,
        Some(Command::Migrate { action }) => {
            migrate(&config, action.unwrap_or(MigrateAction::Up)).await
        }
        Some(Command::SyncUsers) => sync_users(&config).await,
        Some(Command::DevToken(args)) => dev_token(&config, args),
        Some(Command::PrintSchema) => unreachable!("handled before configuration"),
    };
    // The spans of the last requests are still queued: sent before the process ends.
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let playground = config.graphql_playground;
    // The process's recorder, before anything records; none at all with METRICS_ADDR=off.
    let metrics = config
        .metrics_addr
        .0
        .map(|_| metrics::install())
        .transpose()?;
    let options = BuildOptions {
        metrics,
        ..BuildOptions::default()
    };
    let app = Application::build_with(config, options).await?;
    let address = app.local_addr();
    tracing::info!(%address, "listening");
    if let Some(address) = app.metrics_addr() {
        tracing::info!(%address, "metrics: http://{address}/metrics");
    }
    if playground {
        tracing::info!("GraphiQL playground: http://{address}/graphql");
    }
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(config: &Config, action: MigrateAction) -> anyhow::Result<()> {
    let db = db::connect(&config.database_url).await?;
    match action {
        MigrateAction::Up => Migrator::up(&db, None).await?,
        MigrateAction::Down { steps } => Migrator::down(&db, Some(steps)).await?,
        MigrateAction::Status => {
            for migration in Migrator::get_applied_migrations(&db).await? {
                println!("applied  {}", migration.name());
            }
            for migration in Migrator::get_pending_migrations(&db).await? {
                println!("pending  {}", migration.name());
            }
        }
    }
    Ok(())
}

async fn sync_users(config: &Config) -> anyhow::Result<()> {
    let secret = config.clerk.secret_key.clone().ok_or_else(|| {
        anyhow::anyhow!("sync-users reads Clerk's Backend API: set CLERK_SECRET_KEY")
    })?;
    let db = db::connect(&config.database_url).await?;
    if config.database_auto_migrate {
        db::migrate_up(&db).await?;
    }
    let clerk = ClerkClient::new(
        config.clerk.api_url.clone(),
        secret,
        ClerkClientSettings::default(),
    );
    let summary = users::sync_users(&db, &clerk, |so_far| {
        println!("… {} users read", so_far.seen);
    })
    .await?;
    println!(
        "sync-users: {} users in Clerk: {} created, {} updated, {} unchanged, {} deleted locally but present in Clerk (left deleted)",
        summary.seen,
        summary.created,
        summary.updated,
        summary.unchanged,
        summary.deleted_locally_but_present
    );
    Ok(())
}

fn dev_token(config: &Config, args: DevTokenArgs) -> anyhow::Result<()> {
    let Some(dir) = &config.dev_keys_dir else {
        anyhow::bail!(
            "dev mode is off (APP_ENV=production, DEV_MODE=false, or a Clerk key source is set): \
             the server would refuse a dev token"
        );
    };
    let longest = config.clerk.max_token_lifetime.as_secs();
    if args.ttl as u64 > longest {
        anyhow::bail!(
            "--ttl {}: the server refuses tokens living longer than CLERK_MAX_TOKEN_LIFETIME_SECS \
             ({longest} s); raise it, or ask for a shorter token",
            args.ttl
        );
    }
    let keys = DevKeys::load_or_create(dir)?;
    let token = DevToken {
        user_id: args.user,
        role: args.role,
        org_id: args.org,
        org_role: args.org_role,
        org_permissions: args.permissions,
        email: args.email,
        ttl_secs: args.ttl,
    };
    println!("{}", keys.mint(&token, chrono::Utc::now().timestamp())?);
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what orchestrators send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing in-flight requests");
}
