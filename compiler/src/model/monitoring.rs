//! Monitoring: the proxies' admin (stats) endpoints, service level
//! objectives, alert thresholds and where alerts go. Lowered from the
//! top-level `monitoring` block and the `slo`, `slo-exempt` and `alert`
//! nodes of services, gateway routes and calls; the Prometheus and
//! Alertmanager backends emit them, the monitoring checks hold them
//! against what the proxies measure.

use std::fmt;

use super::values::{Duration, Port};
use crate::base::{Span, Spanned};

/// The mesh's `monitoring` block: without it, proxies run no admin
/// endpoint and nothing is scraped.
#[derive(Debug)]
pub struct Monitoring {
    /// Where each proxy's admin endpoint listens on 127.0.0.1 (`admin-port`,
    /// default 15000), unless its `sidecar admin-port=` or gateway
    /// `admin-port` says otherwise.
    pub admin_port: Port,
    /// Where each proxy serves `/stats/prometheus` to Prometheus on all
    /// addresses (`metrics-port`, default 15090): the admin endpoint itself
    /// stays on 127.0.0.1.
    pub metrics_port: Port,
    /// How often Prometheus scrapes the proxies (`scrape-interval`, 15s).
    pub scrape_interval: Window,
    /// Where Prometheus sends alerts (`alertmanager "HOST:PORT"`, default
    /// `alertmanager:9093`).
    pub alertmanager: Spanned<String>,
    /// Where Prometheus scrapes `meshc-runtime health` (`health-monitor
    /// "HOST:PORT"`, default its own default, `127.0.0.1:9464`: it listens
    /// on loopback, so it runs beside Prometheus).
    pub health_monitor: Spanned<String>,
    /// Alertmanager receivers, in spec order (the order routes are tried).
    pub receivers: Vec<Receiver>,
    /// The receiver of alerts no `match` takes: `default-receiver`, else
    /// `None` (alerts nobody routes are dropped by a receiver without targets).
    pub default_receiver: Option<usize>,
    pub span: Span,
}

impl Monitoring {
    pub const DEFAULT_ADMIN_PORT: u16 = 15000;
    pub const DEFAULT_METRICS_PORT: u16 = 15090;
    pub const DEFAULT_HEALTH_MONITOR: &str = "127.0.0.1:9464";
}

/// An Alertmanager receiver: a webhook and the label sets routed to it.
#[derive(Debug)]
pub struct Receiver {
    pub name: Spanned<String>,
    /// The URL Alertmanager posts alerts to.
    pub webhook: Spanned<String>,
    /// Each `match` node: labels an alert must all carry (equality); the
    /// first receiver with a matching set takes the alert.
    pub matches: Vec<Vec<(String, String)>>,
    pub span: Span,
}

