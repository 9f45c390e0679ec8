//! One integration-test binary (keeps link time down); a module per area.

mod auth;
mod client;
mod input;
mod report;
mod secrets;
mod signing;
mod simulator;
