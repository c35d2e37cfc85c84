//! `grafana/dashboards/*.json` (monitored meshes): a dashboard per service
//! (`service-NAME.json`: RED of its inbound traffic and of each call, its
//! SLOs' burn rates and budget left, its instances' health), per gateway
//! (`gateway-NAME.json`: RED and SLOs per route) and `overview.json` (every
//! service and route at a glance, consumers' lag, SLOs burning, alerts firing).

use std::collections::BTreeMap;

use super::json::*;
use super::metrics::{self as m, escape, matchers};
use super::{uid, DATASOURCE_NAME, DATASOURCE_UID, FOLDER, SCHEMA_VERSION};
use crate::emit::monitoring::{lags, subjects, Scope, Subject};
use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::monitoring::{Slo, SloKind, Window};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn emit(model: &Model, _: &SchemaIndex, options: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let Some(monitoring) = &model.monitoring else { return Vec::new() };
    dashboards(model, options.time_scale())
        .into_iter()
        .map(|(file, dashboard)| Artifact {
            path: format!("grafana/dashboards/{file}"),
            contents: crate::emit::pretty_json(&dashboard),
            origin: monitoring.span,
        })
        .collect()
}

/// Every dashboard, by file name: the overview, then per gateway, then per
/// service; their time range, refresh and raw rate windows divided by `scale`
/// as the rules' windows are.
pub fn dashboards(model: &Model, scale: u32) -> Vec<(String, Dashboard)> {
    let all = subjects(model, true);
    // Subjects grouped once by their dashboard (no scan per service).
    let mut by_gateway: BTreeMap<&str, Vec<&Subject>> = BTreeMap::new();
    let mut by_service: BTreeMap<&str, Vec<&Subject>> = BTreeMap::new();
    for subject in &all {
        match subject.scope {
            Scope::Route => by_gateway.entry(label(subject, "gateway")).or_default().push(subject),
            Scope::Service => by_service.entry(label(subject, "service")).or_default().push(subject),
            Scope::Call => by_service.entry(label(subject, "caller")).or_default().push(subject),
        }
    }
    let slos = all.iter().any(|s| !s.slos.is_empty());
    let alerts = slos || all.iter().any(|s| !s.alerts.is_empty());
    let mut out = vec![("overview.json".to_string(), overview(model, slos, alerts, scale))];
    for gateway in &model.gateways {
        let name = gateway.name.value.as_str();
        let routes = by_gateway.get(name).map_or(&[][..], Vec::as_slice);
        let mut grid = Grid::default();
        for subject in routes {
            red_row(&mut grid, subject, &format!("Route {}", label(subject, "route")), scale);
            slo_panels(&mut grid, subject);
        }
        if routes.is_empty() {
            grid.row("No forwarding routes: nothing is measured at this gateway".into());
        }
        out.push((
            format!("gateway-{name}.json"),
            dashboard(
                uid("gateway", name),
                format!("meshc / gateway {name}"),
                format!("Traffic of gateway `{name}` per route: rate, errors, latency, SLOs (mesh `{}`).", model.name),
                "gateway",
                grid,
                scale,
            ),
        ));
    }
    for service in &model.services {
        let name = service.name.value.as_str();
        let measured = by_service.get(name).map_or(&[][..], Vec::as_slice);
        let checked = service.traffic.health_check.is_some();
        if measured.is_empty() && !checked {
            continue;
        }
        let mut grid = Grid::default();
        for subject in measured {
            let title = match subject.scope {
                Scope::Service => "Inbound".to_string(),
                _ => format!("Call {} → {}", label(subject, "call"), label(subject, "callee")),
            };
            red_row(&mut grid, subject, &title, scale);
            slo_panels(&mut grid, subject);
        }
        if checked {
            health_panels(&mut grid, name);
        }
        out.push((
            format!("service-{name}.json"),
            dashboard(
                uid("service", name),
                format!("meshc / service {name}"),
                format!(
                    "Service `{name}`: its inbound traffic and its calls (rate, errors, latency), SLOs and instance health (mesh `{}`).",
                    model.name
                ),
                "service",
                grid,
                scale,
            ),
        ));
    }
    out
}

