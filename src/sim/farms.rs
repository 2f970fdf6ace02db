//! The simulated gateway's data farms and the notices IB sends about them and about the
//! conditions around market data: 2103–2106 / 2157 / 2158 for farms, 10197 for a competing
//! live session, 100 for pacing. Codes and texts as IB words them (the table and sources are
//! in `actors::farms` and `docs/simulator.md`).

use std::collections::BTreeSet;

use crate::actors::farms::FarmKind;
use crate::sim::msg::Reply;

/// The farms a gateway reports OK on every connect (a US account's): market data, HMDS,
/// sec-def.
pub const DEFAULT_FARMS: [&str; 3] = ["usfarm", "ushmds", "secdefnj"];

/// IB's limit on messages a client may send per second before it answers 100.
pub const MAX_MESSAGES_PER_SECOND: u32 = 50;

/// The kind of farm a name is: `…hmds…` historical, `secdef…` security definitions, any
/// other market data (IB's names: `usfarm`, `usfarm.nj`, `eufarm`, `cashfarm`, `ushmds`,
/// `secdefnj`, …).
pub fn kind(farm: &str) -> FarmKind {
    if farm.contains("hmds") {
        FarmKind::Historical
    } else if farm.starts_with("secdef") {
        FarmKind::SecDef
    } else {
        FarmKind::MarketData
    }
}

/// The request-less notice (id −1) that reports `farm` broken or OK.
pub fn notice(farm: &str, broken: bool) -> Reply {
    let (code, what) = match (kind(farm), broken) {
        (FarmKind::MarketData, true) => (2103, "Market data farm connection is broken"),
        (FarmKind::MarketData, false) => (2104, "Market data farm connection is OK"),
        (FarmKind::Historical, true) => (2105, "HMDS data farm connection is broken"),
        (FarmKind::Historical, false) => (2106, "HMDS data farm connection is OK"),
        (FarmKind::SecDef, true) => (2157, "Sec-def data farm connection is broken"),
        (FarmKind::SecDef, false) => (2158, "Sec-def data farm connection is OK"),
    };
    Reply::error(-1, code, format!("{what}:{farm}"))
}

/// The notices a new session gets: every default farm and every broken one, in its state.
pub fn on_connect(broken: &BTreeSet<String>) -> Vec<Reply> {
    let mut farms: Vec<&str> = DEFAULT_FARMS.to_vec();
    farms.extend(broken.iter().map(String::as_str).filter(|f| !DEFAULT_FARMS.contains(f)));
    farms.into_iter().map(|farm| notice(farm, broken.contains(farm))).collect()
}

/// Whether ticks stop: a broken market-data farm.
pub fn market_data_broken(broken: &BTreeSet<String>) -> bool {
    broken.iter().any(|farm| kind(farm) == FarmKind::MarketData)
}

/// 10197 on one market-data line (or −1).
pub fn competing_session(req_id: i32) -> Reply {
    Reply::error(req_id, 10197, "No market data during competing live session")
}

/// 100, as IB words it: the limit and what was received in the second.
pub fn pacing_violation(received: u32) -> Reply {
    Reply::error(
        -1,
        100,
        format!("Max rate of messages per second has been exceeded:max={MAX_MESSAGES_PER_SECOND} rec={received} (1)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::farms::{FarmNotice, FarmState};

    #[test]
    fn notices_read_back_as_the_supervisor_parses_them() {
        for (farm, kind) in
            [("usfarm", FarmKind::MarketData), ("ushmds", FarmKind::Historical), ("secdefnj", FarmKind::SecDef)]
        {
            for broken in [true, false] {
                let Reply::Error { code, message, .. } = notice(farm, broken) else { panic!("an error reply") };
                let parsed = FarmNotice::parse(code, &message).expect("a farm code");
                assert_eq!((parsed.kind, parsed.farm.as_str()), (kind, farm));
                assert_eq!(parsed.state, if broken { FarmState::Broken } else { FarmState::Ok });
            }
        }
    }

    #[test]
    fn a_connect_reports_broken_farms_broken() {
        let broken: BTreeSet<String> = ["usfarm".to_string(), "eufarm".to_string()].into();
        let codes: Vec<i32> = on_connect(&broken)
            .into_iter()
            .map(|r| match r {
                Reply::Error { code, .. } => code,
                _ => 0,
            })
            .collect();
        assert_eq!(codes, [2103, 2106, 2158, 2103]);
        assert!(market_data_broken(&broken));
        assert!(!market_data_broken(&["ushmds".to_string()].into()));
    }
}
