//! A faithful stand-in for the GSL API and IAM, for rehearsals, tests and benchmarks.
//!
//! Tests start it in-process on `127.0.0.1:0` with [`Simulator::start`]; `gslbatch simulate`
//! calls [`run_forever`]. Requests pass the [`gateway`] (count, authenticate, throttle, inject
//! faults) and reach one handler module per API family, which read and change the [`store`].
//! [`stats`] keeps the record tests assert on, served at `GET /__sim/stats`.

mod auth;
mod cards;
mod clock;
mod errors;
mod gateway;
mod inventory;
mod orders;
mod params;
mod pools;
mod server;
mod sms;
mod state;
mod stats;
mod store;
mod tags;
mod tls;

pub use inventory::{load_inventory_csv, luhn_digit, CardState, Carrier, InventoryCard};
pub use tls::server_config as tls_config;

use axum::routing::{get, post, MethodRouter};
use axum::Router;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Credentials the simulator accepts. With none set it accepts any token and any well-formed
/// signature dated within 15 minutes (and says so in a warning).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SimCredentials {
    pub ak: Option<String>,
    pub sk: Option<String>,
    pub token: Option<String>,
    pub iam_user: Option<String>,
    pub iam_password: Option<String>,
}

impl SimCredentials {
    /// From `GSL_SIM_AK`, `GSL_SIM_SK`, `GSL_SIM_TOKEN`, `GSL_SIM_IAM_USER`, `GSL_SIM_IAM_PASSWORD`
    /// (empty values count as unset).
    pub fn from_env() -> Self {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        SimCredentials {
            ak: var("GSL_SIM_AK"),
            sk: var("GSL_SIM_SK"),
            token: var("GSL_SIM_TOKEN"),
            iam_user: var("GSL_SIM_IAM_USER"),
            iam_password: var("GSL_SIM_IAM_PASSWORD"),
        }
    }

    /// Whether no credential at all is configured (accept-any mode).
    pub fn is_empty(&self) -> bool {
        *self == SimCredentials::default()
    }
}

/// Secrets stay out of debug output; only which ones are set shows.
impl std::fmt::Debug for SimCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |o: &Option<String>| if o.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("SimCredentials")
            .field("ak", &self.ak)
            .field("sk", &set(&self.sk))
            .field("token", &set(&self.token))
            .field("iam_user", &self.iam_user)
            .field("iam_password", &set(&self.iam_password))
            .finish()
    }
}

/// Everything a simulator is started with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Cards generated when no explicit `inventory` is given.
    pub cards: usize,
    pub seed: u64,
    /// Explicit cards, from [`load_inventory_csv`] or [`SimConfig::from_iccids`].
    pub inventory: Option<Vec<InventoryCard>>,
    /// Calls per rolling second per API; `None` = unthrottled.
    pub rate: Option<u32>,
    /// The same for the SIM card list.
    pub list_rate: Option<u32>,
    /// Mean added latency; each call waits a uniform 0.5x..1.5x of it.
    pub latency_ms: u64,
    /// Share of calls answered 500 busy, nothing done.
    pub busy_rate: f64,
    /// Share of calls whose work is done, then the connection closed without a response.
    pub drop_rate: f64,
    /// Share of calls answered after `slow_ms` (work done first).
    pub slow_rate: f64,
    pub slow_ms: u64,
    /// Share of calls answered 502 after the work was done.
    pub bad_gateway_rate: f64,
    /// Share of calls answered with a proxy's HTML 500 page after the work was done.
    pub error500_rate: f64,
    /// Seconds until a clear's work order (and an SMS delivery) completes.
    pub work_order_secs: f64,
    /// Share of clears whose work order ends failed (the card keeps its real-name data).
    pub work_order_fail_rate: f64,
    /// Share of cids (chosen by cid, reproducibly) whose messages end failed; `None`: the
    /// cards whose `sim_card_id` ends in 7.
    pub sms_fail_rate: Option<f64>,
    pub lockout_secs: u64,
    /// Lifetime of tokens issued by `/v3/auth/tokens`.
    pub token_ttl_secs: u64,
    /// The simulator's clock less the real one (negative: behind), in every time it reports.
    pub clock_offset: chrono::Duration,
    pub credentials: SimCredentials,
    /// Serve HTTPS with this certificate and key ([`tls_config`]) instead of plain HTTP.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            cards: 1000,
            seed: 1,
            inventory: None,
            rate: None,
            list_rate: None,
            latency_ms: 0,
            busy_rate: 0.0,
            drop_rate: 0.0,
            slow_rate: 0.0,
            slow_ms: 60_000,
            bad_gateway_rate: 0.0,
            error500_rate: 0.0,
            work_order_secs: 0.0,
            work_order_fail_rate: 0.0,
            sms_fail_rate: None,
            lockout_secs: 300,
            token_ttl_secs: 86_400,
            clock_offset: chrono::Duration::zero(),
            credentials: SimCredentials::default(),
            tls: None,
        }
    }
}

