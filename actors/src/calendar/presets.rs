//! IB's reset schedules per region, as data.
//!
//! IB publishes its scheduled resets on its *Current System Status* page
//! (<https://www.interactivebrokers.com/en/software/systemStatus.php>), and they have moved over
//! the years, so they live in a data file, `config/reset-presets.json`, embedded here with
//! `include_str!` and loadable from a user path too ([`PresetCatalog::from_json`]; a user file
//! adds presets or replaces built-in ones by name, [`PresetCatalog::extend`]). This module
//! decides which [`WindowSpec`]s a configured `reset_preset` stands for, and combines them with
//! the daily `reset_time` window and the extra `reset_windows` into one [`ResetCalendar`]
//! ([`ScheduleConfig::calendar`]). An unknown preset is an error listing the known ones.
//!
//! # The built-in presets (facts and sources)
//!
//! IB's page as currently published (daily resets Sunday–Friday, the weekend window for all
//! regions):
//!
//! | preset | daily | weekend |
//! |---|---|---|
//! | `ib-north-america` | 00:15–01:45 ET | Friday 23:00 ET – Saturday 03:00 ET |
//! | `ib-europe` | 06:25–07:45 CET (Zurich wall clock) | same |
//! | `ib-asia` | 04:45–06:05 HKT and 20:15–21:15 HKT | same |
//!
//! The older schedule, still hard-coded in QuantConnect's IBAutomater v1.0 (2019,
//! `IBAutomater.cs`, `IsWithinScheduledServerResetTimes` / `IsWithinWeekendServerResetTimes`),
//! is kept as `ib-north-america-2019` (Saturday–Thursday 23:45–00:45 ET), `ib-europe-2019`
//! (05:45–06:45 CET) and `ib-asia-2019` (16:30–17:00 ET and 20:15–21:00 HKT), each with the
//! Friday 23:00–03:00 ET window, so the data shows that the schedule moved. The names carry the
//! year of that IBAutomater version; when exactly IB changed its schedule is not known here.
//! Lean pads every window by 15 minutes and treats all of Saturday and Sunday before 02:00 ET
//! as reset time; that is Lean's safety margin, not IB's schedule, and is not in the data.
//!
//! IB writes "CET" all year; like Lean, the data reads it as the Zurich wall clock (CET in
//! winter, CEST in summer). A user who reads it as fixed UTC+1 writes `"Etc/GMT-1"`.
//!
//! # Windows and DST
//!
//! A data window opens on each listed local weekday (every day when `days` is absent) at
//! `start` and closes at `end`, both wall clock in `timezone`; an `end` at or before `start` is
//! on the next day (00:15–01:45 is 90 minutes, 23:00–03:00 is 4 hours). It becomes one
//! [`WindowSpec`] per weekday with the wall-clock span as its duration. The calendar counts a
//! duration as real elapsed time, so the two readings only differ when a DST transition falls
//! inside a window; none of the shipped windows ever contains one (transitions happen at
//! 02:00/03:00 local on Sundays in New York and Zurich, Hong Kong has no DST), which
//! `shipped_windows_never_contain_a_dst_transition` checks for a decade of dates.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::de::{self, Deserializer, IgnoredAny};
use serde::{Deserialize, Serialize};

use super::{ResetCalendar, Window, WindowSpec};

/// The built-in presets, `config/reset-presets.json` at the workspace root.
const BUILTIN_JSON: &str = include_str!("../../../config/reset-presets.json");

/// How errors in the built-in file name their origin.
pub const BUILTIN_ORIGIN: &str = "built-in config/reset-presets.json";

/// The preset the supervisor uses when the configuration names none.
pub const DEFAULT_PRESET: &str = "ib-north-america";

/// What is wrong with a preset name or a preset file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PresetError {
    /// A configured preset name is not in the catalog.
    #[error("unknown reset preset {name:?}; known presets: {}", known.join(", "))]
    Unknown {
        /// The name as configured.
        name: String,
        /// Every name the catalog knows, sorted.
        known: Vec<String>,
    },
    /// A preset file does not describe valid presets.
    #[error("{origin}: {path}: {message}")]
    Invalid {
        /// Where the file came from (a path, or [`BUILTIN_ORIGIN`]).
        origin: String,
        /// The JSON path of the offending value, e.g. `presets.ib-asia.windows[1].start`.
        path: String,
        /// What is wrong and what to write instead.
        message: String,
    },
}