/// `slos`, `alerts`: whether the spec has any (else their series never exist).
/// A subject's label `name` (`""` if it has none).
fn label<'a>(subject: &'a Subject, name: &str) -> &'a str {
    subject.labels.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v.as_str())
}

fn overview(model: &Model, slos: bool, alerts: bool, scale: u32) -> Dashboard {
    let mut grid = Grid::default();
    grid.row("Services (inbound, at their sidecars)".into());
    let services = "service!=\"\"";
    grid.place(
        8,
        timeseries(
            "Request rate by service",
            "reqps",
            vec![(format!("sum by (service) ({}{{{services}}})", m::REQUESTS), "{{service}}".into())],
        ),
    );
    grid.place(
        8,
        timeseries(
            "Error ratio (5xx) by service",
            "percentunit",
            vec![(format!("max by (service) ({}{{{services}}})", m::ERROR_RATIO), "{{service}}".into())],
        ),
    );
    grid.place(
        8,
        timeseries(
            "Latency p99 by service",
            "ms",
            vec![(format!("max by (service) ({}{{{services}}})", m::LATENCY_P99), "{{service}}".into())],
        ),
    );
    if !model.gateways.is_empty() {
        grid.row("Gateway routes".into());
        let routes = "route!=\"\"";
        grid.place(
            8,
            timeseries(
                "Request rate by route",
                "reqps",
                vec![(
                    format!("sum by (gateway, route) ({}{{{routes}}})", m::REQUESTS),
                    "{{gateway}} {{route}}".into(),
                )],
            ),
        );
        grid.place(
            8,
            timeseries(
                "Error ratio (5xx) by route",
                "percentunit",
                vec![(
                    format!("max by (gateway, route) ({}{{{routes}}})", m::ERROR_RATIO),
                    "{{gateway}} {{route}}".into(),
                )],
            ),
        );
        grid.place(
            8,
            timeseries(
                "Latency p99 by route",
                "ms",
                vec![(
                    format!("max by (gateway, route) ({}{{{routes}}})", m::LATENCY_P99),
                    "{{gateway}} {{route}}".into(),
                )],
            ),
        );
    }
    if !lags(model, true).is_empty() {
        grid.row("Consumers (at their brokers)".into());
        let mut lag = timeseries(
            "Consumer lag (events waiting) by group",
            "short",
            vec![(format!("max by (topic, group) ({})", m::CONSUMER_LAG), "{{group}} on {{topic}}".into())],
        );
        lag.description =
            "Events waiting for each durable consumer group at its broker: ready + unacknowledged (RabbitMQ, JetStream), offsets behind (Kafka).".into();
        grid.place(24, lag);
    }
    if alerts {
        grid.row("SLOs and alerts".into());
    } else {
        grid.row("No SLOs or alerts in the spec".into());
    }
    if slos {
        let mut budget = table(
            "Error budget left per SLO (lowest first)",
            "percentunit",
            format!("sort({})", m::SLO_BUDGET_REMAINING),
        );
        budget.description = "Every SLO's budget left over its window: below 0 the objective is missed.".into();
        grid.place(8, budget);
        let burning = m::SLO_ALERTS.join("|");
        let mut slo_alerts = table(
            "SLOs burning (burn-rate alerts firing)",
            "short",
            format!("{}{{alertstate=\"firing\",alertname=~\"{burning}\"}}", m::ALERTS),
        );
        slo_alerts.description =
            "SLOErrorBudgetFastBurn pages, SLOErrorBudgetSlowBurn tickets: open the subject's dashboard.".into();
        grid.place(8, slo_alerts);
    }
    if alerts {
        let mut firing = table("Alerts firing", "short", format!("{}{{alertstate=\"firing\"}}", m::ALERTS));
        firing.description = "Every meshc alert firing now, with its labels (severity, team, subject).".into();
        grid.place(8, firing);
    }
    dashboard(
        uid("overview", &model.name),
        format!("meshc / overview {}", model.name),
        format!("Mesh `{}` at a glance: every service's and route's RED, SLOs burning, alerts firing.", model.name),
        "overview",
        grid,
        scale,
    )
}