/// A rehearsal's simulator as the operation describes it ([`crate::ops::Rehearsal`]).
impl From<crate::ops::Rehearsal> for SimConfig {
    fn from(r: crate::ops::Rehearsal) -> SimConfig {
        let mut keys = r.cards;
        if keys.is_empty() {
            keys = (0..r.made_up)
                .map(|i| {
                    let body = format!("898600{i:013}");
                    format!("{body}{}", luhn_digit(&body))
                })
                .collect();
        }
        let mut cfg = SimConfig::from_iccids(&keys);
        for card in cfg.inventory.iter_mut().flatten() {
            if let Some(s) = r.sim_status {
                card.sim_status = s;
            }
            if r.sms_plans {
                card.sms_plan = card.carrier.sends_sms();
            }
            if let Some(o) = r.order_id {
                card.order_id = o;
            }
        }
        cfg
    }
}

impl SimConfig {
    /// A rehearsal config serving exactly these ICCIDs (see [`inventory::from_iccids`]).
    pub fn from_iccids(iccids: &[String]) -> SimConfig {
        SimConfig {
            cards: 0,
            inventory: Some(inventory::from_iccids(iccids)),
            ..SimConfig::default()
        }
    }

    fn faults(&self) -> Faults {
        Faults {
            latency_ms: self.latency_ms,
            busy_rate: self.busy_rate,
            drop_rate: self.drop_rate,
            slow_rate: self.slow_rate,
            slow_ms: self.slow_ms,
            bad_gateway_rate: self.bad_gateway_rate,
            error500_rate: self.error500_rate,
            rate: self.rate,
            list_rate: self.list_rate,
        }
    }
}

/// The settings a test may change while the simulator runs.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub latency_ms: u64,
    pub busy_rate: f64,
    pub drop_rate: f64,
    pub slow_rate: f64,
    pub slow_ms: u64,
    pub bad_gateway_rate: f64,
    pub error500_rate: f64,
    pub rate: Option<u32>,
    pub list_rate: Option<u32>,
}

/// State shared by every handler.
pub(crate) struct Sim {
    store: Mutex<store::Store>,
    auth: auth::Auth,
    gate: stats::Gate,
    faults: Mutex<Faults>,
    next_request: AtomicU64,
    clock: clock::Clock,
}

impl Sim {
    /// A gateway-style request id, unique within this simulator.
    fn request_id(&self) -> String {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        format!("{:032x}", n ^ 0x5157_0000_0000_0000)
    }

