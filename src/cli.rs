//! The `portal` command: `serve`, `user add`, `demo`, `generate`, `backup`, `restore`.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::accounts::{self, CreateError, NewAccount};
use crate::clock::SystemClock;
use crate::domain::password;
use crate::domain::text::single_line;
use crate::domain::{Email, Profile, RegulatorRole, Rut};
use crate::settings::Settings;
use crate::web::AppState;

#[derive(Parser)]
#[command(
    name = "portal",
    version,
    about = "Generación Ciudadana: net-billing procedures of Ley 20.571"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the portal with the settings from the environment (PORTAL_*).
    Serve,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Fill a separate demo data directory with one account per profile, print their
    /// credentials, and serve it.
    Demo {
        /// Where the demo keeps its database, files and e-mails.
        #[arg(long, default_value = "./demo-data")]
        data_dir: PathBuf,
        /// Before serving, generate this many requests with their users and files (skipped
        /// when the demo data already holds requests).
        #[arg(long)]
        requests: Option<u64>,
    },
    /// Fill the configured database and storage (as `serve` reads them) with generated users,
    /// requests, history and files for benchmarks, and print the bench accounts.
    Generate(GenerateArgs),
    /// Copy the database and every stored file into DIR (new or empty), with a MANIFEST of
    /// sizes and SHA-256 digests. Safe while the portal serves: SQLite is copied as a
    /// consistent online snapshot; PostgreSQL is not copied (the command prints the pg_dump
    /// step, to run before it).
    Backup {
        /// Where the backup goes; must not exist or be empty.
        dir: PathBuf,
    },
    /// Put a backup made by `portal backup` into the configured storage and (SQLite) database.
    /// The portal must NOT be running against them. Every file is checked against its size and
    /// SHA-256 in the MANIFEST. PostgreSQL: restores the files and prints the pg_restore step.
    Restore {
        /// The backup directory.
        dir: PathBuf,
        /// Restore even though the target database has users or requests, or the storage
        /// holds files (the database is replaced; the files are added).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
struct GenerateArgs {
    /// How many requests to generate.
    #[arg(long)]
    requests: u64,
    /// The same seed gives the same data (ids and times differ with the current time).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Add to a database that already holds requests instead of refusing it.
    #[arg(long)]
    append: bool,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an active account. Without --password-stdin, prints and e-mails a one-time link
    /// to choose the password.
    Add(UserAdd),
}

#[derive(Args)]
struct UserAdd {
    /// solicitante, distribuidora or sec
    #[arg(long)]
    profile: String,
    #[arg(long)]
    rut: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    names: String,
    #[arg(long)]
    surnames: String,
    /// The company's folio prefix (Distribuidora accounts only), e.g. EN.
    #[arg(long)]
    distributor: Option<String>,
    /// administrador (default) or auditor (SEC accounts only).
    #[arg(long)]
    sec_role: Option<String>,
    /// Read the password from standard input instead of sending a link.
    #[arg(long)]
    password_stdin: bool,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let settings = Settings::from_env()?;
            crate::app::init_logging(&settings);
            let state = crate::app::state(settings, Arc::new(SystemClock)).await?;
            crate::app::serve(state).await
        }
        Command::User {
            command: UserCommand::Add(args),
        } => {
            let settings = Settings::from_env()?;
            crate::app::init_logging(&settings);
            let state = crate::app::state(settings, Arc::new(SystemClock)).await?;
            user_add(&state, args).await
        }
        Command::Demo { data_dir, requests } => demo(data_dir, requests).await,
        Command::Generate(args) => {
            let settings = Settings::from_env()?;
            crate::app::init_logging(&settings);
            let state = crate::app::state(settings, Arc::new(SystemClock)).await?;
            let options = crate::generate::Options {
                requests: args.requests,
                seed: args.seed,
                append: args.append,
            };
            let summary = crate::generate::generate(&state, options, &progress_bar()).await?;
            print!("{summary}");
            Ok(())
        }
        Command::Backup { dir } => {
            let settings = Settings::from_env()?;
            crate::app::init_logging(&settings);
            crate::app::install_tls_provider();
            let report = crate::backup::backup(&settings, &dir).await?;
            print!("{report}");
            Ok(())
        }
        Command::Restore { dir, force } => {
            let settings = Settings::from_env()?;
            crate::app::init_logging(&settings);
            crate::app::install_tls_provider();
            let report = crate::backup::restore(&settings, &dir, force).await?;
            print!("{report}");
            Ok(())
        }
    }
}

