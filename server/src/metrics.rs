//! Prometheus metrics, rendered as text at `/metrics`.
//!
//! Hand-rolled rather than a metrics framework: four families, nothing on the hot path
//! heavier than an uncontended lock, a lookup by route and a few adds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| s <= *b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += s;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in BUCKETS.iter().zip(self.counts) {
            cumulative += c;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// The sidecar's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// By route: one lock and one lookup per request.
    routes: Mutex<BTreeMap<&'static str, RouteStats>>,
    store_latency: Mutex<Histogram>,
    open_connections: AtomicI64,
    rejected_connections: AtomicI64,
}

/// One route's requests: a count per status (a route answers a few, kept in order) and
/// the latency histogram.
#[derive(Debug, Default)]
struct RouteStats {
    statuses: Vec<(u16, u64)>,
    latency: Histogram,
}

impl Metrics {
    /// Counts a finished request.
    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        let mut routes = self.routes.lock();
        let stats = routes.entry(route).or_default();
        match stats.statuses.binary_search_by_key(&status, |&(s, _)| s) {
            Ok(i) => stats.statuses[i].1 += 1,
            Err(i) => stats.statuses.insert(i, (status, 1)),
        }
        stats.latency.observe(took);
    }

    /// Records how long one store call took.
    pub fn store(&self, took: Duration) {
        self.store_latency.lock().observe(took);
    }

    /// A connection opened (+1) or closed (-1).
    pub fn connection(&self, delta: i64) {
        self.open_connections.fetch_add(delta, Ordering::Relaxed);
    }

    /// A connection was turned away at the cap.
    pub fn rejected(&self) {
        self.rejected_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP cronium_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE cronium_requests_total counter\n");
        let routes = self.routes.lock();
        for (route, stats) in routes.iter() {
            for (status, n) in &stats.statuses {
                let _ = writeln!(
                    out,
                    "cronium_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP cronium_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE cronium_request_duration_seconds histogram\n");
        for (route, stats) in routes.iter() {
            stats.latency.render(
                &mut out,
                "cronium_request_duration_seconds",
                &format!("route=\"{route}\""),
            );
        }
        drop(routes);
        out.push_str("# HELP cronium_store_duration_seconds Time of one storage call.\n");
        out.push_str("# TYPE cronium_store_duration_seconds histogram\n");
        self.store_latency
            .lock()
            .render(&mut out, "cronium_store_duration_seconds", "");
        out.push_str("# HELP cronium_open_connections Connections open now.\n");
        out.push_str("# TYPE cronium_open_connections gauge\n");
        let _ = writeln!(
            out,
            "cronium_open_connections {}",
            self.open_connections.load(Ordering::Relaxed)
        );
        out.push_str("# HELP cronium_rejected_connections_total Connections refused at the cap.\n");
        out.push_str("# TYPE cronium_rejected_connections_total counter\n");
        let _ = writeln!(
            out,
            "cronium_rejected_connections_total {}",
            self.rejected_connections.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("variable_get", 200, Duration::from_micros(80));
        m.request("variable_get", 200, Duration::from_millis(3));
        m.request("variable_get", 404, Duration::from_micros(40));
        m.request("variable_get", 201, Duration::from_micros(40));
        m.request("input", 200, Duration::from_micros(40));
        m.connection(1);
        let text = m.render();
        assert!(text.contains("cronium_requests_total{route=\"variable_get\",status=\"200\"} 2"));
        assert!(text.contains("cronium_requests_total{route=\"variable_get\",status=\"404\"} 1"));
        // Counters in the order of route, then status.
        let order: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("cronium_requests_total{"))
            .collect();
        assert_eq!(
            order,
            [
                "cronium_requests_total{route=\"input\",status=\"200\"} 1",
                "cronium_requests_total{route=\"variable_get\",status=\"200\"} 2",
                "cronium_requests_total{route=\"variable_get\",status=\"201\"} 1",
                "cronium_requests_total{route=\"variable_get\",status=\"404\"} 1",
            ]
        );
        assert!(text.contains(
            "cronium_request_duration_seconds_bucket{route=\"variable_get\",le=\"0.0001\"} 3"
        ));
        assert!(text.contains(
            "cronium_request_duration_seconds_bucket{route=\"variable_get\",le=\"+Inf\"} 4"
        ));
        assert!(text.contains("cronium_open_connections 1"));
    }
}
