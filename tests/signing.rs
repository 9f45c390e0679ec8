//! The signer against requests signed by Huawei's official Python SDK.

use gslbatch::gsl::auth::aksk::{self, Signable};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/aksk-signing.json"
    ))
    .expect("vector file");
    let v: Value = serde_json::from_str(&text).expect("vector json");
    v["cases"].as_array().expect("cases").clone()
}

#[test]
fn every_vector_matches_byte_for_byte() {
    let cases = cases();
    assert!(cases.len() >= 14, "vector file shrank");
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let query: Vec<(String, String)> = c["query"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut headers: Vec<(String, String)> = c["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        headers.push(("Host".into(), c["host"].as_str().unwrap().to_string()));
        let body = c["body"].as_str().unwrap_or("").as_bytes().to_vec();
        let req = Signable {
            method: c["method"].as_str().unwrap(),
            path: c["path"].as_str().unwrap(),
            query: &query,
            headers: &headers,
            body: &body,
        };
        let (canonical, _) = req.canonical_request();
        assert_eq!(
            canonical,
            c["canonical_request"].as_str().unwrap(),
            "{name}: canonical request"
        );
        let date = c["headers"]["X-Sdk-Date"].as_str().unwrap();
        assert_eq!(
            aksk::string_to_sign(date, &canonical),
            c["string_to_sign"].as_str().unwrap(),
            "{name}: string to sign"
        );
        let auth = aksk::authorization(
            c["ak"].as_str().unwrap(),
            c["sk"].as_str().unwrap(),
            date,
            &req,
        );
        assert_eq!(
            auth,
            c["authorization"].as_str().unwrap(),
            "{name}: authorization"
        );
        assert_eq!(
            aksk::signed_uri(req.path, &query),
            c["signed_uri"].as_str().unwrap(),
            "{name}: signed uri"
        );
        let parsed = aksk::parse_authorization(&auth).expect("parses back");
        assert_eq!(parsed.access, c["ak"].as_str().unwrap());
    }
}

#[test]
fn a_tampered_request_changes_the_signature() {
    let q = vec![("iccid".to_string(), "89860000000000000001".to_string())];
    let h = vec![
        ("Host".to_string(), "127.0.0.1".to_string()),
        ("X-Sdk-Date".to_string(), "20260101T000000Z".to_string()),
    ];
    let a = Signable {
        method: "POST",
        path: "/v1/sim-cards/0/clear-real-name",
        query: &q,
        headers: &h,
        body: b"",
    };
    let q2 = vec![("iccid".to_string(), "89860000000000000002".to_string())];
    let b = Signable {
        query: &q2,
        ..a.clone()
    };
    assert_ne!(
        aksk::authorization("AK", "SK", "20260101T000000Z", &a),
        aksk::authorization("AK", "SK", "20260101T000000Z", &b)
    );
}
