//! The GSL client against the in-process simulator: every typed call parses the simulator's
//! success body, and every documented refusal and transport failure lands in the `GslError`
//! variant the engine's retry rules expect, with the API's fields kept for the report.

use crate::common::{calls, token_client, token_only_sim};
use gslbatch::gsl::types::{Page, SendSms, SetTags};
use gslbatch::gsl::{ApiFault, CardRef, Client, GslError};
use gslbatch::simulator::{Carrier, Faults, InventoryCard, SimConfig, Simulator};
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;

const TOKEN: &str = "client-contract-token";

fn client(sim: &Simulator) -> Client {
    token_client(&sim.url(), TOKEN, Duration::from_secs(10))
}

fn first_card(sim: &Simulator, pred: impl Fn(&InventoryCard) -> bool) -> InventoryCard {
    sim.cards()
        .into_iter()
        .find(pred)
        .expect("the inventory has such a card")
}

/// The fault of an API refusal, asserting its variant-independent fields.
#[track_caller]
fn assert_fault(e: &GslError, status: u16, code: &str) -> ApiFault {
    let f = e.fault().unwrap_or_else(|| panic!("no API fault in {e:?}"));
    assert_eq!(f.http_status, status, "{e:?}");
    assert_eq!(f.error_code, code, "{e:?}");
    assert!(!f.error_msg.is_empty(), "{e:?}");
    assert_eq!(e.http_status(), Some(status));
    assert_eq!(e.error_code(), code);
    assert_eq!(e.error_msg(), f.error_msg);
    f.clone()
}

#[track_caller]
fn assert_refused_param(e: &GslError) {
    assert!(matches!(e, GslError::Refused(_)), "{e:?}");
    let f = assert_fault(e, 400, "GSL.00010004");
    assert_eq!(f.error_msg, "参数异常");
}

fn this_month() -> String {
    chrono::Utc::now().format("%Y-%m").to_string()
}

#[tokio::test]
async fn real_named_by_iccid_and_by_id() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = client(&sim);
    let cards = sim.cards();
    // Card 49 of a generated inventory has the short 19-character ICCID form.
    let short = cards.iter().find(|c| c.iccid.len() == 19).unwrap();
    for card in [&cards[0], &cards[1], short] {
        let by_iccid = c
            .real_named(&CardRef::Iccid(card.iccid.clone()))
            .await
            .unwrap();
        assert_eq!(by_iccid.iccid.as_deref(), Some(card.iccid.as_str()));
        assert_eq!(by_iccid.real_named, card.real_named);
        let by_id = c.real_named(&CardRef::Id(card.sim_card_id)).await.unwrap();
        assert_eq!(by_id, by_iccid);
    }
    // Both real-named values occur, so the field is really read, not defaulted.
    let mut seen = HashSet::new();
    for card in &cards[..20] {
        let r = c.real_named(&CardRef::Id(card.sim_card_id)).await.unwrap();
        assert_eq!(r.real_named, card.real_named, "{}", card.iccid);
        seen.insert(r.real_named);
    }
    assert_eq!(seen.len(), 2);
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 26);
}

#[tokio::test]
async fn bad_and_unknown_cards_are_refused() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = client(&sim);
    let known = sim.cards()[0].iccid.clone();
    let too_short = known[..18].to_string();
    let too_long = format!("{known}0");
    assert_eq!(too_long.len(), 21);
    for iccid in [too_short, too_long, "89860399999999999999".to_string()] {
        let e = c
            .real_named(&CardRef::Iccid(iccid.clone()))
            .await
            .unwrap_err();
        assert_refused_param(&e);
        assert!(!e.provably_unsent(), "{iccid}");
    }
    let e = c.real_named(&CardRef::Id(1)).await.unwrap_err();
    assert_refused_param(&e);
    // The simulator saw and refused each (the client did not short-circuit them).
    assert_eq!(calls(&sim.stats(), "real-named", "error"), 4);
}