    fn stats(&self) -> Value {
        let mut out = Map::new();
        self.gate.snapshot(&mut out);
        out.insert("locked_aks".into(), json!(self.auth.locked_aks()));
        let mut store = self.store.lock().unwrap();
        store.settle();
        let max = store.clear_calls.values().copied().max().unwrap_or(0);
        out.insert("clear_calls_per_card".into(), json!(store.clear_calls));
        out.insert("max_clear_calls_per_card".into(), json!(max));
        out.insert("sms_sent_per_cid".into(), json!(store.sms_per_cid));
        out.insert("sms_sent".into(), json!(store.sms.len()));
        out.insert("work_orders_created".into(), json!(store.work_orders.len()));
        let open = store
            .work_orders
            .iter()
            .filter(|w| w.finished.is_none())
            .count();
        out.insert("work_orders_processing".into(), json!(open));
        // The truth of outcomes: which cards' work orders fail, which cids' messages failed.
        let failed_orders: Vec<&str> = store
            .work_orders
            .iter()
            .filter(|w| w.fails)
            .map(|w| store.cards[w.card].iccid.as_str())
            .collect();
        out.insert("work_orders_failing_cards".into(), json!(failed_orders));
        let by_card: std::collections::HashMap<&str, u64> = store
            .work_orders
            .iter()
            .map(|w| (store.cards[w.card].iccid.as_str(), w.id))
            .collect();
        out.insert("work_order_of_card".into(), json!(by_card));
        let per_type: std::collections::BTreeMap<String, &std::collections::HashMap<String, u32>> =
            store
                .orders_per_card
                .iter()
                .map(|(t, m)| (t.to_string(), m))
                .collect();
        out.insert("work_orders_per_card".into(), json!(per_type));
        let failed_sms: Vec<&str> = store
            .sms
            .iter()
            .filter(|m| m.status == 3)
            .map(|m| m.cid.as_str())
            .collect();
        out.insert("sms_failed_cids".into(), json!(failed_sms));
        Value::Object(out)
    }
}

async fn stats_handler(
    axum::extract::State(sim): axum::extract::State<Arc<Sim>>,
) -> axum::Json<Value> {
    axum::Json(sim.stats())
}

async fn not_found() -> errors::ApiError {
    errors::ApiError::not_found()
}

fn router(sim: Arc<Sim>) -> Router {
    use stats::Api;
    // Each API behind the gateway, which knows which API it guards (for counting and throttling).
    let gated = |api: Api, mr: MethodRouter<Arc<Sim>>| {
        mr.route_layer(axum::middleware::from_fn_with_state(
            (sim.clone(), api),
            gateway::gate,
        ))
    };
    Router::new()
        .route(
            "/v1/sim-cards/{sim_card_id}/real-named",
            gated(Api::RealNamed, get(cards::real_named)),
        )
        .route(
            "/v1/sim-cards/{sim_card_id}/clear-real-name",
            gated(Api::ClearRealName, post(cards::clear_real_name)),
        )
        .route("/v1/sim-cards", gated(Api::SimCards, get(cards::list)))
        .route(
            "/v1/sim-cards/{sim_card_id}/stop",
            gated(Api::Stop, post(state::stop)),
        )
        .route(
            "/v1/sim-cards/{sim_card_id}/reset",
            gated(Api::Reset, post(state::reset)),
        )
        .route(
            "/v1/sim-cards/{sim_card_id}/enable",
            gated(Api::Enable, post(state::enable)),
        )
        .route(
            "/v1/sim-cards/{sim_card_id}/cut-net",
            gated(Api::CutNet, post(state::cut_net)),
        )
        .route(
            "/v1/sim-cards/{sim_card_id}/speed-limit",
            gated(Api::SpeedLimit, post(state::speed_limit)),
        )
        .route(
            "/v1/sim-cards/{sim_card_id}/exceed-cut-net",
            gated(Api::ExceedCutNet, post(state::exceed_cut_net)),
        )
        .route(
            "/v1/sim-cards/{sim_card_id}/bind-device",
            gated(Api::BindDevice, post(state::bind_device)),
        )
        .route(
            "/v1/sim-price-plans/usage/batch-query",
            gated(Api::FlowUsage, post(state::usage)),
        )
        .route("/v1/sms-send-infos", gated(Api::SendSms, post(sms::send)))
        .route(
            "/v1/sms-send-infos/details",
            gated(Api::SmsDetails, get(sms::details)),
        )
        .route(
            "/v1/sim-pools/{sim_pool_id}/members",
            gated(Api::PoolMembers, get(pools::members)),
        )
        .route("/v1/tags", gated(Api::Tags, get(tags::list)))
        .route(
            "/v1/sim-tags/batch-set",
            gated(Api::SetTags, post(tags::batch_set)),
        )
        .route("/v1/work-orders", gated(Api::WorkOrders, get(orders::list)))
        .route(
            "/v1/work-orders/{work_order_id}/details",
            gated(Api::WorkOrderDetails, get(orders::details)),
        )
        .route("/v3/auth/tokens", post(auth::issue_token))
        .route("/__sim/stats", get(stats_handler))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            clock::date_header,
        ))
        .with_state(sim)
}

