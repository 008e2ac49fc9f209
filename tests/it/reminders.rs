//! The daily deadline reminders to the companies and the weekly overdue digest to SEC: on
//! business days only, once per day (or week) however many instances try.

use jiff::{SignedDuration, Timestamp};

use crate::sec_reference::{answer, company_user, file_si, sec_admin, sec_auditor};
use crate::support::TestApp;

const REMINDER: &str = "Recordatorio de plazos";
const DIGEST: &str = "Resumen semanal";

fn at(instant: &str) -> Timestamp {
    instant.parse().unwrap()
}

/// The e-mails to an address whose subject starts with `subject`: (subject, body).
async fn emails(app: &TestApp, to: &str, subject: &str) -> Vec<(String, String)> {
    let all = app.emails_to(to).await;
    all.into_iter()
        .filter(|(s, _)| s.starts_with(subject))
        .collect()
}

async fn folio(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT folio FROM requests WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn on_a_tuesday_each_company_user_gets_one_reminder_of_what_is_due() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(13_470_539).await;
    let company = company_user(&app, 12_345_678, "dx1@enel.example").await;
    company_user(&app, 12_345_679, "dx2@enel.example").await;
    app.create_user("distribuidora", "11111111-1", "dx@otra.example", Some("CO"))
        .await;
    // Wednesday 19 February 2025, 10:00 in Santiago: due Wednesday 5 March.
    app.clock.set(at("2025-02-19T13:00:00Z"));
    let due_tomorrow = file_si(&applicant).await;
    let answered = file_si(&applicant).await;
    answer(&company, &answered).await;
    // Tuesday 4 March 2025, 10:00: a request filed today is due 18 March, out of the window.
    app.clock.set(at("2025-03-04T13:00:00Z"));
    let later = file_si(&applicant).await;

    assert_eq!(
        portal::jobs::send_daily_reminders(&app.state)
            .await
            .unwrap(),
        2
    );
    for to in ["dx1@enel.example", "dx2@enel.example"] {
        let sent = emails(&app, to, REMINDER).await;
        assert_eq!(sent.len(), 1, "{to}");
        let (subject, body) = &sent[0];
        assert_eq!(subject, "Recordatorio de plazos: Enel Distribución");
        assert!(body.contains("al 04/03/2025: 1."), "{body}");
        let line = format!(
            "- {} · Solicitud de Información · plazo 05/03/2025: vence en 1 día hábil",
            folio(&app, &due_tomorrow).await
        );
        assert!(body.contains(&line), "{body}");
        assert!(!body.contains(&folio(&app, &answered).await), "{body}");
        assert!(!body.contains(&folio(&app, &later).await), "{body}");
    }
    assert!(emails(&app, "dx@otra.example", REMINDER).await.is_empty());

    // Later the same day, the day is taken.
    app.advance(SignedDuration::from_hours(3));
    assert_eq!(
        portal::jobs::send_daily_reminders(&app.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(emails(&app, "dx1@enel.example", REMINDER).await.len(), 1);

    // Thursday: overdue since Wednesday, counted in business days.
    app.advance(SignedDuration::from_hours(45));
    assert_eq!(
        portal::jobs::send_daily_reminders(&app.state)
            .await
            .unwrap(),
        2
    );
    let sent = emails(&app, "dx1@enel.example", REMINDER).await;
    assert!(
        sent[1].1.contains("vencida hace 1 día hábil"),
        "{}",
        sent[1].1
    );
}

#[tokio::test]
async fn two_instances_at_once_send_the_reminders_once() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(13_470_539).await;
    company_user(&app, 12_345_678, "dx1@enel.example").await;
    app.clock.set(at("2025-02-19T13:00:00Z"));
    file_si(&applicant).await;
    app.clock.set(at("2025-03-05T13:00:00Z"));
    let (first, second) = tokio::join!(
        portal::jobs::send_daily_reminders(&app.state),
        portal::jobs::send_daily_reminders(&app.state)
    );
    assert_eq!(first.unwrap() + second.unwrap(), 1);
    let sent = emails(&app, "dx1@enel.example", REMINDER).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1.contains("vence hoy"), "{}", sent[0].1);
    assert_eq!(app.rows("job_runs").await, 1);
}

