//! IB's data farms, apart from the order link.
//!
//! TWS / IB Gateway reach IB's servers through separate *farms*: market data (`usfarm`,
//! `eufarm`, `cashfarm`, …), historical data (HMDS: `ushmds`, `euhmds`, …) and security
//! definitions (`secdefnj`, `secdefil`, …). Each reports its connection as a request-less
//! notice (id −1). A broken market-data farm means silent market data while orders still work;
//! treating it as a lost link (NautilusTrader added 2103 to its "lost" codes in #3968 and
//! removed it in #4412 because farm flaps tore down sockets into 326 loops) stops orders for a
//! data problem. So this module keeps farm states per account and derives the account's *data
//! plane* status, ok or degraded, without touching the connection state.
//!
//! # Facts (IB's TWS API message codes: IBKR Campus *TWS API → Error Handling → Message
//! Codes*, formerly <https://interactivebrokers.github.io/tws-api/message_codes.html>)
//!
//! | code | kind | state | text (farm after the separator) |
//! |---|---|---|---|
//! | 2103 | market data | broken | `Market data farm connection is broken:usfarm` |
//! | 2104 | market data | ok | `Market data farm connection is OK:usfarm` |
//! | 2108 | market data | inactive | `Market data farm connection is inactive but should be available upon demand.usfarm.nj` |
//! | 2119 | market data | connecting | `Market data farm is connecting:usfarm` |
//! | 2105 | HMDS | broken | `HMDS data farm connection is broken:ushmds` |
//! | 2106 | HMDS | ok | `HMDS data farm connection is OK:ushmds` |
//! | 2107 | HMDS | inactive | `HMDS data farm connection is inactive but should be available upon demand.ushmds` |
//! | 2157 | sec-def | broken | `Sec-def data farm connection is broken:secdefil` |
//! | 2158 | sec-def | ok | `Sec-def data farm connection is OK:secdefnj` |
//!
//! IB: 2103/2105 "indicate a connectivity problem to an IB server; outside of the nightly
//! reset this typically indicates an underlying ISP connectivity issue"; 2104/2106/2158 are
//! "expected on first establishing connection"; 2107/2108: the farm "is not being used …
//! will go inactive … does not indicate any connectivity issue", so **inactive is idle, not
//! broken**. The farm name follows a `:` in most texts and a `.` after "upon demand" in the
//! inactive ones; names may contain dots (`usfarm.nj`). The same code table's other 21xx
//! codes are order and account warnings (2100–2102, 2109, 2111, 2137, 2168, 2169) or the
//! TWS↔server link (2110, handled with 1100 by the connection state), not farm states.
//!
//! # Semantics
//!
//! - A farm is keyed by kind and name; its state carries `since` (when it entered the
//!   state; repeated notices of the same state keep it) and `down_since` (when the current
//!   outage began).
//! - **Down** is broken, or connecting after broken (IB sends 2119 while it re-establishes a
//!   broken farm; the outage goes on). Connecting from inactive or ok is an on-demand
//!   activation and not an outage.
//! - The data plane is [`DataPlane::Degraded`] while any farm is down, since the earliest
//!   `down_since`, listing the down farms; [`FarmBoard::market_data_down_since`] is what the
//!   escalation ladder's `RECONNECTDATA` rung watches.
//! - When the session to the gateway ends, the board forgets every farm
//!   ([`FarmBoard::session_ended`]): the gateway reports all farms again on the next session.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which of IB's farms a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FarmKind {
    /// Real-time market data (2103, 2104, 2108, 2119).
    MarketData,
    /// Historical market data, HMDS (2105, 2106, 2107).
    Historical,
    /// Security definitions (2157, 2158).
    SecDef,
}

/// What a farm notice says about its farm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FarmState {
    /// Connected (2104, 2106, 2158).
    Ok,
    /// Connection broken (2103, 2105, 2157).
    Broken,
    /// Connecting (2119).
    Connecting,
    /// Idle, available on demand (2107, 2108): not a problem.
    Inactive,
}

/// A parsed farm notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FarmNotice {
    /// IB's code.
    pub code: i32,
    /// The farm's kind.
    pub kind: FarmKind,
    /// The state the notice reports.
    pub state: FarmState,
    /// The farm's name (`usfarm`, `usfarm.nj`, `ushmds`); when the text names none, the
    /// kind's generic name (`market-data`, `hmds`, `sec-def`).
    pub farm: String,
}