#[tokio::test]
async fn clear_real_name_then_work_order_and_details() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = client(&sim);
    let telecom = first_card(&sim, |c| c.carrier == Carrier::ChinaTelecom);
    let unicom = first_card(&sim, |c| c.carrier == Carrier::ChinaUnicom);

    let wo = c
        .clear_real_name(&CardRef::Iccid(telecom.iccid.clone()))
        .await
        .unwrap();
    assert!(wo.work_order_id > 0);
    let e = c
        .clear_real_name(&CardRef::Id(unicom.sim_card_id))
        .await
        .unwrap_err();
    assert_refused_param(&e);
    assert_eq!(sim.stats()["work_orders_created"], 1);

    let page = c
        .work_orders(&Page::new(10, 1).filter("main_search_key", wo.work_order_id))
        .await
        .unwrap();
    assert_eq!(page.count, 1);
    let order = &page.work_orders[0];
    assert_eq!(order.id, wo.work_order_id);
    assert_eq!(order.work_order_type, Some(14));
    assert_eq!(order.total_count, Some(1));

    let details = c
        .work_order_details(wo.work_order_id, &Page::new(10, 1))
        .await
        .unwrap();
    assert_eq!(details.count, 1);
    let d = &details.work_order_details[0];
    assert_eq!(d.cid.as_deref(), Some(telecom.iccid.as_str()));
    assert_eq!(d.sim_card_id, Some(telecom.sim_card_id as i64));
    // work_order_secs = 0: the detail is already a success and the card reads cleared.
    assert_eq!(d.status, Some(1));
    let now = c
        .real_named(&CardRef::Id(telecom.sim_card_id))
        .await
        .unwrap();
    assert!(!now.real_named);

    let e = c
        .work_order_details(999, &Page::new(10, 1))
        .await
        .unwrap_err();
    assert_refused_param(&e);
}

#[tokio::test]
async fn send_sms_and_delivery_details() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = client(&sim);
    let card = first_card(&sim, |c| c.carrier.sends_sms() && c.sms_plan);
    let unicom = first_card(&sim, |c| c.carrier == Carrier::ChinaUnicom);
    let req = SendSms {
        sms_content: "maintenance tonight".into(),
        cids: Some(vec![card.iccid.clone()]),
        ..SendSms::default()
    };
    c.send_sms(&req).await.unwrap();
    assert_eq!(sim.stats()["sms_sent_per_cid"][&card.iccid], 1);
    // A template id is an integer in the API; the simulator refuses any other JSON type.
    let templated = SendSms {
        template_id: Some(42),
        ..req.clone()
    };
    c.send_sms(&templated).await.unwrap();
    assert_eq!(sim.stats()["sms_sent_per_cid"][&card.iccid], 2);

    let refused = SendSms {
        cids: Some(vec![card.iccid.clone(), unicom.iccid.clone()]),
        ..req.clone()
    };
    assert_refused_param(&c.send_sms(&refused).await.unwrap_err());
    assert_eq!(sim.stats()["sms_sent"], 2, "a refused batch sends nothing");

    let page = c
        .sms_details(&Page::new(10, 1).filter("cid", &card.iccid))
        .await
        .unwrap();
    assert_eq!(page.count, 2);
    let d = &page.sms_details[0];
    assert_eq!(d.cid.as_deref(), Some(card.iccid.as_str()));
    assert_eq!(d.msisdn.as_deref(), Some(card.msisdn.as_str()));
    assert_eq!(d.sms_content.as_deref(), Some("maintenance tonight"));
    assert!(matches!(d.sms_status, Some(1..=3)), "{d:?}");
}

