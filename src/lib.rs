//! Generación Ciudadana: the portal for the net-billing procedures of Ley 20.571.
//!
//! Layers, in one direction: `web` (HTTP) uses `domain` (pure rules) and asks `store`
//! (database), `mail` and file storage through the application state. See docs/ARCHITECTURE.md.

pub mod accounts;
pub mod app;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod crypto;
pub mod domain;
pub mod faults;
pub mod files;
pub mod generate;
pub mod jobs;
pub mod mail;
pub mod settings;
pub mod store;
pub mod web;