impl FarmNotice {
    /// The farm notice a (code, text) pair is, or `None` when the code is not a farm code.
    pub fn parse(code: i32, message: &str) -> Option<FarmNotice> {
        let (kind, state) = match code {
            2103 => (FarmKind::MarketData, FarmState::Broken),
            2104 => (FarmKind::MarketData, FarmState::Ok),
            2108 => (FarmKind::MarketData, FarmState::Inactive),
            2119 => (FarmKind::MarketData, FarmState::Connecting),
            2105 => (FarmKind::Historical, FarmState::Broken),
            2106 => (FarmKind::Historical, FarmState::Ok),
            2107 => (FarmKind::Historical, FarmState::Inactive),
            2157 => (FarmKind::SecDef, FarmState::Broken),
            2158 => (FarmKind::SecDef, FarmState::Ok),
            _ => return None,
        };
        let farm = farm_name(message).unwrap_or(kind.generic_name()).to_string();
        Some(FarmNotice { code, kind, state, farm })
    }
}

impl FarmKind {
    /// The name used for a farm whose notice names none.
    pub fn generic_name(self) -> &'static str {
        match self {
            FarmKind::MarketData => "market-data",
            FarmKind::Historical => "hmds",
            FarmKind::SecDef => "sec-def",
        }
    }
}

/// The farm named in a notice text: after "upon demand." in the inactive texts, otherwise
/// after the last `:`. `None` when there is no separator or nothing after it.
fn farm_name(message: &str) -> Option<&str> {
    const ON_DEMAND: &str = "upon demand.";
    let rest = if let Some(at) = message.find(ON_DEMAND) {
        &message[at + ON_DEMAND.len()..]
    } else {
        &message[message.rfind(':')? + 1..]
    };
    let name = rest.trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

/// One farm as the board knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Farm {
    /// The farm's name.
    pub name: String,
    /// The farm's kind.
    pub kind: FarmKind,
    /// Its current state.
    pub state: FarmState,
    /// When it entered that state.
    pub since: DateTime<Utc>,
    /// When its current outage began, while it is down (broken, or connecting after broken).
    pub down_since: Option<DateTime<Utc>>,
    /// The code of the notice that set the state.
    pub code: i32,
}

impl Farm {
    /// Whether the farm is down (its data is not flowing).
    pub fn is_down(&self) -> bool {
        self.down_since.is_some()
    }
}

/// A farm, named for people and machines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FarmRef {
    /// The farm's name.
    pub name: String,
    /// The farm's kind.
    pub kind: FarmKind,
}

/// An account's data plane: whether the data it gets from IB is whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DataPlane {
    /// No farm is down.
    #[default]
    Ok,
    /// These farms are down, the first since `since`.
    Degraded {
        /// The farms that are down, by kind then name.
        farms: Vec<FarmRef>,
        /// The earliest start of their outages.
        since: DateTime<Utc>,
    },
}

impl DataPlane {
    /// Whether a market-data farm is among the down ones (real-time subscribers get a gap).
    pub fn market_data_affected(&self) -> bool {
        matches!(self, DataPlane::Degraded { farms, .. } if farms.iter().any(|f| f.kind == FarmKind::MarketData))
    }
}

/// What applying a notice changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FarmChange {
    /// The farm entered a new state (`from` is `None` for a farm seen the first time).
    Changed {
        /// The state before.
        from: Option<FarmState>,
        /// The state now.
        to: FarmState,
    },
    /// The notice repeated the farm's state.
    Unchanged,
}

/// The serialisable view of a board for `/status` (the account's status record carries it;
/// the default knows no farm).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FarmSnapshot {
    /// The account's data plane.
    pub data_plane: DataPlane,
    /// Every known farm, by kind then name.
    pub farms: Vec<Farm>,
}

impl FarmSnapshot {
    /// The market-data farm whose outage began first, while one is down: what a blocked
    /// order names ("market data farm usfarm broken since …").
    pub fn market_data_down(&self) -> Option<&Farm> {
        self.farms
            .iter()
            .filter(|farm| farm.kind == FarmKind::MarketData && farm.is_down())
            .min_by_key(|farm| farm.down_since)
    }
}