#[tokio::test]
async fn sim_card_list_parses_and_filters() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = client(&sim);
    let cards = sim.cards();
    let page = c.sim_cards(&Page::new(10, 1)).await.unwrap();
    assert_eq!(page.count, cards.len() as i64);
    assert_eq!(page.sim_cards.len(), 10);
    for (got, want) in page.sim_cards.iter().zip(&cards) {
        assert_eq!(got.sim_card_id, want.sim_card_id as i64);
        assert_eq!(got.iccid.as_deref(), Some(want.iccid.as_str()));
        assert_eq!(got.cid.as_deref(), Some(want.iccid.as_str()));
        assert_eq!(got.msisdn.as_deref(), Some(want.msisdn.as_str()));
        assert_eq!(got.order_id, Some(want.order_id as i64));
        assert_eq!(got.real_named, Some(want.real_named));
        assert_eq!(got.sim_status, Some(i64::from(want.sim_status)));
        assert_eq!(got.flow_used, Some(want.flow_used));
    }
    let one = c
        .sim_cards(
            &Page::new(10, 1)
                .filter("main_search_type", 1)
                .filter("main_search_key", &cards[7].iccid),
        )
        .await
        .unwrap();
    assert_eq!(one.count, 1);
    assert_eq!(one.sim_cards[0].sim_card_id, cards[7].sim_card_id as i64);
    // limit 10..500 is the API's; 501 is its refusal.
    assert_refused_param(&c.sim_cards(&Page::new(501, 1)).await.unwrap_err());
}

#[tokio::test]
async fn tags_list_and_set() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = client(&sim);
    let tags = c.tags(&Page::new(10, 1)).await.unwrap();
    assert_eq!(tags.count, tags.tags.len() as i64);
    let fleet = tags.tags.iter().find(|t| t.tag_name == "fleet-b").unwrap();
    let restricted = tags
        .tags
        .iter()
        .find(|t| t.tag_name == "restricted")
        .unwrap();

    let card = sim.cards()[3].clone();
    c.set_tags(&SetTags {
        iccids: Some(vec![card.iccid.clone()]),
        tag_ids: vec![fleet.id],
        ..SetTags::default()
    })
    .await
    .unwrap();
    let stored = sim
        .cards()
        .into_iter()
        .find(|c| c.iccid == card.iccid)
        .unwrap();
    assert_eq!(stored.tag_ids, vec![fleet.id as u64]);
    // The card list shows the tag by name (a comma-joined string, as the API types it).
    let listed = c
        .sim_cards(
            &Page::new(10, 1)
                .filter("main_search_type", 1)
                .filter("main_search_key", &card.iccid),
        )
        .await
        .unwrap();
    assert_eq!(listed.sim_cards[0].tag_names.as_deref(), Some("fleet-b"));

    let e = c
        .set_tags(&SetTags {
            sim_card_ids: Some(vec![card.sim_card_id as i64]),
            tag_ids: vec![restricted.id],
            ..SetTags::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, GslError::Refused(_)), "{e:?}");
    assert_fault(&e, 400, "GSL.00022004");
    let e = c
        .set_tags(&SetTags {
            sim_card_ids: Some(vec![1]),
            tag_ids: vec![fleet.id],
            ..SetTags::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, GslError::Refused(_)), "{e:?}");
    assert_fault(&e, 400, "GSL.00020004");
}

/// Every page of a paged list, `limit` 10, until a short page; returns (count, rows).
async fn all_pages<T, F, Fut>(mut fetch: F) -> (i64, Vec<T>)
where
    F: FnMut(Page) -> Fut,
    Fut: std::future::Future<Output = (i64, Vec<T>)>,
{
    let mut rows = Vec::new();
    let mut count = None;
    for offset in 1.. {
        let (n, page) = fetch(Page::new(10, offset)).await;
        assert!(count.is_none_or(|c| c == n), "count changed between pages");
        count = Some(n);
        let short = page.len() < 10;
        rows.extend(page);
        if short {
            break;
        }
        assert!(offset < 1000, "paging never ends");
    }
    (count.unwrap(), rows)
}

