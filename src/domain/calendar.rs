//! Business days for legal deadlines (días hábiles).
//!
//! Every rule here counts in Chile's civil dates (America/Santiago): an instant is first turned
//! into the date it had in Santiago, and only dates are counted. The conventions, used by every
//! function of this module:
//!
//! - A business day is a weekday that is not a holiday of the calendar.
//! - The day of receipt never counts, whatever the hour: counting starts on the next business
//!   day after it, so a request received on Friday evening or on a holiday starts on Monday (or
//!   the next business day).
//! - Day N ends at the end of the Nth business day (23:59 Chile time): an answer is on time when
//!   its Chile date is not after the due date.
//! - A pause (the clock stopped while the applicant owes a payment) behaves like a new receipt:
//!   the business days strictly after the day it started, up to and including the day it ended,
//!   do not count. The day the pause starts counts as used; counting resumes on the next
//!   business day after the day it ends. So a pause opened and closed on the same day costs
//!   nothing, and a pause from Friday evening to Monday morning gives back Monday.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};

use crate::clock::chile;

/// A set of holidays, as maintained by the SEC administrator, over which business days are
/// counted. Building one is cheap; rebuild it when the holidays change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BusinessCalendar {
    holidays: BTreeSet<Date>,
    /// The holidays that fall on a weekday, as day numbers in order: counting the business
    /// days of a span is then a subtraction and two binary searches, however long the span.
    weekday_holidays: Vec<i64>,
}

/// A stretch of time during which the deadline clock stood still, as Chile dates: the business
/// days `d` with `started < d <= ended` are not counted.
#[derive(Clone, Copy, Debug)]
struct PausedDays {
    started: Date,
    ended: Date,
}

impl PausedDays {
    fn covers(&self, day: Date) -> bool {
        self.started < day && day <= self.ended
    }
}

impl BusinessCalendar {
    pub fn new(holidays: impl IntoIterator<Item = Date>) -> Self {
        let holidays: BTreeSet<Date> = holidays.into_iter().collect();
        let weekday_holidays = holidays
            .iter()
            .filter(|day| !is_weekend(**day))
            .map(|day| day_number(*day))
            .collect();
        BusinessCalendar {
            holidays,
            weekday_holidays,
        }
    }

    pub fn is_holiday(&self, date: Date) -> bool {
        self.holidays.contains(&date)
    }

    /// Monday to Friday, and not a holiday.
    pub fn is_business_day(&self, date: Date) -> bool {
        !is_weekend(date) && !self.is_holiday(date)
    }

    /// Business days among the days numbered `after + 1 ..= last`.
    fn business_days_in(&self, after: i64, last: i64) -> i64 {
        if last <= after {
            return 0;
        }
        let holidays = self.weekday_holidays.partition_point(|&day| day <= last)
            - self.weekday_holidays.partition_point(|&day| day <= after);
        weekdays_through(last) - weekdays_through(after) - holidays as i64
    }

    /// The first business day strictly after `date`.
    pub fn next_business_day(&self, date: Date) -> Date {
        let mut day = next_date(date);
        while !self.is_business_day(day) {
            day = next_date(day);
        }
        day
    }

    /// The `business_days`-th business day strictly after `date`; `date` itself for zero.
    pub fn add_business_days(&self, date: Date, business_days: u32) -> Date {
        self.nth_counted_day(date, business_days, &[])
    }

    /// The last day (inclusive) to answer a request received at `received` within
    /// `business_days` business days. Zero days means "by the end of the day of receipt".
    pub fn due_date(&self, received: Timestamp, business_days: u32) -> Date {
        self.add_business_days(chile_date(received), business_days)
    }

    /// The due date once the clock has stood still during `pauses` (start, end), following the
    /// pause convention of this module. Pauses may overlap (a day is given back once) and may
    /// come in any order; a pause that starts after the deadline has passed changes nothing,
    /// because the days are counted before it. For a pause still open, pass the current time
    /// as its end: the result is the due date if the clock resumed now.
    pub fn due_date_with_pauses(
        &self,
        received: Timestamp,
        business_days: u32,
        pauses: &[(Timestamp, Timestamp)],
    ) -> Date {
        let paused = paused_days(pauses);
        self.nth_counted_day(chile_date(received), business_days, &paused)
    }