async fn user_add(state: &AppState, args: UserAdd) -> anyhow::Result<()> {
    let profile = Profile::from_cli(&args.profile)
        .context("--profile must be solicitante, distribuidora or sec")?;
    let rut = Rut::parse(&args.rut).map_err(|e| anyhow::anyhow!("--rut: {e}"))?;
    let email = Email::parse(&args.email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let names = single_line(&args.names, 100).map_err(|e| anyhow::anyhow!("--names: {e}"))?;
    let surnames =
        single_line(&args.surnames, 100).map_err(|e| anyhow::anyhow!("--surnames: {e}"))?;
    let regulator_role = match (&args.sec_role, profile) {
        (None, _) => None,
        (Some(role), Profile::Regulator) => Some(
            RegulatorRole::from_code(role)
                .context("--sec-role must be administrador or auditor")?,
        ),
        (Some(_), _) => bail!("--sec-role applies to SEC accounts only"),
    };
    let password = if args.password_stdin {
        let mut typed = String::new();
        std::io::stdin()
            .read_to_string(&mut typed)
            .context("reading the password from standard input")?;
        let typed = typed.trim_end_matches(['\r', '\n']);
        let personal = [rut.normalized(), email.to_string()];
        let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
        Some(
            password::check(typed, typed, &personal)
                .map_err(|e| anyhow::anyhow!("password: {e}"))?,
        )
    } else {
        None
    };
    let account = NewAccount {
        profile,
        rut,
        email,
        names,
        surnames,
        distributor_prefix: args.distributor,
        regulator_role,
    };
    let created = match accounts::create(state, &account, password).await {
        Ok(created) => created,
        Err(CreateError::Other(error)) => return Err(error),
        Err(error) => bail!("{error}"),
    };
    println!(
        "Created {} account {} for RUT {}.",
        profile.label(),
        created.user_id,
        account.rut.formatted()
    );
    if let Some(link) = created.password_link {
        // Send the e-mail now rather than waiting for a running server's worker.
        crate::app::outbox(state)?.deliver_due().await?;
        println!("One-time link to choose the password (valid 72 hours, also e-mailed):\n{link}");
    }
    Ok(())
}

/// One demo account. Their password is public on purpose: the accounts exist only in the demo
/// data directory, never in a real deployment.
struct DemoAccount {
    profile: &'static str,
    rut: &'static str,
    email: &'static str,
    names: &'static str,
    surnames: &'static str,
    distributor: Option<&'static str>,
}

const DEMO_ACCOUNTS: [DemoAccount; 3] = [
    DemoAccount {
        profile: "solicitante",
        rut: "11.111.111-1",
        email: "solicitante@demo.invalid",
        names: "Camila",
        surnames: "Rojas Soto",
        distributor: None,
    },
    DemoAccount {
        profile: "distribuidora",
        rut: "22.222.222-2",
        email: "distribuidora@demo.invalid",
        names: "Diego",
        surnames: "Muñoz Vera",
        distributor: Some("EN"),
    },
    DemoAccount {
        profile: "sec",
        rut: "33.333.333-3",
        email: "sec@demo.invalid",
        names: "Valentina",
        surnames: "Pérez Lagos",
        distributor: None,
    },
];
const DEMO_PASSWORD: &str = "sol de tarde en la pampa";

/// One bar on stderr, drawn only when stderr is a terminal.
fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} requests, {per_sec}, {eta} left",
        )
        .expect("a valid progress template"),
    );
    bar
}

/// Generates the demo's requests, unless the demo data holds some already (a second start).
async fn demo_requests(state: &AppState, requests: u64) -> anyhow::Result<()> {
    let options = crate::generate::Options {
        requests,
        seed: 1,
        append: false,
    };
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM requests")
        .fetch_one(state.db.pool())
        .await?;
    if held > 0 {
        println!("The demo data holds {held} requests already; none generated.");
        return Ok(());
    }
    let summary = crate::generate::generate(state, options, &progress_bar()).await?;
    println!("{}", summary.to_string().lines().next().unwrap_or_default());
    Ok(())
}

async fn demo(data_dir: PathBuf, requests: Option<u64>) -> anyhow::Result<()> {
    let mut vars: HashMap<String, String> = std::env::vars()
        .filter(|(key, _)| key.starts_with("PORTAL_"))
        .filter(|(key, _)| {
            !matches!(
                key.as_str(),
                "PORTAL_DATABASE_URL" | "PORTAL_STORAGE_URL" | "PORTAL_MAIL_URL"
            )
        })
        .collect();
    vars.insert(
        "PORTAL_DATA_DIR".to_string(),
        data_dir.display().to_string(),
    );
    let settings = Settings::from_map(vars)?;
    crate::app::init_logging(&settings);
    let state = crate::app::state(settings, Arc::new(SystemClock)).await?;
    // The generated bench accounts are the demo accounts (same RUTs and password): generated
    // first, the demo accounts below then find them.
    if let Some(requests) = requests {
        demo_requests(&state, requests).await?;
    }
    for demo in &DEMO_ACCOUNTS {
        let account = NewAccount {
            profile: Profile::from_cli(demo.profile).expect("known profile"),
            rut: Rut::parse(demo.rut).expect("valid demo RUT"),
            email: Email::parse(demo.email).expect("valid demo e-mail"),
            names: demo.names.to_string(),
            surnames: demo.surnames.to_string(),
            distributor_prefix: demo.distributor.map(str::to_string),
            regulator_role: None,
        };
        let password = password::check(DEMO_PASSWORD, DEMO_PASSWORD, &[])
            .map_err(|e| anyhow::anyhow!("demo password: {e}"))?;
        match accounts::create(&state, &account, Some(password)).await {
            Ok(_) | Err(CreateError::Duplicate) => {}
            Err(error) => return Err(anyhow::anyhow!("creating the demo account: {error}")),
        }
    }
    println!();
    println!("Demo data in {}", data_dir.display());
    println!(
        "Open {} and log in with one of these (Perfil, RUT, Contraseña):",
        state.settings.base_url
    );
    for demo in &DEMO_ACCOUNTS {
        let label = Profile::from_cli(demo.profile).expect("known").label();
        println!("  {label:<14} {:<13} {DEMO_PASSWORD}", demo.rut);
    }
    println!(
        "E-mails are written as .eml files to {}",
        state.settings.mail_url
    );
    println!();
    crate::app::serve(state).await
}
