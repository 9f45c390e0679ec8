//! One integration-test binary (keeps link time down); a module per area.

mod common;

mod auth;
mod by_id;
mod card_state;
mod cli;
mod client;
mod clock;
mod crash_loop;
mod durable;
mod engine;
mod follow;
mod fuzz;
mod hostile;
mod input;
mod inventory;
mod jobs;
mod ledger;
mod matrix;
mod nasty;
mod never_twice;
mod not_sent;
mod outcomes;
mod papercuts;
mod places;
mod quota;
mod readme;
mod report;
mod safety;
mod secrets;
mod settings;
mod signing;
mod simulator;
mod sms;
mod structure;
mod tags;