    /// Business days used between receipt and `end`: those strictly after the Chile date of
    /// `start` up to and including the Chile date of `end`. Zero when `end` falls on the same
    /// day or earlier, never negative. It is the "días hábiles" column of the audit export;
    /// whether an answer was on time is decided by [`is_on_time`], because an answer given on
    /// the Saturday after a Friday deadline used no extra business day but is still late.
    pub fn business_days_between(&self, start: Timestamp, end: Timestamp) -> i64 {
        self.business_days_used(start, end, &[])
    }

    /// Like [`Self::business_days_between`], leaving out the days given back by `pauses`.
    pub fn business_days_used(
        &self,
        received: Timestamp,
        end: Timestamp,
        pauses: &[(Timestamp, Timestamp)],
    ) -> i64 {
        let (first, last) = (
            day_number(chile_date(received)),
            day_number(chile_date(end)),
        );
        // The paused spans inside the counted one, merged so that a day is given back once.
        let mut paused: Vec<(i64, i64)> = paused_days(pauses)
            .iter()
            .map(|pause| {
                let after = day_number(pause.started).max(first);
                (after, day_number(pause.ended).min(last))
            })
            .filter(|(after, last)| after < last)
            .collect();
        paused.sort_unstable();
        let mut given_back = 0;
        let mut open: Option<(i64, i64)> = None;
        for (after, through) in paused {
            open = match open {
                Some((start, end)) if after <= end => Some((start, end.max(through))),
                Some((start, end)) => {
                    given_back += self.business_days_in(start, end);
                    Some((after, through))
                }
                None => Some((after, through)),
            };
        }
        if let Some((start, end)) = open {
            given_back += self.business_days_in(start, end);
        }
        self.business_days_in(first, last) - given_back
    }

    fn counts(&self, day: Date, paused: &[PausedDays]) -> bool {
        self.is_business_day(day) && !paused.iter().any(|pause| pause.covers(day))
    }

    /// Walks forward from `start` until `wanted` counted days have passed.
    fn nth_counted_day(&self, start: Date, wanted: u32, paused: &[PausedDays]) -> Date {
        let mut day = start;
        let mut counted = 0;
        while counted < wanted {
            day = next_date(day);
            if self.counts(day, paused) {
                counted += 1;
            }
        }
        day
    }
}

/// The date an instant had in Chile.
pub fn chile_date(at: Timestamp) -> Date {
    at.to_zoned_datetime(chile()).date()
}

/// Whether something done at `done` met a deadline that ends with the day `due`.
pub fn is_on_time(done: Timestamp, due: Date) -> bool {
    chile_date(done) <= due
}

fn paused_days(pauses: &[(Timestamp, Timestamp)]) -> Vec<PausedDays> {
    pauses
        .iter()
        .map(|&(started, ended)| PausedDays {
            started: chile_date(started),
            ended: chile_date(ended),
        })
        .collect()
}

fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// Days since 1970-01-01 (a Thursday), by the proleptic Gregorian calendar.
fn day_number(date: Date) -> i64 {
    // Years counted from March, so that the leap day ends the year.
    let (month, day) = (i64::from(date.month()), i64::from(date.day()));
    let year = i64::from(date.year()) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Weekdays among the days numbered from a fixed Monday up to and including `day`, minus a
/// constant: only differences of this are meaningful.
fn weekdays_through(day: i64) -> i64 {
    // Day 4 (1970-01-05) is a Monday; shift so that weeks start on Mondays at multiples of 7.
    let since_monday = day - 4;
    let (weeks, weekday) = (since_monday.div_euclid(7), since_monday.rem_euclid(7));
    weeks * 5 + (weekday + 1).min(5)
}

/// Deadlines are counted in years near the present; running past jiff's last supported date
/// (year 9999) would mean corrupted input, not a deadline.
fn next_date(date: Date) -> Date {
    date.tomorrow()
        .expect("a business-day count stays before the year 9999")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    /// The 2025 national holidays of data/feriados.csv, plus New Year 2026 for counts that
    /// cross the year.
    fn calendar_2025() -> BusinessCalendar {
        BusinessCalendar::new([
            date(2025, 1, 1),
            date(2025, 4, 18),
            date(2025, 4, 19),
            date(2025, 5, 1),
            date(2025, 5, 21),
            date(2025, 6, 20),
            date(2025, 6, 29),
            date(2025, 7, 16),
            date(2025, 8, 15),
            date(2025, 9, 18),
            date(2025, 9, 19),
            date(2025, 10, 12),
            date(2025, 10, 31),
            date(2025, 11, 1),
            date(2025, 12, 8),
            date(2025, 12, 25),
            date(2026, 1, 1),
        ])
    }

    fn at(instant: &str) -> Timestamp {
        instant.parse().unwrap_or_else(|e| panic!("{instant}: {e}"))
    }

    #[test]
    fn weekends_and_holidays_are_not_business_days() {
        let calendar = calendar_2025();
        let cases = [
            (date(2025, 4, 17), true),   // Thursday before Easter
            (date(2025, 4, 18), false),  // Viernes Santo
            (date(2025, 4, 19), false),  // Sábado Santo (also a Saturday)
            (date(2025, 4, 20), false),  // Sunday
            (date(2025, 4, 21), true),   // Monday
            (date(2025, 5, 1), false),   // Día del Trabajo, a Thursday
            (date(2025, 6, 20), false),  // Pueblos Indígenas, a Friday
            (date(2025, 9, 18), false),  // Fiestas Patrias
            (date(2025, 9, 19), false),  // Glorias del Ejército
            (date(2025, 9, 22), true),   // Monday after
            (date(2025, 12, 8), false),  // Inmaculada Concepción, a Monday
            (date(2025, 12, 24), true),  // Christmas Eve is a working day
            (date(2025, 12, 25), false), // Navidad
            (date(2025, 12, 27), false), // Saturday
            (date(2026, 1, 2), true),    // Friday after New Year
        ];
        for (day, expected) in cases {
            assert_eq!(calendar.is_business_day(day), expected, "{day}");
        }
        let no_holidays = BusinessCalendar::default();
        assert!(no_holidays.is_business_day(date(2025, 12, 25)));
        assert!(!no_holidays.is_business_day(date(2025, 12, 27)));
    }

    #[test]
    fn due_dates_start_on_the_next_business_day_in_chile_time() {
        let calendar = calendar_2025();
        // (received, UTC; business days; due date). Santiago is UTC-3 until 2025-04-05 and from
        // 2025-09-07, UTC-4 in between.
        let cases = [
            // Monday 10:00 (UTC-4); Viernes Santo skipped.
            ("2025-04-14T14:00:00Z", 10, date(2025, 4, 29)),
            // Friday 20:00 (UTC-3), counting starts Monday; 18 and 19 September skipped.
            ("2025-09-12T23:00:00Z", 10, date(2025, 9, 30)),
            // Friday 09:00: the same day of receipt, so the same due date as the evening.
            ("2025-09-12T12:00:00Z", 10, date(2025, 9, 30)),
            // Received on a holiday (1 May, 11:00): day 1 is Friday 2 May.
            ("2025-05-01T15:00:00Z", 10, date(2025, 5, 15)),
            // 20 days over the 21 May holiday.
            ("2025-05-01T15:00:00Z", 20, date(2025, 5, 30)),
            // Received on a Saturday.
            ("2025-06-21T14:00:00Z", 1, date(2025, 6, 23)),
            // Friday before the 8 December holiday; 20 days cross Christmas and New Year.
            ("2025-12-05T13:00:00Z", 10, date(2025, 12, 22)),
            ("2025-12-05T13:00:00Z", 20, date(2026, 1, 7)),
            // Zero days: the day of receipt itself.
            ("2025-04-14T14:00:00Z", 0, date(2025, 4, 14)),
            // Validation of a proof of payment, 2 days, sent Thursday before Viernes Santo.
            ("2025-04-17T20:00:00Z", 2, date(2025, 4, 22)),
        ];
        for (received, days, expected) in cases {
            assert_eq!(
                calendar.due_date(at(received), days),
                expected,
                "{received} + {days}"
            );
        }
    }

    #[test]
    fn midnight_is_midnight_in_santiago_not_utc() {
        let calendar = calendar_2025();
        let cases = [
            // Summer (UTC-3): Thursday 23:59 counts from Friday 31 January...
            ("2025-01-31T02:59:00Z", date(2025, 1, 30), date(2025, 2, 13)),
            // ...Friday 00:01 counts from Monday 3 February.
            ("2025-01-31T03:01:00Z", date(2025, 1, 31), date(2025, 2, 14)),
            // Winter (UTC-4): 03:30 UTC is still Thursday 23:30 in Santiago; 16 July skipped.
            ("2025-07-04T03:30:00Z", date(2025, 7, 3), date(2025, 7, 18)),
            // Winter: Wednesday 23:59 counts from Thursday 19 June...
            ("2025-06-19T03:59:00Z", date(2025, 6, 18), date(2025, 7, 3)),
            // ...Thursday 00:01 from Monday 23 June, Friday 20 June being a holiday.
            ("2025-06-19T04:01:00Z", date(2025, 6, 19), date(2025, 7, 4)),
            // Received on that holiday just after midnight: the same start.
            ("2025-06-20T04:01:00Z", date(2025, 6, 20), date(2025, 7, 4)),
        ];
        for (received, chile_day, due) in cases {
            assert_eq!(chile_date(at(received)), chile_day, "{received}");
            assert_eq!(calendar.due_date(at(received), 10), due, "{received}");
        }
    }

    /// The definition, one day at a time: what the closed form must agree with.
    fn used_day_by_day(
        calendar: &BusinessCalendar,
        received: Timestamp,
        end: Timestamp,
        pauses: &[(Timestamp, Timestamp)],
    ) -> i64 {
        let paused = paused_days(pauses);
        let last = chile_date(end);
        let mut day = chile_date(received);
        let mut used = 0;
        while day < last {
            day = next_date(day);
            if calendar.counts(day, &paused) {
                used += 1;
            }
        }
        used
    }

    #[test]
    fn day_numbers_follow_the_calendar() {
        assert_eq!(day_number(date(1970, 1, 1)), 0);
        assert_eq!(day_number(date(2000, 3, 1)), 11_017);
        assert_eq!(day_number(date(1969, 12, 31)), -1);
        let mut day = date(2023, 12, 25);
        for _ in 0..1000 {
            let next = next_date(day);
            assert_eq!(day_number(next), day_number(day) + 1, "{next}");
            day = next;
        }
    }

    #[test]
    fn counting_agrees_with_walking_day_by_day() {
        use rand::{Rng, SeedableRng};
        let calendar = calendar_2025();
        let mut rng = rand::rngs::StdRng::seed_from_u64(20_571);
        let base = at("2024-11-01T00:00:00Z");
        let instant = |rng: &mut rand::rngs::StdRng| {
            base + jiff::SignedDuration::from_secs(rng.random_range(0..500 * 86_400))
        };
        for _ in 0..3_000 {
            let (a, b) = (instant(&mut rng), instant(&mut rng));
            let pauses: Vec<(Timestamp, Timestamp)> = (0..rng.random_range(0..4))
                .map(|_| {
                    let (x, y) = (instant(&mut rng), instant(&mut rng));
                    (x.min(y), x.max(y))
                })
                .collect();
            assert_eq!(
                calendar.business_days_used(a, b, &pauses),
                used_day_by_day(&calendar, a, b, &pauses),
                "{a} .. {b} paused {pauses:?}"
            );
        }
    }

    #[test]
    fn business_days_between_counts_after_the_day_of_receipt() {
        let calendar = calendar_2025();
        let cases = [
            // Same day, even hours apart.
            ("2025-04-14T12:00:00Z", "2025-04-14T23:00:00Z", 0),
            // Thursday to Monday over Viernes Santo and the weekend.
            ("2025-04-17T14:00:00Z", "2025-04-21T14:00:00Z", 1),
            // Friday evening to two Fridays later, over 18 and 19 September.
            ("2025-09-12T23:00:00Z", "2025-09-26T15:00:00Z", 8),
            // An answer on the Saturday after uses no more days than one on the Friday.
            ("2025-09-12T23:00:00Z", "2025-09-27T15:00:00Z", 8),
            // End before start.
            ("2025-04-21T14:00:00Z", "2025-04-14T14:00:00Z", 0),
            // Thursday 23:59 to Friday 00:01 in summer: one day (Friday) used.
            ("2025-01-31T02:59:00Z", "2025-01-31T03:01:00Z", 1),
        ];
        for (start, end, expected) in cases {
            assert_eq!(
                calendar.business_days_between(at(start), at(end)),
                expected,
                "{start} .. {end}"
            );
        }
    }

    #[test]
    fn an_answer_on_the_due_date_used_exactly_the_allowed_days() {
        let calendar = calendar_2025();
        let received = [
            "2025-04-14T14:00:00Z",
            "2025-09-12T23:00:00Z",
            "2025-05-01T15:00:00Z",
            "2025-12-05T13:00:00Z",
            "2025-06-19T03:59:00Z",
        ];
        for start in received {
            for days in [1, 2, 10, 20] {
                let due = calendar.due_date(at(start), days);
                // 12:00 UTC is morning of the same date in Santiago all year.
                let answered = at(&format!("{due}T12:00:00Z"));
                assert_eq!(
                    calendar.business_days_between(at(start), answered),
                    i64::from(days),
                    "{start} + {days}"
                );
                assert!(is_on_time(answered, due));
            }
        }
    }

    #[test]
    fn on_time_until_23_59_of_the_due_date() {
        let due = date(2025, 4, 29);
        let cases = [
            ("2025-04-29T12:00:00Z", true),
            ("2025-04-30T03:59:59Z", true), // 23:59:59 on the 29th (UTC-4)
            ("2025-04-30T04:00:00Z", false),
            ("2025-04-28T12:00:00Z", true),
            ("2025-05-02T12:00:00Z", false),
        ];
        for (done, expected) in cases {
            assert_eq!(is_on_time(at(done), due), expected, "{done}");
        }
    }

    #[test]
    fn pauses_give_back_the_business_days_after_they_start_up_to_their_end() {
        let calendar = calendar_2025();
        // Received Monday 14 April 2025 at 10:00; 10 days, due 29 April without pauses.
        let received = at("2025-04-14T14:00:00Z");
        // Payment requested Wednesday 16 April 15:00, proof sent Tuesday 22 April 09:00:
        // 17, 21 and 22 April are given back (18 is Viernes Santo).
        let payment = (at("2025-04-16T19:00:00Z"), at("2025-04-22T13:00:00Z"));
        let cases: [(&[(Timestamp, Timestamp)], Date); 7] = [
            (&[], date(2025, 4, 29)),
            (&[payment], date(2025, 5, 5)),
            // Opened and closed the same day: nothing given back.
            (
                &[(at("2025-04-16T13:00:00Z"), at("2025-04-16T21:00:00Z"))],
                date(2025, 4, 29),
            ),
            // Friday 25 April 18:00 to Monday 28 April 08:00: Monday given back.
            (
                &[(at("2025-04-25T22:00:00Z"), at("2025-04-28T12:00:00Z"))],
                date(2025, 4, 30),
            ),
            // Overlapping pauses give a day back once.
            (
                &[
                    payment,
                    (at("2025-04-21T13:00:00Z"), at("2025-04-22T13:00:00Z")),
                ],
                date(2025, 5, 5),
            ),
            // A pause starting after the deadline passed changes nothing.
            (
                &[(at("2025-05-05T13:00:00Z"), at("2025-05-09T13:00:00Z"))],
                date(2025, 4, 29),
            ),
            // A pause still open on 24 April: due date if the clock resumed then.
            (&[(payment.0, at("2025-04-24T15:00:00Z"))], date(2025, 5, 7)),
        ];
        for (pauses, expected) in cases {
            assert_eq!(
                calendar.due_date_with_pauses(received, 10, pauses),
                expected,
                "{pauses:?}"
            );
        }
    }

    #[test]
    fn business_days_used_leaves_out_paused_days() {
        let calendar = calendar_2025();
        let received = at("2025-04-14T14:00:00Z");
        let answered = at("2025-04-29T15:00:00Z");
        let payment = (at("2025-04-16T19:00:00Z"), at("2025-04-22T13:00:00Z"));
        assert_eq!(calendar.business_days_used(received, answered, &[]), 10);
        assert_eq!(
            calendar.business_days_used(received, answered, &[payment]),
            7
        );
        // Answered during the pause: only the days before it count.
        let during = at("2025-04-21T15:00:00Z");
        assert_eq!(calendar.business_days_used(received, during, &[payment]), 2);
        // Consistent with the due date: at the due date all the days are used.
        let due = calendar.due_date_with_pauses(received, 10, &[payment]);
        let at_due = at(&format!("{due}T15:00:00Z"));
        assert_eq!(
            calendar.business_days_used(received, at_due, &[payment]),
            10
        );
    }

    #[test]
    fn next_and_added_business_days() {
        let calendar = calendar_2025();
        let cases = [
            (date(2025, 4, 17), 1, date(2025, 4, 21)),
            (date(2025, 9, 17), 1, date(2025, 9, 22)),
            (date(2025, 12, 24), 1, date(2025, 12, 26)),
            (date(2025, 12, 31), 1, date(2026, 1, 2)),
            (date(2025, 6, 19), 3, date(2025, 6, 25)),
        ];
        for (from, days, expected) in cases {
            assert_eq!(
                calendar.add_business_days(from, days),
                expected,
                "{from} + {days}"
            );
        }
        assert_eq!(
            calendar.next_business_day(date(2025, 4, 17)),
            date(2025, 4, 21)
        );
        assert_eq!(
            calendar.next_business_day(date(2025, 4, 21)),
            date(2025, 4, 22)
        );
    }
}
