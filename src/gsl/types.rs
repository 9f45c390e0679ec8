//! Typed requests and responses of the GSL API, field names exactly as the API spells them.

use serde::{Deserialize, Serialize};

/// How a card is addressed: by its platform id, or by ICCID with `sim_card_id = 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardRef {
    Id(u64),
    Iccid(String),
}

impl CardRef {
    /// The card a journal key names: `#<sim_card_id>` for a row given by `sim_card_id`,
    /// otherwise an ICCID.
    pub fn from_key(key: &str) -> CardRef {
        match key.strip_prefix('#').and_then(|n| n.parse().ok()) {
            Some(id) => CardRef::Id(id),
            None => CardRef::Iccid(key.to_string()),
        }
    }

    /// Whether a journal key names its card by `sim_card_id` (else by ICCID). The `#` of such
    /// keys is written and read here only.
    pub fn is_id_key(key: &str) -> bool {
        key.starts_with('#')
    }

    /// The journal key of the card with this `sim_card_id`.
    pub fn id_key(id: u64) -> String {
        format!("#{id}")
    }

    /// The path segment and query of a per-card call.
    pub fn path_and_query(&self) -> (String, Vec<(String, String)>) {
        match self {
            CardRef::Id(id) => (id.to_string(), vec![]),
            CardRef::Iccid(iccid) => ("0".into(), vec![("iccid".into(), iccid.clone())]),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct RealNamed {
    #[serde(default)]
    pub iccid: Option<String>,
    pub real_named: bool,
}

/// The answer of every call that creates a work order (clear real-name, the card-state calls).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ClearRealName {
    pub work_order_id: i64,
}

/// A card-state call: the path segment after `/v1/sim-cards/{id}/` and its JSON body (the
/// card's ICCID is added to it when the card is named by ICCID). `enable` has no body: its
/// ICCID goes in the query.
#[derive(Debug, Clone, PartialEq)]
pub struct CardAction {
    pub path: &'static str,
    pub body: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One card's flow in the current cycle (`POST /v1/sim-price-plans/usage/batch-query`), in MB.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct FlowUsage {
    pub sim_card_id: Option<i64>,
    pub iccid: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub price_plan_id: Option<String>,
    pub price_plan_name: Option<String>,
    pub flow_total: Option<f64>,
    pub flow_used: Option<f64>,
    pub flow_left: Option<f64>,
}

/// The usage query's body: ICCIDs or sim_card_ids, at most 50.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct UsageQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iccids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim_card_ids: Option<Vec<i64>>,
}

/// A string field that some answers give as a number.
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Null) | None => None,
        Some(v) => Some(v.to_string()),
    })
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SendSms {
    pub sms_content: String,
    /// An integer in the API (the SDKs' `CreateSendSmsReq.template_id: int`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<i64>,
    /// An integer in the API, like `template_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_temp_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SmsDetail {
    pub cid: Option<String>,
    pub msisdn: Option<String>,
    pub sent_time: Option<String>,
    pub received_time: Option<String>,
    pub sms_status: Option<i64>,
    pub sms_content: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SmsDetailsPage {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub count: i64,
    #[serde(default)]
    pub sms_details: Vec<SmsDetail>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SimCard {
    pub sim_card_id: i64,
    pub cid: Option<String>,
    pub iccid: Option<String>,
    pub msisdn: Option<String>,
    pub sim_status: Option<i64>,
    pub order_id: Option<i64>,
    pub real_named: Option<bool>,
    pub flow_used: Option<f64>,
    /// The card's tag names, comma-joined: the API (and its SDKs) type this a string.
    #[serde(default)]
    pub tag_names: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SimCardPage {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub count: i64,
    #[serde(default)]
    pub sim_cards: Vec<SimCard>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PoolMember {
    pub id: Option<i64>,
    pub cid: Option<String>,
    pub sim_price_plan_id: Option<i64>,
    pub flow_used: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PoolMembersPage {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub count: i64,
    #[serde(default)]
    pub pool_members: Vec<PoolMember>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Tag {
    pub id: i64,
    pub tag_name: String,
    pub status: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TagsPage {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub count: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SetTags {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iccids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim_card_ids: Option<Vec<i64>>,
    pub tag_ids: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WorkOrder {
    pub id: i64,
    pub work_order_type: Option<i64>,
    pub status: Option<i64>,
    pub total_count: Option<i64>,
    pub success_count: Option<i64>,
    pub fail_count: Option<i64>,
    pub process_count: Option<i64>,
    pub create_time: Option<String>,
    pub finish_time: Option<String>,
    pub fail_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WorkOrdersPage {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub count: i64,
    #[serde(default)]
    pub work_orders: Vec<WorkOrder>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WorkOrderDetail {
    pub id: Option<i64>,
    pub sim_type: Option<i64>,
    /// 1 success, 2 processing, 3 failed.
    pub status: Option<i64>,
    pub cid: Option<String>,
    pub sim_card_id: Option<i64>,
    pub create_time: Option<String>,
    pub finish_time: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WorkOrderDetailsPage {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub count: i64,
    #[serde(default)]
    pub work_order_details: Vec<WorkOrderDetail>,
}

/// Query pairs for a paged list: `limit` and `offset` (a page number from 1) plus filters.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: u32,
    pub offset: u32,
    pub filters: Vec<(String, String)>,
}

impl Page {
    pub fn new(limit: u32, offset: u32) -> Page {
        Page {
            limit,
            offset,
            filters: vec![],
        }
    }

    pub fn filter(mut self, key: &str, value: impl ToString) -> Page {
        self.filters.push((key.to_string(), value.to_string()));
        self
    }

    pub fn query(&self) -> Vec<(String, String)> {
        let mut q = vec![
            ("limit".to_string(), self.limit.to_string()),
            ("offset".to_string(), self.offset.to_string()),
        ];
        q.extend(self.filters.iter().cloned());
        q
    }
}