/// How loud an alert is; Alertmanager routes on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn parse(text: &str) -> Result<Severity, String> {
        match text {
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!("`{text}` is not a severity; use \"warning\" or \"critical\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A fraction written as a percentage (`"99.9%"`, `"5%"`), kept in parts
/// per million so objectives like 99.95 % stay exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ratio(u32);

impl Ratio {
    const MILLION: u32 = 1_000_000;

    /// `"99.9%"`: a percentage from 0 to 100 with at most four decimals.
    pub fn parse(text: &str) -> Result<Ratio, String> {
        let bad = || format!("`{text}` is not a percentage from 0% to 100%; write it like \"99.9%\"");
        let digits = text.strip_suffix('%').ok_or_else(bad)?;
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() || whole.len() > 3 || fraction.len() > 4 {
            return Err(bad());
        }
        if !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let padded = format!("{fraction:0<4}");
        let fraction: u32 = padded.parse().map_err(|_| bad())?;
        let ppm = whole * 10_000 + fraction;
        if ppm > Ratio::MILLION {
            return Err(bad());
        }
        Ok(Ratio(ppm))
    }

    pub const fn from_ppm(ppm: u32) -> Ratio {
        Ratio(ppm)
    }

    pub fn ppm(self) -> u32 {
        self.0
    }

    /// What is left of one (an objective's error budget).
    pub fn complement(self) -> Ratio {
        Ratio(Ratio::MILLION - self.0.min(Ratio::MILLION))
    }

    /// As a fraction of one in decimal (`0.001`), exact: what PromQL reads.
    pub fn decimal(self) -> String {
        decimal(u64::from(self.0), 6)
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", decimal(u64::from(self.0), 4))
    }
}

/// `value / 10^scale` written exactly, without trailing zeros.
pub fn decimal(value: u64, scale: u32) -> String {
    let unit = 10u64.pow(scale);
    let (whole, fraction) = (value / unit, value % unit);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:0width$}", width = scale as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A span of time for alerting: `for=`, SLO windows, certificate expiry.
/// Unlike a proxy [`Duration`] it reaches days and weeks (`30d`, `4w`);
/// kept in milliseconds, at least one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window(u64);

impl Window {
    /// The longest window: a year (Prometheus keeps no more by default).
    const MAX_MS: u64 = 366 * 86_400_000;

    /// `30d`, `6h`, `5m`, `30s`, `1h30m`: numbers each followed by ms, s,
    /// m, h, d or w.
    pub fn parse(text: &str) -> Result<Window, String> {
        let bad = |why: &str| format!("`{text}` is not a duration {why}; write it like \"5m\", \"6h\" or \"30d\"");
        let mut total: u64 = 0;
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(bad("(it is empty)"));
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 12 {
                return Err(bad("(a number must come before each unit)"));
            }
            let number: u64 = rest[..digits].parse().map_err(|_| bad(""))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let factor = match &rest[..unit_len] {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 7 * 86_400_000,
                "" => return Err(bad("(a unit must follow each number)")),
                other => return Err(format!("`{text}`: `{other}` is not a unit; the units are ms, s, m, h, d and w")),
            };
            rest = &rest[unit_len..];
            total = total.saturating_add(number.saturating_mul(factor));
        }
        if total == 0 {
            return Err(format!("`{text}` is zero; a duration must be positive"));
        }
        if total > Window::MAX_MS {
            return Err(format!("`{text}` is longer than a year"));
        }
        Ok(Window(total))
    }

    pub const fn from_millis(ms: u64) -> Window {
        Window(ms)
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// This window divided by `factor` (test runs shorten every window
    /// alike), never below a millisecond.
    pub fn scaled(self, factor: u32) -> Window {
        Window((self.0 / u64::from(factor.max(1))).max(1))
    }

    /// Prometheus' form: the largest units first, days at most (`30d`,
    /// not `4w2d`), `1d6h`, `90s`, `250ms`.
    pub fn prometheus(self) -> String {
        let mut rest = self.0;
        let mut out = String::new();
        for (unit, factor) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
            if rest >= factor {
                out.push_str(&format!("{}{unit}", rest / factor));
                rest %= factor;
            }
        }
        if rest > 0 || out.is_empty() {
            out.push_str(&format!("{rest}ms"));
        }
        out
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prometheus())
    }
}

/// What is measured where a service, route or call sets objectives and alerts.
#[derive(Debug, Default)]
pub struct Objectives {
    /// At most one availability and one latency objective.
    pub slos: Vec<Slo>,
    /// `slo-exempt reason="..."`: declared on purpose to need no objective.
    pub exempt: Option<Spanned<String>>,
    pub alerts: Vec<Alert>,
}

impl Objectives {
    pub fn is_empty(&self) -> bool {
        self.slos.is_empty() && self.alerts.is_empty()
    }
}

/// A service level objective over a rolling window, with the error-budget
/// policy its burn-rate alerts follow.
#[derive(Clone, Debug)]
pub struct Slo {
    pub kind: SloKind,
    /// The share of good requests (`objective="99.9%"`).
    pub objective: Spanned<Ratio>,
    /// The rolling window the objective is judged over (`window="30d"`).
    pub window: Window,
    /// The severity of the fast-burn alerts (page: 1h/5m at 14.4×, 6h/30m at 6×).
    pub page: Severity,
    /// The severity of the slow-burn alert (ticket: 3d/6h at 1×); `None`: none.
    pub ticket: Option<Severity>,
    /// Routing labels added to its alerts.
    pub labels: Vec<(String, String)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SloKind {
    /// Good: responses that are not 5xx.
    Availability,
    /// Good: responses faster than `under`.
    Latency { under: Spanned<Duration> },
}

impl SloKind {
    pub fn name(&self) -> &'static str {
        match self {
            SloKind::Availability => "availability",
            SloKind::Latency { .. } => "latency",
        }
    }
}

