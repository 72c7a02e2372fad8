//! Deployment windows: recurring local times in an IANA time zone (with its daylight saving
//! time), turned into UTC spans. A span belongs to the local day it starts on.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;

/// How far ahead the calendar looks for the next opening (a window on the 31st of months
/// that start on a Monday opens rarely; beyond this, never for our purposes).
pub const HORIZON_DAYS: i64 = 400;

/// One validated window.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployWindow {
    pub name: String,
    /// Empty: every day of the week.
    pub weekdays: Vec<Weekday>,
    /// Empty: every day of the month.
    pub days_of_month: Vec<u32>,
    /// `[start, end)` local times; `None`: the whole day. `end <= start` crosses midnight.
    pub hours: Option<(NaiveTime, NaiveTime)>,
    pub timezone: Tz,
    pub until: Option<DateTime<Utc>>,
}

impl DeployWindow {
    /// The span holding `at`, if one does.
    pub fn holding(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let today = at.with_timezone(&self.timezone).date_naive();
        let from = today.checked_sub_signed(Duration::days(2))?;
        self.spans(from, today)
            .into_iter()
            .find(|(s, e)| *s <= at && at < *e)
    }

    /// The first start strictly after `after`, within [`HORIZON_DAYS`].
    pub fn next_start(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = after.with_timezone(&self.timezone).date_naive();
        let from = today.checked_sub_signed(Duration::days(1))?;
        let to = today.checked_add_signed(Duration::days(HORIZON_DAYS))?;
        let mut day = from;
        // Day by day, so that the first start found is the answer.
        while day <= to {
            if let Some((s, _)) = self.span_of(day)
                && s > after
            {
                return Some(s);
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// Spans of the days `first..=last` (local), in order.
    fn spans(&self, first: NaiveDate, last: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        first
            .iter_days()
            .take_while(|d| *d <= last)
            .filter_map(|d| self.span_of(d))
            .collect()
    }

    /// The UTC span of the window's occurrence starting on local day `day`, if it opens then.
    fn span_of(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.weekdays.is_empty() && !self.weekdays.contains(&day.weekday()) {
            return None;
        }
        if !self.days_of_month.is_empty() && !self.days_of_month.contains(&day.day()) {
            return None;
        }
        let midnight = NaiveTime::MIN;
        let (start, end_day, end) = match self.hours {
            None => (midnight, day.succ_opt()?, midnight),
            Some((s, e)) if e > s => (s, day, e),
            Some((s, e)) => (s, day.succ_opt()?, e),
        };
        let start = self.utc_of(day.and_time(start))?;
        let mut end = self.utc_of(end_day.and_time(end))?;
        if let Some(until) = self.until {
            if start >= until {
                return None;
            }
            end = end.min(until);
        }
        (start < end).then_some((start, end))
    }

    /// A local time in UTC: the earlier of two when clocks go back, the first valid minute
    /// after it when clocks go forward over it.
    fn utc_of(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let mut t = local;
        for _ in 0..=180 {
            match self.timezone.from_local_datetime(&t) {
                LocalResult::Single(x) => return Some(x.with_timezone(&Utc)),
                LocalResult::Ambiguous(a, _) => return Some(a.with_timezone(&Utc)),
                LocalResult::None => t = t.checked_add_signed(Duration::minutes(1))?,
            }
        }
        None
    }
}

/// Windows together: open while any holds.
pub struct WindowSet<'a>(pub &'a [DeployWindow]);

impl WindowSet<'_> {
    /// The window holding `at`, if one does.
    pub fn open_at(&self, at: DateTime<Utc>) -> Option<&DeployWindow> {
        self.0.iter().find(|w| w.holding(at).is_some())
    }

    /// When some window next opens after `after` (none within the horizon: `None`).
    pub fn next_opening(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.iter().filter_map(|w| w.next_start(after)).min()
    }

    /// When the windows holding `at` (and those overlapping them) all close.
    fn closes_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut end = at;
        for _ in 0..1000 {
            match self
                .0
                .iter()
                .filter_map(|w| w.holding(end))
                .map(|s| s.1)
                .max()
            {
                Some(e) if e > end => end = e,
                _ => return Some(end),
            }
        }
        None
    }

    /// The closed time an exception asked at `at` is for, named by when it ends (the next
    /// opening; `None`: no window opens again): the closed time holding `at`, or the next one
    /// when asked inside a window.
    pub fn closed_time_for(&self, at: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        if self.open_at(at).is_none() {
            return Some(self.next_opening(at));
        }
        let closes = self.closes_after(at)?;
        Some(self.next_opening(closes))
    }
}

/// `Mon`…`Sun` or full names, any case.
pub fn parse_weekday(text: &str) -> Option<Weekday> {
    let t = text.trim().to_lowercase();
    let all = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    all.into_iter()
        .zip(full)
        .find(|(_, f)| t == *f || t == f[..3])
        .map(|(d, _)| d)
}

/// `HH:MM-HH:MM`, the two times different.
pub fn parse_hours(text: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let bad = || format!("`{text}` is not an hour range: write `09:00-17:00` (24-hour clock)");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let time = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| bad());
    let (start, end) = (time(a)?, time(b)?);
    if start == end {
        return Err(format!(
            "`{text}` starts and ends at the same time; omit `hours` for the whole day"
        ));
    }
    Ok((start, end))
}

#[cfg(test)]
#[path = "windows_tests.rs"]
mod tests;
