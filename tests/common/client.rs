//! The library's own API client, pointed at a simulator.

use gslbatch::gsl::auth::{Auth, Credentials, Secret};
use gslbatch::gsl::{client, Client};
use gslbatch::simulator::Simulator;
use std::sync::Arc;
use std::time::Duration;

use super::sim::{AK, SK};

/// A client signing with the test AK/SK (5 s timeout).
pub fn aksk_client(sim: &Simulator) -> Client {
    let creds = Credentials::AkSk {
        ak: AK.into(),
        sk: Secret::new(SK),
        project_id: None,
        security_token: None,
    };
    Client::new(
        client::parse_endpoint(&sim.url()).unwrap(),
        Arc::new(Auth::new(creds)),
        Duration::from_secs(5),
    )
}

/// A client sending a static `token` to `url`.
pub fn token_client(url: &str, token: &str, timeout: Duration) -> Client {
    let creds = Credentials::Token {
        token: Secret::new(token),
        file: None,
    };
    Client::new(
        url::Url::parse(url).unwrap(),
        Arc::new(Auth::new(creds)),
        timeout,
    )
}
