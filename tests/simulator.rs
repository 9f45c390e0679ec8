//! The simulator against a plain HTTP client that signs like the SDK: every endpoint's shape,
//! every documented error, authentication, throttling and faults, and its own stats.

use crate::common::start_sim_as;
use gslbatch::gsl::auth::aksk::{self, Signable};
use gslbatch::simulator::{
    load_inventory_csv, luhn_digit, Carrier, Faults, SimConfig, SimCredentials, Simulator,
};
use serde_json::{json, Value};
use std::time::Duration;

const AK: &str = "SIMTESTAK0000000001";
const SK: &str = "sim-test-secret-key";

fn creds() -> SimCredentials {
    SimCredentials {
        ak: Some(AK.into()),
        sk: Some(SK.into()),
        iam_user: Some("ops".into()),
        iam_password: Some("pw-1".into()),
        ..SimCredentials::default()
    }
}

async fn start(cfg: SimConfig) -> Simulator {
    let cfg = SimConfig {
        credentials: creds(),
        ..cfg
    };
    start_sim_as(cfg).await
}

/// A signing client for one simulator.
struct Client {
    http: reqwest::Client,
    base: String,
    host: String,
    ak: String,
    sk: String,
}

/// What came back: status, JSON body, and whether a `Date` header was present.
struct Answer {
    status: u16,
    body: Value,
    has_date: bool,
}

impl Client {
    fn new(sim: &Simulator) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: sim.url(),
            host: sim.addr().to_string(),
            ak: AK.into(),
            sk: SK.into(),
        }
    }

    fn with_sk(sim: &Simulator, sk: &str) -> Client {
        Client {
            sk: sk.into(),
            ..Client::new(sim)
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        tamper: bool,
    ) -> reqwest::Result<Answer> {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let date = aksk::sdk_date(chrono::Utc::now());
        let mut headers = vec![
            ("Host".to_string(), self.host.clone()),
            ("X-Sdk-Date".to_string(), date.clone()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        let signable = Signable {
            method,
            path,
            query: &query,
            headers: &headers,
            body: body.as_bytes(),
        };
        let mut auth = aksk::authorization(&self.ak, &self.sk, &date, &signable);
        if tamper {
            auth = auth.replace("Signature=", "Signature=0");
            auth.pop();
        }
        headers.push(("Authorization".into(), auth));
        let url = format!("{}{}", self.base, aksk::signed_uri(path, &query));
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .body(body.clone());
        for (k, v) in headers.iter().filter(|(k, _)| k != "Host") {
            req = req.header(k, v);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let has_date = resp.headers().contains_key("date");
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            body,
            has_date,
        })
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.send("GET", path, query, None, false).await.unwrap()
    }

    async fn post(&self, path: &str, query: &[(&str, &str)], body: Option<&Value>) -> Answer {
        self.send("POST", path, query, body, false).await.unwrap()
    }
}

fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "body: {}", a.body);
    assert_eq!(a.body["error_code"], code, "body: {}", a.body);
    assert!(a.body["error_msg"].is_string());
}

/// The first card of a carrier (with an SMS plan, when asked).
fn card_of(sim: &Simulator, carrier: Carrier, sms: bool) -> gslbatch::simulator::InventoryCard {
    sim.cards()
        .into_iter()
        .find(|c| c.carrier == carrier && (!sms || c.sms_plan))
        .expect("such a card")
}

