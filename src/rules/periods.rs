//! The process in time: durations, blocked periods (when they start and end) and what an
//! emergency owes after merge. Pure calendar arithmetic in UTC.

use super::Condition;
use crate::model::Label;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

/// Approvals owed after a change merged (an emergency), from a rule's `after_merge`.
#[derive(Debug, Clone)]
pub struct AfterMerge {
    pub require: Vec<String>,
    pub within: Duration,
    pub retrospective_label: Option<Label>,
    /// Times after the merge to remind, earliest first.
    pub remind: Vec<Duration>,
    pub overdue_label: Option<Label>,
}

/// When a blocked period holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// Around the last day of every quarter, from its midnight (UTC).
    QuarterEnd { before: Duration, after: Duration },
    /// Once, from `from` up to `to` (exclusive).
    Fixed {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

#[derive(Debug, Clone)]
pub struct BlockedPeriod {
    pub name: String,
    pub description: Option<String>,
    pub window: Window,
    /// Which changes it covers (the default holds for every change).
    pub when: Condition,
    /// Approvals that lift it, all needed.
    pub exception: Vec<String>,
}

impl Window {
    /// The start and end of the window holding `at`, if one does.
    pub fn holding(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.spans_near(at)
            .into_iter()
            .find(|(start, end)| *start <= at && at < *end)
    }

    /// The occurrence an exception given at `at` is for: the one holding `at`, else the next
    /// one to start after it.
    pub fn occurrence_for(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.holding(at).or_else(|| {
            self.spans_near(at)
                .into_iter()
                .filter(|(start, _)| *start > at)
                .min_by_key(|(start, _)| *start)
        })
    }

    /// The first start or end strictly after `after`: when coverage next changes.
    pub fn next_boundary(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.spans_near(after)
            .into_iter()
            .flat_map(|(s, e)| [s, e])
            .filter(|t| *t > after)
            .min()
    }

    fn spans_near(&self, at: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        match self {
            Window::Fixed { from, to } => vec![(*from, *to)],
            Window::QuarterEnd { before, after } => (at.year() - 1..=at.year() + 1)
                .flat_map(|y| (1..=4).filter_map(move |q| quarter_last_day(y, q)))
                .filter_map(|anchor| {
                    Some((
                        anchor.checked_sub_signed(*before)?,
                        anchor.checked_add_signed(*after)?,
                    ))
                })
                .collect(),
        }
    }
}

/// Midnight (UTC) starting the last day of quarter `q` (1–4) of `year`.
fn quarter_last_day(year: i32, q: u32) -> Option<DateTime<Utc>> {
    let first_of_next = match q {
        4 => NaiveDate::from_ymd_opt(year + 1, 1, 1)?,
        _ => NaiveDate::from_ymd_opt(year, q * 3 + 1, 1)?,
    };
    let last = first_of_next.pred_opt()?;
    Some(Utc.from_utc_datetime(&last.and_hms_opt(0, 0, 0)?))
}

/// The longest duration the rules accept: ten years (3650 days). Times from the rules and
/// the forges are added to it; anything longer is a typo, and near chrono's limits an
/// addition would have no answer.
pub const MAX_DURATION_DAYS: i64 = 3650;

/// `90s`, `45m`, `24h`, `7d`, `2w`, or several together (`1d12h`). Positive, and at most
/// [`MAX_DURATION_DAYS`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!(
            "`{text}` is negative; a duration is a positive length of time"
        ));
    }
    let mut total = Duration::zero();
    let mut digits = String::new();
    for ch in t.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad_duration(text))?;
        digits.clear();
        let unit = match ch {
            's' => Duration::try_seconds(n),
            'm' => Duration::try_minutes(n),
            'h' => Duration::try_hours(n),
            'd' => Duration::try_days(n),
            'w' => Duration::try_weeks(n),
            _ => None,
        };
        total = unit
            .and_then(|u| total.checked_add(&u))
            .ok_or_else(|| bad_duration(text))?;
    }
    if !digits.is_empty() || t.is_empty() {
        return Err(bad_duration(text));
    }
    if total <= Duration::zero() {
        return Err(format!(
            "`{text}` is zero; a duration is a positive length of time"
        ));
    }
    if total > Duration::days(MAX_DURATION_DAYS) {
        return Err(format!(
            "`{text}` is longer than {MAX_DURATION_DAYS}d (ten years), the longest duration the rules accept"
        ));
    }
    Ok(total)
}

fn bad_duration(text: &str) -> String {
    format!("`{text}` is not a duration: write a number and a unit, like 90s, 45m, 24h or 7d")
}

/// An RFC 3339 time, or a date meaning its midnight UTC.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Utc.from_utc_datetime(&d))
        .ok_or_else(|| format!("`{text}` is not a time: write 2026-12-20T00:00:00Z or 2026-12-20"))
}

