//! `portal generate`: fills the configured database and file storage with a realistic portal
//! (users of every profile, requests of every kind in every status over three years, their
//! history, payments, pauses and files), for benchmarks and for a demo worth looking at.
//!
//! The rows are those the handlers would have written (the workflow's own `decide` chooses each
//! status), made on a thread of their own and written by one connection in one transaction with
//! multi-row INSERTs, so that a run either adds everything or nothing.

mod files;
mod plan;
mod rows;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use sqlx::{AnyConnection, AssertSqlSafe, Executor, Row};

use crate::clock::to_micros;
use crate::domain::calendar::BusinessCalendar;
use crate::domain::password;
use crate::domain::request::RequestKind;
use crate::domain::rut::check_digit_of;
use crate::web::AppState;
use plan::{Company, Comuna, Generator, Rng, World};
use rows::{AuditRow, Inserter, UserRow, Writer};

/// The password of every generated account.
pub const BENCH_PASSWORD: &str = "sol de tarde en la pampa";

/// The fixed accounts a benchmark logs in with.
pub struct BenchAccount {
    /// As `portal user add --profile` names it.
    pub profile: &'static str,
    pub rut: &'static str,
    pub number: u32,
}

pub const BENCH_APPLICANT: BenchAccount = BenchAccount {
    profile: "solicitante",
    rut: "11.111.111-1",
    number: 11_111_111,
};
pub const BENCH_DISTRIBUTOR: BenchAccount = BenchAccount {
    profile: "distribuidora",
    rut: "22.222.222-2",
    number: 22_222_222,
};
pub const BENCH_REGULATOR: BenchAccount = BenchAccount {
    profile: "sec",
    rut: "33.333.333-3",
    number: 33_333_333,
};
/// The company of the bench Distribuidora account.
pub const BENCH_COMPANY: &str = "EN";
/// Requests the bench applicant owns when the run is large enough (a tenth of smaller runs).
const BENCH_APPLICANT_REQUESTS: u64 = 500;
/// Requests handed from the generating thread to the writer at a time.
const BATCH: usize = 4_096;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub requests: u64,
    pub seed: u64,
    /// Add to a database that already holds requests.
    pub append: bool,
}

/// What a run made.
#[derive(Clone, Debug)]
pub struct Summary {
    pub requests: u64,
    pub first_folio: i64,
    pub last_folio: i64,
    pub users: u64,
    pub elapsed: Duration,
}

impl Summary {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Generated {} requests (folio numbers {} to {}) and {} users in {:.1} s: {:.0} requests per second.",
            self.requests,
            self.first_folio,
            self.last_folio,
            self.users,
            self.elapsed.as_secs_f64(),
            self.per_second()
        )?;
        writeln!(f, "Bench accounts (Perfil, RUT, Contraseña):")?;
        for (account, note) in [
            (&BENCH_APPLICANT, "owns about 500 requests"),
            (&BENCH_DISTRIBUTOR, "company EN"),
            (&BENCH_REGULATOR, "administrador"),
        ] {
            let label = crate::domain::Profile::from_cli(account.profile)
                .map(|p| p.label())
                .unwrap_or(account.profile);
            writeln!(
                f,
                "  {label:<14} {:<13} {BENCH_PASSWORD}   ({note})",
                account.rut
            )?;
        }
        Ok(())
    }
}

