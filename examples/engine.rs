//! A trading engine actor that goes through the guard: it subscribes to ticks for a contract,
//! evaluates them, and places orders, which reach the gateway only while the account is
//! usable. Refusals come back with their reason; nothing is queued for later.
//!
//! Against simulated gateways on IB Gateway's default ports (what `config/settings.json` expects):
//!
//! ```sh
//! cargo run -- sim --listen 127.0.0.1:4002 --account DU1234567 --listen 127.0.0.1:4001 --account U7654321
//! cargo run --example engine                     # in another terminal
//! curl -X POST -H 'content-type: application/json' http://127.0.0.1:7462/sim/fault -d '{"kind":"drop"}'   # watch orders being refused, then flow again
//! ```
//!
//! Self-contained (starts its own simulated gateways): `cargo run --example engine -- --sim --seconds 10`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ibapi::contracts::Contract;
use ibapi::orders::{order_builder, Action};
use ibkr_supervisor::actors::{
    Guard, MarketEvent, OrderEvent, OrderRequest, StartOptions, Supervision, Tick, TickReceiver,
};
use ibkr_supervisor::settings::Settings;
use ibkr_supervisor::sim::{SimConfig, Simulator};
use ractor::{Actor, ActorProcessingErr, ActorRef};

#[derive(Parser)]
struct Args {
    /// Settings file (accounts to trade through).
    #[arg(long, default_value = "config/settings.json")]
    config: PathBuf,
    /// Account to trade.
    #[arg(long, default_value = "Paper")]
    account: String,
    #[arg(long, default_value = "AAPL")]
    symbol: String,
    /// Place an order every N price ticks.
    #[arg(long, default_value_t = 20)]
    every: u64,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
    /// Start simulated gateways in this process instead of using the configured ones.
    #[arg(long)]
    sim: bool,
}

enum EngineMessage {
    Tick(Tick),
    Order(OrderEvent),
}

struct EngineActor;

struct Engine {
    guard: Guard,
    account: String,
    symbol: String,
    every: u64,
    myself: ActorRef<EngineMessage>,
    ticks: u64,
    placed: u64,
    sent: u64,
    refused: u64,
    filled: u64,
    /// The latest ask seen, the price the strategy buys at.
    ask: Option<f64>,
}

impl Actor for EngineActor {
    type Msg = EngineMessage;
    type State = Engine;
    type Arguments = (Guard, String, String, u64);

    async fn pre_start(
        &self,
        myself: ActorRef<EngineMessage>,
        (guard, account, symbol, every): Self::Arguments,
    ) -> Result<Engine, ActorProcessingErr> {
        Ok(Engine {
            guard,
            account,
            symbol,
            every,
            myself,
            ticks: 0,
            placed: 0,
            sent: 0,
            refused: 0,
            filled: 0,
            ask: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<EngineMessage>,
        message: EngineMessage,
        engine: &mut Engine,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            EngineMessage::Tick(Tick { event: MarketEvent::Price { price, tick_type, .. }, .. }) => {
                engine.ticks += 1;
                if tick_type == "Ask" {
                    engine.ask = Some(price);
                }
                // The "strategy": every N prices, buy one share at the ask (a marketable limit:
                // it fills at the touch, and never pays more than the ask it saw).
                if engine.ticks.is_multiple_of(engine.every) {
                    if let Some(ask) = engine.ask {
                        engine.place(ask);
                    }
                }
            }
            EngineMessage::Tick(Tick { event: MarketEvent::Gap { reason, .. }, .. }) => {
                println!("engine: market-data gap: {reason}");
            }
            EngineMessage::Order(event) => engine.on_order(event),
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<EngineMessage>, e: &mut Engine) -> Result<(), ActorProcessingErr> {
        println!(
            "engine summary: ticks={} placed={} sent={} refused={} filled={}",
            e.ticks, e.placed, e.sent, e.refused, e.filled
        );
        Ok(())
    }
}

impl Engine {
    fn place(&mut self, price: f64) {
        self.placed += 1;
        let me = self.myself.clone();
        self.guard.place_order(OrderRequest {
            account: self.account.clone(),
            order_id: None,
            contract: Contract::stock(self.symbol.as_str()).build(),
            order: order_builder::limit_order(Action::Buy, 1.0, (price * 100.0).round() / 100.0),
            sink: Arc::new(move |event| me.send_message(EngineMessage::Order(event)).is_ok()),
        });
    }

    fn on_order(&mut self, event: OrderEvent) {
        match &event {
            OrderEvent::Sent { order_id, .. } => {
                self.sent += 1;
                println!("engine: order {order_id} sent");
            }
            OrderEvent::Refused { reason, .. } => {
                self.refused += 1;
                println!("engine: order refused: {reason}");
            }
            OrderEvent::Status { order_id, status, filled, .. } if status == "Filled" => {
                self.filled += 1;
                println!("engine: order {order_id} filled ({filled})");
            }
            OrderEvent::Reconciled { order_ref, before, after, .. } => {
                println!("engine: order {order_ref} changed during an outage: {before} -> {after}");
            }
            OrderEvent::Unknown { order_ref, .. } => {
                println!("engine: order {order_ref} is seen nowhere at the gateway; not resending it")
            }
            OrderEvent::Failed { order_ref, error, .. } => println!("engine: order {order_ref} failed: {error}"),
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let settings = Settings::load(&args.config)?;
    let sim = if args.sim {
        Some(Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await?)
    } else {
        None
    };
    let scratch = std::env::temp_dir().join(format!("ibkr-engine-example-{}", std::process::id()));
    let settings = match &sim {
        Some(sim) => {
            let mut settings = ibkr_supervisor::demo::sim_settings(settings, sim);
            // Self-contained: a throwaway database and a free HTTP port.
            std::fs::create_dir_all(&scratch)?;
            settings.database.path = scratch.join("engine.db");
            settings.http.bind = ([127, 0, 0, 1], 0).into();
            settings
        }
        None => settings,
    };
    let supervision = Supervision::start(settings, StartOptions::default()).await?;
    let guard = supervision.guard().clone();
    let args_account = args.account.clone();
    let (engine, _) =
        Actor::spawn(None, EngineActor, (guard.clone(), args.account.clone(), args.symbol.clone(), args.every)).await?;
    let ticks: TickReceiver = {
        let engine = engine.clone();
        Arc::new(move |tick| engine.send_message(EngineMessage::Tick(tick)).is_ok())
    };
    let contract = Contract::stock(args.symbol.as_str()).build();
    let subscription = guard.subscribe_market_data(&args_account, contract, ticks).await?;
    println!("engine: trading {} on {args_account} (subscription {subscription}); Ctrl-C to stop", args.symbol);

    match args.seconds {
        Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
        None => ibkr_supervisor::shutdown_signal().await,
    }
    engine.stop_and_wait(None, Some(Duration::from_secs(1))).await?;
    supervision.shutdown().await;
    if let Some(sim) = sim {
        sim.shutdown();
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(())
}