#[tokio::test]
async fn pool_members_every_page() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = client(&sim);
    let want: HashSet<String> = sim
        .cards()
        .into_iter()
        .filter(|c| c.pool_id == Some(3001))
        .map(|c| c.iccid)
        .collect();
    assert!(want.len() > 20, "several pages' worth");
    let cycle = this_month();
    let (count, rows) = all_pages(|p| {
        let (c, cycle) = (&c, &cycle);
        async move {
            let r = c
                .pool_members(3001, &p.filter("billing_cycle", cycle))
                .await
                .unwrap();
            (r.count, r.pool_members)
        }
    })
    .await;
    assert_eq!(count as usize, want.len());
    assert_eq!(rows.len(), want.len());
    let got: HashSet<String> = rows.iter().map(|m| m.cid.clone().unwrap()).collect();
    assert_eq!(got.len(), rows.len(), "no duplicates across pages");
    assert_eq!(got, want);
    // This month's flow is the card's own.
    let cards = sim.cards();
    for m in &rows[..5] {
        let card = cards
            .iter()
            .find(|c| Some(&c.iccid) == m.cid.as_ref())
            .unwrap();
        assert_eq!(m.id, Some(card.sim_card_id as i64));
        assert_eq!(m.flow_used, Some(card.flow_used));
        assert_eq!(m.sim_price_plan_id, Some(card.sim_price_plan_id as i64));
    }
}

#[tokio::test]
async fn pool_members_billing_cycle_refusals() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = client(&sim);
    let e = c
        .pool_members(3001, &Page::new(10, 1).filter("billing_cycle", "2001-01"))
        .await
        .unwrap_err();
    assert!(matches!(e, GslError::Refused(_)), "{e:?}");
    let f = assert_fault(&e, 403, "GSL.00011004");
    assert_eq!(f.error_msg, "账期不合法,请检查!");
    let e = c
        .pool_members(3001, &Page::new(10, 1).filter("billing_cycle", "2024-13"))
        .await
        .unwrap_err();
    assert_refused_param(&e);
}

#[tokio::test]
async fn work_orders_and_details_every_page() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = client(&sim);
    let telecom: Vec<InventoryCard> = sim
        .cards()
        .into_iter()
        .filter(|c| c.carrier == Carrier::ChinaTelecom)
        .take(23)
        .collect();
    let mut ids = HashSet::new();
    for card in &telecom {
        let wo = c
            .clear_real_name(&CardRef::Id(card.sim_card_id))
            .await
            .unwrap();
        ids.insert(wo.work_order_id);
    }
    assert_eq!(ids.len(), 23);

    let (count, orders) = all_pages(|p| {
        let c = &c;
        async move {
            let r = c.work_orders(&p).await.unwrap();
            (r.count, r.work_orders)
        }
    })
    .await;
    assert_eq!(count, 23);
    let got: HashSet<i64> = orders.iter().map(|o| o.id).collect();
    assert_eq!(got.len(), orders.len(), "no duplicates across pages");
    assert_eq!(got, ids);

    let mut cids = HashSet::new();
    for id in &ids {
        let (count, details) = all_pages(|p| {
            let c = &c;
            async move {
                let r = c.work_order_details(*id, &p).await.unwrap();
                (r.count, r.work_order_details)
            }
        })
        .await;
        assert_eq!(count as usize, details.len());
        assert_eq!(count, 1, "one card per clear call");
        cids.insert(details[0].cid.clone().unwrap());
    }
    let want: HashSet<String> = telecom.into_iter().map(|c| c.iccid).collect();
    assert_eq!(cids, want);
}

#[tokio::test]
async fn busy_maps_to_busy() {
    let sim = token_only_sim(
        SimConfig {
            busy_rate: 1.0,
            ..SimConfig::default()
        },
        TOKEN,
    )
    .await;
    let c = client(&sim);
    let e = c
        .real_named(&CardRef::Id(sim.cards()[0].sim_card_id))
        .await
        .unwrap_err();
    assert!(matches!(e, GslError::Busy(_)), "{e:?}");
    let f = assert_fault(&e, 500, "GSL.00010003");
    assert_eq!(f.error_msg, "系统繁忙,请稍后重试。");
    // The tag API's own busy code is busy too.
    let e = c.tags(&Page::new(10, 1)).await.unwrap_err();
    assert!(matches!(e, GslError::Busy(_)), "{e:?}");
    assert_fault(&e, 500, "GSL.00020003");
    assert!(!e.provably_unsent());
}