#[tokio::test]
async fn inventory_is_deterministic_and_well_formed() {
    let a = start(SimConfig {
        cards: 300,
        seed: 7,
        ..SimConfig::default()
    })
    .await;
    let b = start(SimConfig {
        cards: 300,
        seed: 7,
        ..SimConfig::default()
    })
    .await;
    let c = start(SimConfig {
        cards: 300,
        seed: 8,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(a.cards(), b.cards());
    assert_ne!(a.cards(), c.cards());
    let cards = a.cards();
    let telecom = cards
        .iter()
        .filter(|c| c.carrier == Carrier::ChinaTelecom)
        .count();
    assert!((100..=200).contains(&telecom), "{telecom} telecom of 300");
    for c in &cards {
        assert!(c.iccid.len() == 19 || c.iccid.len() == 20, "{}", c.iccid);
        let (body, check) = c.iccid.split_at(c.iccid.len() - 1);
        assert_eq!(luhn_digit(body).to_string(), check, "{}", c.iccid);
        assert_eq!(Carrier::from_iccid(&c.iccid), c.carrier);
    }
    assert!(cards
        .windows(2)
        .all(|w| w[0].sim_card_id < w[1].sim_card_id));
    let iccids = vec![
        "89860312345678901234".to_string(),
        "8944000000000000001".to_string(),
    ];
    let cfg = SimConfig::from_iccids(&iccids);
    let inv = cfg.inventory.unwrap();
    assert_eq!(inv.len(), 2);
    assert_eq!(inv[0].carrier, Carrier::ChinaTelecom);
    assert_eq!(inv[1].carrier, Carrier::Other);
}

#[tokio::test]
async fn inventory_from_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.csv");
    std::fs::write(
        &path,
        "iccid,sim_card_id,real_named,order_id\n89860312345678901234,42,false,7\n89860112345678901230,43,,\n",
    )
    .unwrap();
    let cards = load_inventory_csv(&path).unwrap();
    assert_eq!(cards.len(), 2);
    assert_eq!(
        (cards[0].sim_card_id, cards[0].real_named, cards[0].order_id),
        (42, false, 7)
    );
    assert_eq!(cards[1].carrier, Carrier::ChinaUnicom);
    let sim = start(SimConfig {
        inventory: Some(cards),
        ..SimConfig::default()
    })
    .await;
    let a = Client::new(&sim)
        .get("/v1/sim-cards/42/real-named", &[])
        .await;
    assert_eq!(
        a.body,
        json!({"iccid": "89860312345678901234", "real_named": false})
    );
    std::fs::write(&path, "msisdn\n1\n").unwrap();
    assert!(load_inventory_csv(&path).is_err());
}

#[tokio::test]
async fn real_name_check_by_id_and_by_iccid() {
    let sim = start(SimConfig {
        cards: 50,
        ..SimConfig::default()
    })
    .await;
    let cl = Client::new(&sim);
    let card = sim.cards()[3].clone();
    let id = card.sim_card_id.to_string();
    let a = cl.get(&format!("/v1/sim-cards/{id}/real-named"), &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body,
        json!({"iccid": card.iccid, "real_named": card.real_named})
    );
    let a = cl
        .get("/v1/sim-cards/0/real-named", &[("iccid", &card.iccid)])
        .await;
    assert_eq!(a.body["iccid"], card.iccid.as_str());
    // 18 and 21 characters, no iccid with id 0, an unknown card, a mismatched pair.
    for q in ["898603123456789012", "898603123456789012345"] {
        let a = cl.get("/v1/sim-cards/0/real-named", &[("iccid", q)]).await;
        assert_error(&a, 400, "GSL.00010004");
    }
    assert_error(
        &cl.get("/v1/sim-cards/0/real-named", &[]).await,
        400,
        "GSL.00010004",
    );
    assert_error(
        &cl.get("/v1/sim-cards/1/real-named", &[]).await,
        400,
        "GSL.00010004",
    );
    let other = sim.cards()[4].iccid.clone();
    let a = cl
        .get(
            &format!("/v1/sim-cards/{id}/real-named"),
            &[("iccid", &other)],
        )
        .await;
    assert_error(&a, 400, "GSL.00010004");
}

#[tokio::test]
async fn clear_real_name_work_order_moves_to_success() {
    let sim = start(SimConfig {
        cards: 50,
        // Long enough that the reads below see it processing on a loaded machine.
        work_order_secs: 2.0,
        ..SimConfig::default()
    })
    .await;
    let cl = Client::new(&sim);
    let card = sim
        .cards()
        .into_iter()
        .find(|c| c.carrier == Carrier::ChinaTelecom && c.real_named)
        .unwrap();
    let a = cl
        .post(
            "/v1/sim-cards/0/clear-real-name",
            &[("iccid", &card.iccid)],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, json!({"work_order_id": 1000001}));
    let mobile = card_of(&sim, Carrier::ChinaMobile, false);
    let a = cl
        .post(
            &format!("/v1/sim-cards/{}/clear-real-name", mobile.sim_card_id),
            &[],
            None,
        )
        .await;
    assert_error(&a, 400, "GSL.00010004");

    let details = cl.get("/v1/work-orders/1000001/details", &[]).await;
    assert_eq!(details.status, 200);
    let d = &details.body["work_order_details"][0];
    assert_eq!(d["status"], 2);
    assert_eq!(d["cid"], card.iccid.as_str());
    assert_eq!(d["sim_card_id"], card.sim_card_id);
    let orders = cl
        .get("/v1/work-orders", &[("work_order_type", "14")])
        .await;
    assert_eq!(orders.body["count"], 1);
    assert_eq!(orders.body["work_orders"][0]["work_order_type"], 14);
    assert_eq!(orders.body["work_orders"][0]["total_count"], 1);

    crate::common::wait_until("the work order finishes", Duration::from_secs(20), || {
        crate::common::stat_u64(&sim.stats(), "work_orders_processing") == 0
    })
    .await;
    let details = cl.get("/v1/work-orders/1000001/details", &[]).await;
    assert_eq!(details.body["work_order_details"][0]["status"], 1);
    assert!(details.body["work_order_details"][0]["finish_time"].is_string());
    let orders = cl
        .get("/v1/work-orders", &[("main_search_key", "1000001")])
        .await;
    assert_eq!(orders.body["work_orders"][0]["status"], 4);
    assert_eq!(orders.body["work_orders"][0]["success_count"], 1);
    let a = cl
        .get("/v1/sim-cards/0/real-named", &[("iccid", &card.iccid)])
        .await;
    assert_eq!(a.body["real_named"], false);
    // Paging: page 2 of a one-detail order is empty; an unknown order is refused.
    let p2 = cl
        .get(
            "/v1/work-orders/1000001/details",
            &[("limit", "10"), ("offset", "2")],
        )
        .await;
    assert_eq!(p2.body["count"], 1);
    assert_eq!(p2.body["work_order_details"], json!([]));
    assert_error(
        &cl.get("/v1/work-orders/42/details", &[]).await,
        400,
        "GSL.00010004",
    );
    let stats = sim.stats();
    assert_eq!(stats["clear_calls_per_card"][&card.iccid], 1);
    assert_eq!(stats["work_orders_created"], 1);
    assert_eq!(stats["calls"]["clear-real-name"]["ok"], 1);
    assert_eq!(stats["calls"]["clear-real-name"]["error"], 1);
}

#[tokio::test]
async fn sms_send_and_details() {
    let sim = start(SimConfig {
        cards: 200,
        work_order_secs: 0.1,
        ..SimConfig::default()
    })
    .await;
    let cl = Client::new(&sim);
    let tel = card_of(&sim, Carrier::ChinaTelecom, true);
    let mob = card_of(&sim, Carrier::ChinaMobile, true);
    let uni = card_of(&sim, Carrier::ChinaUnicom, false);
    let ok = json!({"sms_content": "重启设备", "cids": [tel.iccid, mob.iccid]});
    let a = cl.post("/v1/sms-send-infos", &[], Some(&ok)).await;
    assert_eq!((a.status, &a.body), (200, &json!(true)));
    for bad in [
        json!({"sms_content": "x", "cids": [tel.iccid, uni.iccid]}),
        json!({"sms_content": "", "cids": [tel.iccid]}),
        json!({"sms_content": "x".repeat(1001), "cids": [tel.iccid]}),
        json!({"cids": [tel.iccid]}),
        json!({"sms_content": "x", "cids": [tel.iccid], "order_id": tel.order_id + 1}),
    ] {
        assert_error(
            &cl.post("/v1/sms-send-infos", &[], Some(&bad)).await,
            400,
            "GSL.00010004",
        );
    }
    let a = cl
        .post(
            "/v1/sms-send-infos",
            &[],
            Some(&json!({"sms_content": "字".repeat(1000), "cids": [tel.iccid]})),
        )
        .await;
    assert_eq!(a.status, 200);
    let d = cl
        .get("/v1/sms-send-infos/details", &[("cid", &tel.iccid)])
        .await;
    assert_eq!(d.body["count"], 2, "{}", d.body);
    let row = &d.body["sms_details"][0];
    assert_eq!(row["msisdn"], tel.msisdn.as_str());
    assert_eq!(row["sms_content"], "重启设备");
    assert!(row["sent_time"].is_string());
    assert_error(
        &cl.get("/v1/sms-send-infos/details", &[("start_time", "yesterday")])
            .await,
        400,
        "GSL.00010004",
    );
    let stats = sim.stats();
    assert_eq!(stats["sms_sent_per_cid"][&tel.iccid], 2);
    assert_eq!(stats["sms_sent_per_cid"][&mob.iccid], 1);
    assert!(stats["sms_sent_per_cid"].get(&uni.iccid).is_none());
}

#[tokio::test]
async fn card_list_filters_and_pages() {
    let sim = start(SimConfig {
        cards: 120,
        ..SimConfig::default()
    })
    .await;
    let cl = Client::new(&sim);
    let cards = sim.cards();
    let a = cl
        .get("/v1/sim-cards", &[("limit", "50"), ("offset", "2")])
        .await;
    assert_eq!(a.body["count"], 120);
    assert_eq!(a.body["sim_cards"].as_array().unwrap().len(), 50);
    assert_eq!(a.body["sim_cards"][0]["sim_card_id"], cards[50].sim_card_id);
    assert_eq!(a.body["sim_cards"][0]["cid"], cards[50].iccid.as_str());
    let named = cards.iter().filter(|c| c.real_named).count();
    let a = cl
        .get("/v1/sim-cards", &[("real_named", "true"), ("limit", "500")])
        .await;
    assert_eq!(a.body["count"], named);
    let a = cl
        .get(
            "/v1/sim-cards",
            &[
                ("main_search_type", "1"),
                ("main_search_key", &cards[7].iccid),
            ],
        )
        .await;
    assert_eq!(a.body["count"], 1);
    let order = cards[0].order_id.to_string();
    let a = cl
        .get(
            "/v1/sim-cards",
            &[("order_id", &order), ("sim_status", "20")],
        )
        .await;
    let want = cards
        .iter()
        .filter(|c| c.order_id == cards[0].order_id && c.sim_status == 20)
        .count();
    assert_eq!(a.body["count"], want);
    assert_error(
        &cl.get("/v1/sim-cards", &[("limit", "5")]).await,
        400,
        "GSL.00010004",
    );
    assert_error(
        &cl.get("/v1/sim-cards", &[("limit", "501")]).await,
        400,
        "GSL.00010004",
    );
}

#[tokio::test]
async fn pool_members_page_and_billing_cycles() {
    let sim = start(SimConfig {
        cards: 200,
        ..SimConfig::default()
    })
    .await;
    let cl = Client::new(&sim);
    let pool = sim.cards().iter().find_map(|c| c.pool_id).unwrap();
    let n = sim
        .cards()
        .iter()
        .filter(|c| c.pool_id == Some(pool))
        .count();
    let path = format!("/v1/sim-pools/{pool}/members");
    let cycle = chrono::Utc::now().format("%Y-%m").to_string();
    let p1 = cl
        .get(
            &path,
            &[("billing_cycle", &cycle), ("limit", "10"), ("offset", "1")],
        )
        .await;
    assert_eq!(p1.status, 200, "{}", p1.body);
    assert_eq!(p1.body["count"], n);
    assert_eq!(p1.body["pool_members"].as_array().unwrap().len(), 10);
    let m = &p1.body["pool_members"][0];
    assert!(
        m["id"].is_u64()
            && m["cid"].is_string()
            && m["sim_price_plan_id"].is_u64()
            && m["flow_used"].is_number()
    );
    let p2 = cl
        .get(
            &path,
            &[("billing_cycle", &cycle), ("limit", "10"), ("offset", "2")],
        )
        .await;
    assert_ne!(p1.body["pool_members"][0], p2.body["pool_members"][0]);
    for bad in ["2024-13", "2024-1", "202401", "abcd-01"] {
        assert_error(
            &cl.get(&path, &[("billing_cycle", bad)]).await,
            400,
            "GSL.00010004",
        );
    }
    for refused in ["2999-01", "2001-01"] {
        let a = cl.get(&path, &[("billing_cycle", refused)]).await;
        assert_error(&a, 403, "GSL.00011004");
        assert_eq!(a.body["error_msg"], "账期不合法,请检查!");
    }
}

#[tokio::test]
async fn tags_list_and_batch_set() {
    let sim = start(SimConfig {
        cards: 20,
        ..SimConfig::default()
    })
    .await;
    let cl = Client::new(&sim);
    let a = cl.get("/v1/tags", &[]).await;
    assert!(a.body["count"].as_u64().unwrap() >= 3);
    assert!(a.body["tags"][0]["tag_name"].is_string());
    let c = sim.cards()[0].clone();
    let a = cl
        .post(
            "/v1/sim-tags/batch-set",
            &[],
            Some(&json!({"iccids": [c.iccid], "tag_ids": [2, 3]})),
        )
        .await;
    assert_eq!((a.status, &a.body), (200, &json!(true)));
    assert_eq!(sim.cards()[0].tag_ids, vec![2, 3]);
    let a = cl
        .post(
            "/v1/sim-tags/batch-set",
            &[],
            Some(&json!({"sim_card_ids": [c.sim_card_id], "tag_ids": [5]})),
        )
        .await;
    assert_error(&a, 400, "GSL.00022004");
    let a = cl
        .post(
            "/v1/sim-tags/batch-set",
            &[],
            Some(&json!({"iccids": [c.iccid], "tag_ids": [1,2,3,4,1,2,3,4,1,2,3]})),
        )
        .await;
    assert_error(&a, 400, "GSL.00020004");
    assert_eq!(sim.cards()[0].tag_ids, vec![2, 3]);
}

#[tokio::test]
async fn busy_throttle_and_gateway_errors() {
    let sim = start(SimConfig {
        cards: 20,
        busy_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let cl = Client::new(&sim);
    let id = sim.cards()[0].sim_card_id;
    assert_error(
        &cl.get(&format!("/v1/sim-cards/{id}/real-named"), &[]).await,
        500,
        "GSL.00010003",
    );
    assert_error(&cl.get("/v1/tags", &[]).await, 500, "GSL.00020003");

    sim.set_faults(Faults {
        rate: Some(2),
        ..Faults::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let a = cl.get(&format!("/v1/sim-cards/{id}/real-named"), &[]).await;
        if a.status == 429 {
            assert_eq!(a.body["error_code"], "APIG.0308");
            assert!(a.body["error_msg"]
                .as_str()
                .unwrap()
                .contains("limit:2,time:1 second"));
            assert!(a.body["request_id"].is_string());
        }
        statuses.push(a.status);
    }
    assert_eq!(statuses, vec![200, 200, 429, 429, 429]);
    // Another API has its own bucket.
    assert_eq!(cl.get("/v1/tags", &[]).await.status, 200);
    let stats = sim.stats();
    assert_eq!(stats["calls"]["real-named"]["throttled"], 3);
    assert_eq!(stats["throttled"], 3);
    // The busy call above may share the window with the five.
    assert!(
        stats["max_requests_in_any_second"]["real-named"]
            .as_u64()
            .unwrap()
            >= 5
    );
}

#[tokio::test]
async fn signatures_tokens_and_lockout() {
    let sim = start(SimConfig {
        cards: 20,
        ..SimConfig::default()
    })
    .await;
    let path = format!("/v1/sim-cards/{}/real-named", sim.cards()[0].sim_card_id);
    let http = reqwest::Client::new();
    let plain = http
        .get(format!("{}{path}", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 401);
    assert!(plain.headers().contains_key("date"));
    let body: Value = serde_json::from_str(&plain.text().await.unwrap()).unwrap();
    assert_eq!(body["error_code"], "APIG.0301");
    assert!(body["error_msg"]
        .as_str()
        .unwrap()
        .starts_with("Incorrect IAM authentication information:"));

    let good = Client::new(&sim);
    let tampered = good.send("GET", &path, &[], None, true).await.unwrap();
    assert_error(&tampered, 401, "APIG.0301");
    assert!(tampered.has_date);
    assert_eq!(good.get(&path, &[]).await.status, 200);
    let bad = Client::with_sk(&sim, "wrong");
    for _ in 0..5 {
        assert_error(&bad.get(&path, &[]).await, 401, "APIG.0301");
    }
    assert_error(&good.get(&path, &[]).await, 401, "APIG.0301");
    assert_eq!(sim.stats()["locked_aks"], json!([AK]));

    // IAM login, a token that works, then expire_tokens.
    let login = |pw: &str| {
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "ops", "password": pw, "domain": {"name": "acme"}}}}, "scope": {"project": {"name": "cn-north-4"}}}})
    };
    let r = http
        .post(format!("{}/v3/auth/tokens", sim.url()))
        .body(login("nope").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{}/v3/auth/tokens", sim.url()))
        .body(login("pw-1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert!(body["token"]["expires_at"].is_string());
    let with = |t: &str| {
        http.get(format!("{}{path}", sim.url()))
            .header("X-Auth-Token", t)
            .send()
    };
    assert_eq!(with(&token).await.unwrap().status(), 200);
    assert_eq!(with("made-up").await.unwrap().status(), 401);
    sim.expire_tokens();
    assert_eq!(with(&token).await.unwrap().status(), 401);
    let stats = sim.stats();
    assert!(stats["auth_failures"].as_u64().unwrap() >= 9);
}

#[tokio::test]
async fn drop_and_bad_gateway_do_the_work() {
    let sim = start(SimConfig {
        cards: 50,
        drop_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let cl = Client::new(&sim);
    let card = card_of(&sim, Carrier::ChinaTelecom, false);
    let path = format!("/v1/sim-cards/{}/clear-real-name", card.sim_card_id);
    let err = cl
        .send("POST", &path, &[], None, false)
        .await
        .err()
        .expect("no response");
    assert!(!err.is_connect(), "{err}");
    sim.set_faults(Faults {
        bad_gateway_rate: 1.0,
        ..Faults::default()
    });
    let a = cl.post(&path, &[], None).await;
    assert_eq!(a.status, 502);
    assert!(a.body["request_id"].is_string());
    sim.set_faults(Faults::default());
    assert_eq!(cl.post(&path, &[], None).await.status, 200);
    let stats = sim.stats();
    assert_eq!(stats["clear_calls_per_card"][&card.iccid], 3);
    assert_eq!(stats["max_clear_calls_per_card"], 3);
    assert_eq!(stats["calls"]["clear-real-name"]["dropped"], 1);
    assert_eq!(stats["calls"]["clear-real-name"]["bad_gateway"], 1);
    assert_eq!(stats["work_orders_created"], 3);
}

#[tokio::test]
async fn stats_need_no_auth_and_do_not_count_themselves() {
    let sim = start(SimConfig {
        cards: 10,
        ..SimConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let text = http
            .get(format!("{}/__sim/stats", sim.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let s: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(s["requests_total"], 0);
        assert!(s["calls"]["clear-real-name"]["ok"].is_u64());
    }
    sim.shutdown().await;
}

/// Throughput of the simplest authenticated call; run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput() {
    let cfg = SimConfig {
        credentials: SimCredentials {
            token: Some("bench-token".into()),
            ..SimCredentials::default()
        },
        ..SimConfig::default()
    };
    let sim = Simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!(
        "{}/v1/sim-cards/{}/real-named",
        sim.url(),
        sim.cards()[0].sim_card_id
    );
    let started = std::time::Instant::now();
    let per_task = 5000;
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for _ in 0..per_task {
                    let r = http
                        .get(&url)
                        .header("X-Auth-Token", "bench-token")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let n = 32 * per_task;
    println!(
        "{n} requests in {:?}: {:.0}/s",
        started.elapsed(),
        n as f64 / started.elapsed().as_secs_f64()
    );
}

/// A rehearsal inventory of a million ICCIDs builds and starts quickly; run with `--ignored`.
#[tokio::test]
#[ignore]
async fn million_card_rehearsal_inventory() {
    let iccids: Vec<String> = (0..1_000_000u64)
        .map(|i| {
            let body = format!("898603{:013}", i);
            format!("{body}{}", luhn_digit(&body))
        })
        .collect();
    let t = std::time::Instant::now();
    let cfg = SimConfig::from_iccids(&iccids);
    let sim = start(cfg).await;
    println!("1,000,000-card rehearsal simulator up in {:?}", t.elapsed());
    let cl = Client::new(&sim);
    let a = cl
        .get("/v1/sim-cards/0/real-named", &[("iccid", &iccids[999_999])])
        .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn card_state_endpoints_validate_their_bodies_and_change_the_card() {
    let sim = start(SimConfig {
        cards: 300,
        work_order_secs: 0.0,
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let cards = sim.cards();
    let telecom = cards
        .iter()
        .find(|c| c.carrier == Carrier::ChinaTelecom && c.sim_status == 20)
        .unwrap();
    let mobile = cards
        .iter()
        .find(|c| c.carrier == Carrier::ChinaMobile && c.sim_status == 20)
        .unwrap();
    let path = |id: u64, what: &str| format!("/v1/sim-cards/{id}/{what}");
    let t = telecom.sim_card_id;
    let refused = [
        (path(t, "cut-net"), json!({"action": "CUT"})),
        (
            path(mobile.sim_card_id, "cut-net"),
            json!({"action": "ADD"}),
        ),
        (path(t, "speed-limit"), json!({"speed_value": 7424})),
        (
            path(mobile.sim_card_id, "speed-limit"),
            json!({"speed_value": 1024}),
        ),
        (
            path(t, "exceed-cut-net"),
            json!({"action": 1, "quota": "-5"}),
        ),
        (path(t, "exceed-cut-net"), json!({"action": 1})),
        (path(t, "exceed-cut-net"), json!({"action": 3})),
        (
            path(t, "bind-device"),
            json!({"bind_type": 2, "imei": "86000000000001"}),
        ),
        (
            path(mobile.sim_card_id, "bind-device"),
            json!({"bind_type": 2, "imei": "860000000000011"}),
        ),
        (path(t, "reset"), json!({})),
        (path(0, "stop"), json!({})),
        (
            path(0, "stop"),
            json!({"iccid": mobile.iccid.clone() + "0"}),
        ),
    ];
    for (p, body) in &refused {
        let a = c.post(p, &[], Some(body)).await;
        assert_eq!(a.status, 400, "{p} {body}: {}", a.body);
        assert_eq!(a.body["error_code"], "GSL.00010004");
    }
    assert_eq!(
        sim.stats()["work_orders_created"],
        0,
        "a refusal creates nothing"
    );

    let ok = [
        (path(0, "stop"), json!({"iccid": telecom.iccid}), 5),
        (path(t, "reset"), json!({}), 4),
        (path(t, "cut-net"), json!({"action": "ADD"}), 11),
        (path(t, "speed-limit"), json!({"speed_value": 512}), 15),
        (
            path(t, "exceed-cut-net"),
            json!({"action": 1, "quota": "500"}),
            12,
        ),
        (
            path(t, "bind-device"),
            json!({"bind_type": 2, "imei": "860000000000011"}),
            13,
        ),
        (
            path(mobile.sim_card_id, "bind-device"),
            json!({"bind_type": 1}),
            13,
        ),
    ];
    for (p, body, wtype) in &ok {
        let a = c.post(p, &[], Some(body)).await;
        assert_eq!(a.status, 200, "{p} {body}: {}", a.body);
        let id = a.body["work_order_id"].as_u64().unwrap().to_string();
        let orders = c
            .get(
                "/v1/work-orders",
                &[("main_search_key", &id), ("limit", "10"), ("offset", "1")],
            )
            .await;
        assert_eq!(
            orders.body["work_orders"][0]["work_order_type"], *wtype,
            "{p}"
        );
        assert_eq!(orders.body["work_orders"][0]["status"], 4, "completed");
    }
    let listed = c
        .get(
            "/v1/sim-cards",
            &[
                ("main_search_type", "1"),
                ("main_search_key", &telecom.iccid),
            ],
        )
        .await;
    let shown = &listed.body["sim_cards"][0];
    assert_eq!(shown["sim_status"], 20);
    assert_eq!(shown["cut_net_flag"], true);
    assert_eq!(shown["speed_value"], 512);
    assert_eq!(shown["exceed_cut_net_quota"], 500);
    assert_eq!(shown["imei"], "860000000000011");
    assert_eq!(shown["imei_bind_remain_times"], 1);

    // The usage query: at most 50 cards, unknown ones left out.
    let iccids: Vec<&str> = cards.iter().take(51).map(|c| c.iccid.as_str()).collect();
    let a = c
        .post(
            "/v1/sim-price-plans/usage/batch-query",
            &[],
            Some(&json!({"iccids": iccids[..50]})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body.as_array().unwrap().len(), 50);
    assert_eq!(a.body[0]["flow_used"], cards[0].flow_used);
    let a = c
        .post(
            "/v1/sim-price-plans/usage/batch-query",
            &[],
            Some(&json!({"iccids": iccids})),
        )
        .await;
    assert_eq!(a.status, 400);
    let a = c
        .post(
            "/v1/sim-price-plans/usage/batch-query",
            &[],
            Some(&json!({"sim_card_ids": [t, 1]})),
        )
        .await;
    assert_eq!(
        a.body.as_array().unwrap().len(),
        1,
        "the unknown id is left out"
    );
}
