//! End-to-end tests: the real `sortie` app on a random port, each test on a
//! fresh database, every scenario on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fakes;
mod helpers;

mod access_matrix;
mod auth;
mod browser;
mod cli;
mod crash;
mod deadlocks;
mod network;
mod offers;
mod openapi;
mod ops;
mod outbox;
mod outbox_admin;
mod outbox_crash;
mod outbox_customers;
mod outbox_flow;
mod outbox_send;
mod planning;
mod privacy;
mod quality;
mod replicas;
mod requests;
mod reschedule;
mod review;
mod scoping;
mod security;
mod storm;
mod sync;
mod tech_app;
mod web;
mod web_admin;
