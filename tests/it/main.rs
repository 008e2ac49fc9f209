//! Tests through the real router, on SQLite, or on PostgreSQL when PORTAL_TEST_POSTGRES_URL is
//! set. One binary, so that the suite links once.

mod support;

mod accounts;
mod backup;
mod browser;
mod cli;
mod communication;
mod crash;
mod db_outage;
mod disk_full;
mod distributor_inbox;
mod distributor_settings;
mod generate;
mod jobs;
mod mail_outage;
mod outbox;
mod recovery;
mod reference;
mod reminders;
mod request_forms;
mod request_integrity;
mod requests;
mod routes;
mod scale_out;
mod sec_admin;
mod sec_audit;
mod sec_charts;
mod sec_messages;
mod sec_panel;
mod sec_reference;
mod security;
mod workflow;
