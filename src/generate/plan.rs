//! The requests themselves, made in memory on a thread of their own: when each was submitted,
//! by whom to which company, and the path each took through the workflow. Every move is asked
//! of `domain::workflow::decide`, so a generated history is one the handlers could have written.

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};

use super::files::BenchFile;
use super::rows::{AttachmentRow, AuditRow, Batch, EventRow, PauseRow, PaymentRow, RequestRow};
use crate::clock::{chile, from_micros};
use crate::domain::calendar::BusinessCalendar;
use crate::domain::request::{RequestKind, Status, slots};
use crate::domain::workflow::{Action, Context, Role, decide};
use crate::store::stats::answer_figures;
use crate::store::transitions::PaymentMethod;
use crate::web::workflow::payment::format_clp;

const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
/// Submissions fall on the last three years, up to yesterday.
const DAYS: i64 = 3 * 365 + 1;
/// Business days to validate a proof of payment (as `web::workflow::pay` sets it).
const VALIDATION_DAYS: u32 = 2;
const AUTO_ANSWER_COMMENT: &str = "Respuesta automática de la distribuidora.";

/// A small, fast, seedable generator (SplitMix64): the same seed gives the same data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Valid UUIDv7 text for a time, without the system clock or the OS random source: 48 bits of
/// milliseconds, then bits of this run and a counter, so ids of one run never repeat.
pub struct Ids {
    run: u64,
    counter: u64,
    text: [u8; 36],
}

impl Ids {
    pub fn new(run: u64) -> Self {
        Ids {
            run,
            counter: 0,
            text: [b'-'; 36],
        }
    }

    pub fn make(&mut self, at_micros: i64) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.counter += 1;
        let millis = (at_micros.max(0) as u64 / 1_000) & 0xFFFF_FFFF_FFFF;
        let high = (millis << 16) | 0x7000 | ((self.run >> 52) & 0x0FFF);
        let low = 0x8000_0000_0000_0000
            | ((self.run & 0x03FF_FFFF) << 36)
            | (self.counter & 0x0F_FFFF_FFFF);
        let value = (u128::from(high) << 64) | u128::from(low);
        let mut position = 0;
        for nibble in (0..32).rev() {
            if matches!(position, 8 | 13 | 18 | 23) {
                position += 1;
            }
            self.text[position] = HEX[((value >> (nibble * 4)) & 0xF) as usize];
            position += 1;
        }
        String::from_utf8(self.text.to_vec()).expect("hex digits")
    }
}

pub struct Company {
    pub id: String,
    pub prefix: String,
    /// The company's users, who answer and decide payments.
    pub users: Vec<String>,
}

pub struct Comuna {
    pub code: String,
    pub region_code: String,
}

/// Everything the requests are made from; moved onto the generating thread.
pub struct World {
    pub requests: u64,
    pub seed: u64,
    /// Distinguishes the ids of this run from those of another (see [`Ids`]).
    pub run: u64,
    pub now: Timestamp,
    pub first_folio: i64,
    pub companies: Vec<Company>,
    pub comunas: Vec<Comuna>,
    pub calendar: BusinessCalendar,
    /// Business days to answer, per kind in `RequestKind::ALL` order.
    pub deadlines: [Option<u32>; 4],
    /// Applicants other than the bench one; the first `installers` of them are installers.
    pub applicants: Vec<String>,
    pub installers: usize,
    pub bench_applicant: String,
    /// How many requests the bench applicant should own.
    pub bench_requests: u64,
    pub sec_admin: String,
    pub files: &'static [BenchFile],
}

/// One installation: the chain SI → SC → MC → NC of one applicant at one place.
struct Installation {
    applicant: usize,
    company: usize,
    comuna: usize,
    client_number: String,
    feasibility_number: Option<String>,
    additional_email: Option<String>,
    next: Option<RequestKind>,
    last_request: String,
}

/// The applicant index meaning "the bench applicant".
const BENCH: usize = usize::MAX;

