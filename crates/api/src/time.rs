//! Times on the wire: ISO-8601 UTC with microseconds (`2023-05-29T12:12:11.584841Z`).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as i64
}

pub fn format_micros(micros: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .expect("a UTC time formats")
}

/// Parses a time filter: an RFC 3339 date-time (`2024-05-01T10:00:00Z`) or a date
/// (`2024-05-01`, meaning its midnight UTC).
pub fn parse_time(raw: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(raw, &Rfc3339).ok().or_else(|| {
        Date::parse(raw, format_description!("[year]-[month]-[day]"))
            .ok()
            .map(|d| d.midnight().assume_utc())
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_microseconds() {
        assert_eq!(
            format_micros(1_685_362_331_584_841),
            "2023-05-29T12:12:11.584841Z"
        );
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn parses_dates_and_date_times() {
        assert_eq!(
            parse_time("2023-05-29T12:12:11.584841Z"),
            Some(1_685_362_331_584_841)
        );
        assert_eq!(parse_time("1970-01-02"), Some(86_400_000_000));
        assert_eq!(parse_time("yesterday"), None);
    }
}