/// The farm states of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FarmBoard {
    farms: BTreeMap<(FarmKind, String), Farm>,
}

impl FarmBoard {
    /// A board that knows no farm yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a farm notice received at `now`.
    pub fn apply(&mut self, notice: &FarmNotice, now: DateTime<Utc>) -> FarmChange {
        let key = (notice.kind, notice.farm.clone());
        let previous = self.farms.get(&key);
        if previous.is_some_and(|farm| farm.state == notice.state) {
            return FarmChange::Unchanged;
        }
        let from = previous.map(|farm| farm.state);
        let was_down_since = previous.and_then(|farm| farm.down_since);
        let down_since = match notice.state {
            FarmState::Broken => Some(was_down_since.unwrap_or(now)),
            FarmState::Connecting => was_down_since,
            FarmState::Ok | FarmState::Inactive => None,
        };
        let farm = Farm {
            name: notice.farm.clone(),
            kind: notice.kind,
            state: notice.state,
            since: now,
            down_since,
            code: notice.code,
        };
        self.farms.insert(key, farm);
        FarmChange::Changed { from, to: notice.state }
    }

    /// Forgets every farm: the session to the gateway ended, and the next one reports them
    /// all again.
    pub fn session_ended(&mut self) {
        self.farms.clear();
    }

    /// Every known farm, by kind then name.
    pub fn farms(&self) -> impl Iterator<Item = &Farm> {
        self.farms.values()
    }

    /// The account's data plane.
    pub fn data_plane(&self) -> DataPlane {
        let down: Vec<&Farm> = self.farms.values().filter(|farm| farm.is_down()).collect();
        match down.iter().filter_map(|farm| farm.down_since).min() {
            None => DataPlane::Ok,
            Some(since) => DataPlane::Degraded {
                farms: down.iter().map(|farm| FarmRef { name: farm.name.clone(), kind: farm.kind }).collect(),
                since,
            },
        }
    }

    /// Since when a market-data farm has been down (the earliest, if several are).
    pub fn market_data_down_since(&self) -> Option<DateTime<Utc>> {
        self.farms.values().filter(|farm| farm.kind == FarmKind::MarketData).filter_map(|farm| farm.down_since).min()
    }

    /// The view for `/status`.
    pub fn snapshot(&self) -> FarmSnapshot {
        FarmSnapshot { data_plane: self.data_plane(), farms: self.farms.values().cloned().collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 17, 14, 0, 0).unwrap() + TimeDelta::seconds(s)
    }

    fn apply(board: &mut FarmBoard, code: i32, text: &str, at: i64) -> FarmChange {
        board.apply(&FarmNotice::parse(code, text).expect("a farm notice"), t(at))
    }

    #[test]
    fn parses_the_farm_name_after_the_separator() {
        let cases = [
            (2104, "Market data farm connection is OK:usfarm", FarmKind::MarketData, FarmState::Ok, "usfarm"),
            (
                2103,
                "Market data farm connection is broken:usfarm.nj",
                FarmKind::MarketData,
                FarmState::Broken,
                "usfarm.nj",
            ),
            (
                2108,
                "Market data farm connection is inactive but should be available upon demand.usfarm.nj",
                FarmKind::MarketData,
                FarmState::Inactive,
                "usfarm.nj",
            ),
            (2119, "Market data farm is connecting:usfuture", FarmKind::MarketData, FarmState::Connecting, "usfuture"),
            (2105, "HMDS data farm connection is broken:ushmds", FarmKind::Historical, FarmState::Broken, "ushmds"),
            (2106, "HMDS data farm connection is OK:euhmds", FarmKind::Historical, FarmState::Ok, "euhmds"),
            (
                2107,
                "HMDS data farm connection is inactive but should be available upon demand.cashhmds",
                FarmKind::Historical,
                FarmState::Inactive,
                "cashhmds",
            ),
            (2157, "Sec-def data farm connection is broken:secdefil", FarmKind::SecDef, FarmState::Broken, "secdefil"),
            (2158, "Sec-def data farm connection is OK:secdefnj", FarmKind::SecDef, FarmState::Ok, "secdefnj"),
            // Some gateways and mocks use a colon in the inactive text, or add spaces.
            (
                2108,
                "Market data farm connection is inactive:usfarm",
                FarmKind::MarketData,
                FarmState::Inactive,
                "usfarm",
            ),
            (2104, "Market data farm connection is OK: eufarm ", FarmKind::MarketData, FarmState::Ok, "eufarm"),
            // No farm named: the kind's generic name.
            (2103, "A market data farm is disconnected.", FarmKind::MarketData, FarmState::Broken, "market-data"),
            (2105, "HMDS data farm connection is broken:", FarmKind::Historical, FarmState::Broken, "hmds"),
        ];
        for (code, text, kind, state, farm) in cases {
            assert_eq!(
                FarmNotice::parse(code, text),
                Some(FarmNotice { code, kind, state, farm: farm.into() }),
                "{text}"
            );
        }
        for code in [2100, 2101, 2102, 2109, 2110, 2137, 2158 + 1, 1100, 10197, 100] {
            assert_eq!(FarmNotice::parse(code, "Something:usfarm"), None, "{code}");
        }
    }