/// One window of a preset, as the data file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetWindow {
    /// A name for people (`"daily"`, `"weekend"`), if the file gives one.
    pub label: Option<String>,
    /// The local weekdays the window opens on; `None` means every day.
    pub days: Option<Vec<Weekday>>,
    /// Local wall-clock opening time.
    pub start: NaiveTime,
    /// Local wall-clock closing time; at or before `start` means the next day.
    pub end: NaiveTime,
    /// The time zone `days`, `start` and `end` are read in.
    pub tz: Tz,
}

impl PresetWindow {
    /// The wall-clock span from `start` to `end` (over midnight when `end <= start`).
    pub fn duration(&self) -> Duration {
        let start = i64::from(self.start.num_seconds_from_midnight());
        let end = i64::from(self.end.num_seconds_from_midnight());
        let span = if end > start { end - start } else { end + 24 * 3600 - start };
        Duration::from_secs(span.unsigned_abs())
    }

    /// The calendar specs this window stands for: one per weekday, or one daily spec.
    pub fn specs(&self) -> Vec<WindowSpec> {
        let duration = self.duration();
        match &self.days {
            None => vec![WindowSpec::daily(self.start, duration, self.tz)],
            Some(days) => days.iter().map(|day| WindowSpec::weekly(*day, self.start, duration, self.tz)).collect(),
        }
    }
}

/// A named preset: its windows and where the schedule comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetWindows {
    /// The preset's name, e.g. `"ib-europe"`.
    pub name: String,
    /// Where the schedule was published (for people checking the data).
    pub source: String,
    /// The windows, in file order.
    pub windows: Vec<PresetWindow>,
}

impl PresetWindows {
    /// Every calendar spec of the preset.
    pub fn specs(&self) -> Vec<WindowSpec> {
        self.windows.iter().flat_map(PresetWindow::specs).collect()
    }

    /// A calendar of this preset alone.
    pub fn calendar(&self) -> ResetCalendar {
        ResetCalendar::new(self.specs())
    }
}

/// Where one preset stands at an instant: the window it is in, and the next one. The
/// dashboard and `/status` show one per configured preset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresetNext {
    /// The preset's name.
    pub preset: String,
    /// The window of this preset containing the instant, if any.
    pub current: Option<Window>,
    /// The next window of this preset starting after the instant.
    pub next: Option<Window>,
}

/// The known presets, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresetCatalog {
    presets: BTreeMap<String, PresetWindows>,
}

impl PresetCatalog {
    /// The presets shipped with the supervisor (`config/reset-presets.json`).
    pub fn builtin() -> &'static PresetCatalog {
        static BUILTIN: OnceLock<PresetCatalog> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            // The embedded file is checked by `builtin_presets_parse`; a broken one cannot ship.
            PresetCatalog::from_json(BUILTIN_JSON, BUILTIN_ORIGIN).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    /// Presets read from a file's text; `origin` (its path) prefixes every error.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, PresetError> {
        let invalid =
            |path: String, message: String| PresetError::Invalid { origin: origin.to_string(), path, message };
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let raw: RawFile = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            invalid(path, e.into_inner().to_string())
        })?;

        let mut presets = BTreeMap::new();
        for (name, preset) in raw.presets {
            let at = |suffix: &str| format!("presets.{name}{suffix}");
            if name.trim().is_empty() {
                return Err(invalid("presets".into(), "a preset name must not be empty".into()));
            }
            if preset.windows.is_empty() {
                return Err(invalid(at(".windows"), "a preset needs at least one window".into()));
            }
            let mut windows = Vec::with_capacity(preset.windows.len());
            for (i, w) in preset.windows.into_iter().enumerate() {
                if w.start.0 == w.end.0 {
                    return Err(invalid(
                        at(&format!(".windows[{i}].end")),
                        "end equals start; a window must last more than zero and less than 24 hours".into(),
                    ));
                }
                let days = match w.days {
                    None => None,
                    Some(days) if days.is_empty() => {
                        return Err(invalid(
                            at(&format!(".windows[{i}].days")),
                            "days is empty; list weekdays like [\"mon\", \"fri\"] or leave it out for every day".into(),
                        ))
                    }
                    Some(days) => {
                        let mut seen: Vec<Weekday> = Vec::with_capacity(days.len());
                        for day in days {
                            if seen.contains(&day.0) {
                                return Err(invalid(
                                    at(&format!(".windows[{i}].days")),
                                    format!("{} is listed twice", day.0),
                                ));
                            }
                            seen.push(day.0);
                        }
                        Some(seen)
                    }
                };
                windows.push(PresetWindow { label: w.label, days, start: w.start.0, end: w.end.0, tz: w.timezone.0 });
            }
            presets.insert(name.clone(), PresetWindows { name, source: preset.source, windows });
        }
        Ok(Self { presets })
    }

    /// Adds `other`'s presets; a preset of the same name is replaced by `other`'s.
    pub fn extend(&mut self, other: PresetCatalog) {
        self.presets.extend(other.presets);
    }

    /// Every preset name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.presets.keys().cloned().collect()
    }

    /// The preset called `name`, or an error listing the known names.
    pub fn get(&self, name: &str) -> Result<&PresetWindows, PresetError> {
        self.presets.get(name).ok_or_else(|| PresetError::Unknown { name: name.to_string(), known: self.names() })
    }

    /// Where preset `name` stands at `now`.
    pub fn upcoming(&self, name: &str, now: DateTime<Utc>) -> Result<PresetNext, PresetError> {
        let calendar = self.get(name)?.calendar();
        Ok(PresetNext {
            preset: name.to_string(),
            current: calendar.window_at(now),
            next: calendar.next_window_after(now),
        })
    }
}