pub struct Generator {
    world: World,
    rng: Rng,
    ids: Ids,
    open: Vec<Installation>,
    company_weights: Vec<u64>,
    bench_owned: u64,
    bench_chance: f64,
    made: u64,
    events_made: u64,
    /// Due dates by (Chile date of receipt, business days): many requests share both.
    due_cache: std::collections::HashMap<(Date, u32), Date>,
}

/// What a request is being put through, step by step.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Reference,
    Answer,
    RequestPayment { withheld: bool },
    SendProof,
    Validate,
    Reject,
    Annul,
}

impl Generator {
    pub fn new(world: World) -> Self {
        // Bigger companies first in the seed list take more requests: weight 24, 23, … 1,
        // with the largest (EN) heaviest.
        let count = world.companies.len() as u64;
        let company_weights = world
            .companies
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if c.prefix == "EN" {
                    count * 3
                } else {
                    count - i as u64
                }
            })
            .scan(0, |sum, w| {
                *sum += w;
                Some(*sum)
            })
            .collect();
        let bench_chance =
            (world.bench_requests as f64 * 1.2 / world.requests.max(1) as f64).min(1.0);
        Generator {
            rng: Rng::new(world.seed),
            ids: Ids::new(world.run),
            open: Vec::new(),
            company_weights,
            bench_owned: 0,
            bench_chance,
            made: 0,
            events_made: 0,
            due_cache: Default::default(),
            world,
        }
    }

    /// Makes every request, in submission order, handing over a batch every `batch_size`.
    pub fn run(mut self, batch_size: usize, mut send: impl FnMut(Batch) -> bool) {
        let today = self.world.now.to_zoned_datetime(chile()).date();
        let days: Vec<Date> = (1..=DAYS)
            .rev()
            .filter_map(|back| today.checked_sub(back.days()).ok())
            .collect();
        let counts = self.per_day(&days);
        let mut batch = Batch::default();
        for (day, count) in days.iter().zip(counts) {
            let (start, length) = working_hours(*day);
            for k in 0..count {
                let offset = ((k as f64 + self.rng.unit()) / count as f64 * length as f64) as i64;
                self.request(&mut batch, start + offset, *day);
                if batch.requests.len() == batch_size && !send(std::mem::take(&mut batch)) {
                    return;
                }
            }
        }
        if !batch.requests.is_empty() {
            send(batch);
        }
    }

    /// How many requests each day gets: fewer on weekends and holidays, growing over the
    /// three years; the counts add up to exactly the number asked for.
    fn per_day(&self, days: &[Date]) -> Vec<u64> {
        use jiff::civil::Weekday;
        let weights: Vec<f64> = days
            .iter()
            .enumerate()
            .map(|(i, day)| {
                let base = match day.weekday() {
                    Weekday::Saturday => 0.25,
                    Weekday::Sunday => 0.1,
                    _ if self.world.calendar.is_holiday(*day) => 0.15,
                    _ => 1.0,
                };
                base * (0.5 + i as f64 / days.len() as f64)
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut counts = Vec::with_capacity(days.len());
        let (mut cumulative, mut assigned) = (0.0, 0u64);
        for weight in weights {
            cumulative += weight;
            let until = ((cumulative / total) * self.world.requests as f64).round() as u64;
            let until = until.min(self.world.requests);
            counts.push(until - assigned);
            assigned = until;
        }
        if let Some(last) = counts.last_mut() {
            *last += self.world.requests - assigned;
        }
        counts
    }

    fn pick_company(&mut self) -> usize {
        let total = *self.company_weights.last().expect("companies");
        let ticket = self.rng.below(total);
        self.company_weights.partition_point(|&sum| sum <= ticket)
    }

    fn pick_applicant(&mut self) -> usize {
        if self.bench_owned < self.world.bench_requests && self.rng.chance(self.bench_chance) {
            return BENCH;
        }
        let world = &self.world;
        // One request in five comes from an installer, who files for many clients.
        if world.installers > 0 && self.rng.chance(0.2) {
            self.rng.below(world.installers as u64) as usize
        } else {
            self.rng.below(world.applicants.len() as u64) as usize
        }
    }

    fn new_installation(&mut self) -> Installation {
        let applicant = self.pick_applicant();
        let company = self.pick_company();
        let comuna = self.rng.below(self.world.comunas.len() as u64) as usize;
        let client_number = (1_000_000 + self.rng.below(98_000_000)).to_string();
        let new_connection = self.rng.chance(0.15);
        let feasibility_number =
            new_connection.then(|| format!("FACT-{}", 10_000 + self.rng.below(890_000)));
        let additional_email = self
            .rng
            .chance(0.1)
            .then(|| format!("contacto.{}@correo.invalid", self.rng.below(10_000_000)));
        let first = match self.rng.below(100) {
            0..75 => RequestKind::Information,
            75..95 => RequestKind::Connection,
            _ => RequestKind::ConnectionNotice,
        };
        Installation {
            applicant,
            company,
            comuna,
            client_number,
            feasibility_number,
            additional_email,
            next: Some(first),
            last_request: String::new(),
        }
    }

    /// A new installation, or the next request of one already under way.
    fn take_installation(&mut self) -> Installation {
        let recent = self.open.len().min(256);
        if recent == 0 || self.rng.chance(0.45) {
            return self.new_installation();
        }
        let index = self.open.len() - 1 - self.rng.below(recent as u64) as usize;
        let installation = self.open.swap_remove(index);
        // The bench applicant owns exactly the number of requests asked for.
        if installation.applicant == BENCH && self.bench_owned >= self.world.bench_requests {
            return self.new_installation();
        }
        installation
    }

    fn keep_installation(&mut self, mut installation: Installation, made: RequestKind) {
        let (next, stays) = match made {
            RequestKind::Information => (RequestKind::Connection, 0.7),
            RequestKind::Connection => (RequestKind::Conformity, 0.8),
            RequestKind::Conformity => (RequestKind::ConnectionNotice, 0.9),
            RequestKind::ConnectionNotice => return,
        };
        if self.rng.chance(stays) {
            installation.next = Some(next);
            self.open.push(installation);
            // Installations nobody came back to are forgotten, so memory stays bounded.
            if self.open.len() > 8_192 {
                self.open.drain(..4_096);
            }
        }
    }

    fn due_date(&mut self, day: Date, at: i64, days: u32) -> Date {
        let calendar = &self.world.calendar;
        *self
            .due_cache
            .entry((day, days))
            .or_insert_with(|| calendar.due_date(from_micros(at), days))
    }

    fn request(&mut self, batch: &mut Batch, at: i64, day: Date) {
        let mut installation = self.take_installation();
        let kind = installation.next.take().unwrap_or(RequestKind::Information);
        if installation.applicant == BENCH {
            self.bench_owned += 1;
        }
        let number = self.world.first_folio + self.made as i64;
        let position = self.made;
        self.made += 1;
        let company = &self.world.companies[installation.company];
        let id = self.ids.make(at);
        let applicant_id = match installation.applicant {
            BENCH => self.world.bench_applicant.clone(),
            index => self.world.applicants[index].clone(),
        };
        let uses_feasibility =
            kind.allows_feasibility_number() && installation.feasibility_number.is_some();
        let brings_meter = kind == RequestKind::ConnectionNotice && self.rng.chance(0.3);
        let related =
            (!installation.last_request.is_empty()).then(|| installation.last_request.clone());
        let comuna = &self.world.comunas[installation.comuna];
        let mut row = RequestRow {
            id: id.clone(),
            folio: format!("{}{number}", company.prefix),
            folio_number: number,
            kind: kind.code(),
            status: "",
            applicant_id: applicant_id.clone(),
            distributor_id: company.id.clone(),
            region_code: comuna.region_code.clone(),
            comuna_code: comuna.code.clone(),
            client_number: (!uses_feasibility).then(|| installation.client_number.clone()),
            feasibility_number: installation
                .feasibility_number
                .clone()
                .filter(|_| uses_feasibility),
            additional_email: installation.additional_email.clone(),
            brings_meter,
            related_request_id: related,
            distributor_reference: None,
            submitted_at: at,
            due_on: None,
            validation_due_on: None,
            answered_at: None,
            answered_on: None,
            business_days_taken: None,
            version: 1,
            attachment_count: 0,
            last_event_at: None,
        };
        let deadline = self.world.deadlines[kind_index(kind)];
        let due = deadline.map(|days| self.due_date(day, at, days));
        let age_days = (self.world.now.as_microsecond() - at) / MICROS_PER_DAY;
        let mut history = History {
            request: position,
            request_id: id.clone(),
            applicant_id,
            kind,
            submitted_at: at,
            deadline,
            due,
            validation_due: None,
            answered_at: None,
            answer_figures: None,
            status: Status::PendingAnswer,
            version: 1,
            withheld: false,
            events: Vec::with_capacity(6),
            attachments: Vec::with_capacity(8),
            payment: None,
            pauses: Vec::new(),
            audit: None,
        };
        self.submit(&mut history, &mut row, brings_meter);
        let steps = self.path(kind, age_days, history.status == Status::AutoAnswered);
        self.walk(&mut history, &mut row, &steps, installation.company);
        row.status = history.status.code();
        row.due_on = history.due.map(|d| d.to_string());
        row.validation_due_on = history.validation_due.map(|d| d.to_string());
        row.answered_at = history.answered_at;
        if let Some((day, taken)) = history.answer_figures {
            row.answered_on = Some(day.to_string());
            row.business_days_taken = Some(taken);
        }
        row.version = history.version;
        row.attachment_count = history.attachments.len() as i64;
        row.last_event_at = history.events.iter().map(|(_, e)| e.created_at).max();
        installation.last_request = id;
        batch.requests.push(row);
        self.flush_history(batch, history);
        self.keep_installation(installation, kind);
    }

    /// The submission: its event and the files of the form's slots (the required ones and
    /// some optional ones), or an automatic answer for a few.
    fn submit(&mut self, history: &mut History, row: &mut RequestRow, brings_meter: bool) {
        let automatic = self.rng.chance(0.03);
        history.status = match (automatic, history.kind) {
            (true, _) => Status::AutoAnswered,
            (false, RequestKind::Conformity) => Status::Sent,
            (false, _) => Status::PendingAnswer,
        };
        let at = history.submitted_at;
        let event = self.event(history, "submit", None, None, None, at);
        let power = self.rng.chance(0.1);
        for spec in slots(history.kind, brings_meter) {
            use crate::domain::request::AttachmentSlot as S;
            let wanted = spec.is_required()
                || match spec.slot() {
                    S::PowerOfAttorney => power,
                    S::IdCopy => power || self.rng.chance(0.15),
                    _ => self.rng.chance(0.1),
                };
            if wanted {
                let name = format!("{}.pdf", spec.slot().code());
                self.attach(history, &event, spec.slot().code(), name, at, false);
            }
        }
        if automatic {
            let answer = self.event(
                history,
                "answer",
                None,
                Some(Status::AutoAnswered),
                Some(AUTO_ANSWER_COMMENT.to_string()),
                at,
            );
            let name = format!("respuesta_{}.pdf", row.folio);
            self.attach(history, &answer, "answer", name, at, false);
            self.answered(history, at);
        }
    }

    /// Where the request goes after its submission. Old requests are mostly closed; recent
    /// ones are mostly still open, as in a portal in use.
    fn path(&mut self, kind: RequestKind, age_days: i64, automatic: bool) -> Vec<Step> {
        let rng = &mut self.rng;
        let mut steps = Vec::with_capacity(8);
        if rng.chance(0.2) {
            steps.push(Step::Reference);
        }
        if automatic {
            if rng.chance(0.05) {
                steps.push(Step::Annul);
            }
            return steps;
        }
        let open_chance = match age_days {
            ..15 => 0.8,
            15..45 => 0.5,
            45..120 => 0.2,
            _ => 0.02,
        };
        let open = rng.chance(open_chance);
        let payable = matches!(
            kind,
            RequestKind::Connection | RequestKind::ConnectionNotice
        );
        let pays = payable && rng.chance(if open { 0.5 } else { 0.3 });
        if open || rng.chance(0.05) {
            if pays {
                steps.extend(payment_prefix(rng.below(5)));
            }
            if !open {
                steps.push(Step::Annul);
            }
            return steps;
        }
        if pays {
            let withheld = rng.chance(0.5);
            steps.extend([Step::RequestPayment { withheld }, Step::SendProof]);
            if rng.chance(0.2) {
                steps.extend([Step::Reject, Step::SendProof]);
            }
            steps.push(Step::Validate);
            if !withheld {
                steps.push(Step::Answer);
            }
        } else {
            steps.push(Step::Answer);
            if rng.chance(0.04) {
                steps.push(Step::Answer);
            }
        }
        steps
    }

    /// Gaps between the steps, in the request's life: then squeezed, if needed, so that the
    /// last step happened before now.
    fn times(&mut self, history: &History, steps: &[Step]) -> Vec<i64> {
        let deadline_days = history.deadline.unwrap_or(15) as f64 * 1.45;
        let mut offsets = Vec::with_capacity(steps.len());
        let mut elapsed = 0i64;
        for step in steps {
            let days = match step {
                Step::Reference => 0.05 + self.rng.unit() * 2.0,
                Step::Answer | Step::RequestPayment { .. } => {
                    deadline_days * self.rng.unit().powf(1.5) * 1.25 + 0.05
                }
                Step::SendProof => 0.5 + self.rng.unit() * 12.0,
                Step::Validate | Step::Reject => 0.1 + self.rng.unit() * 3.0,
                Step::Annul => 1.0 + self.rng.unit() * 40.0,
            };
            elapsed += (days * MICROS_PER_DAY as f64) as i64;
            offsets.push(elapsed);
        }
        let room = self.world.now.as_microsecond() - history.submitted_at - 60_000_000;
        if elapsed > room {
            let scale = room as f64 / elapsed as f64;
            for offset in &mut offsets {
                *offset = (*offset as f64 * scale) as i64;
            }
        }
        let mut previous = 0;
        for offset in &mut offsets {
            *offset = (*offset).max(previous + 1_000_000);
            previous = *offset;
        }
        offsets
            .into_iter()
            .map(|offset| history.submitted_at + offset)
            .collect()
    }

    fn walk(
        &mut self,
        history: &mut History,
        row: &mut RequestRow,
        steps: &[Step],
        company: usize,
    ) {
        let times = self.times(history, steps);
        for (step, at) in steps.iter().zip(times) {
            let users = &self.world.companies[company].users;
            let staff = users[self.rng.below(users.len() as u64) as usize].clone();
            match *step {
                Step::Reference => self.reference(history, row, staff, at),
                Step::Answer => self.answer(history, row, staff, at),
                Step::RequestPayment { withheld } => {
                    self.request_payment(history, row, staff, withheld, at)
                }
                Step::SendProof => self.send_proof(history, at),
                Step::Validate => self.decide_payment(history, staff, true, at),
                Step::Reject => self.decide_payment(history, staff, false, at),
                Step::Annul => self.annul(history, row, at),
            }
        }
    }

    /// The next status by the workflow's rules; a generated path that breaks them is a bug.
    fn next_status(history: &History, action: Action, role: Role) -> Status {
        let context = Context {
            answer_withheld: history.withheld,
        };
        decide(history.status, action, role, context)
            .unwrap_or_else(|refusal| panic!("generated an invalid move {action:?}: {refusal}"))
    }

    fn reference(&mut self, history: &mut History, row: &mut RequestRow, staff: String, at: i64) {
        let status = Self::next_status(history, Action::EditReference, Role::Distributor);
        let reference = format!("SR-{}", 100_000 + self.rng.below(900_000));
        let comment = format!("N° Solicitud: {reference}");
        row.distributor_reference = Some(reference);
        self.event(
            history,
            "edit_reference",
            Some(staff),
            Some(status),
            Some(comment),
            at,
        );
    }

    fn answer(&mut self, history: &mut History, row: &RequestRow, staff: String, at: i64) {
        let next = Self::next_status(history, Action::Answer, Role::Distributor);
        let comment = self
            .rng
            .chance(0.5)
            .then(|| "Se adjunta la respuesta de la empresa.".to_string());
        let event = self.event(history, "answer", Some(staff), Some(next), comment, at);
        self.attach(
            history,
            &event,
            "answer",
            format!("respuesta_{}.pdf", row.folio),
            at,
            false,
        );
        history.moved(next);
        self.answered(history, at);
    }

    fn request_payment(
        &mut self,
        history: &mut History,
        row: &RequestRow,
        staff: String,
        withheld: bool,
        at: i64,
    ) {
        let next = Self::next_status(history, Action::RequestPayment, Role::Distributor);
        let amount = (50 + self.rng.below(2_450) as i64) * 1_000;
        let concept = *self.rng.pick(&CONCEPTS);
        let methods = *self.rng.pick(&METHODS);
        let comment = format!("Monto: ${} — {concept}", format_clp(amount));
        let event = self.event(
            history,
            "request_payment",
            Some(staff.clone()),
            Some(next),
            Some(comment),
            at,
        );
        if withheld {
            let name = format!("respuesta_{}.pdf", row.folio);
            self.attach(history, &event, "answer", name, at, true);
            history.withheld = true;
        }
        history.payment = Some(PaymentRow {
            id: self.ids.make(at),
            request_id: history.request_id.clone(),
            amount_clp: amount,
            concept,
            methods,
            status: "requested",
            chosen_method: None,
            rejection_reason: None,
            requested_by: staff,
            requested_at: at,
            proof_at: None,
            decided_at: None,
        });
        history.pauses.push((at, None));
        history.moved(next);
        self.answered(history, at);
    }

    fn send_proof(&mut self, history: &mut History, at: i64) {
        let next = Self::next_status(history, Action::SendPaymentProof, Role::Applicant);
        let payment = history.payment.as_mut().expect("a payment was requested");
        let offered: Vec<PaymentMethod> = payment
            .methods
            .split(',')
            .filter_map(PaymentMethod::from_code)
            .collect();
        let method = *self.rng.pick(&offered);
        payment.status = "proof_sent";
        payment.chosen_method = Some(method.code());
        payment.proof_at = Some(at);
        payment.rejection_reason = None;
        for pause in history.pauses.iter_mut().filter(|p| p.1.is_none()) {
            pause.1 = Some(at);
        }
        let pauses = history.pauses_until(at);
        let calendar = &self.world.calendar;
        history.due = history.deadline.map(|days| {
            calendar.due_date_with_pauses(from_micros(history.submitted_at), days, &pauses)
        });
        history.validation_due = Some(calendar.due_date(from_micros(at), VALIDATION_DAYS));
        let comment = format!("Forma de pago: {}", method.label());
        let applicant = Some(history.applicant_id.clone());
        let event = self.event(
            history,
            "send_payment",
            applicant,
            Some(next),
            Some(comment),
            at,
        );
        self.attach(
            history,
            &event,
            "payment_proof",
            "comprobante_pago.pdf".to_string(),
            at,
            false,
        );
        history.moved(next);
    }

    fn decide_payment(&mut self, history: &mut History, staff: String, validated: bool, at: i64) {
        let (action, code) = if validated {
            (Action::ValidatePayment, "validate_payment")
        } else {
            (Action::RejectPayment, "reject_payment")
        };
        let next = Self::next_status(history, action, Role::Distributor);
        let reason = (!validated).then(|| *self.rng.pick(&REJECTIONS));
        let payment = history.payment.as_mut().expect("a payment was requested");
        payment.status = if validated { "validated" } else { "rejected" };
        payment.rejection_reason = reason;
        payment.decided_at = Some(at);
        history.validation_due = None;
        if validated {
            // The answer sent with the payment request is released.
            for attachment in &mut history.attachments {
                attachment.1.withheld = false;
            }
            history.withheld = false;
        } else {
            history.pauses.push((at, None));
        }
        let comment = reason.map(str::to_string);
        self.event(history, code, Some(staff), Some(next), comment, at);
        history.moved(next);
    }

    fn annul(&mut self, history: &mut History, row: &RequestRow, at: i64) {
        let next = Self::next_status(history, Action::Annul, Role::Regulator);
        let comment = self.rng.pick(&ANNULMENTS).to_string();
        let admin = Some(self.world.sec_admin.clone());
        let detail = format!(
            "{}; estado anterior: {}",
            history.kind.label(),
            history.status.label()
        );
        self.event(
            history,
            "annul",
            admin.clone(),
            Some(next),
            Some(comment),
            at,
        );
        history.audit = Some(AuditRow {
            id: self.ids.make(at),
            occurred_at: at,
            actor_id: admin,
            event: "request_annulled",
            target: row.folio.clone(),
            detail,
        });
        history.moved(next);
    }

    /// A history entry from the current status to `to` (the same status when None).
    fn event(
        &mut self,
        history: &mut History,
        action: &'static str,
        actor: Option<String>,
        to: Option<Status>,
        comment: Option<String>,
        at: i64,
    ) -> (u64, String) {
        let id = self.ids.make(at);
        let from = (action != "submit").then(|| history.status.code());
        let actor = actor.or_else(|| (action == "submit").then(|| history.applicant_id.clone()));
        let position = self.events_made;
        self.events_made += 1;
        history.events.push((
            history.request,
            EventRow {
                id: id.clone(),
                request_id: history.request_id.clone(),
                action,
                actor_id: actor,
                from_status: from,
                to_status: to.unwrap_or(history.status).code(),
                comment,
                created_at: at,
            },
        ));
        (position, id)
    }

    fn attach(
        &mut self,
        history: &mut History,
        event: &(u64, String),
        slot: &'static str,
        file_name: String,
        at: i64,
        withheld: bool,
    ) {
        let file = self.rng.pick(self.world.files);
        history.attachments.push((
            event.0,
            AttachmentRow {
                id: self.ids.make(at),
                request_id: history.request_id.clone(),
                event_id: event.1.clone(),
                slot,
                storage_key: file.key,
                file_name,
                size_bytes: file.size,
                sha256: file.sha256,
                created_at: at,
                withheld,
            },
        ));
    }

    /// The company's first answer (or payment request) fixes the answer time and its figures,
    /// as `transitions::mark_answered` does: pauses opened before it count up to it.
    fn answered(&self, history: &mut History, at: i64) {
        if history.answered_at.is_some() {
            return;
        }
        history.answered_at = Some(at);
        let pauses = history.pauses_until(at);
        history.answer_figures = Some(answer_figures(
            &self.world.calendar,
            from_micros(history.submitted_at),
            from_micros(at),
            &pauses,
        ));
    }

    fn flush_history(&mut self, batch: &mut Batch, history: History) {
        batch.events.extend(history.events);
        batch.attachments.extend(history.attachments);
        if let Some(payment) = history.payment {
            batch.payments.push((history.request, payment));
        }
        for (started_at, ended_at) in history.pauses {
            let id = self.ids.make(started_at);
            batch.pauses.push((
                history.request,
                PauseRow {
                    id,
                    request_id: history.request_id.clone(),
                    started_at,
                    ended_at,
                },
            ));
        }
        batch.audit.extend(history.audit);
    }
}

/// What is known about a request while its path is walked.
struct History {
    request: u64,
    request_id: String,
    applicant_id: String,
    kind: RequestKind,
    submitted_at: i64,
    deadline: Option<u32>,
    due: Option<Date>,
    validation_due: Option<Date>,
    answered_at: Option<i64>,
    /// What the answer keeps for the compliance page, fixed when it is given.
    answer_figures: Option<(Date, i64)>,
    status: Status,
    version: i64,
    withheld: bool,
    events: Vec<(u64, EventRow)>,
    attachments: Vec<(u64, AttachmentRow)>,
    payment: Option<PaymentRow>,
    pauses: Vec<(i64, Option<i64>)>,
    audit: Option<AuditRow>,
}

impl History {
    /// The pauses so far as spans; one still open ends at `at`.
    fn pauses_until(&self, at: i64) -> Vec<(Timestamp, Timestamp)> {
        self.pauses
            .iter()
            .map(|&(start, end)| (from_micros(start), from_micros(end.unwrap_or(at))))
            .collect()
    }

    /// A status change through `move_status`, which also counts the request's version.
    fn moved(&mut self, to: Status) {
        self.status = to;
        self.version += 1;
    }
}

/// The payment steps of a request still open, or annulled, at one of five depths.
fn payment_prefix(depth: u64) -> Vec<Step> {
    let requested = Step::RequestPayment { withheld: false };
    match depth {
        0 => vec![requested],
        1 => vec![requested, Step::SendProof],
        2 => vec![requested, Step::SendProof, Step::Reject],
        3 => vec![requested, Step::SendProof, Step::Reject, Step::SendProof],
        _ => vec![requested, Step::SendProof, Step::Validate],
    }
}

fn kind_index(kind: RequestKind) -> usize {
    RequestKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("a known kind")
}

/// 08:00 to 21:00 of a day in Santiago: when people submit, as the first instant and length.
fn working_hours(day: Date) -> (i64, i64) {
    let start = day
        .at(8, 0, 0, 0)
        .to_zoned_datetime(chile())
        .map(|zoned| zoned.timestamp().as_microsecond())
        .expect("08:00 exists on every day in Santiago");
    (start, 13 * MICROS_PER_HOUR)
}

const CONCEPTS: [&str; 4] = [
    "Estudio de conexión",
    "Obras adicionales en la red",
    "Costo de verificación en terreno",
    "Cambio de medidor bidireccional",
];
const METHODS: [&str; 5] = [
    "transfer",
    "transfer,voucher",
    "transfer,voucher,bill_discount",
    "voucher",
    "transfer,bill_discount",
];
const REJECTIONS: [&str; 3] = [
    "El comprobante no es legible.",
    "El monto pagado no coincide con el solicitado.",
    "La transferencia no se ve reflejada en nuestra cuenta.",
];
const ANNULMENTS: [&str; 3] = [
    "Solicitud duplicada, ingresada dos veces por el solicitante.",
    "El solicitante pidió anular la solicitud.",
    "Solicitud ingresada a una empresa distribuidora que no corresponde.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_uuid_v7_and_distinct() {
        let mut ids = Ids::new(42);
        let at = 1_741_093_200_000_000;
        let first = ids.make(at);
        let second = ids.make(at);
        assert_ne!(first, second);
        for id in [&first, &second] {
            let parsed = uuid::Uuid::parse_str(id).expect("valid");
            assert_eq!(parsed.get_version_num(), 7);
            assert_eq!(parsed.to_string(), *id);
            let (seconds, _) = parsed.get_timestamp().unwrap().to_unix();
            assert_eq!(seconds as i64, at / 1_000_000);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_numbers() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let drawn: Vec<u64> = (0..5).map(|_| a.below(1_000)).collect();
        assert_eq!(drawn, (0..5).map(|_| b.below(1_000)).collect::<Vec<_>>());
        assert!(drawn.iter().all(|n| *n < 1_000));
    }
}
