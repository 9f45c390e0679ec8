//! The simulator a test talks to: its credentials, starting it on a loopback port, picking its
//! cards (or making SMS-capable ones), and reading its own record of what it received.

use gslbatch::simulator::{
    luhn_digit, Carrier, InventoryCard, SimConfig, SimCredentials, Simulator,
};
use serde_json::Value;
use std::collections::HashMap;

pub const AK: &str = "ENGINETESTAK00000001";
pub const SK: &str = "engine-test-secret-key";
pub const IAM_USER: &str = "ops";
pub const IAM_PASSWORD: &str = "iam-test-password";

/// The credentials every test simulator accepts.
pub fn sim_credentials() -> SimCredentials {
    SimCredentials {
        ak: Some(AK.into()),
        sk: Some(SK.into()),
        iam_user: Some(IAM_USER.into()),
        iam_password: Some(IAM_PASSWORD.into()),
        ..SimCredentials::default()
    }
}

/// Start a simulator on a free loopback port that accepts [`sim_credentials`].
pub async fn start_sim(cfg: SimConfig) -> Simulator {
    start_sim_as(SimConfig {
        credentials: sim_credentials(),
        ..cfg
    })
    .await
}

/// Start a simulator on a free loopback port, with the credentials `cfg` names.
pub async fn start_sim_as(cfg: SimConfig) -> Simulator {
    Simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

/// Start a simulator that accepts the static `token` and nothing else.
pub async fn token_only_sim(cfg: SimConfig, token: &str) -> Simulator {
    let credentials = SimCredentials {
        token: Some(token.into()),
        ..SimCredentials::default()
    };
    start_sim_as(SimConfig { credentials, ..cfg }).await
}

/// A simulator holding exactly `cards` (e.g. [`sms_cards`]).
pub async fn sms_sim(cards: Vec<InventoryCard>) -> Simulator {
    sms_sim_with(&cards, SimConfig::default()).await
}

/// A simulator holding exactly `cards`, configured as `cfg` says otherwise.
pub async fn sms_sim_with(cards: &[InventoryCard], cfg: SimConfig) -> Simulator {
    start_sim(SimConfig {
        cards: 0,
        inventory: Some(cards.to_vec()),
        ..cfg
    })
    .await
}

/// The ICCIDs of `cards`, in order.
pub fn iccids_of(cards: &[InventoryCard]) -> Vec<String> {
    cards.iter().map(|c| c.iccid.clone()).collect()
}

/// The work order the SMS tests' cards belong to.
pub const ORDER: u64 = 777;

/// `n` SMS-capable cards (China Mobile and Telecom alternately, all with an SMS plan) of
/// `order`, numbered from `first`.
pub fn sms_cards(first: usize, n: usize, order: u64) -> Vec<InventoryCard> {
    (first..first + n)
        .map(|i| {
            let prefix = if i % 2 == 0 { "898600" } else { "898603" };
            let body = format!("{prefix}{i:013}");
            let iccid = format!("{body}{}", luhn_digit(&body));
            InventoryCard {
                sim_card_id: 100_000 + i as u64,
                carrier: Carrier::from_iccid(&iccid),
                iccid,
                msisdn: format!("1440{i:09}"),
                order_id: order,
                sim_status: 20,
                real_named: true,
                sms_plan: true,
                pool_id: None,
                sim_price_plan_id: 700,
                flow_used: 0.0,
                tag_ids: vec![],
                state: Default::default(),
            }
        })
        .collect()
}

/// The ICCIDs of the simulator's first `n` cards.
pub fn first_iccids(sim: &Simulator, n: usize) -> Vec<String> {
    sim.cards()
        .iter()
        .take(n)
        .map(|c| c.iccid.clone())
        .collect()
}

/// The ICCIDs of the first `n` China Telecom (clearable) cards of the simulator.
pub fn telecom_iccids(sim: &Simulator, n: usize) -> Vec<String> {
    let (telecom, _) = split_cards(sim);
    let ids: Vec<String> = telecom.iter().take(n).map(|c| c.iccid.clone()).collect();
    assert_eq!(ids.len(), n, "the simulator holds {n} China Telecom cards");
    ids
}

/// Cards of the simulator, split into China Telecom (clearable) and the rest.
pub fn split_cards(sim: &Simulator) -> (Vec<InventoryCard>, Vec<InventoryCard>) {
    sim.cards()
        .into_iter()
        .partition(|c| c.carrier == Carrier::ChinaTelecom)
}

/// A token the simulator's IAM issues for [`IAM_USER`] (another token than any static one).
pub async fn issued_token(sim: &Simulator) -> String {
    let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": IAM_USER, "password": IAM_PASSWORD, "domain": {"name": IAM_USER}}}}}});
    let resp = reqwest::Client::new()
        .post(format!("{}/v3/auth/tokens", sim.url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status().as_u16(), 201);
    resp.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string()
}

/// `calls.<api>.<outcome>` from the simulator's stats.
pub fn calls(stats: &Value, api: &str, outcome: &str) -> u64 {
    stats["calls"][api][outcome]
        .as_u64()
        .unwrap_or_else(|| panic!("stats have calls.{api}.{outcome}: {stats}"))
}

/// Every call to `api`, any outcome.
pub fn calls_total(stats: &Value, api: &str) -> u64 {
    stats["calls"][api]
        .as_object()
        .unwrap_or_else(|| panic!("stats have calls.{api}"))
        .values()
        .map(|v| v.as_u64().unwrap_or(0))
        .sum()
}

/// How many clears the simulator performed for one card.
pub fn clears_of(stats: &Value, iccid: &str) -> u64 {
    stats["clear_calls_per_card"][iccid].as_u64().unwrap_or(0)
}

pub fn stat_u64(stats: &Value, key: &str) -> u64 {
    stats[key]
        .as_u64()
        .unwrap_or_else(|| panic!("stats have {key}: {stats}"))
}

/// Messages the simulator sent, per cid.
pub fn sent_per_cid(sim: &Simulator) -> HashMap<String, u64> {
    sim.stats()["sms_sent_per_cid"]
        .as_object()
        .expect("sms_sent_per_cid")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}