/// The reset schedule the configuration asks for; the settings layer fills it from
/// `reset_preset`, `reset_time` / `reset_duration` / `timezone` and `reset_windows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// Preset names (`reset_preset`); their windows are all honoured.
    pub presets: Vec<String>,
    /// The daily window of `reset_time`, if configured.
    pub daily: Option<WindowSpec>,
    /// Extra windows (`reset_windows`).
    pub windows: Vec<WindowSpec>,
}

impl Default for ScheduleConfig {
    /// IB's current North American schedule and nothing else. (The supervisor's historical
    /// default, a daily 23:45 ET hour, is the 2019 schedule; see the module docs.)
    fn default() -> Self {
        Self { presets: vec![DEFAULT_PRESET.to_string()], daily: None, windows: Vec::new() }
    }
}

impl ScheduleConfig {
    /// One calendar of every preset's windows, the daily window and the extra windows.
    /// Overlapping windows merge (see [`ResetCalendar::window_at`]).
    pub fn calendar(&self, catalog: &PresetCatalog) -> Result<ResetCalendar, PresetError> {
        let mut specs = Vec::new();
        for name in &self.presets {
            specs.extend(catalog.get(name)?.specs());
        }
        specs.extend(self.daily.iter().cloned());
        specs.extend(self.windows.iter().cloned());
        Ok(ResetCalendar::new(specs))
    }

    /// Where each configured preset stands at `now`, in configuration order.
    pub fn upcoming(&self, catalog: &PresetCatalog, now: DateTime<Utc>) -> Result<Vec<PresetNext>, PresetError> {
        self.presets.iter().map(|name| catalog.upcoming(name, now)).collect()
    }
}

// ---- the file format -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, rename = "about")]
    _about: Option<IgnoredAny>,
    presets: BTreeMap<String, RawPreset>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreset {
    source: String,
    windows: Vec<RawWindow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    days: Option<Vec<Day>>,
    start: Clock,
    end: Clock,
    timezone: Zone,
}

/// A string value parsed by `parse`; `hint` says what was expected when it does not parse.
fn parsed<'de, D, T>(
    deserializer: D,
    parse: impl FnOnce(&str) -> Option<T>,
    hint: impl FnOnce(&str) -> String,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    parse(&text).ok_or_else(|| de::Error::custom(hint(&text)))
}

/// A local `"HH:MM"` time.
struct Clock(NaiveTime);

impl<'de> Deserialize<'de> for Clock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parsed(
            deserializer,
            |text| NaiveTime::parse_from_str(text, "%H:%M").ok().map(Clock),
            |text| format!("{text:?} is not a local time; write \"HH:MM\", e.g. \"00:15\""),
        )
    }
}

/// An IANA time zone name.
struct Zone(Tz);

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parsed(
            deserializer,
            |text| Tz::from_str(text).ok().map(Zone),
            |text| format!("{text:?} is not an IANA time zone; use e.g. \"America/New_York\""),
        )
    }
}

