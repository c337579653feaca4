//! UTC time, as text and as Unix seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment in UTC.
#[derive(Debug, Clone)]
pub struct Now {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub unix: i64,
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub iso: String,
    /// The UTC calendar date, `YYYY-MM-DD`.
    pub date: String,
}

/// The current time.
pub fn now() -> Now {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    from_unix_millis(d.as_millis() as i64)
}

/// The moment `ms` milliseconds after the epoch.
pub fn from_unix_millis(ms: i64) -> Now {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let date = format!("{y:04}-{m:02}-{d:02}");
    let iso = format!(
        "{date}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms.rem_euclid(1000)
    );
    Now {
        unix: secs,
        iso,
        date,
    }
}

/// Year, month, day of a day count since 1970-01-01 (Hinnant, "chrono-Compatible
/// Low-Level Date Algorithms").
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc() {
        let t = super::from_unix_millis(1_700_000_000_123);
        assert_eq!(t.iso, "2023-11-14T22:13:20.123Z");
        assert_eq!(t.unix, 1_700_000_000);
        assert_eq!(t.date, "2023-11-14");
        assert_eq!(super::from_unix_millis(951_782_400_000).date, "2000-02-29");
    }
}
