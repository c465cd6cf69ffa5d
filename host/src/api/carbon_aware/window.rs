//! The Carbon Aware SDK's forecast maths, pure: the points scoped to `[dataStartAt,
//! dataEndAt]`, their rolling average over `windowSize` (windows start at the scope's start
//! and move by one point's duration; each is the time-weighted mean of the points under it),
//! the optimal windows (every one with the lowest mean), and the time-weighted average of
//! observed intensities over a period.

use carbonaut_model::ForecastPoint;

/// An interval and its intensity (g/kWh); times in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub time: u64,
    pub duration: u64,
    pub value: f64,
}

impl From<&ForecastPoint> for Point {
    fn from(p: &ForecastPoint) -> Self {
        Point {
            time: p.starts_at,
            duration: p.duration_ms,
            value: p.carbon_intensity,
        }
    }
}

impl Point {
    pub fn end(&self) -> u64 {
        self.time + self.duration
    }
}

/// The points overlapping `[start, end)`.
pub fn scope(points: &[Point], start: u64, end: u64) -> Vec<Point> {
    points
        .iter()
        .filter(|p| p.end() > start && p.time < end)
        .copied()
        .collect()
}

/// Windows of `window` ms from `start` (or the first point, if later), one point's duration
/// apart, that end by `end` and that the points cover; each valued at its time-weighted mean.
/// Unlike the SDK, which returns its first window even when it ends after `dataEndAt`, no
/// window here ends after it.
pub fn rolling(points: &[Point], window: u64, start: u64, end: u64) -> Vec<Point> {
    let Some(first) = points.first() else {
        return Vec::new();
    };
    let tick = first.duration.max(1);
    let mut out = Vec::new();
    let mut at = start.max(first.time);
    while at + window <= end {
        if let Some(value) = average(points, at, at + window) {
            out.push(Point {
                time: at,
                duration: window,
                value,
            });
        }
        at += tick;
    }
    out
}

/// Every point with the lowest value, in time order (the SDK returns all of a tie).
pub fn optimal(points: &[Point]) -> Vec<Point> {
    let Some(best) = points.iter().map(|p| p.value).reduce(f64::min) else {
        return Vec::new();
    };
    points.iter().filter(|p| p.value == best).copied().collect()
}

/// The time-weighted mean of `points` over `[start, end)`, if they cover all of it.
pub fn average(points: &[Point], start: u64, end: u64) -> Option<f64> {
    if end <= start {
        return None;
    }
    let mut covered = 0u64;
    let mut weighted = 0.0;
    for p in points {
        let from = p.time.max(start);
        let to = p.end().min(end);
        if to > from {
            covered += to - from;
            weighted += p.value * (to - from) as f64;
        }
    }
    (covered == end - start).then(|| weighted / covered as f64)
}

/// The first instant in `[start, end)` no point covers, if any.
pub fn first_gap(points: &[Point], start: u64, end: u64) -> Option<u64> {
    let mut at = start;
    for p in points {
        if p.time > at {
            break;
        }
        at = at.max(p.end());
        if at >= end {
            return None;
        }
    }
    (at < end).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 60_000;

    fn five_minute(values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Point {
                time: i as u64 * 5 * M,
                duration: 5 * M,
                value: *v,
            })
            .collect()
    }

    #[test]
    fn a_ten_minute_rolling_average_by_hand() {
        let points = five_minute(&[400.0, 200.0, 100.0, 300.0, 500.0]);
        let windows = rolling(&points, 10 * M, 0, 25 * M);
        let means: Vec<(u64, f64)> = windows.iter().map(|w| (w.time / M, w.value)).collect();
        // (400+200)/2, (200+100)/2, (100+300)/2, (300+500)/2; a fifth would end at 30 min.
        assert_eq!(means, [(0, 300.0), (5, 150.0), (10, 200.0), (15, 400.0)]);
        assert!(windows.iter().all(|w| w.duration == 10 * M));
        assert_eq!(optimal(&windows), [windows[1]]);
    }

    #[test]
    fn a_window_starting_inside_a_point_weighs_it_by_time() {
        let points = five_minute(&[100.0, 400.0]);
        // 2 min of 100, then 3 min of 400: (200 + 1200) / 5 = 280.
        let windows = rolling(&points, 5 * M, 3 * M, 10 * M);
        assert_eq!(windows[0].time, 3 * M);
        assert!((windows[0].value - 280.0).abs() < 1e-9);
    }

    #[test]
    fn ties_are_all_optimal_and_no_window_ends_after_the_scope() {
        let points = five_minute(&[50.0, 80.0, 50.0]);
        assert_eq!(optimal(&points).len(), 2);
        assert!(rolling(&points, 20 * M, 0, 15 * M).is_empty());
    }

    #[test]
    fn averages_need_the_whole_period_covered() {
        let mut points = five_minute(&[100.0, 300.0]);
        assert_eq!(average(&points, 0, 10 * M), Some(200.0));
        assert_eq!(average(&points, 0, 11 * M), None);
        points.remove(0);
        assert_eq!(first_gap(&points, 0, 10 * M), Some(0));
        assert_eq!(first_gap(&five_minute(&[1.0, 2.0]), 0, 10 * M), None);
        assert_eq!(
            first_gap(&five_minute(&[1.0, 2.0]), 0, 12 * M),
            Some(10 * M)
        );
    }

    #[test]
    fn scope_keeps_points_that_overlap() {
        let points = five_minute(&[1.0, 2.0, 3.0]);
        let kept: Vec<f64> = scope(&points, 4 * M, 10 * M)
            .iter()
            .map(|p| p.value)
            .collect();
        assert_eq!(kept, [1.0, 2.0]);
    }
}