/// Generates `options.requests` requests into the state's database and storage. Refuses a
/// database that already holds requests unless `options.append`.
pub async fn generate(
    state: &AppState,
    options: Options,
    progress: &ProgressBar,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let existing = count_requests(state).await?;
    if existing > 0 && !options.append {
        bail!(
            "the database already holds {existing} requests: generated data would mix with them \
             and their folio numbers. Generate into an empty portal, or pass --append to add to it"
        );
    }
    if options.requests == 0 {
        bail!("--requests must be at least 1");
    }
    let password = password::check(BENCH_PASSWORD, BENCH_PASSWORD, &[])
        .map_err(|e| anyhow::anyhow!("the bench password: {e}"))?;
    // Hashed once: argon2 is slow on purpose, and every generated account shares it.
    let hash = crate::web::hash_password_blocking(password).await?;
    let files: &'static [files::BenchFile] = Box::leak(
        files::store(state.storage.as_ref())
            .await?
            .into_boxed_slice(),
    );
    let mut conn = state
        .db
        .unbounded_connection()
        .await
        .context("connecting to the database")?;
    let sqlite = state.db.is_sqlite();
    if sqlite {
        for pragma in [
            "PRAGMA synchronous = OFF",
            "PRAGMA cache_size = -1048576",
            "PRAGMA temp_store = MEMORY",
        ] {
            conn.execute(pragma).await?;
        }
    }
    conn.execute(if sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" })
        .await?;
    let result = fill(
        &mut conn,
        state,
        options,
        existing == 0,
        &hash,
        files,
        progress,
    )
    .await;
    let summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            let _ = conn.execute("ROLLBACK").await;
            return Err(error);
        }
    };
    conn.execute("COMMIT")
        .await
        .context("committing the generated data")?;
    if sqlite {
        // Durable from here on: the checkpoint writes the database file with a sync.
        conn.execute("PRAGMA synchronous = FULL").await?;
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        conn.execute("ANALYZE").await?;
    } else {
        // What autovacuum does to a table that grew in a day: statistics for the planner, and
        // the visibility map that lets counts read an index alone. Outside any transaction.
        conn.execute("VACUUM ANALYZE").await?;
    }
    progress.finish_and_clear();
    Ok(Summary {
        elapsed: started.elapsed(),
        ..summary
    })
}

async fn count_requests(state: &AppState) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM requests")
        .fetch_one(state.db.pool())
        .await?
        .try_get("n")
}