/// A weekday name (`"fri"`, `"Friday"`).
struct Day(Weekday);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parsed(
            deserializer,
            |text| Weekday::from_str(text).ok().map(Day),
            |text| format!("{text:?} is not a weekday; use \"mon\" … \"sun\""),
        )
    }
}

impl fmt::Display for PresetNext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |w: &Option<Window>| match w {
            Some(w) => format!("{} – {}", w.start.to_rfc3339(), w.end.to_rfc3339()),
            None => "none".to_string(),
        };
        write!(f, "{}: current {}, next {}", self.preset, show(&self.current), show(&self.next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Days, NaiveDate, TimeZone};
    use chrono_tz::{America::New_York, Asia::Hong_Kong, Europe::Zurich};

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn window(start: DateTime<Utc>, end: DateTime<Utc>) -> Window {
        Window { start, end }
    }

    fn calendar(name: &str) -> ResetCalendar {
        PresetCatalog::builtin().get(name).unwrap().calendar()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn builtin_presets_parse() {
        let names = PresetCatalog::builtin().names();
        assert_eq!(
            names,
            ["ib-asia", "ib-asia-2019", "ib-europe", "ib-europe-2019", "ib-north-america", "ib-north-america-2019"]
        );
        // Sunday–Friday daily windows plus one weekend window; Asia has two daily windows.
        assert_eq!(PresetCatalog::builtin().get("ib-north-america").unwrap().specs().len(), 7);
        assert_eq!(PresetCatalog::builtin().get("ib-europe").unwrap().specs().len(), 7);
        assert_eq!(PresetCatalog::builtin().get("ib-asia").unwrap().specs().len(), 13);
    }

    #[test]
    fn unknown_preset_lists_the_known_ones() {
        let err = PresetCatalog::builtin().get("ib-eu").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown reset preset \"ib-eu\"; known presets: ib-asia, ib-asia-2019, ib-europe, ib-europe-2019, \
             ib-north-america, ib-north-america-2019"
        );
        let config = ScheduleConfig { presets: vec!["ib-europe".into(), "nasdaq".into()], ..ScheduleConfig::default() };
        assert!(
            matches!(config.calendar(PresetCatalog::builtin()), Err(PresetError::Unknown { name, .. }) if name == "nasdaq")
        );
    }

    #[test]
    fn new_york_daily_window_follows_dst_on_both_change_days() {
        let na = calendar("ib-north-america");
        // Sunday 2026-03-08, spring forward at 02:00: 00:15-01:45 is still EST (UTC-5).
        assert_eq!(na.window_at(utc(2026, 3, 8, 6, 0)), Some(window(utc(2026, 3, 8, 5, 15), utc(2026, 3, 8, 6, 45))));
        // Monday 2026-03-09: EDT (UTC-4), one hour earlier in UTC.
        assert_eq!(na.window_at(utc(2026, 3, 9, 5, 0)), Some(window(utc(2026, 3, 9, 4, 15), utc(2026, 3, 9, 5, 45))));
        assert_eq!(na.window_at(utc(2026, 3, 9, 6, 0)), None);
        // Sunday 2026-11-01, fall back at 02:00 EDT: the window closes at the first 01:45 (EDT).
        assert_eq!(
            na.window_at(utc(2026, 11, 1, 5, 0)),
            Some(window(utc(2026, 11, 1, 4, 15), utc(2026, 11, 1, 5, 45)))
        );
        // The repeated 01:00-01:45 (EST) is not a second window.
        assert_eq!(na.window_at(utc(2026, 11, 1, 6, 30)), None);
        // Monday 2026-11-02: EST again.
        assert_eq!(
            na.window_at(utc(2026, 11, 2, 5, 30)),
            Some(window(utc(2026, 11, 2, 5, 15), utc(2026, 11, 2, 6, 45)))
        );
    }

    #[test]
    fn zurich_daily_window_follows_dst_on_both_change_days() {
        let eu = calendar("ib-europe");
        // Friday 2026-03-27: CET (UTC+1), 06:25-07:45 local = 05:25-06:45 UTC.
        assert_eq!(
            eu.window_at(utc(2026, 3, 27, 6, 0)),
            Some(window(utc(2026, 3, 27, 5, 25), utc(2026, 3, 27, 6, 45)))
        );
        // Sunday 2026-03-29, spring forward at 02:00 CET: the window is already CEST (UTC+2).
        assert_eq!(
            eu.window_at(utc(2026, 3, 29, 5, 0)),
            Some(window(utc(2026, 3, 29, 4, 25), utc(2026, 3, 29, 5, 45)))
        );
        assert_eq!(eu.window_at(utc(2026, 3, 29, 6, 0)), None);
        // Sunday 2026-10-25, fall back at 03:00 CEST: back to CET.
        assert_eq!(
            eu.window_at(utc(2026, 10, 25, 6, 0)),
            Some(window(utc(2026, 10, 25, 5, 25), utc(2026, 10, 25, 6, 45)))
        );
        assert_eq!(eu.window_at(utc(2026, 10, 25, 5, 0)), None);
        // Saturday has no daily window (Sunday-Friday): Saturday 06:25 CEST lies inside the
        // weekend window, and after it the next window is Sunday's daily one.
        let weekend = window(utc(2026, 10, 24, 3, 0), utc(2026, 10, 24, 7, 0));
        assert_eq!(eu.window_at(utc(2026, 10, 24, 4, 30)), Some(weekend));
        assert_eq!(
            eu.next_window_after(weekend.start),
            Some(window(utc(2026, 10, 25, 5, 25), utc(2026, 10, 25, 6, 45)))
        );
    }

    #[test]
    fn hong_kong_windows_stay_put_in_utc_while_new_yorks_move() {
        let asia = calendar("ib-asia");
        let na = calendar("ib-north-america");
        // Across New York's spring-forward (Sunday 2026-03-08), from Friday to the next Friday.
        let mut hk_starts = Vec::new();
        let mut ny_starts = Vec::new();
        let mut t = utc(2026, 3, 1, 12, 0);
        while t < utc(2026, 3, 14, 0, 0) {
            let next = asia.next_window_after(t).unwrap();
            if next.start.with_timezone(&Hong_Kong).time() == NaiveTime::from_hms_opt(20, 15, 0).unwrap() {
                hk_starts.push(next.start.time());
            }
            t = next.start;
        }
        let mut t = utc(2026, 3, 1, 12, 0);
        while t < utc(2026, 3, 14, 0, 0) {
            let next = na.next_window_after(t).unwrap();
            if next.start.with_timezone(&New_York).time() == NaiveTime::from_hms_opt(0, 15, 0).unwrap() {
                ny_starts.push(next.start.time());
            }
            t = next.start;
        }
        let hk_second = NaiveTime::from_hms_opt(12, 15, 0).unwrap(); // 20:15 HKT = 12:15 UTC, all year
        assert!(hk_starts.len() >= 10, "{hk_starts:?}");
        assert!(hk_starts.iter().all(|t| *t == hk_second), "{hk_starts:?}");
        // New York's 00:15 is 05:15 UTC before the change and 04:15 UTC after it.
        let est = NaiveTime::from_hms_opt(5, 15, 0).unwrap();
        let edt = NaiveTime::from_hms_opt(4, 15, 0).unwrap();
        assert!(ny_starts.contains(&est) && ny_starts.contains(&edt), "{ny_starts:?}");
        assert!(ny_starts.iter().all(|t| *t == est || *t == edt), "{ny_starts:?}");
        // And on Zurich's change day too: HK's first reset 04:45 HKT = 20:45 UTC the day before.
        assert_eq!(
            asia.window_at(utc(2026, 3, 28, 21, 0)),
            Some(window(utc(2026, 3, 28, 20, 45), utc(2026, 3, 28, 22, 5)))
        );
        assert_eq!(
            asia.window_at(utc(2026, 10, 24, 21, 0)),
            Some(window(utc(2026, 10, 24, 20, 45), utc(2026, 10, 24, 22, 5)))
        );
    }

    #[test]
    fn weekend_window_crosses_from_friday_into_saturday() {
        let na = calendar("ib-north-america");
        // Friday 2026-06-19 23:00 EDT = Saturday 03:00 UTC; Saturday 03:00 EDT = 07:00 UTC.
        let weekend = window(utc(2026, 6, 20, 3, 0), utc(2026, 6, 20, 7, 0));
        assert_eq!(na.window_at(utc(2026, 6, 20, 3, 0)), Some(weekend));
        // Local Saturday 02:59 is still inside (the window crossed midnight local).
        assert_eq!(na.window_at(utc(2026, 6, 20, 6, 59)), Some(weekend));
        assert_eq!(na.window_at(utc(2026, 6, 20, 7, 0)), None);
        // Saturday 00:15 local would be a daily start, but there is no Saturday daily window:
        // the weekend window covers it, and nothing else opens that Saturday.
        assert_eq!(na.next_window_after(utc(2026, 6, 20, 7, 0)).unwrap().start, utc(2026, 6, 21, 4, 15));
        // In winter the weekend window is an hour later in UTC.
        assert_eq!(na.window_at(utc(2026, 1, 17, 5, 0)), Some(window(utc(2026, 1, 17, 4, 0), utc(2026, 1, 17, 8, 0))));
    }

    #[test]
    fn friday_daily_window_and_weekend_window_are_separate() {
        let na = calendar("ib-north-america");
        // Friday 2026-06-19: daily 00:15-01:45 EDT, then the weekend window at 23:00 EDT.
        let friday_daily = window(utc(2026, 6, 19, 4, 15), utc(2026, 6, 19, 5, 45));
        assert_eq!(na.window_at(utc(2026, 6, 19, 5, 0)), Some(friday_daily));
        assert_eq!(
            na.next_window_after(utc(2026, 6, 19, 5, 0)),
            Some(window(utc(2026, 6, 20, 3, 0), utc(2026, 6, 20, 7, 0)))
        );
    }

    #[test]
    fn old_window_crossing_midnight_is_found_after_midnight() {
        let old = calendar("ib-north-america-2019");
        // Tuesday 2026-06-16 23:45 EDT - Wednesday 00:45 EDT, asked at 00:30 local Wednesday.
        let now = utc(2026, 6, 17, 4, 30);
        assert_eq!(now.with_timezone(&New_York).weekday(), Weekday::Wed);
        assert_eq!(old.window_at(now), Some(window(utc(2026, 6, 17, 3, 45), utc(2026, 6, 17, 4, 45))));
        // Thursday 23:45 is the last daily start; Friday 23:45 falls inside the weekend window.
        assert_eq!(
            old.window_at(utc(2026, 6, 20, 3, 50)),
            Some(window(utc(2026, 6, 20, 3, 0), utc(2026, 6, 20, 7, 0)))
        );
    }

    #[test]
    fn schedule_moved_between_2019_and_now() {
        // The same Tuesday night: 23:50 ET is reset time in the old schedule, not in the new one;
        // 01:30 ET is reset time in the new schedule, not in the old one.
        let (new, old) = (calendar("ib-north-america"), calendar("ib-north-america-2019"));
        let late = utc(2026, 6, 17, 3, 50);
        let early = utc(2026, 6, 17, 5, 30);
        assert!(new.window_at(late).is_none() && old.window_at(late).is_some());
        assert!(new.window_at(early).is_some() && old.window_at(early).is_none());
    }

    #[test]
    fn next_window_of_each_preset_from_a_wednesday_noon() {
        // Wednesday 2026-06-17 12:00 UTC (08:00 EDT, 14:00 CEST, 20:00 HKT).
        let now = utc(2026, 6, 17, 12, 0);
        let expect = [
            ("ib-north-america", window(utc(2026, 6, 18, 4, 15), utc(2026, 6, 18, 5, 45))),
            ("ib-europe", window(utc(2026, 6, 18, 4, 25), utc(2026, 6, 18, 5, 45))),
            ("ib-asia", window(utc(2026, 6, 17, 12, 15), utc(2026, 6, 17, 13, 15))),
            ("ib-north-america-2019", window(utc(2026, 6, 18, 3, 45), utc(2026, 6, 18, 4, 45))),
            ("ib-europe-2019", window(utc(2026, 6, 18, 3, 45), utc(2026, 6, 18, 4, 45))),
            ("ib-asia-2019", window(utc(2026, 6, 17, 12, 15), utc(2026, 6, 17, 13, 0))),
        ];
        for (name, next) in expect {
            let up = PresetCatalog::builtin().upcoming(name, now).unwrap();
            assert_eq!(up, PresetNext { preset: name.into(), current: None, next: Some(next) }, "{name}");
        }
        // Asked on Friday afternoon in New York (Saturday 04:00 in Hong Kong), every preset's
        // next window is the weekend one: the daily windows run Sunday-Friday in their own
        // zone, so Hong Kong has no 04:45 reset on a Saturday.
        let friday = utc(2026, 6, 19, 20, 0);
        let weekend = window(utc(2026, 6, 20, 3, 0), utc(2026, 6, 20, 7, 0));
        for name in PresetCatalog::builtin().names() {
            assert_eq!(PresetCatalog::builtin().upcoming(&name, friday).unwrap().next, Some(weekend), "{name}");
        }
    }

    #[test]
    fn presets_combine_with_a_daily_reset_time_and_extra_windows() {
        let config = ScheduleConfig {
            presets: vec!["ib-europe".into()],
            daily: Some(WindowSpec::daily(
                NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
                Duration::from_secs(600),
                New_York,
            )),
            windows: vec![WindowSpec::weekly(
                Weekday::Sun,
                NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
                Duration::from_secs(1800),
                New_York,
            )],
        };
        let cal = config.calendar(PresetCatalog::builtin()).unwrap();
        // Europe's daily window (Wednesday 06:25 CEST = 04:25 UTC).
        assert!(cal.window_at(utc(2026, 6, 17, 4, 30)).is_some());
        // The daily reset_time window: 17:00 EDT = 21:00 UTC, 10 minutes.
        assert_eq!(
            cal.window_at(utc(2026, 6, 17, 21, 5)),
            Some(window(utc(2026, 6, 17, 21, 0), utc(2026, 6, 17, 21, 10)))
        );
        // The extra Sunday window: 12:00 EDT = 16:00 UTC.
        assert_eq!(
            cal.window_at(utc(2026, 6, 21, 16, 10)),
            Some(window(utc(2026, 6, 21, 16, 0), utc(2026, 6, 21, 16, 30)))
        );
        assert_eq!(cal.window_at(utc(2026, 6, 20, 16, 10)), None);
        // The weekend window comes with the preset.
        assert!(cal.window_at(utc(2026, 6, 20, 4, 0)).is_some());
        // upcoming() reports per preset, not the combined calendar.
        let up = config.upcoming(PresetCatalog::builtin(), utc(2026, 6, 17, 12, 0)).unwrap();
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].next, Some(window(utc(2026, 6, 18, 4, 25), utc(2026, 6, 18, 5, 45))));
    }

    #[test]
    fn default_schedule_is_ib_north_america() {
        let cal = ScheduleConfig::default().calendar(PresetCatalog::builtin()).unwrap();
        assert_eq!(cal, calendar("ib-north-america"));
    }

    #[test]
    fn shipped_windows_never_contain_a_dst_transition() {
        // For every shipped window and every date from 2020 to 2030, the real-time end (start
        // + duration) shows the published wall-clock end: the two readings of a window agree.
        for preset in PresetCatalog::builtin().presets.values() {
            for w in &preset.windows {
                for spec in w.specs() {
                    let mut d = date(2020, 1, 1);
                    while d < date(2031, 1, 1) {
                        if let Some(opened) = spec.window_on(d) {
                            let local_start = opened.start.with_timezone(&w.tz).naive_local();
                            assert_eq!(local_start.time(), w.start, "{} {:?} on {d}", preset.name, w.label);
                            let local_end = opened.end.with_timezone(&w.tz).naive_local();
                            assert_eq!(local_end.time(), w.end, "{} {:?} on {d}", preset.name, w.label);
                            let end_day = if w.end > w.start { d } else { d + Days::new(1) };
                            assert_eq!(local_end.date(), end_day, "{} {:?} on {d}", preset.name, w.label);
                        }
                        d = d + Days::new(1);
                    }
                }
            }
        }
    }

    #[test]
    fn user_file_adds_and_replaces_presets() {
        let text = r#"{ "presets": {
            "ib-europe": { "source": "moved again", "windows": [
                { "days": ["mon"], "start": "07:00", "end": "07:30", "timezone": "Europe/Zurich" } ] },
            "my-broker": { "source": "mine", "windows": [
                { "start": "22:00", "end": "22:05", "timezone": "Asia/Tokyo" } ] } } }"#;
        let mut catalog = PresetCatalog::builtin().clone();
        catalog.extend(PresetCatalog::from_json(text, "/etc/ibkr/presets.json").unwrap());
        assert_eq!(catalog.get("ib-europe").unwrap().source, "moved again");
        assert_eq!(catalog.get("ib-europe").unwrap().specs().len(), 1);
        assert_eq!(catalog.get("ib-asia").unwrap().specs().len(), 13);
        // No `days`: every day.
        let mine = catalog.get("my-broker").unwrap().calendar();
        assert_eq!(
            mine.specs(),
            &[WindowSpec::daily(
                NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
                Duration::from_secs(300),
                chrono_tz::Asia::Tokyo
            )]
        );
        assert_eq!(catalog.get("ib-europe").unwrap().windows[0].tz, Zurich);
    }

    #[test]
    fn bad_files_name_the_field() {
        let cases = [
            (r#"{ "presets": { "x": { "source": "s", "windows": [ { "start": "25:00", "end": "01:00", "timezone": "UTC" } ] } } }"#,
             "/p.json: presets.x.windows[0].start: \"25:00\" is not a local time; write \"HH:MM\", e.g. \"00:15\""),
            (r#"{ "presets": { "x": { "source": "s", "windows": [ { "start": "00:00", "end": "01:00", "timezone": "America/NewYork" } ] } } }"#,
             "/p.json: presets.x.windows[0].timezone: \"America/NewYork\" is not an IANA time zone; use e.g. \"America/New_York\""),
            (r#"{ "presets": { "x": { "source": "s", "windows": [ { "days": ["fr"], "start": "00:00", "end": "01:00", "timezone": "UTC" } ] } } }"#,
             "/p.json: presets.x.windows[0].days[0]: \"fr\" is not a weekday; use \"mon\" … \"sun\""),
            (r#"{ "presets": { "x": { "source": "s", "windows": [ { "start": "01:00", "end": "01:00", "timezone": "UTC" } ] } } }"#,
             "/p.json: presets.x.windows[0].end: end equals start; a window must last more than zero and less than 24 hours"),
            (r#"{ "presets": { "x": { "source": "s", "windows": [ { "days": [], "start": "01:00", "end": "02:00", "timezone": "UTC" } ] } } }"#,
             "/p.json: presets.x.windows[0].days: days is empty; list weekdays like [\"mon\", \"fri\"] or leave it out for every day"),
            (r#"{ "presets": { "x": { "source": "s", "windows": [ { "days": ["fri", "Friday"], "start": "01:00", "end": "02:00", "timezone": "UTC" } ] } } }"#,
             "/p.json: presets.x.windows[0].days: Fri is listed twice"),
            (r#"{ "presets": { "x": { "source": "s", "windows": [] } } }"#,
             "/p.json: presets.x.windows: a preset needs at least one window"),
        ];
        for (text, expected) in cases {
            let message = PresetCatalog::from_json(text, "/p.json").unwrap_err().to_string();
            // serde_json adds where in the file the value is, for the type and value errors.
            let message = message.split(" at line ").next().unwrap();
            assert_eq!(message, expected);
        }
        // Unknown keys are typos, not silently ignored.
        let err = PresetCatalog::from_json(
            r#"{ "presets": { "x": { "source": "s", "windows": [ { "start": "01:00", "end": "02:00", "timezone": "UTC", "tz": "UTC" } ] } } }"#,
            "/p.json",
        )
        .unwrap_err();
        assert!(
            matches!(&err, PresetError::Invalid { path, message, .. } if path == "presets.x.windows[0].tz" && message.contains("unknown field `tz`")),
            "{err}"
        );
    }

    #[test]
    fn window_durations_are_the_published_spans() {
        let hour = |h: f64| Duration::from_secs_f64(h * 3600.0);
        let get = |name: &str| PresetCatalog::builtin().get(name).unwrap().windows.clone();
        assert_eq!(get("ib-north-america")[0].duration(), hour(1.5));
        assert_eq!(get("ib-north-america")[1].duration(), hour(4.0));
        assert_eq!(get("ib-europe")[0].duration(), Duration::from_secs(80 * 60));
        assert_eq!(get("ib-asia")[0].duration(), Duration::from_secs(80 * 60));
        assert_eq!(get("ib-asia")[1].duration(), hour(1.0));
        assert_eq!(get("ib-north-america-2019")[0].duration(), hour(1.0));
        // A window over midnight: 23:45 -> 00:45.
        assert_eq!(get("ib-north-america-2019")[0].start.hour(), 23);
    }
}
