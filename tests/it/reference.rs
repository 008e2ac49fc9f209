use crate::support::TestApp;

#[tokio::test]
async fn reference_data_is_seeded_once_and_later_edits_survive_a_restart() {
    let app = TestApp::spawn().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM regions").await, 16);
    assert_eq!(app.count("SELECT COUNT(*) FROM comunas").await, 346);
    assert_eq!(app.count("SELECT COUNT(*) FROM distributors").await, 24);
    assert!(app.count("SELECT COUNT(*) FROM holidays").await > 300);

    sqlx::query("UPDATE distributors SET name = 'Enel (editado)' WHERE folio_prefix = 'EN'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM holidays WHERE day = '2025-09-19'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    // A restart: connecting again runs the migrations and the seed step again.
    let again = portal::store::Db::connect(&app.state.settings.database_url, 2)
        .await
        .unwrap();
    let name: String =
        sqlx::query_scalar("SELECT name FROM distributors WHERE folio_prefix = 'EN'")
            .fetch_one(again.pool())
            .await
            .unwrap();
    assert_eq!(name, "Enel (editado)");
    let holiday: Option<String> =
        sqlx::query_scalar("SELECT name FROM holidays WHERE day = '2025-09-19'")
            .fetch_optional(again.pool())
            .await
            .unwrap();
    assert_eq!(holiday, None);
    assert_eq!(app.count("SELECT COUNT(*) FROM distributors").await, 24);
}
