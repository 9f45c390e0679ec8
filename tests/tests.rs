//! One integration-test binary (keeps link time down); a module per area.

mod input;
mod report;
mod signing;
mod simulator;
