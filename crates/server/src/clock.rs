//! UTC time, as text and as Unix seconds.

use std::time::{SystemTime, UNIX_EPOCH};

use evidentia_trial::dataset::Date;

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
    let date = Date::from_days_since_epoch(days)
        .map(|d| d.to_string())
        .unwrap_or_else(|| "1970-01-01".to_string());
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
