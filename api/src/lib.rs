//! Sortie's API server: HTTP (actix-web), auth, storage (diesel on SQLite
//! and PostgreSQL), workers and the `sortie` command line.
//!
//! # Layout
//! - [`cli`]: the `sortie` command and its subcommands.
//! - [`config`]: configuration from the environment.
//! - [`startup`]: builds the [`startup::Application`].
//! - [`routes`]: HTTP handlers, one module per resource area.
//! - [`auth`]: passwords, tokens and the caller extractor.
//! - [`storage`]: every diesel query, one module per aggregate; [`db`] the pool and schema.
//! - [`domain`]: states and validated values.
//! - [`demo`]: the demo network.

pub mod app;
pub mod app_error;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod dispatch_cache;
pub mod domain;
pub mod error;
pub mod extract;
pub mod geojson;
pub mod limits;
pub mod openapi;
pub mod outbox;
pub mod pages;
pub mod routes;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod workers;
