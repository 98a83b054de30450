//! The latency chart: horizontal bars of the median cached-read latency per client, next
//! to the floor, on a log scale (the clients span three orders of magnitude). Plain SVG.

use std::fmt::Write as _;
use std::path::Path;

/// One bar: a client's median in one mode (pinned or unpinned).
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) group: &'static str,
    pub(crate) label: String,
    pub(crate) median_us: f64,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn write(path: &Path, bars: &[Bar], quick: bool) -> std::io::Result<()> {
    const LABEL_W: f64 = 250.0;
    const BAR_W: f64 = 560.0;
    const ROW_H: f64 = 20.0;
    let lo = 1.0f64; // 1 µs at the left edge
    let hi = bars
        .iter()
        .map(|b| b.median_us)
        .fold(10.0f64, f64::max)
        .max(lo * 10.0)
        * 2.0;
    let (llo, lhi) = (lo.log10(), hi.log10());
    let x = |v: f64| LABEL_W + (v.max(lo).log10() - llo) / (lhi - llo) * BAR_W;

    let groups: Vec<&str> = {
        let mut g: Vec<&str> = Vec::new();
        for b in bars {
            if !g.contains(&b.group) {
                g.push(b.group);
            }
        }
        g
    };
    let height = 60.0 + (bars.len() + groups.len() * 2) as f64 * ROW_H + 30.0;
    let width = LABEL_W + BAR_W + 110.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">Cached variable read: median latency per client (log scale){}</text>"#,
        if quick { " — quick run, noisy" } else { "" }
    );
    // Decade grid lines.
    let mut y = 40.0;
    let grid_top = y;
    let grid_bottom = height - 30.0;
    let mut d = lo;
    while d <= hi {
        let gx = x(d);
        let label = if d >= 1000.0 {
            format!("{} ms", d / 1000.0)
        } else {
            format!("{d} µs")
        };
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{grid_top}" x2="{gx:.1}" y2="{grid_bottom}" stroke="#ddd"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#666">{label}</text>"##,
            grid_bottom + 15.0
        );
        d *= 10.0;
    }
    for g in groups {
        y += ROW_H;
        let _ = writeln!(
            s,
            r#"<text x="10" y="{y:.1}" font-weight="bold">{}</text>"#,
            esc(&format!("client and sidecar {g}"))
        );
        let floor = bars
            .iter()
            .find(|b| b.group == g && b.label.starts_with("floor"))
            .map(|b| b.median_us);
        for b in bars.iter().filter(|b| b.group == g) {
            y += ROW_H;
            let w = (x(b.median_us) - LABEL_W).max(1.0);
            let colour = if b.label.starts_with("floor") {
                "#888"
            } else {
                "#3b7dd8"
            };
            let ratio = floor
                .filter(|f| *f > 0.0 && !b.label.starts_with("floor"))
                .map_or(String::new(), |f| {
                    format!(" ({:.1}× floor)", b.median_us / f)
                });
            let value = if b.median_us >= 1000.0 {
                format!("{:.2} ms", b.median_us / 1000.0)
            } else {
                format!("{:.1} µs", b.median_us)
            };
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{LABEL_W}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                LABEL_W - 6.0,
                y - 4.0,
                esc(&b.label),
                y - ROW_H + 4.0,
                ROW_H - 6.0,
                LABEL_W + w + 4.0,
                y - 4.0,
                esc(&format!("{value}{ratio}")),
            );
        }
        y += ROW_H * 0.5;
    }
    s.push_str("</svg>\n");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, s)
}
