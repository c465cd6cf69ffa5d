//! Helpers for `environment.forecast`: the host's bound on the points of one forecast, an
//! API's points put in the order the host accepts, and a compact form of them for the
//! key-value store (values there are at most 64 KiB, a namespace 1 MiB).

use serde::{Deserialize, Serialize};

use crate::{ForecastPoint, TimestampMs};

/// Points one forecast may hold: four weeks of quarter hours. The host drops a forecast with
/// more, so a plugin stops reading an answer's points here.
pub const MAX_POINTS: usize = 28 * 24 * 4;

/// `points` in time order, none overlapping the one before, at most [`MAX_POINTS`], and how
/// many were dropped. The host refuses a whole forecast whose points are out of order or
/// overlap; an API that repeats or reorders a point should cost only that point. Of two points
/// that overlap, the earlier-starting one is kept (the one listed first on a tie).
pub fn in_order(mut points: Vec<ForecastPoint>) -> (Vec<ForecastPoint>, usize) {
    let given = points.len();
    // Stable: on equal starts the point the API listed first stays first.
    points.sort_by_key(|p| p.starts_at);
    let mut kept: Vec<ForecastPoint> = Vec::with_capacity(points.len().min(MAX_POINTS));
    for point in points {
        if kept.len() == MAX_POINTS {
            break;
        }
        let after_last = kept
            .last()
            .is_none_or(|last| last.starts_at.saturating_add(last.duration_ms) <= point.starts_at);
        if after_last {
            kept.push(point);
        }
    }
    let dropped = given - kept.len();
    (kept, dropped)
}

/// A forecast's points as runs of back-to-back points of one duration, each run's start and
/// duration written once: a day of five-minute points is about 5 KB of JSON instead of about
/// 20 KB as separate points, so 72 hours of them fit in one key-value entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredPoints(Vec<Run>);

/// Points that follow each other without a gap, all of `duration_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Run {
    starts_at: TimestampMs,
    duration_ms: u64,
    g_per_kwh: Vec<f64>,
}

impl StoredPoints {
    /// The compact form of `points` (in time order, as [`in_order`] leaves them).
    pub fn new(points: &[ForecastPoint]) -> Self {
        let mut runs: Vec<Run> = Vec::new();
        for p in points {
            let extends = runs.last().is_some_and(|run| {
                let len = u64::try_from(run.g_per_kwh.len()).unwrap_or(u64::MAX);
                run.duration_ms == p.duration_ms
                    && run
                        .starts_at
                        .saturating_add(run.duration_ms.saturating_mul(len))
                        == p.starts_at
            });
            match runs.last_mut() {
                Some(run) if extends => run.g_per_kwh.push(p.carbon_intensity),
                _ => runs.push(Run {
                    starts_at: p.starts_at,
                    duration_ms: p.duration_ms,
                    g_per_kwh: vec![p.carbon_intensity],
                }),
            }
        }
        StoredPoints(runs)
    }

    /// The points again, at most [`MAX_POINTS`] (an entry is read back as stored, but a store
    /// is not a place to trust for a bound).
    pub fn points(&self) -> Vec<ForecastPoint> {
        self.0
            .iter()
            .flat_map(|run| {
                (0u64..).zip(&run.g_per_kwh).map(|(i, g)| ForecastPoint {
                    starts_at: run
                        .starts_at
                        .saturating_add(run.duration_ms.saturating_mul(i)),
                    duration_ms: run.duration_ms,
                    carbon_intensity: *g,
                })
            })
            .take(MAX_POINTS)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(starts_at: u64, duration_ms: u64, carbon_intensity: f64) -> ForecastPoint {
        ForecastPoint {
            starts_at,
            duration_ms,
            carbon_intensity,
        }
    }

    #[test]
    fn points_are_sorted_and_an_overlapping_one_is_dropped() {
        let (kept, dropped) = in_order(vec![
            point(200, 100, 3.0),
            point(0, 100, 1.0),
            point(100, 100, 2.0),
            point(150, 100, 9.0),
            point(100, 100, 8.0),
        ]);
        assert_eq!(
            kept,
            [
                point(0, 100, 1.0),
                point(100, 100, 2.0),
                point(200, 100, 3.0)
            ]
        );
        assert_eq!(dropped, 2);
    }

    #[test]
    fn at_most_max_points_are_kept() {
        let many = (0..MAX_POINTS as u64 + 10)
            .map(|i| point(i * 10, 10, 1.0))
            .collect();
        let (kept, dropped) = in_order(many);
        assert_eq!(kept.len(), MAX_POINTS);
        assert_eq!(dropped, 10);
        assert_eq!(
            kept.last().map(|p| p.starts_at),
            Some((MAX_POINTS as u64 - 1) * 10)
        );
    }

    #[test]
    fn stored_points_read_back_exactly_and_runs_break_at_gaps_and_new_durations() {
        let points = vec![
            point(0, 300, 430.912_751_5),
            point(300, 300, 0.1 + 0.2),
            point(600, 300, 1e-300),
            // A gap, then a longer point.
            point(1_200, 300, 5.0),
            point(1_500, 3_600, 6.0),
        ];
        let stored = StoredPoints::new(&points);
        assert_eq!(stored.0.len(), 3);
        let json = serde_json::to_string(&stored).expect("JSON");
        let back: StoredPoints = serde_json::from_str(&json).expect("read back");
        assert_eq!(back.points(), points);
    }

    #[test]
    fn a_day_of_five_minute_points_is_a_few_kilobytes() {
        let points: Vec<_> = (0..288u64)
            .map(|i| {
                point(
                    1_716_300_000_000 + i * 300_000,
                    300_000,
                    400.0 + i as f64 * 0.123,
                )
            })
            .collect();
        let json = serde_json::to_vec(&StoredPoints::new(&points)).expect("JSON");
        assert!(json.len() < 6_000, "{} bytes", json.len());
    }
}