/// A subject's rate, errors and latency (p50, p95, p99) under a row.
fn red_row(grid: &mut Grid, subject: &Subject, title: &str, scale: u32) {
    grid.row(title.to_string());
    let sel = matchers(subject);
    let what = &subject.description;
    let mut rate = timeseries("Request rate", "reqps", vec![(format!("{}{{{sel}}}", m::REQUESTS), "requests".into())]);
    rate.targets.push(target(1, format!("{}{{{sel}}}", m::ERRORS), "5xx".into()));
    rate.description = format!("Requests per second of {what} (5m rate), and those answered 5xx.");
    grid.place(8, rate);
    let mut errors = timeseries(
        "Error ratio (5xx)",
        "percentunit",
        vec![(format!("{}{{{sel}}}", m::ERROR_RATIO), "5xx ratio".into())],
    );
    errors.description = match subject.grpc {
        None => format!("The share of 5xx responses of {what} (5m rate)."),
        Some(_) => format!("The share of 5xx responses and gRPC server errors of {what} (5m rate)."),
    };
    grid.place(8, errors);
    let mut latency = timeseries(
        "Latency p50 / p95 / p99",
        "ms",
        vec![
            (format!("{}{{{sel}}}", m::LATENCY_P50), "p50".into()),
            (m::latency_p95(subject, scale), "p95".into()),
            (format!("{}{{{sel}}}", m::LATENCY_P99), "p99".into()),
        ],
    );
    latency.description = format!("Response-time percentiles of {what} (5m rate of Envoy's histogram).");
    grid.place(8, latency);
    if subject.grpc.is_some() {
        let mut grpc = timeseries(
            "gRPC responses by status",
            "reqps",
            vec![(format!("{}{{{sel}}}", m::GRPC_RESPONSES), "{{grpc_status}}".into())],
        );
        grpc.description = format!(
            "gRPC responses of {what} per second by status code (5m rate). Failures travel as HTTP 200: UNKNOWN (2), DEADLINE_EXCEEDED (4), UNIMPLEMENTED (12), INTERNAL (13), UNAVAILABLE (14) and DATA_LOSS (15) count as errors above; the caller's errors do not."
        );
        grid.place(24, grpc);
    }
}

/// Per SLO of a subject: its burn rate over each window and its budget left.
fn slo_panels(grid: &mut Grid, subject: &Subject) {
    for slo in subject.slos {
        let sel = format!("{},slo=\"{}\"", matchers(subject), escape(slo.kind.name()));
        let targets = m::slo_windows(slo)
            .into_iter()
            .map(|w| (format!("{}{{{sel}}} / (1 - {}{{{sel}}})", m::slo_ratio(w), m::SLO_OBJECTIVE), span(w)))
            .collect();
        let mut burn = timeseries(&format!("SLO {}: burn rate", slo_name(slo)), "x", targets);
        burn.description = format!(
            "How fast {} spends its error budget, per window (1 = exactly the budget over {}). Pages above 14.4 (1h and 5m) or 6 (6h and 30m).",
            subject.description,
            span(slo.window)
        );
        burn.field_config.defaults.thresholds.steps =
            vec![step("green", None), step("orange", Some(1.0)), step("red", Some(6.0))];
        grid.place(16, burn);
        let mut budget = stat(
            &format!("SLO {}: error budget left", slo_name(slo)),
            "percentunit",
            format!("{}{{{sel}}}", m::SLO_BUDGET_REMAINING),
        );
        budget.description = format!("The share of the error budget left over the last {}.", span(slo.window));
        budget.field_config.defaults.thresholds.steps =
            vec![step("red", None), step("orange", Some(0.25)), step("green", Some(0.5))];
        grid.place(8, budget);
    }
}