/// A duration as people read it: `24 h`, `90 min`, `1 d 12 h`.
pub fn human(d: Duration) -> String {
    let secs = d.num_seconds();
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if secs % 3600 == 0 && secs > 0 && secs < 48 * 3600 {
        return format!("{} h", secs / 3600);
    }
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n} {u}"))
        .collect();
    if parts.is_empty() {
        "0 s".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    #[test]
    fn durations_parse_and_refuse() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::seconds(90));
        assert_eq!(parse_duration("45m").unwrap(), Duration::minutes(45));
        assert_eq!(parse_duration("24h").unwrap(), Duration::hours(24));
        assert_eq!(parse_duration("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_duration("1d12h").unwrap(), Duration::hours(36));
        for bad in ["", "24", "h", "1y", "-7d", "0h", "1.5h", "24 h"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
        assert!(parse_duration("-7d").unwrap_err().contains("negative"));
        assert_eq!(parse_duration("3650d").unwrap(), Duration::days(3650));
        for huge in ["3651d", "14000000w", "522w", "9999999999999h"] {
            let why = parse_duration(huge).unwrap_err();
            assert!(
                why.contains("longer than 3650d") || why.contains("not a duration"),
                "{huge}: {why}"
            );
        }
        assert!(
            parse_duration("14000000w")
                .unwrap_err()
                .contains("longer than 3650d")
        );
    }

    #[test]
    fn a_window_past_the_end_of_time_holds_nothing() {
        let w = Window::QuarterEnd {
            before: Duration::MAX,
            after: Duration::MAX,
        };
        assert_eq!(w.holding(at("2026-12-31")), None);
        assert_eq!(w.next_boundary(at("2026-12-31")), None);
    }

    #[test]
    fn times_parse_as_rfc3339_or_dates() {
        assert_eq!(at("2026-12-20"), at("2026-12-20T00:00:00Z"));
        assert_eq!(at("2026-12-20T01:00:00+01:00"), at("2026-12-20T00:00:00Z"));
        assert!(parse_time("20/12/2026").is_err());
        assert!(parse_time("2026-02-30").is_err());
    }

    #[test]
    fn quarter_windows_are_around_the_last_days_midnight() {
        let w = Window::QuarterEnd {
            before: Duration::days(7),
            after: Duration::days(7),
        };
        // Q4 2026: last day 31 December.
        assert_eq!(
            w.holding(at("2026-12-31T12:00:00Z")),
            Some((at("2026-12-24"), at("2027-01-07")))
        );
        assert_eq!(w.holding(at("2026-12-23T23:59:59Z")), None);
        assert!(w.holding(at("2026-12-24T00:00:00Z")).is_some());
        assert_eq!(w.holding(at("2027-01-07T00:00:00Z")), None);
        // Q1: 31 March; Q2: 30 June; Q3: 30 September.
        assert_eq!(
            w.holding(at("2027-03-31")).map(|s| s.1),
            Some(at("2027-04-07"))
        );
        assert_eq!(
            w.holding(at("2027-06-30")).map(|s| s.0),
            Some(at("2027-06-23"))
        );
        assert_eq!(
            w.holding(at("2026-10-06T23:00:00Z")).map(|s| s.1),
            Some(at("2026-10-07"))
        );
        assert_eq!(w.holding(at("2027-02-15")), None);
        assert_eq!(w.next_boundary(at("2026-11-22")), Some(at("2026-12-24")));
        assert_eq!(w.next_boundary(at("2026-12-24")), Some(at("2027-01-07")));
        assert_eq!(w.next_boundary(at("2027-01-07")), Some(at("2027-03-24")));
        // An exception given in a window is for that window; between two, for the next.
        assert_eq!(
            w.occurrence_for(at("2026-12-28")),
            Some((at("2026-12-24"), at("2027-01-07")))
        );
        assert_eq!(
            w.occurrence_for(at("2027-02-15")),
            Some((at("2027-03-24"), at("2027-04-07")))
        );
        assert_eq!(
            w.occurrence_for(at("2027-01-07")),
            Some((at("2027-03-24"), at("2027-04-07")))
        );
    }

    #[test]
    fn fixed_windows_end_exclusively_and_stop_having_boundaries() {
        let w = Window::Fixed {
            from: at("2026-12-20"),
            to: at("2027-01-04"),
        };
        assert!(w.holding(at("2026-12-20")).is_some());
        assert!(w.holding(at("2027-01-04")).is_none());
        assert_eq!(w.next_boundary(at("2026-01-01")), Some(at("2026-12-20")));
        assert_eq!(w.next_boundary(at("2026-12-20")), Some(at("2027-01-04")));
        assert_eq!(w.next_boundary(at("2027-01-04")), None);
        assert_eq!(
            w.occurrence_for(at("2026-01-01")),
            w.holding(at("2026-12-20"))
        );
        assert_eq!(w.occurrence_for(at("2027-01-04")), None);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::hours(24)), "24 h");
        assert_eq!(human(Duration::minutes(90)), "1 h 30 min");
        assert_eq!(human(Duration::days(7)), "7 d");
        assert_eq!(human(Duration::seconds(90)), "1 min 30 s");
    }
}