#[tokio::test]
async fn throttled_maps_to_throttled() {
    let sim = token_only_sim(
        SimConfig {
            rate: Some(1),
            ..SimConfig::default()
        },
        TOKEN,
    )
    .await;
    let c = client(&sim);
    let card = CardRef::Id(sim.cards()[0].sim_card_id);
    c.real_named(&card).await.unwrap();
    let e = c.real_named(&card).await.unwrap_err();
    let GslError::Throttled { fault, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(fault.request_id.is_some(), "{fault:?}");
    let f = assert_fault(&e, 429, "APIG.0308");
    assert!(f.error_msg.contains("limit:1"), "{f:?}");
    assert!(!e.provably_unsent());
    assert_eq!(sim.stats()["throttled"], 1);
}

#[tokio::test]
async fn wrong_token_maps_to_unauthorized_with_clock_offset() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = token_client(&sim.url(), "not-the-token", Duration::from_secs(10));
    let e = c
        .real_named(&CardRef::Id(sim.cards()[0].sim_card_id))
        .await
        .unwrap_err();
    let GslError::Unauthorized {
        fault,
        clock_offset,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(fault.request_id.is_some(), "{fault:?}");
    let offset = clock_offset.expect("the simulator sends a Date header");
    assert!(offset.num_seconds().abs() <= 2, "{offset:?}");
    let f = assert_fault(&e, 401, "APIG.0301");
    assert!(
        f.error_msg
            .starts_with("Incorrect IAM authentication information"),
        "{f:?}"
    );
    // A token from the environment has nothing to renew: one request, no retry.
    assert_eq!(calls(&sim.stats(), "real-named", "unauthorized"), 1);
}

#[tokio::test]
async fn bad_gateway_maps_to_gateway_with_request_id() {
    let sim = token_only_sim(
        SimConfig {
            bad_gateway_rate: 1.0,
            ..SimConfig::default()
        },
        TOKEN,
    )
    .await;
    let c = client(&sim);
    let e = c
        .real_named(&CardRef::Id(sim.cards()[0].sim_card_id))
        .await
        .unwrap_err();
    assert!(matches!(e, GslError::Gateway(_)), "{e:?}");
    let f = e.fault().unwrap();
    assert_eq!(f.http_status, 502);
    assert_eq!(e.http_status(), Some(502));
    let id = f
        .request_id
        .as_deref()
        .expect("gateway errors keep request_id");
    assert_eq!(id.len(), 32, "{id}");
    assert!(!e.provably_unsent());
}

#[tokio::test]
async fn dropped_connection_maps_to_closed() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let c = client(&sim);
    let card = sim.cards()[0].clone();
    sim.set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    let e = c
        .real_named(&CardRef::Id(card.sim_card_id))
        .await
        .unwrap_err();
    assert!(matches!(e, GslError::Closed(_)), "{e:?}");
    assert_eq!(e.error_code(), "CLOSED");
    assert_eq!(e.http_status(), None);
    assert!(!e.provably_unsent(), "the server did the work");
    assert_eq!(calls(&sim.stats(), "real-named", "dropped"), 1);
}

#[tokio::test]
async fn slow_answer_maps_to_timeout() {
    let sim = token_only_sim(
        SimConfig {
            slow_rate: 1.0,
            slow_ms: 3_000,
            ..SimConfig::default()
        },
        TOKEN,
    )
    .await;
    let c = token_client(&sim.url(), TOKEN, Duration::from_millis(300));
    let started = std::time::Instant::now();
    let e = c
        .real_named(&CardRef::Id(sim.cards()[0].sim_card_id))
        .await
        .unwrap_err();
    assert!(
        matches!(e, GslError::Timeout(t) if t == Duration::from_millis(300)),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut short before the answer came"
    );
    assert_eq!(e.error_code(), "TIMEOUT");
    assert!(!e.provably_unsent());
}