fn slo_name(slo: &Slo) -> String {
    let window = span(slo.window);
    match &slo.kind {
        SloKind::Availability => format!("availability {} over {window}", slo.objective.value),
        SloKind::Latency { under } => {
            format!("latency under {} for {} over {window}", under.value, slo.objective.value)
        }
    }
}

/// A window in its largest whole unit, as specs write them: `30d`, `90m`.
fn span(window: Window) -> String {
    let ms = window.as_millis();
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// The HealthMonitor's view of a service's instances.
fn health_panels(grid: &mut Grid, service: &str) {
    grid.row("Instance health (meshc-runtime health)".into());
    let sel = format!("service=\"{}\"", escape(service));
    let mut up = timeseries(
        "Instances up",
        "short",
        vec![(format!("{}{{{sel}}}", m::HEALTH_UP), "{{instance}} {{version}}".into())],
    );
    up.description = "1 while an instance passes its health check, 0 while starting or unhealthy.".into();
    up.field_config.defaults.min = Some(0.0);
    up.field_config.defaults.max = Some(1.0);
    grid.place(12, up);
    let mut unhealthy = stat(
        "Instances unhealthy",
        "short",
        format!("sum({}{{{sel},state=\"unhealthy\"}}) or vector(0)", m::HEALTH_STATE),
    );
    unhealthy.description = "Instances past their unhealthy threshold now.".into();
    unhealthy.field_config.defaults.thresholds.steps = vec![step("green", None), step("red", Some(1.0))];
    grid.place(12, unhealthy);
}

/// Panels placed left to right in rows of 24 columns.
#[derive(Default)]
struct Grid {
    entries: Vec<Entry>,
    next_id: u32,
    x: u32,
    y: u32,
    /// The height of the line being filled.
    line: u32,
}

const HEIGHT: u32 = 8;

impl Grid {
    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn newline(&mut self) {
        self.y += self.line;
        self.x = 0;
        self.line = 0;
    }

    fn row(&mut self, title: String) {
        self.newline();
        let id = self.id();
        self.entries.push(Entry::Row(Row {
            collapsed: false,
            grid_pos: GridPos { h: 1, w: 24, x: 0, y: self.y },
            id,
            panels: Vec::new(),
            title,
            kind: "row",
        }));
        self.y += 1;
    }

    fn place(&mut self, w: u32, mut panel: Panel) {
        if self.x + w > 24 {
            self.newline();
        }
        panel.id = self.id();
        panel.grid_pos = GridPos { h: HEIGHT, w, x: self.x, y: self.y };
        self.x += w;
        self.line = self.line.max(HEIGHT);
        self.entries.push(Entry::Panel(Box::new(panel)));
    }
}

fn datasource() -> DataSourceRef {
    DataSourceRef { kind: "prometheus", uid: "${datasource}" }
}

fn step(color: &'static str, value: Option<f64>) -> Step {
    Step { color, value }
}

fn target(index: usize, expr: String, legend: String) -> Target {
    Target {
        datasource: datasource(),
        expr,
        format: "time_series",
        instant: false,
        legend_format: legend,
        range: true,
        ref_id: ref_id(index),
    }
}

/// `A`, `B`, ... `Z`, `AA`, ...
fn ref_id(index: usize) -> String {
    let mut out = String::new();
    let mut n = index + 1;
    while n > 0 {
        n -= 1;
        out.insert(0, char::from(b'A' + (n % 26) as u8));
        n /= 26;
    }
    out
}

fn panel(kind: &'static str, title: &str, unit: &'static str, options: PanelOptions, targets: Vec<Target>) -> Panel {
    Panel {
        datasource: datasource(),
        description: String::new(),
        field_config: FieldConfigSource {
            defaults: FieldConfig {
                decimals: None,
                max: None,
                min: None,
                thresholds: Thresholds { mode: "absolute", steps: vec![step("green", None)] },
                unit,
            },
            overrides: Vec::new(),
        },
        grid_pos: GridPos { h: HEIGHT, w: 8, x: 0, y: 0 },
        id: 0,
        options,
        targets,
        title: title.to_string(),
        transformations: Vec::new(),
        transparent: false,
        kind,
    }
}

fn timeseries(title: &str, unit: &'static str, queries: Vec<(String, String)>) -> Panel {
    let targets = queries.into_iter().enumerate().map(|(i, (expr, legend))| target(i, expr, legend)).collect();
    let options = PanelOptions::TimeSeries {
        legend: Legend {
            calcs: vec!["lastNotNull", "max"],
            display_mode: "table",
            placement: "bottom",
            show_legend: true,
        },
        tooltip: Tooltip { mode: "multi", sort: "desc" },
    };
    panel("timeseries", title, unit, options, targets)
}

fn stat(title: &str, unit: &'static str, expr: String) -> Panel {
    let options = PanelOptions::Stat(StatOptions {
        color_mode: "background",
        graph_mode: "area",
        justify_mode: "auto",
        orientation: "auto",
        reduce_options: ReduceOptions { calcs: vec!["lastNotNull"], fields: "", values: false },
        text_mode: "auto",
    });
    panel("stat", title, unit, options, vec![target(0, expr, String::new())])
}

/// An instant query shown as a table of its series' labels and values.
fn table(title: &str, unit: &'static str, expr: String) -> Panel {
    let mut query = target(0, expr, String::new());
    query.format = "table";
    query.instant = true;
    query.range = false;
    panel("table", title, unit, PanelOptions::Table(TableOptions { cell_height: "sm", show_header: true }), vec![query])
}

/// What a dashboard shows by default, the last six hours, and how often it
/// refreshes, every minute: both divided by the build's time scale, the
/// refresh no faster than Grafana's 5 s minimum.
fn time_settings(scale: u32) -> (String, String) {
    let range = Window::from_millis(6 * 3_600_000).scaled(scale);
    let refresh = Window::from_millis(60_000).scaled(scale).max(Window::from_millis(5_000));
    (format!("now-{}", range.prometheus()), refresh.prometheus())
}

fn dashboard(uid: String, title: String, description: String, kind: &str, grid: Grid, scale: u32) -> Dashboard {
    let (from, refresh) = time_settings(scale);
    Dashboard {
        annotations: Annotations {
            list: vec![Annotation {
                built_in: 1,
                datasource: DataSourceRef { kind: "grafana", uid: "-- Grafana --" },
                enable: true,
                hide: true,
                icon_color: "rgba(0, 211, 255, 1)",
                name: "Annotations & Alerts",
                kind: "dashboard",
            }],
        },
        description,
        editable: false,
        fiscal_year_start_month: 0,
        graph_tooltip: 1,
        links: vec![Link {
            as_dropdown: true,
            icon: "external link",
            include_vars: true,
            keep_time: true,
            tags: vec![FOLDER],
            target_blank: false,
            title: "meshc dashboards",
            tooltip: "",
            kind: "dashboards",
            url: "",
        }],
        panels: grid.entries,
        refresh,
        schema_version: SCHEMA_VERSION,
        tags: vec![FOLDER.to_string(), kind.to_string()],
        templating: Templating {
            list: vec![Variable {
                current: Current { text: DATASOURCE_NAME, value: DATASOURCE_UID },
                hide: 0,
                include_all: false,
                label: "Data source",
                multi: false,
                name: "datasource",
                options: Vec::new(),
                query: "prometheus",
                refresh: 1,
                regex: "",
                skip_url_sync: false,
                kind: "datasource",
            }],
        },
        time: TimeRange { from, to: "now" },
        timezone: "browser",
        title,
        uid,
        version: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::time_settings;

    #[test]
    fn a_test_time_scale_shortens_the_range_and_the_refresh_down_to_grafanas_minimum() {
        assert_eq!(time_settings(1), ("now-6h".to_string(), "1m".to_string()));
        assert_eq!(time_settings(60), ("now-6m".to_string(), "5s".to_string()));
    }
}