/// A threshold alert.
#[derive(Clone, Debug)]
pub struct Alert {
    pub kind: AlertKind,
    /// How long the condition must hold before the alert fires (`for=`, 0: at once).
    pub hold: Option<Window>,
    pub severity: Spanned<Severity>,
    /// Routing labels added to the alert.
    pub labels: Vec<(String, String)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertKind {
    /// The share of 5xx responses above `above` (`alert "error-rate" above="5%"`).
    ErrorRate { above: Spanned<Ratio> },
    /// The `percentile` of response times above `above`
    /// (`alert "latency" percentile="99%" above="500ms"`).
    Latency { percentile: Ratio, above: Spanned<Duration> },
    /// Requests in flight as a share of the circuit breaker's
    /// `max-requests` above `above` (`alert "saturation" above="80%"`).
    Saturation { above: Spanned<Ratio> },
    /// The proxy's first certificate expires in less than `below`
    /// (`alert "cert-expiry" below="14d"`).
    CertExpiry { below: Spanned<Window> },
    /// A consumer's events waiting at its broker (not yet delivered, or
    /// delivered and not acknowledged) above `above`
    /// (`alert "consumer-lag" above=1000`): only in a `subscribes` node.
    ConsumerLag { above: Spanned<u64> },
}

impl AlertKind {
    pub fn name(&self) -> &'static str {
        match self {
            AlertKind::ErrorRate { .. } => "error-rate",
            AlertKind::Latency { .. } => "latency",
            AlertKind::Saturation { .. } => "saturation",
            AlertKind::CertExpiry { .. } => "cert-expiry",
            AlertKind::ConsumerLag { .. } => "consumer-lag",
        }
    }

    /// The threshold as a comparable number in the kind's unit (ppm,
    /// milliseconds), and whether the alert fires above it (else below).
    pub fn threshold(&self) -> (u64, bool) {
        match self {
            AlertKind::ErrorRate { above } | AlertKind::Saturation { above } => (u64::from(above.value.ppm()), true),
            AlertKind::Latency { above, .. } => (above.value.as_millis() as u64, true),
            AlertKind::CertExpiry { below } => (below.value.as_millis(), false),
            AlertKind::ConsumerLag { above } => (above.value, true),
        }
    }

    /// The span of the threshold.
    pub fn threshold_span(&self) -> Span {
        match self {
            AlertKind::ErrorRate { above } | AlertKind::Saturation { above } => above.span,
            AlertKind::Latency { above, .. } => above.span,
            AlertKind::CertExpiry { below } => below.span,
            AlertKind::ConsumerLag { above } => above.span,
        }
    }
}

impl super::Model {
    /// The alerts of every place that has them, a slice per place: each
    /// service's own, each call's, each gateway route's, each consumer's.
    pub fn alert_places(&self) -> impl Iterator<Item = &[Alert]> {
        let services = self
            .services
            .iter()
            .flat_map(|s| std::iter::once(&s.objectives.alerts[..]).chain(s.calls.iter().map(|c| &c.alerts[..])));
        let routes = self.gateways.iter().flat_map(|g| &g.routes).filter_map(|r| r.forward());
        services
            .chain(routes.map(|f| &f.objectives.alerts[..]))
            .chain(self.events.consumers.iter().map(|c| &c.alerts[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_exact_in_parts_per_million() {
        assert_eq!(Ratio::parse("99.9%").unwrap().ppm(), 999_000);
        assert_eq!(Ratio::parse("99.95%").unwrap().complement().decimal(), "0.0005");
        assert_eq!(Ratio::parse("5%").unwrap().decimal(), "0.05");
        assert_eq!(Ratio::parse("100%").unwrap().decimal(), "1");
        assert_eq!(Ratio::parse("99.9%").unwrap().to_string(), "99.9%");
        for bad in ["99.9", "101%", "-1%", "1.00001%", "%", "a%", ".5%"] {
            assert!(Ratio::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_reach_days_and_print_as_prometheus_reads_them() {
        assert_eq!(Window::parse("30d").unwrap().prometheus(), "30d");
        assert_eq!(Window::parse("90m").unwrap().prometheus(), "1h30m");
        assert_eq!(Window::parse("1h").unwrap().scaled(60).prometheus(), "1m");
        assert_eq!(Window::parse("5m").unwrap().scaled(7).prometheus(), "42s857ms");
        for bad in ["", "0s", "5", "5y", "400d", "m"] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }
}