#[tokio::test]
async fn closed_port_maps_to_connect_and_only_it_is_provably_unsent() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = token_client(
        &format!("http://127.0.0.1:{port}"),
        TOKEN,
        Duration::from_secs(5),
    );
    let e = c.real_named(&CardRef::Id(1)).await.unwrap_err();
    assert!(matches!(e, GslError::Connect(_)), "{e:?}");
    assert!(e.provably_unsent());
    assert_eq!(e.error_code(), "CONNECT");
    assert_eq!(e.http_status(), None);
    let fault = ApiFault::default();
    for other in [
        GslError::Refused(fault.clone()),
        GslError::Busy(fault.clone()),
        GslError::Gateway(fault.clone()),
        GslError::Throttled {
            fault: fault.clone(),
            retry_after: None,
        },
        GslError::Unauthorized {
            fault,
            clock_offset: None,
        },
        GslError::Timeout(Duration::from_secs(1)),
        GslError::Closed("x".into()),
        GslError::Malformed {
            http_status: 200,
            detail: "x".into(),
        },
        GslError::Auth("x".into()),
    ] {
        assert!(!other.provably_unsent(), "{other:?}");
    }
}

/// A one-shot HTTP server that answers every connection with `response` verbatim.
async fn canned_server(response: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                // Read the request head (these calls have no body worth waiting for).
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(response.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test]
async fn malformed_success_body_maps_to_malformed() {
    let url = canned_server(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\nConnection: close\r\n\r\nnot json",
    )
    .await;
    let c = token_client(&url, TOKEN, Duration::from_secs(5));
    let e = c.real_named(&CardRef::Id(1)).await.unwrap_err();
    let GslError::Malformed {
        http_status,
        detail,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(*http_status, 200);
    assert!(detail.contains("not json"), "{detail}");
    assert_eq!(e.error_code(), "MALFORMED");
    // A JSON body of the wrong shape is malformed too.
    let url = canned_server(
        "HTTP/1.1 200 OK\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{\"unexpected\":1}\n",
    )
    .await;
    let c = token_client(&url, TOKEN, Duration::from_secs(5));
    let e = c.sim_cards(&Page::new(10, 1)).await.unwrap_err();
    assert!(matches!(e, GslError::Malformed { .. }), "{e:?}");
}

#[tokio::test]
async fn error_body_that_is_not_json_keeps_its_text() {
    let url = canned_server(
        "HTTP/1.1 503 Service Unavailable\r\nX-Request-Id: req-123\r\nContent-Length: 11\r\nConnection: close\r\n\r\nupstream ko",
    )
    .await;
    let c = token_client(&url, TOKEN, Duration::from_secs(5));
    let e = c.real_named(&CardRef::Id(1)).await.unwrap_err();
    assert!(matches!(e, GslError::Gateway(_)), "{e:?}");
    let f = e.fault().unwrap();
    assert_eq!(f.http_status, 503);
    assert_eq!(f.error_msg, "upstream ko");
    assert_eq!(f.request_id.as_deref(), Some("req-123"));
    assert_eq!(e.error_code(), "HTTP503");
}

/// The stats JSON the tests above lean on has the documented shape.
#[tokio::test]
async fn stats_shape() {
    let sim = token_only_sim(SimConfig::default(), TOKEN).await;
    let s: Value = sim.stats();
    for api in [
        "real-named",
        "clear-real-name",
        "send-sms",
        "sms-details",
        "sim-cards",
        "pool-members",
        "tags",
        "set-tags",
        "work-orders",
        "work-order-details",
        "iam-tokens",
    ] {
        assert_eq!(s["calls"][api]["ok"], 0, "{api}");
    }
}