    #[test]
    fn broken_market_data_farm_degrades_the_data_plane_and_ok_restores_it() {
        let mut board = FarmBoard::new();
        apply(&mut board, 2104, "Market data farm connection is OK:usfarm", 0);
        apply(&mut board, 2106, "HMDS data farm connection is OK:ushmds", 0);
        assert_eq!(board.data_plane(), DataPlane::Ok);

        let change = apply(&mut board, 2103, "Market data farm connection is broken:usfarm", 10);
        assert_eq!(change, FarmChange::Changed { from: Some(FarmState::Ok), to: FarmState::Broken });
        let degraded = DataPlane::Degraded {
            farms: vec![FarmRef { name: "usfarm".into(), kind: FarmKind::MarketData }],
            since: t(10),
        };
        assert_eq!(board.data_plane(), degraded);
        assert!(board.data_plane().market_data_affected());
        assert_eq!(board.market_data_down_since(), Some(t(10)));

        // IB repeats the notice: nothing changes, the outage keeps its start.
        assert_eq!(apply(&mut board, 2103, "Market data farm connection is broken:usfarm", 40), FarmChange::Unchanged);
        assert_eq!(board.data_plane(), degraded);

        // Reconnecting is still the same outage.
        apply(&mut board, 2119, "Market data farm is connecting:usfarm", 50);
        assert_eq!(board.data_plane(), degraded);
        assert_eq!(board.market_data_down_since(), Some(t(10)));

        apply(&mut board, 2104, "Market data farm connection is OK:usfarm", 60);
        assert_eq!(board.data_plane(), DataPlane::Ok);
        assert_eq!(board.market_data_down_since(), None);
        let usfarm = board.farms().find(|f| f.name == "usfarm").unwrap();
        assert_eq!((usfarm.state, usfarm.since, usfarm.down_since, usfarm.code), (FarmState::Ok, t(60), None, 2104));
    }

    #[test]
    fn inactive_is_idle_not_broken_and_on_demand_connecting_is_no_outage() {
        let mut board = FarmBoard::new();
        apply(
            &mut board,
            2108,
            "Market data farm connection is inactive but should be available upon demand.usfarm",
            0,
        );
        apply(&mut board, 2107, "HMDS data farm connection is inactive but should be available upon demand.ushmds", 0);
        assert_eq!(board.data_plane(), DataPlane::Ok);
        // A request wakes the farm: connecting, then OK; never degraded.
        apply(&mut board, 2119, "Market data farm is connecting:usfarm", 5);
        assert_eq!(board.data_plane(), DataPlane::Ok);
        apply(&mut board, 2104, "Market data farm connection is OK:usfarm", 6);
        assert_eq!(board.data_plane(), DataPlane::Ok);
        // A broken farm that goes inactive is no longer an outage.
        apply(&mut board, 2105, "HMDS data farm connection is broken:ushmds", 7);
        assert!(matches!(board.data_plane(), DataPlane::Degraded { .. }));
        apply(&mut board, 2107, "HMDS data farm connection is inactive but should be available upon demand.ushmds", 8);
        assert_eq!(board.data_plane(), DataPlane::Ok);
    }

