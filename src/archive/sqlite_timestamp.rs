//! Timestamps as the SQLite archive stores them: the text diesel writes for a `NaiveDateTime`
//! (`%F %T%.f`, e.g. `2026-12-05 09:40:37.352665`), written digit by digit.
//!
//! diesel formats each one through chrono's format string, which chrono parses again for every
//! value: with two timestamps a row, that was about a tenth of the SQLite archive writer's CPU
//! (docs/benchmarks.md, "Profile", seventh round). The text must stay exactly chrono's, since
//! SQLite compares these columns as text (keyset pagination, retention): a unit test holds the
//! two to each other.

use chrono::{Datelike, NaiveDateTime, Timelike};
use diesel::expression::AsExpression;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

/// What diesel's own `NaiveDateTime` encoding writes, for the archive's SQLite rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, AsExpression)]
#[diesel(sql_type = Timestamp)]
pub struct SqliteTimestamp(pub NaiveDateTime);

/// chrono's pattern for the same text, for what the fast path does not cover.
const FORMAT: &str = "%F %T%.f";

impl SqliteTimestamp {
    pub fn text(&self) -> String {
        let at = self.0;
        let year = at.year();
        let nanos = at.nanosecond();
        // Years chrono writes with a sign or more digits, and leap seconds (which chrono keeps
        // as nanoseconds past 1e9), never come from the clock: chrono writes those.
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return at.format(FORMAT).to_string();
        }
        let mut text = String::with_capacity(29);
        push_digits(&mut text, year as u32, 4);
        text.push('-');
        push_digits(&mut text, at.month(), 2);
        text.push('-');
        push_digits(&mut text, at.day(), 2);
        text.push(' ');
        push_digits(&mut text, at.hour(), 2);
        text.push(':');
        push_digits(&mut text, at.minute(), 2);
        text.push(':');
        push_digits(&mut text, at.second(), 2);
        // `%.f`: nothing for a whole second, else milli-, micro- or nanoseconds, whichever is
        // the shortest that holds the fraction.
        if nanos != 0 {
            text.push('.');
            if nanos % 1_000_000 == 0 {
                push_digits(&mut text, nanos / 1_000_000, 3);
            } else if nanos % 1_000 == 0 {
                push_digits(&mut text, nanos / 1_000, 6);
            } else {
                push_digits(&mut text, nanos, 9);
            }
        }
        text
    }
}

/// `value` in decimal, zero-padded to `width` digits (`value` has at most `width`).
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

impl ToSql<Timestamp, Sqlite> for SqliteTimestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.text());
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate};
    use proptest::prelude::*;

    fn chrono_text(at: NaiveDateTime) -> String {
        at.format(FORMAT).to_string()
    }

    #[test]
    fn the_text_is_chronos_for_every_kind_of_fraction_and_edge() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        let cases = [
            day.and_hms_opt(0, 0, 0).unwrap(),
            day.and_hms_milli_opt(9, 40, 37, 352).unwrap(),
            day.and_hms_micro_opt(9, 40, 37, 352_665).unwrap(),
            day.and_hms_micro_opt(23, 59, 59, 1).unwrap(),
            day.and_hms_nano_opt(1, 2, 3, 4).unwrap(),
            day.and_hms_nano_opt(1, 2, 3, 120_000_000).unwrap(),
            NaiveDate::from_ymd_opt(1, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            NaiveDate::from_ymd_opt(9999, 12, 31)
                .unwrap()
                .and_hms_micro_opt(23, 59, 59, 999_999)
                .unwrap(),
            // chrono's own path: a leap second, and years outside four digits.
            day.and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap(),
            NaiveDate::from_ymd_opt(10_000, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            NaiveDate::from_ymd_opt(-1, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        ];
        for at in cases {
            assert_eq!(SqliteTimestamp(at).text(), chrono_text(at), "{at:?}");
        }
        assert_eq!(
            SqliteTimestamp(cases[2]).text(),
            "2026-12-05 09:40:37.352665"
        );
    }

    proptest! {
        #[test]
        fn any_instant_the_clock_gives_reads_as_chrono_writes_it(
            micros in 0i64..4_102_444_800_000_000, // 1970 to 2100
            extra_nanos in prop_oneof![Just(0u32), 0u32..1_000],
        ) {
            let at = DateTime::from_timestamp_micros(micros).unwrap().naive_utc()
                + chrono::TimeDelta::nanoseconds(i64::from(extra_nanos));
            prop_assert_eq!(SqliteTimestamp(at).text(), chrono_text(at));
        }
    }
}
