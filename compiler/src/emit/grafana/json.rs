//! The dashboard JSON model (Grafana's classic model, `schemaVersion` 41):
//! the parts meshc writes, fields in byte order of their names.

use serde::Serialize;

#[derive(Serialize)]
pub struct Dashboard {
    pub annotations: Annotations,
    pub description: String,
    pub editable: bool,
    #[serde(rename = "fiscalYearStartMonth")]
    pub fiscal_year_start_month: u8,
    #[serde(rename = "graphTooltip")]
    pub graph_tooltip: u8,
    pub links: Vec<Link>,
    pub panels: Vec<Entry>,
    pub refresh: String,
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    pub tags: Vec<String>,
    pub templating: Templating,
    pub time: TimeRange,
    pub timezone: &'static str,
    pub title: String,
    pub uid: String,
    pub version: u32,
}

#[derive(Serialize)]
pub struct Annotations {
    pub list: Vec<Annotation>,
}

/// The built-in "Annotations & Alerts" query.
#[derive(Serialize)]
pub struct Annotation {
    #[serde(rename = "builtIn")]
    pub built_in: u8,
    pub datasource: DataSourceRef,
    pub enable: bool,
    pub hide: bool,
    #[serde(rename = "iconColor")]
    pub icon_color: &'static str,
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Clone, Serialize)]
pub struct DataSourceRef {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uid: &'static str,
}

/// A link to the other meshc dashboards (by tag), keeping time and variables.
#[derive(Serialize)]
pub struct Link {
    #[serde(rename = "asDropdown")]
    pub as_dropdown: bool,
    pub icon: &'static str,
    #[serde(rename = "includeVars")]
    pub include_vars: bool,
    #[serde(rename = "keepTime")]
    pub keep_time: bool,
    pub tags: Vec<&'static str>,
    #[serde(rename = "targetBlank")]
    pub target_blank: bool,
    pub title: &'static str,
    pub tooltip: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub url: &'static str,
}

#[derive(Serialize)]
pub struct Templating {
    pub list: Vec<Variable>,
}

/// The `datasource` variable: any Prometheus data source, the provisioned one first.
#[derive(Serialize)]
pub struct Variable {
    pub current: Current,
    pub hide: u8,
    #[serde(rename = "includeAll")]
    pub include_all: bool,
    pub label: &'static str,
    pub multi: bool,
    pub name: &'static str,
    pub options: Vec<Current>,
    pub query: &'static str,
    pub refresh: u8,
    pub regex: &'static str,
    #[serde(rename = "skipUrlSync")]
    pub skip_url_sync: bool,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize)]
pub struct Current {
    pub text: &'static str,
    pub value: &'static str,
}

#[derive(Serialize)]
pub struct TimeRange {
    pub from: String,
    pub to: &'static str,
}

/// A panel or a row.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Entry {
    Row(Row),
    Panel(Box<Panel>),
}

#[derive(Serialize)]
pub struct Row {
    pub collapsed: bool,
    #[serde(rename = "gridPos")]
    pub grid_pos: GridPos,
    pub id: u32,
    pub panels: Vec<Panel>,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Clone, Copy, Serialize)]
pub struct GridPos {
    pub h: u32,
    pub w: u32,
    pub x: u32,
    pub y: u32,
}

#[derive(Serialize)]
pub struct Panel {
    pub datasource: DataSourceRef,
    pub description: String,
    #[serde(rename = "fieldConfig")]
    pub field_config: FieldConfigSource,
    #[serde(rename = "gridPos")]
    pub grid_pos: GridPos,
    pub id: u32,
    pub options: PanelOptions,
    pub targets: Vec<Target>,
    pub title: String,
    pub transformations: Vec<Unused>,
    pub transparent: bool,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize)]
pub struct FieldConfigSource {
    pub defaults: FieldConfig,
    pub overrides: Vec<Unused>,
}

/// Never written: meshc sets no field overrides or transformations.
#[derive(Serialize)]
pub enum Unused {}

#[derive(Serialize)]
pub struct FieldConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    pub thresholds: Thresholds,
    pub unit: &'static str,
}

#[derive(Serialize)]
pub struct Thresholds {
    pub mode: &'static str,
    pub steps: Vec<Step>,
}

/// A threshold step; the first has the value `null` (from minus infinity).
#[derive(Serialize)]
pub struct Step {
    pub color: &'static str,
    pub value: Option<f64>,
}

/// A panel's options, by panel type.
#[derive(Serialize)]
#[serde(untagged)]
pub enum PanelOptions {
    TimeSeries { legend: Legend, tooltip: Tooltip },
    Stat(StatOptions),
    Table(TableOptions),
}

#[derive(Serialize)]
pub struct Legend {
    pub calcs: Vec<&'static str>,
    #[serde(rename = "displayMode")]
    pub display_mode: &'static str,
    pub placement: &'static str,
    #[serde(rename = "showLegend")]
    pub show_legend: bool,
}

#[derive(Serialize)]
pub struct Tooltip {
    pub mode: &'static str,
    pub sort: &'static str,
}

#[derive(Serialize)]
pub struct StatOptions {
    #[serde(rename = "colorMode")]
    pub color_mode: &'static str,
    #[serde(rename = "graphMode")]
    pub graph_mode: &'static str,
    #[serde(rename = "justifyMode")]
    pub justify_mode: &'static str,
    pub orientation: &'static str,
    #[serde(rename = "reduceOptions")]
    pub reduce_options: ReduceOptions,
    #[serde(rename = "textMode")]
    pub text_mode: &'static str,
}

#[derive(Serialize)]
pub struct ReduceOptions {
    pub calcs: Vec<&'static str>,
    pub fields: &'static str,
    pub values: bool,
}

#[derive(Serialize)]
pub struct TableOptions {
    #[serde(rename = "cellHeight")]
    pub cell_height: &'static str,
    #[serde(rename = "showHeader")]
    pub show_header: bool,
}

/// A Prometheus query.
#[derive(Serialize)]
pub struct Target {
    pub datasource: DataSourceRef,
    pub expr: String,
    pub format: &'static str,
    pub instant: bool,
    #[serde(rename = "legendFormat")]
    pub legend_format: String,
    pub range: bool,
    #[serde(rename = "refId")]
    pub ref_id: String,
}
