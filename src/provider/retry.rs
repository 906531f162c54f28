//! Backoff with jitter, honouring `retry-after-ms` / `Retry-After` (seconds or HTTP date).

use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total tries, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A server asking us to wait longer than this is not waited for: the error is shown.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// How long to wait after the `failed`-th failed attempt (1-based), or `None` to give up.
pub fn delay(policy: &RetryPolicy, failed: u32, retry_after: Option<Duration>) -> Option<Duration> {
    if let Some(ra) = retry_after {
        return (ra <= policy.max_retry_after).then_some(ra);
    }
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << (failed.saturating_sub(1)).min(16));
    let capped = exp.min(policy.max_delay);
    // "Equal jitter": between half and all of the exponential delay.
    let jitter = 0.5 + 0.5 * random_unit();
    Some(capped.mul_f64(jitter))
}

fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses the retry headers; `get` looks a header up by lower-case name.
pub fn parse_retry_after<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    now: SystemTime,
) -> Option<Duration> {
    if let Some(ms) = get("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let v = get("retry-after")?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 19 Nov 2025 19:40:03 GMT")
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let h = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        };
        assert_eq!(
            parse_retry_after(h(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after(h(&[("retry-after-ms", "250"), ("retry-after", "7")]), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after(h(&[("retry-after", "Wed, 19 Nov 2025 19:40:13 GMT")]), now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after(h(&[("retry-after", "soon")]), now), None);
        assert_eq!(parse_retry_after(h(&[]), now), None);
    }

    #[test]
    fn backoff_grows_caps_and_honours_server() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..Default::default()
        };
        let d1 = delay(&p, 1, None).unwrap_or_default();
        assert!(
            d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
            "{d1:?}"
        );
        let d3 = delay(&p, 3, None).unwrap_or_default();
        assert!(
            d3 >= Duration::from_millis(175) && d3 <= Duration::from_millis(350),
            "{d3:?}"
        );
        assert_eq!(
            delay(&p, 1, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(delay(&p, 1, Some(Duration::from_secs(600))), None);
    }
}
