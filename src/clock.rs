//! Time comes from a clock in the application state so that tests move it instead of sleeping.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp, tz::TimeZone};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

pub type SharedClock = Arc<dyn Clock>;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until told to move. Used by tests and by the demo data generator.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().expect("clock lock");
        *now = now.checked_add(by).expect("clock in range");
    }

    pub fn set(&self, to: Timestamp) {
        *self.0.lock().expect("clock lock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock lock")
    }
}

/// Chile's civil time, in which every date is shown and every deadline counted.
pub fn chile() -> TimeZone {
    // Looked up once: the database lookup (a lock and a search) is dear for a list of dates.
    static CHILE: std::sync::LazyLock<TimeZone> = std::sync::LazyLock::new(|| {
        TimeZone::get("America/Santiago")
            .expect("the bundled time-zone database has America/Santiago")
    });
    CHILE.clone()
}

/// Timestamps are stored as microseconds since the Unix epoch (portable across SQLite and
/// PostgreSQL through sqlx's `Any` driver).
pub fn to_micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

pub fn from_micros(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `dd/mm/yyyy` in Chile's time zone.
pub fn format_date(at: Timestamp) -> String {
    at.to_zoned_datetime(chile())
        .strftime("%d/%m/%Y")
        .to_string()
}

/// `dd/mm/yyyy hh:mm AM` in Chile's time zone, as the manual shows it.
pub fn format_date_time(at: Timestamp) -> String {
    at.to_zoned_datetime(chile())
        .strftime("%d/%m/%Y %I:%M %p")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_chile_time() {
        // 2025-01-15 03:30 UTC is 00:30 on the 15th in Santiago (UTC-3 in summer).
        let at: Timestamp = "2025-01-15T03:30:00Z".parse().unwrap();
        assert_eq!(format_date(at), "15/01/2025");
        assert_eq!(format_date_time(at), "15/01/2025 12:30 AM");
        // 2025-07-15 03:30 UTC is 23:30 on the 14th (UTC-4 in winter).
        let winter: Timestamp = "2025-07-15T03:30:00Z".parse().unwrap();
        assert_eq!(format_date(winter), "14/07/2025");
        assert_eq!(from_micros(to_micros(at)), at);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(SignedDuration::from_mins(90));
        assert_eq!(clock.now(), "2026-01-01T13:30:00Z".parse().unwrap());
    }
}