/// Everything inside the transaction.
async fn fill(
    conn: &mut AnyConnection,
    state: &AppState,
    options: Options,
    fresh: bool,
    hash: &str,
    files: &'static [files::BenchFile],
    progress: &ProgressBar,
) -> anyhow::Result<Summary> {
    // Takes the numbers at once: the row stays locked until the commit, so a submission made
    // meanwhile by a running portal waits and then continues after the generated ones.
    let requests = i64::try_from(options.requests)?;
    let last_folio: i64 =
        sqlx::query("UPDATE counters SET value = value + $1 WHERE name = 'folio' RETURNING value")
            .bind(requests)
            .fetch_one(&mut *conn)
            .await?
            .try_get("value")?;
    let first_folio = last_folio - requests + 1;
    let indexes = if fresh {
        drop_indexes(conn, state.db.is_sqlite()).await?
    } else {
        Vec::new()
    };
    let now = state.now();
    // Ids are made from times, this run's key and a counter: the key differs between two runs
    // into one database (the folio numbers they take differ) even with the same seed and clock.
    let run = options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (to_micros(now) as u64).rotate_left(17)
        ^ (first_folio as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let mut rng = Rng::new(options.seed ^ 0xA5A5);
    let people = people::create(
        conn,
        state.db.is_sqlite(),
        options,
        hash,
        to_micros(now),
        run.rotate_left(29),
        &mut rng,
    )
    .await?;
    let world = World {
        requests: options.requests,
        seed: options.seed,
        run,
        now,
        first_folio,
        companies: people.companies,
        comunas: comunas(conn).await?,
        calendar: BusinessCalendar::new(crate::store::requests::holidays(&mut *conn).await?),
        deadlines: deadlines(conn).await?,
        applicants: people.applicants,
        installers: people.installers,
        bench_applicant: people.bench_applicant,
        bench_requests: BENCH_APPLICANT_REQUESTS.min((options.requests / 10).max(1)),
        sec_admin: people.sec_admin,
        files,
    };
    progress.set_length(options.requests);
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let maker = std::thread::spawn(move || {
        Generator::new(world).run(BATCH, |batch| sender.blocking_send(batch).is_ok());
    });
    let mut writer = Writer::new(state.db.is_sqlite());
    let mut outcome = Ok(());
    while let Some(batch) = receiver.recv().await {
        let made = batch.requests.len() as u64;
        if let Err(error) = writer.write(conn, batch).await {
            outcome = Err(error);
            break;
        }
        progress.inc(made);
    }
    // Stops the generating thread if the writer gave up.
    drop(receiver);
    if maker.join().is_err() {
        bail!("the request generator failed");
    }
    outcome.context("writing the generated requests")?;
    writer.finish(conn).await?;
    for (name, sql) in &indexes {
        conn.execute(AssertSqlSafe(sql.clone()))
            .await
            .with_context(|| format!("recreating the index {name}"))?;
    }
    Ok(Summary {
        requests: options.requests,
        first_folio,
        last_folio,
        users: people.created,
        elapsed: Duration::ZERO,
    })
}

/// The tables the generator fills: their secondary indexes are rebuilt once at the end of a
/// run into an empty database, faster than keeping them up to date row by row.
const FILLED: &str =
    "'requests', 'request_events', 'attachments', 'payments', 'request_pauses', 'audit_log'";

/// Drops the secondary indexes of the filled tables (not the primary keys or UNIQUE
/// constraints) and returns their definitions exactly as the database holds them, from the
/// migrations, to recreate them unchanged.
async fn drop_indexes(
    conn: &mut AnyConnection,
    sqlite: bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let sql = if sqlite {
        format!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ({FILLED}) ORDER BY name"
        )
    } else {
        format!(
            "SELECT indexname::text AS name, indexdef::text AS sql FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename IN ({FILLED}) \
             AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname"
        )
    };
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    let mut indexes = Vec::with_capacity(rows.len());
    for row in &rows {
        let name: String = row.try_get("name")?;
        let definition: String = row.try_get("sql")?;
        // Names come from the database's catalogue of the migrations' indexes; quoted anyway.
        conn.execute(AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
            .await?;
        indexes.push((name, definition));
    }
    Ok(indexes)
}

async fn comunas(conn: &mut AnyConnection) -> anyhow::Result<Vec<Comuna>> {
    let rows = sqlx::query("SELECT code, region_code FROM comunas ORDER BY code")
        .fetch_all(&mut *conn)
        .await?;
    let comunas: Vec<Comuna> = rows
        .iter()
        .map(|row| {
            Ok(Comuna {
                code: row.try_get("code")?,
                region_code: row.try_get("region_code")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    if comunas.is_empty() {
        bail!("the database has no comunas: the reference data was not seeded");
    }
    Ok(comunas)
}

async fn deadlines(conn: &mut AnyConnection) -> anyhow::Result<[Option<u32>; 4]> {
    let mut days = [None; 4];
    for (slot, kind) in days.iter_mut().zip(RequestKind::ALL) {
        *slot = crate::store::requests::deadline_days(&mut *conn, kind).await?;
    }
    Ok(days)
}

/// A valid RUT, as stored.
fn rut(number: u32) -> String {
    format!("{number}-{}", check_digit_of(number))
}

mod people {
    //! The accounts: the bench ones (reused when they exist), 1–3 users per company, two SEC
    //! users, and about one applicant per eight requests.

    use super::*;

    const NAMES: [&str; 16] = [
        "Camila",
        "Diego",
        "Valentina",
        "Matías",
        "Javiera",
        "Benjamín",
        "Catalina",
        "Vicente",
        "Francisca",
        "Tomás",
        "Constanza",
        "Joaquín",
        "Antonia",
        "Sebastián",
        "Fernanda",
        "Cristóbal",
    ];
    const SURNAMES: [&str; 16] = [
        "González",
        "Muñoz",
        "Rojas",
        "Díaz",
        "Pérez",
        "Soto",
        "Contreras",
        "Silva",
        "Martínez",
        "Sepúlveda",
        "Morales",
        "Rodríguez",
        "López",
        "Fuentes",
        "Hernández",
        "Araya",
    ];

    pub struct People {
        pub companies: Vec<Company>,
        pub applicants: Vec<String>,
        pub installers: usize,
        pub bench_applicant: String,
        pub sec_admin: String,
        pub created: u64,
    }

    struct Existing {
        /// (profile, rut) → id
        ids: HashMap<(String, String), String>,
        applicant_emails: HashSet<String>,
        company_users: HashMap<String, Vec<String>>,
        regulators: usize,
    }

    async fn existing(conn: &mut AnyConnection) -> Result<Existing, sqlx::Error> {
        let rows = sqlx::query("SELECT id, profile, rut, email, distributor_id FROM users")
            .fetch_all(&mut *conn)
            .await?;
        let mut found = Existing {
            ids: HashMap::with_capacity(rows.len()),
            applicant_emails: HashSet::new(),
            company_users: HashMap::new(),
            regulators: 0,
        };
        for row in &rows {
            let id: String = row.try_get("id")?;
            let profile: String = row.try_get("profile")?;
            match profile.as_str() {
                "applicant" => {
                    found.applicant_emails.insert(row.try_get("email")?);
                }
                "regulator" => found.regulators += 1,
                _ => {}
            }
            if let Some(company) = row.try_get::<Option<String>, _>("distributor_id")? {
                found
                    .company_users
                    .entry(company)
                    .or_default()
                    .push(id.clone());
            }
            found.ids.insert((profile, row.try_get("rut")?), id);
        }
        Ok(found)
    }

    /// Allocates RUT numbers upward from a start, skipping those taken in the profile.
    struct Numbers<'a> {
        next: u32,
        profile: &'static str,
        taken: &'a Existing,
    }

    impl Numbers<'_> {
        fn take(&mut self) -> (u32, String) {
            loop {
                let number = self.next;
                self.next += 7;
                let rut = rut(number);
                let bench = [
                    BENCH_APPLICANT.number,
                    BENCH_DISTRIBUTOR.number,
                    BENCH_REGULATOR.number,
                ];
                if !bench.contains(&number)
                    && !self
                        .taken
                        .ids
                        .contains_key(&(self.profile.to_string(), rut.clone()))
                {
                    return (number, rut);
                }
            }
        }
    }

    struct Maker<'a> {
        hash: &'a str,
        now: i64,
        rows: Vec<UserRow>,
        audit: Vec<AuditRow>,
        ids: plan::Ids,
    }

    impl Maker<'_> {
        #[allow(clippy::too_many_arguments)]
        fn user(
            &mut self,
            rng: &mut Rng,
            profile: &'static str,
            rut: String,
            email: String,
            distributor_id: Option<String>,
            regulator_role: Option<&'static str>,
            installer: bool,
        ) -> String {
            let id = self.ids.make(self.now);
            let surnames = format!("{} {}", rng.pick(&SURNAMES), rng.pick(&SURNAMES));
            if profile != "applicant" {
                // As `portal user add` or the SEC administrator would have created it.
                let label = match (profile, regulator_role) {
                    ("regulator", Some(role)) => format!("Perfil SEC ({role})"),
                    _ => "Perfil Distribuidora".to_string(),
                };
                self.audit.push(AuditRow {
                    id: self.ids.make(self.now),
                    occurred_at: self.now,
                    actor_id: None,
                    event: "account_created",
                    target: id.clone(),
                    detail: label,
                });
            }
            self.rows.push(UserRow {
                id: id.clone(),
                profile,
                installer_license: installer.then(|| format!("SEC-{}", &rut[..rut.len() - 2])),
                rut,
                email,
                names: rng.pick::<&str>(&NAMES),
                surnames,
                business_name: None,
                is_installer: installer,
                distributor_id,
                regulator_role,
                password_hash: self.hash.to_string(),
                created_at: self.now,
            });
            id
        }
    }

    /// The bench account of a profile: the existing one, or a new one.
    #[allow(clippy::too_many_arguments)]
    fn bench(
        maker: &mut Maker<'_>,
        rng: &mut Rng,
        existing: &Existing,
        account: &BenchAccount,
        profile: &'static str,
        email: &str,
        distributor_id: Option<String>,
        role: Option<&'static str>,
    ) -> (String, bool) {
        let stored = rut(account.number);
        match existing.ids.get(&(profile.to_string(), stored.clone())) {
            Some(id) => (id.clone(), false),
            None => {
                let id = maker.user(
                    rng,
                    profile,
                    stored,
                    email.to_string(),
                    distributor_id,
                    role,
                    false,
                );
                (id, true)
            }
        }
    }

    pub async fn create(
        conn: &mut AnyConnection,
        sqlite: bool,
        options: Options,
        hash: &str,
        now: i64,
        run: u64,
        rng: &mut Rng,
    ) -> anyhow::Result<People> {
        let existing = existing(conn).await?;
        let rows = sqlx::query(
            "SELECT id, folio_prefix FROM distributors WHERE active = 1 ORDER BY created_at, folio_prefix",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut companies = rows
            .iter()
            .map(|row| {
                Ok(Company {
                    id: row.try_get("id")?,
                    prefix: row.try_get("folio_prefix")?,
                    users: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let Some(bench_company) = companies.iter().position(|c| c.prefix == BENCH_COMPANY) else {
            bail!("the company {BENCH_COMPANY} of the bench Distribuidora account is not active");
        };
        let mut maker = Maker {
            hash,
            now,
            rows: Vec::new(),
            audit: Vec::new(),
            ids: plan::Ids::new(run),
        };
        let mut created = 0;
        let (bench_applicant, new) = bench(
            &mut maker,
            rng,
            &existing,
            &BENCH_APPLICANT,
            "applicant",
            "solicitante@bench.invalid",
            None,
            None,
        );
        created += u64::from(new);
        let company_id = companies[bench_company].id.clone();
        let (bench_staff, new) = bench(
            &mut maker,
            rng,
            &existing,
            &BENCH_DISTRIBUTOR,
            "distributor",
            "distribuidora@bench.invalid",
            Some(company_id),
            None,
        );
        created += u64::from(new);
        let (sec_admin, new) = bench(
            &mut maker,
            rng,
            &existing,
            &BENCH_REGULATOR,
            "regulator",
            "sec@bench.invalid",
            None,
            Some("administrador"),
        );
        created += u64::from(new);
        let mut staff_numbers = Numbers {
            next: 40_000_001,
            profile: "distributor",
            taken: &existing,
        };
        for company in &mut companies {
            company.users = existing
                .company_users
                .get(&company.id)
                .cloned()
                .unwrap_or_default();
            if company.prefix == BENCH_COMPANY && !company.users.contains(&bench_staff) {
                company.users.push(bench_staff.clone());
            }
            if company.users.len() > usize::from(company.prefix == BENCH_COMPANY) {
                continue;
            }
            for _ in 0..1 + rng.below(3) {
                let (number, rut) = staff_numbers.take();
                let email = format!(
                    "operador.{number}@{}.invalid",
                    company.prefix.to_lowercase()
                );
                let id = maker.user(
                    rng,
                    "distributor",
                    rut,
                    email,
                    Some(company.id.clone()),
                    None,
                    false,
                );
                company.users.push(id);
                created += 1;
            }
        }
        if existing.regulators + usize::from(new) < 2 {
            let mut numbers = Numbers {
                next: 45_000_002,
                profile: "regulator",
                taken: &existing,
            };
            let (number, rut) = numbers.take();
            let email = format!("auditor.{number}@sec.invalid");
            maker.user(rng, "regulator", rut, email, None, Some("auditor"), false);
            created += 1;
        }
        let count = (options.requests / 8).max(2) as usize;
        let installers = (count / 50).max(1);
        let start = 6_000_000 + (options.seed % 1_000) as u32 * 1_000;
        let mut numbers = Numbers {
            next: start,
            profile: "applicant",
            taken: &existing,
        };
        let mut applicants = Vec::with_capacity(count);
        while applicants.len() < count {
            let (number, rut) = numbers.take();
            let email = format!("solicitante.{number}@correo.invalid");
            if existing.applicant_emails.contains(&email) {
                continue;
            }
            let installer = applicants.len() < installers;
            applicants.push(maker.user(rng, "applicant", rut, email, None, None, installer));
            created += 1;
        }
        let mut users = Inserter::<UserRow>::new(sqlite);
        users.push(maker.rows.into_iter().map(|row| (0, row)));
        users.flush(conn).await?;
        let mut audit = Inserter::<AuditRow>::new(sqlite);
        audit.push(maker.audit.into_iter().map(|row| (0, row)));
        audit.flush(conn).await?;
        Ok(People {
            companies,
            applicants,
            installers,
            bench_applicant,
            sec_admin,
            created,
        })
    }
}
