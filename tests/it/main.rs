//! Tests through the real router, on SQLite, or on PostgreSQL when PORTAL_TEST_POSTGRES_URL is
//! set. One binary, so that the suite links once.

mod support;

mod accounts;
mod browser;
mod cli;
mod communication;
mod distributor_inbox;
mod distributor_settings;
mod jobs;
mod outbox;
mod recovery;
mod reference;
mod request_forms;
mod request_integrity;
mod requests;
mod security;
mod workflow;
