//! The account's data plane on the dashboard, beside the link: a broken farm ("Market data
//! degraded: usfarm broken, down 3 m 12 s, since 19:04:29 EST — the order link is another
//! path"), the farms line, a competing live session (10197) and IB's pacing notices (100).
//! Farm names come from the gateway's notices: every one is escaped.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ibkr_supervisor_actors::farms::{DataPlane, FarmKind, FarmState};
use ibkr_supervisor_actors::AccountStatus;

use super::wording::clock;
use super::{escape, ticking};

/// The data-plane lines of account `a` (nothing before its session reported any farm).
pub fn render(out: &mut String, a: &AccountStatus, zone: Tz, now: DateTime<Utc>) {
    if let DataPlane::Degraded { farms, since } = &a.farms.data_plane {
        let names: Vec<String> = farms.iter().map(|f| format!("{} {}", escape(&f.name), kind(f.kind))).collect();
        let what = if a.farms.data_plane.market_data_affected() { "Market data degraded" } else { "Data degraded" };
        let _ = write!(
            out,
            r#"<div class="alert warning data-plane"><strong>{what}</strong>: {} broken, down {}, since {} — the order link is another path; subscribers got a gap and ticks resume when the farm is OK.</div>"#,
            names.join(", "),
            ticking("data-elapsed", *since, now),
            clock(*since, zone)
        );
    }
    if !a.farms.farms.is_empty() {
        let farms: Vec<String> = a
            .farms
            .farms
            .iter()
            .map(|f| {
                let state = match f.state {
                    FarmState::Ok => "ok",
                    FarmState::Broken => "broken",
                    FarmState::Connecting => "connecting",
                    FarmState::Inactive => "inactive",
                };
                format!(r#"<span class="farm {state}">{} {state}</span>"#, escape(&f.name))
            })
            .collect();
        let _ = write!(out, r#"<p class="facts farms">Data farms: {}</p>"#, farms.join(" · "));
    }
    if let Some(episode) = &a.competing_session {
        let _ = write!(
            out,
            r#"<div class="alert warning competing"><strong>Competing live session</strong> (10197) since {}, {} notices: IB sends this account no market data while another session of the same user takes it. Orders still work.</div>"#,
            clock(episode.since, zone),
            episode.notices
        );
    }
    if a.pacing.violations > 0 || a.pacing.warnings > 0 {
        let last = a.pacing.last_violation.map(|t| format!(", last at {}", clock(t, zone))).unwrap_or_default();
        let _ = write!(
            out,
            r#"<p class="facts pacing">IB message rate: exceeded (100) {} times{last}, {} warnings — the link stays up.</p>"#,
            a.pacing.violations, a.pacing.warnings
        );
    }
}

fn kind(kind: FarmKind) -> &'static str {
    match kind {
        FarmKind::MarketData => "(market data)",
        FarmKind::Historical => "(historical)",
        FarmKind::SecDef => "(sec-def)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use ibkr_supervisor_actors::farms::{FarmBoard, FarmNotice};
    use ibkr_supervisor_actors::settings::Settings;

    #[test]
    fn a_broken_farm_is_shown_degraded_with_its_name_escaped() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-02T00:04:29Z").unwrap().with_timezone(&Utc);
        let mut a = AccountStatus::new(&Settings::default().accounts[0], t0);
        let mut out = String::new();
        render(&mut out, &a, New_York, t0);
        assert_eq!(out, "", "nothing before the session reports farms");

        let mut board = FarmBoard::new();
        board.apply(&FarmNotice::parse(2106, "HMDS data farm connection is OK:ushmds").unwrap(), t0);
        board.apply(&FarmNotice::parse(2103, "Market data farm connection is broken:<b>us</b>").unwrap(), t0);
        a.farms = board.snapshot();
        render(&mut out, &a, New_York, t0 + chrono::TimeDelta::seconds(192));
        assert!(
            out.contains("<strong>Market data degraded</strong>: &lt;b&gt;us&lt;/b&gt; (market data) broken"),
            "{out}"
        );
        assert!(out.contains("down <span data-elapsed=") && out.contains(">3 m 12 s<"), "{out}");
        assert!(out.contains("since 19:04:29 EST"), "{out}");
        assert!(out.contains(r#"<span class="farm ok">ushmds ok</span>"#), "{out}");
        assert!(!out.contains("<b>"), "gateway text is escaped: {out}");
    }
}
