//! End-to-end tests: the real `sortie` app on a random port, each test on a
//! fresh database, every scenario on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod auth;
mod browser;
mod cli;
mod crash;
mod network;
mod offers;
mod openapi;
mod ops;
mod planning;
mod quality;
mod requests;
mod review;
mod scoping;
mod sync;
mod web;
