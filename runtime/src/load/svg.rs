//! A target's latency plot: latency by percentile, one curve per phase,
//! the percentile axis stretched towards the tail (0, 90, 99, 99.9, 99.99,
//! as HdrHistogram plots are) and each latency threshold of the spec drawn
//! across. A standalone SVG document, names escaped, for the docs site.

use std::fmt::Write as _;

use super::TargetReport;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 48.0;
/// Nines on the percentile axis: 0 (p0) to 4 (p99.99).
const NINES: f64 = 4.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// Text and attribute values as XML takes them.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Where percentile `p` sits on the axis: its number of nines.
fn nines(p: f64) -> f64 {
    (-(1.0 - p / 100.0).max(1e-4).log10()).clamp(0.0, NINES)
}

/// The plot of one target; `thresholds` are the spec's latency claims (ms, label).
pub fn plot(report: &TargetReport, thresholds: &[(u64, String)]) -> String {
    let micros = |p: f64| report.phases.iter().map(move |ph| ph.tally.latency.percentile(p));
    let top_ms = micros(100.0).max().unwrap_or(0) as f64 / 1000.0;
    let ceiling = thresholds.iter().map(|(t, _)| *t as f64).fold(top_ms, f64::max).max(1.0) * 1.1;
    let x = |p: f64| LEFT + nines(p) / NINES * (WIDTH - LEFT - RIGHT);
    let y = |ms: f64| HEIGHT - BOTTOM - ms / ceiling * (HEIGHT - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<title>{}</title>"#, escape(&format!("Latency by percentile: {}", report.id)));
    let _ = writeln!(svg, r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="20" font-size="13">{} ({} rps declared, {})</text>"#,
        escape(&report.id),
        report.rps,
        escape(&report.source)
    );
    // Axes, ticks and labels.
    let (x0, x1, y0) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM);
    let _ = writeln!(svg, r#"<path d="M{x0} {TOP} V{y0} H{x1}" stroke="black" fill="none"/>"#);
    for (label, p) in [("p0", 0.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9), ("p99.99", 99.99)] {
        let at = x(p);
        let _ = writeln!(
            svg,
            r##"<path d="M{at:.1} {y0} v4" stroke="black"/><text x="{at:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            y0 + 16.0
        );
    }
    for step in 0..=4 {
        let value = ceiling * f64::from(step) / 4.0;
        let at = y(value);
        let _ = writeln!(
            svg,
            r##"<path d="M{x0} {at:.1} H{x1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{value:.0}</text>"##,
            x0 - 4.0,
            at + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">latency (ms)</text>"#,
        (TOP + y0) / 2.0,
        (TOP + y0) / 2.0
    );
    for (ms, label) in thresholds {
        let at = y(*ms as f64);
        let _ = writeln!(
            svg,
            r##"<path d="M{x0} {at:.1} H{x1}" stroke="#ff7f0e" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#ff7f0e">{}</text>"##,
            x1 - 2.0,
            at - 4.0,
            escape(label)
        );
    }
    // One curve per phase: 200 points along the stretched axis.
    for (i, phase) in report.phases.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut points = String::new();
        for k in 0..=200 {
            let n = NINES * f64::from(k) / 200.0;
            let p = 100.0 * (1.0 - 10f64.powf(-n));
            let ms = phase.tally.latency.percentile(p) as f64 / 1000.0;
            let _ = write!(points, "{:.1},{:.1} ", x(p), y(ms));
        }
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            points.trim_end()
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" fill="{colour}">{}x ({} requests)</text>"#,
            x0 + 8.0,
            TOP + 14.0 * (i as f64 + 1.0),
            phase.multiple,
            phase.sent
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The target's latency claims, as lines across its plot.
pub fn thresholds(target: &super::plan::Target) -> Vec<(u64, String)> {
    target
        .objectives
        .iter()
        .filter_map(|o| {
            let kind = if o.kind == super::plan::ObjectiveKind::LatencySlo { "objective" } else { "alert" };
            Some((o.under_ms?, format!("p{} {kind} {} ms", o.percentile.unwrap_or(99.0), o.under_ms?)))
        })
        .collect()
}

/// A file name for a target's plot: its id with anything but letters,
/// digits, `-` and `_` as `_`.
pub fn file_name(id: &str) -> String {
    let name: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("{name}.svg")
}

#[cfg(test)]
mod tests {
    use super::{escape, file_name, nines, plot};
    use crate::load::generator::Tally;
    use crate::load::{Phase, TargetReport};

    #[test]
    fn the_percentile_axis_counts_nines() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert_eq!(nines(100.0), 4.0);
    }

    #[test]
    fn a_plot_is_one_svg_document_with_names_escaped() {
        let mut tally = Tally::default();
        for micros in [40_000, 41_000, 45_000, 90_000] {
            tally.latency.record(micros);
        }
        let phase = Phase {
            multiple: 1.0,
            offered_rps: 50.0,
            sent: 4,
            clients: 1,
            tally,
            counters: Default::default(),
            upstream_requests: None,
        };
        let report = TargetReport {
            id: "gateway:a<b>/r&\"x\"".into(),
            subject: String::new(),
            source: "gateway.kdl:3".into(),
            rps: 50,
            latency_ms: 40,
            phases: vec![phase],
            verdicts: Vec::new(),
            error: None,
        };
        let svg = plot(&report, &[(600, "p99 objective <600 ms".into())]);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("gateway:a&lt;b&gt;/r&amp;&quot;x&quot;"));
        assert!(svg.contains("&lt;600 ms"));
        assert!(!svg.contains("a<b"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(file_name("gateway:public/get-product"), "gateway_public_get-product.svg");
        assert_eq!(escape("a\u{1}b"), "ab");
    }
}
