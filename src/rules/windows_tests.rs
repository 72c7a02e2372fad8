use super::*;

fn at(s: &str) -> DateTime<Utc> {
    crate::rules::parse_time(s).unwrap()
}

fn window(weekdays: &[Weekday], days: &[u32], hours: Option<&str>, tz: &str) -> DeployWindow {
    DeployWindow {
        name: "w".into(),
        weekdays: weekdays.to_vec(),
        days_of_month: days.to_vec(),
        hours: hours.map(|h| parse_hours(h).unwrap()),
        timezone: tz.parse().unwrap(),
        until: None,
    }
}

const WEEK: [Weekday; 5] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
];

#[test]
fn business_hours_are_half_open_in_the_zone_with_its_daylight_saving_time() {
    let w = window(&WEEK, &[], Some("09:00-17:00"), "Europe/London");
    // Friday 27 March 2026: London on GMT (UTC+0).
    assert!(w.holding(at("2026-03-27T09:00:00Z")).is_some());
    assert!(w.holding(at("2026-03-27T08:59:59Z")).is_none());
    assert!(w.holding(at("2026-03-27T16:59:59Z")).is_some());
    assert!(w.holding(at("2026-03-27T17:00:00Z")).is_none());
    // Monday 30 March 2026: on BST (UTC+1) since Sunday, 09:00 local is 08:00 UTC.
    assert_eq!(
        w.holding(at("2026-03-30T08:00:00Z")),
        Some((at("2026-03-30T08:00:00Z"), at("2026-03-30T16:00:00Z")))
    );
    assert!(w.holding(at("2026-03-30T07:59:00Z")).is_none());
    assert!(w.holding(at("2026-03-30T16:00:00Z")).is_none());
    // The weekend is closed; the next opening after Friday's close is Monday 09:00 BST.
    assert!(w.holding(at("2026-03-28T12:00:00Z")).is_none());
    assert_eq!(
        w.next_start(at("2026-03-27T17:00:00Z")),
        Some(at("2026-03-30T08:00:00Z"))
    );
}

#[test]
fn a_range_crossing_midnight_belongs_to_the_day_it_starts() {
    let w = window(&WEEK, &[], Some("22:00-02:00"), "UTC");
    // Friday 22:00 until Saturday 02:00.
    assert!(w.holding(at("2026-03-27T22:00:00Z")).is_some());
    assert!(w.holding(at("2026-03-28T01:59:00Z")).is_some());
    assert!(w.holding(at("2026-03-28T02:00:00Z")).is_none());
    // Saturday 22:00 is not a weekday's start, nor is Monday 01:00 (Sunday's).
    assert!(w.holding(at("2026-03-28T22:30:00Z")).is_none());
    assert!(w.holding(at("2026-03-30T01:00:00Z")).is_none());
    assert!(w.holding(at("2026-03-31T01:00:00Z")).is_some());
}

#[test]
fn weekdays_and_days_of_month_must_both_hold() {
    // Mondays that are the 1st: 1 June 2026 is a Monday.
    let w = window(&[Weekday::Mon], &[1], None, "UTC");
    assert!(w.holding(at("2026-06-01T10:00:00Z")).is_some());
    assert!(w.holding(at("2026-06-08T10:00:00Z")).is_none());
    assert!(w.holding(at("2026-07-01T10:00:00Z")).is_none());
    assert_eq!(
        w.next_start(at("2026-06-02T00:00:00Z")),
        Some(at("2027-02-01T00:00:00Z"))
    );
    let monthly = window(&[], &[1], None, "UTC");
    assert_eq!(
        monthly.holding(at("2026-07-01T23:59:59Z")),
        Some((at("2026-07-01"), at("2026-07-02")))
    );
}

#[test]
fn local_times_that_do_not_exist_or_happen_twice_are_placed() {
    // 29 March 2026 01:30 does not exist in London (01:00 GMT -> 02:00 BST).
    let w = window(&[], &[29], Some("01:30-03:00"), "Europe/London");
    assert_eq!(
        w.holding(at("2026-03-29T01:30:00Z")),
        Some((at("2026-03-29T01:00:00Z"), at("2026-03-29T02:00:00Z")))
    );
    // 25 October 2026 01:30 happens twice (BST then GMT): the earlier counts.
    let w = window(&[], &[25], Some("01:30-02:30"), "Europe/London");
    assert_eq!(
        w.holding(at("2026-10-25T00:30:00Z")).map(|s| s.0),
        Some(at("2026-10-25T00:30:00Z"))
    );
}

#[test]
fn until_ends_the_window_and_a_set_names_its_closed_times() {
    let mut w = window(&WEEK, &[], Some("09:00-17:00"), "UTC");
    w.until = Some(at("2026-03-27T12:00:00Z"));
    assert!(w.holding(at("2026-03-27T11:59:00Z")).is_some());
    assert!(w.holding(at("2026-03-27T12:00:00Z")).is_none());
    assert_eq!(w.next_start(at("2026-03-27T12:00:00Z")), None);

    let business = [window(&WEEK, &[], Some("09:00-17:00"), "UTC")];
    let set = WindowSet(&business);
    // Friday evening and Saturday are the same closed time (until Monday 09:00).
    let monday = Some(at("2026-03-30T09:00:00Z"));
    assert_eq!(
        set.closed_time_for(at("2026-03-27T18:00:00Z")),
        Some(monday)
    );
    assert_eq!(
        set.closed_time_for(at("2026-03-28T18:00:00Z")),
        Some(monday)
    );
    // Asked on Friday afternoon inside the window: for the closed time that follows it.
    assert_eq!(
        set.closed_time_for(at("2026-03-27T15:00:00Z")),
        Some(monday)
    );
    // Monday evening is another.
    assert_eq!(
        set.closed_time_for(at("2026-03-30T18:00:00Z")),
        Some(Some(at("2026-03-31T09:00:00Z")))
    );
}

#[test]
fn hours_and_weekdays_parse_or_say_why() {
    assert!(parse_hours("09:00-17:00").is_ok());
    assert!(parse_hours("22:00-02:00").is_ok());
    assert!(parse_hours("9-17").is_err());
    assert!(
        parse_hours("09:00-09:00")
            .unwrap_err()
            .contains("same time")
    );
    assert!(parse_hours("25:00-26:00").is_err());
    assert_eq!(parse_weekday("Mon"), Some(Weekday::Mon));
    assert_eq!(parse_weekday("friday"), Some(Weekday::Fri));
    assert_eq!(parse_weekday("Fr"), None);
}
