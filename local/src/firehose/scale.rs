//! The local stack's time scale: one factor on every wait of the Firehose delivery (see
//! the `firehose` module doc). Knows nothing of what waits.

use std::time::Duration;

/// Factor applied to every wait of the delivery (see the module doc). `TimeScale(0.1)`:
/// ten times faster than AWS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeScale(pub f64);

impl Default for TimeScale {
    fn default() -> Self {
        TimeScale(1.0)
    }
}

impl TimeScale {
    /// `secs` AWS seconds as a local duration.
    pub fn apply(&self, secs: f64) -> Duration {
        let f = if self.0.is_finite() && self.0 >= 0.0 {
            self.0
        } else {
            1.0
        };
        Duration::from_secs_f64((secs * f).clamp(0.0, 1.0e9))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_scale() {
        assert_eq!(TimeScale(0.1).apply(60.0), Duration::from_secs(6));
        assert_eq!(TimeScale(1.0).apply(1.5), Duration::from_millis(1500));
        assert_eq!(TimeScale(f64::NAN).apply(2.0), Duration::from_secs(2));
        assert_eq!(TimeScale(0.0).apply(300.0), Duration::ZERO);
    }
}