#[tokio::test]
async fn nothing_is_sent_on_weekends_holidays_or_before_office_hours() {
    let app = TestApp::spawn().await;
    // Before logging in: a session idle since March would have expired.
    app.clock.set(at("2025-04-21T14:00:00Z"));
    let applicant = app.applicant(13_470_539).await;
    company_user(&app, 12_345_678, "dx1@enel.example").await;
    sec_admin(&app).await;
    file_si(&applicant).await;
    let days = [
        "2025-05-03T14:00:00Z", // Saturday, 10:00 in Santiago
        "2025-05-04T14:00:00Z", // Sunday
        "2025-05-01T14:00:00Z", // Thursday, Día del Trabajo
        "2025-05-05T11:00:00Z", // Monday, 07:00 in Santiago
    ];
    for day in days {
        app.clock.set(at(day));
        assert_eq!(
            portal::jobs::send_daily_reminders(&app.state)
                .await
                .unwrap(),
            0,
            "{day}"
        );
        assert_eq!(
            portal::jobs::send_weekly_digest(&app.state).await.unwrap(),
            0,
            "{day}"
        );
    }
    assert_eq!(app.rows("job_runs").await, 0);
    assert!(emails(&app, "dx1@enel.example", REMINDER).await.is_empty());
    assert!(emails(&app, "sec@sec.example", DIGEST).await.is_empty());
}

#[tokio::test]
async fn the_overdue_digest_goes_to_every_sec_user_once_a_week() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(13_470_539).await;
    sec_admin(&app).await;
    sec_auditor(&app).await;
    // Due Wednesday 5 March; on Monday 10 March it is 3 business days late.
    app.clock.set(at("2025-02-19T13:00:00Z"));
    let late = file_si(&applicant).await;
    app.clock.set(at("2025-03-10T13:00:00Z"));
    assert_eq!(
        portal::jobs::send_weekly_digest(&app.state).await.unwrap(),
        2
    );
    for to in ["sec@sec.example", "auditor@sec.example"] {
        let sent = emails(&app, to, DIGEST).await;
        assert_eq!(sent.len(), 1, "{to}");
        assert_eq!(
            sent[0].0,
            "Resumen semanal de plazos vencidos al 10/03/2025"
        );
        assert!(sent[0].1.contains("al 10/03/2025: 1."), "{}", sent[0].1);
        assert!(sent[0].1.contains("Enel Distribución: 1"), "{}", sent[0].1);
        let line = format!(
            "{} · Solicitud de Información · plazo 05/03/2025",
            folio(&app, &late).await
        );
        assert!(sent[0].1.contains(&line), "{}", sent[0].1);
        assert!(
            sent[0].1.contains("vencida hace 3 días hábiles"),
            "{}",
            sent[0].1
        );
    }
    // The rest of the week: nothing more.
    for hours in [4, 24, 72] {
        app.clock.set(at("2025-03-10T13:00:00Z"));
        app.advance(SignedDuration::from_hours(hours));
        assert_eq!(
            portal::jobs::send_weekly_digest(&app.state).await.unwrap(),
            0,
            "{hours}"
        );
    }
    // The next Monday, again.
    app.clock.set(at("2025-03-17T13:00:00Z"));
    assert_eq!(
        portal::jobs::send_weekly_digest(&app.state).await.unwrap(),
        2
    );
    assert_eq!(emails(&app, "sec@sec.example", DIGEST).await.len(), 2);
}

#[tokio::test]
async fn when_monday_is_a_holiday_the_digest_goes_on_tuesday() {
    let app = TestApp::spawn().await;
    sec_admin(&app).await;
    // Monday 8 December 2025 is La Inmaculada Concepción.
    app.clock.set(at("2025-12-08T13:00:00Z"));
    assert_eq!(
        portal::jobs::send_weekly_digest(&app.state).await.unwrap(),
        0
    );
    app.clock.set(at("2025-12-09T13:00:00Z"));
    assert_eq!(
        portal::jobs::send_weekly_digest(&app.state).await.unwrap(),
        1
    );
    app.clock.set(at("2025-12-10T13:00:00Z"));
    assert_eq!(
        portal::jobs::send_weekly_digest(&app.state).await.unwrap(),
        0
    );
    let sent = emails(&app, "sec@sec.example", DIGEST).await;
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].1.contains("No hay solicitudes con plazo vencido."),
        "{}",
        sent[0].1
    );
}
