//! One integration-test binary (keeps link time down); a module per area.

mod common;

mod auth;
mod cli;
mod client;
mod engine;
mod follow;
mod input;
mod report;
mod secrets;
mod signing;
mod simulator;
mod sms;