    #[test]
    fn several_farms_down_report_the_earliest_outage_and_each_farm() {
        let mut board = FarmBoard::new();
        apply(&mut board, 2157, "Sec-def data farm connection is broken:secdefil", 3);
        apply(&mut board, 2105, "HMDS data farm connection is broken:ushmds", 5);
        apply(&mut board, 2103, "Market data farm connection is broken:eufarm", 8);
        apply(&mut board, 2103, "Market data farm connection is broken:usfarm", 9);
        let DataPlane::Degraded { farms, since } = board.data_plane() else { panic!("degraded expected") };
        assert_eq!(since, t(3));
        let names: Vec<&str> = farms.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["eufarm", "usfarm", "ushmds", "secdefil"]);
        // The RECONNECTDATA rung watches market-data farms only.
        assert_eq!(board.market_data_down_since(), Some(t(8)));
        // HMDS and sec-def outages degrade the data plane but are no gap for real-time data.
        let mut board = FarmBoard::new();
        apply(&mut board, 2105, "HMDS data farm connection is broken:ushmds", 5);
        assert!(!board.data_plane().market_data_affected());
        assert_eq!(board.market_data_down_since(), None);
    }

    #[test]
    fn a_blocked_order_names_the_first_market_data_farm_down() {
        let mut board = FarmBoard::new();
        apply(&mut board, 2105, "HMDS data farm connection is broken:ushmds", 1);
        assert_eq!(board.snapshot().market_data_down(), None, "an HMDS outage is no market-data loss");
        apply(&mut board, 2103, "Market data farm connection is broken:usfarm", 5);
        apply(&mut board, 2103, "Market data farm connection is broken:eufarm", 8);
        let snapshot = board.snapshot();
        let first = snapshot.market_data_down().unwrap();
        assert_eq!((first.name.as_str(), first.down_since), ("usfarm", Some(t(5))));
        // Reconnecting after broken is still down; OK ends it and the next one is named.
        apply(&mut board, 2119, "Market data farm is connecting:usfarm", 9);
        assert_eq!(board.snapshot().market_data_down().unwrap().name, "usfarm");
        apply(&mut board, 2104, "Market data farm connection is OK:usfarm", 10);
        assert_eq!(board.snapshot().market_data_down().unwrap().name, "eufarm");
        apply(
            &mut board,
            2108,
            "Market data farm connection is inactive but should be available upon demand.eufarm",
            11,
        );
        assert_eq!(board.snapshot().market_data_down(), None);
        assert_eq!(FarmSnapshot::default(), FarmBoard::new().snapshot());
    }

    #[test]
    fn session_end_forgets_farms() {
        let mut board = FarmBoard::new();
        apply(&mut board, 2103, "Market data farm connection is broken:usfarm", 0);
        board.session_ended();
        assert_eq!(board.data_plane(), DataPlane::Ok);
        assert_eq!(board.farms().count(), 0);
        // The next session's first notice is a first sighting.
        assert_eq!(
            apply(&mut board, 2104, "Market data farm connection is OK:usfarm", 9),
            FarmChange::Changed { from: None, to: FarmState::Ok }
        );
    }

    #[test]
    fn snapshot_serialises_for_status() {
        let mut board = FarmBoard::new();
        apply(&mut board, 2104, "Market data farm connection is OK:eufarm", 0);
        apply(&mut board, 2103, "Market data farm connection is broken:usfarm", 10);
        let json = serde_json::to_value(board.snapshot()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "data_plane": {
                    "status": "degraded",
                    "farms": [{ "name": "usfarm", "kind": "market_data" }],
                    "since": "2026-06-17T14:00:10Z"
                },
                "farms": [
                    { "name": "eufarm", "kind": "market_data", "state": "ok", "since": "2026-06-17T14:00:00Z",
                      "down_since": null, "code": 2104 },
                    { "name": "usfarm", "kind": "market_data", "state": "broken", "since": "2026-06-17T14:00:10Z",
                      "down_since": "2026-06-17T14:00:10Z", "code": 2103 }
                ]
            })
        );
        assert_eq!(serde_json::to_value(DataPlane::Ok).unwrap(), serde_json::json!({ "status": "ok" }));
    }
}
