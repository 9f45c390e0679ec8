//! One integration-test binary (keeps link time down); a module per area.

mod common;

mod cli;
mod engine;
mod input;
mod report;
mod signing;
mod simulator;
