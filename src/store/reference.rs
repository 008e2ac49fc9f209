//! Reference data (regions, comunas, distribution companies, holidays) seeded once from the
//! CSV files committed in `reference/`. The marker row in `app_meta` is written in the same
//! transaction, so a restart, or a second instance starting at the same time, never seeds again
//! and never overwrites what administrators changed later.

use serde::Deserialize;

use super::{Db, new_id};
use crate::clock::{Clock, SystemClock, to_micros};

const SEED_KEY: &str = "seed.reference.v1";

const REGIONS: &str = include_str!("../../reference/regiones.csv");
const COMUNAS: &str = include_str!("../../reference/comunas.csv");
const DISTRIBUTORS: &str = include_str!("../../reference/distribuidoras.csv");
const HOLIDAYS: &str = include_str!("../../reference/feriados.csv");

#[derive(Deserialize)]
struct RegionRow {
    codigo: String,
    nombre: String,
    iso_3166_2: String,
    orden_norte_sur: i64,
}

#[derive(Deserialize)]
struct ComunaRow {
    codigo: String,
    nombre: String,
    codigo_provincia: String,
    provincia: String,
    codigo_region: String,
}

#[derive(Deserialize)]
struct DistributorRow {
    prefijo_folio: String,
    nombre: String,
    razon_social: String,
    tipo: String,
}

#[derive(Deserialize)]
struct HolidayRow {
    fecha: String,
    nombre: String,
}

fn rows<T: for<'de> Deserialize<'de>>(text: &str) -> anyhow::Result<Vec<T>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    Ok(reader.deserialize().collect::<Result<Vec<T>, _>>()?)
}

pub async fn seed_once(db: &Db) -> anyhow::Result<()> {
    let seeded = sqlx::query("SELECT value FROM app_meta WHERE key = $1")
        .bind(SEED_KEY)
        .fetch_optional(db.pool())
        .await?;
    if seeded.is_some() {
        return Ok(());
    }
    let now = to_micros(SystemClock.now());
    let mut tx = db.begin().await?;
    let claimed = sqlx::query("INSERT INTO app_meta (key, value) VALUES ($1, $2)")
        .bind(SEED_KEY)
        .bind(now.to_string())
        .execute(&mut *tx)
        .await;
    if let Err(error) = claimed {
        // Another instance is seeding or has seeded.
        if super::is_unique_violation(&error) {
            return Ok(());
        }
        return Err(error.into());
    }
    for region in rows::<RegionRow>(REGIONS)? {
        sqlx::query(
            "INSERT INTO regions (code, name, iso_code, sort_order) VALUES ($1, $2, $3, $4)",
        )
        .bind(region.codigo)
        .bind(region.nombre)
        .bind(region.iso_3166_2)
        .bind(region.orden_norte_sur)
        .execute(&mut *tx)
        .await?;
    }
    for comuna in rows::<ComunaRow>(COMUNAS)? {
        sqlx::query(
            "INSERT INTO comunas (code, name, province_code, province_name, region_code) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(comuna.codigo)
        .bind(comuna.nombre)
        .bind(comuna.codigo_provincia)
        .bind(comuna.provincia)
        .bind(comuna.codigo_region)
        .execute(&mut *tx)
        .await?;
    }
    for company in rows::<DistributorRow>(DISTRIBUTORS)? {
        sqlx::query(
            "INSERT INTO distributors (id, folio_prefix, name, business_name, kind, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6)",
        )
        .bind(new_id())
        .bind(company.prefijo_folio)
        .bind(company.nombre)
        .bind(company.razon_social)
        .bind(company.tipo)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for holiday in rows::<HolidayRow>(HOLIDAYS)? {
        sqlx::query("INSERT INTO holidays (day, name) VALUES ($1, $2)")
            .bind(holiday.fecha)
            .bind(holiday.nombre)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    tracing::info!("reference data seeded");
    Ok(())
}

#[derive(Clone, Debug)]
pub struct Distributor {
    pub id: String,
    pub folio_prefix: String,
    pub name: String,
}

pub async fn distributor_by_prefix(
    db: &Db,
    prefix: &str,
) -> Result<Option<Distributor>, sqlx::Error> {
    use sqlx::Row;
    let row =
        sqlx::query("SELECT id, folio_prefix, name FROM distributors WHERE folio_prefix = $1")
            .bind(prefix.to_ascii_uppercase())
            .fetch_optional(db.pool())
            .await?;
    row.map(|row| {
        Ok(Distributor {
            id: row.try_get("id")?,
            folio_prefix: row.try_get("folio_prefix")?,
            name: row.try_get("name")?,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_reference_files_parse() {
        assert_eq!(rows::<RegionRow>(REGIONS).unwrap().len(), 16);
        assert_eq!(rows::<ComunaRow>(COMUNAS).unwrap().len(), 346);
        let companies = rows::<DistributorRow>(DISTRIBUTORS).unwrap();
        assert_eq!(companies.len(), 24);
        assert!(companies.iter().all(|c| c.prefijo_folio.len() == 2));
        assert!(
            rows::<HolidayRow>(HOLIDAYS)
                .unwrap()
                .iter()
                .any(|h| h.fecha == "2025-09-18")
        );
    }
}

/// The active companies, by name, for the forms' "Distribuidora" list.
pub async fn active_distributors(db: &Db) -> Result<Vec<Distributor>, sqlx::Error> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT id, folio_prefix, name FROM distributors WHERE active = 1 ORDER BY name",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Distributor {
                id: row.try_get("id")?,
                folio_prefix: row.try_get("folio_prefix")?,
                name: row.try_get("name")?,
            })
        })
        .collect()
}

#[derive(Clone, Debug)]
pub struct Region {
    pub code: String,
    pub name: String,
    pub comunas: Vec<Comuna>,
}

#[derive(Clone, Debug)]
pub struct Comuna {
    pub code: String,
    pub name: String,
}

/// The regions from north to south, each with its comunas by name.
pub async fn regions_with_comunas(db: &Db) -> Result<Vec<Region>, sqlx::Error> {
    use sqlx::Row;
    let regions = sqlx::query("SELECT code, name FROM regions ORDER BY sort_order")
        .fetch_all(db.pool())
        .await?;
    let comunas = sqlx::query("SELECT code, name, region_code FROM comunas ORDER BY name")
        .fetch_all(db.pool())
        .await?;
    let mut result = Vec::with_capacity(regions.len());
    for row in &regions {
        let code: String = row.try_get("code")?;
        let mut list = Vec::new();
        for comuna in &comunas {
            if comuna.try_get::<String, _>("region_code")? == code {
                list.push(Comuna {
                    code: comuna.try_get("code")?,
                    name: comuna.try_get("name")?,
                });
            }
        }
        result.push(Region {
            name: row.try_get("name")?,
            code,
            comunas: list,
        });
    }
    Ok(result)
}

#[derive(Clone, Debug)]
pub struct Link {
    pub title: String,
    pub url: String,
    pub description: String,
}

/// The "Enlaces de Interés", in their order.
pub async fn links(db: &Db) -> Result<Vec<Link>, sqlx::Error> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT title, url, description FROM links WHERE active = 1 ORDER BY sort_order",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Link {
                title: row.try_get("title")?,
                url: row.try_get("url")?,
                description: row.try_get("description")?,
            })
        })
        .collect()
}