/// A running simulator; dropping it without [`Simulator::shutdown`] leaves it serving until
/// the runtime ends.
pub struct Simulator {
    sim: Arc<Sim>,
    addr: SocketAddr,
    /// Serving HTTPS.
    tls: bool,
    stop: watch::Sender<bool>,
    reset: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Build the inventory, bind `listen` and start serving.
    pub async fn start(cfg: SimConfig, listen: SocketAddr) -> std::io::Result<Simulator> {
        let cards = match &cfg.inventory {
            Some(cards) => cards.clone(),
            None => inventory::generate(cfg.cards, cfg.seed),
        };
        let sim = Arc::new(Sim {
            store: Mutex::new({
                let mut s = store::Store::new(cards, cfg.work_order_secs, cfg.work_order_fail_rate);
                s.sms_fail_rate = cfg.sms_fail_rate;
                s.clock = clock::Clock::new(cfg.clock_offset);
                s
            }),
            auth: auth::Auth::new(
                cfg.credentials.clone(),
                cfg.lockout_secs,
                cfg.token_ttl_secs,
            )
            .with_clock(clock::Clock::new(cfg.clock_offset)),
            gate: stats::Gate::default(),
            faults: Mutex::new(cfg.faults()),
            next_request: AtomicU64::new(1),
            clock: clock::Clock::new(cfg.clock_offset),
        });
        if sim.auth.accepts_any() {
            tracing::warn!(
                "simulator: no GSL_SIM_* credentials set, accepting any token or well-formed signature"
            );
        }
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let reset = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn(server::serve(
            listener,
            router(sim.clone()),
            cfg.tls.clone().map(tokio_rustls::TlsAcceptor::from),
            stopped,
            reset.clone(),
        ));
        Ok(Simulator {
            sim,
            addr,
            tls: cfg.tls.is_some(),
            stop,
            reset,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (`https://` with TLS), the endpoint to point a client at.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The same JSON as `GET /__sim/stats` (shape documented in [`stats`]).
    pub fn stats(&self) -> Value {
        self.sim.stats()
    }

    /// Change faults and rates from now on.
    pub fn set_faults(&self, f: Faults) {
        *self.sim.faults.lock().unwrap() = f;
    }

    /// The faults in force now.
    pub fn faults(&self) -> Faults {
        self.sim.faults.lock().unwrap().clone()
    }

    /// Every token issued so far becomes invalid (tests of re-login).
    pub fn expire_tokens(&self) {
        self.sim.auth.expire_tokens();
    }

    /// Close every open connection at once without answering what it carries, as a gateway
    /// restart would; the simulator keeps its state and accepts new connections. A request
    /// caught mid-flight may or may not have done its work, depending on how far it got.
    pub fn reset_connections(&self) {
        self.reset.notify_waiters();
    }

    /// The cards as stored now (due work orders applied).
    pub fn cards(&self) -> Vec<InventoryCard> {
        let mut store = self.sim.store.lock().unwrap();
        store.settle();
        store.cards.clone()
    }

    /// Stop accepting and close every connection.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// `gslbatch simulate`: print `listening on http://ADDR` as the first stdout line, serve until
/// Ctrl-C.
pub async fn run_forever(cfg: SimConfig, listen: SocketAddr) -> std::io::Result<()> {
    let sim = Simulator::start(cfg, listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", sim.url())?;
        out.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
