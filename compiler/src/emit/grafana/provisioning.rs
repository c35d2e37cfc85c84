//! Grafana's provisioning files (monitored meshes):
//! `grafana/provisioning/dashboards/meshc.yaml`, a file provider loading
//! the dashboards from [`DASHBOARDS_PATH`] into folder `meshc`, and
//! `grafana/provisioning/datasources/prometheus.yaml`, the Prometheus data
//! source the dashboards default to (uid [`DATASOURCE_UID`]) at
//! [`DEFAULT_PROMETHEUS_URL`], its scrape interval the spec's.

use serde::Serialize;

use super::{DASHBOARDS_PATH, DATASOURCE_NAME, DATASOURCE_UID, DEFAULT_PROMETHEUS_URL, FOLDER};
use crate::emit::{yaml, Artifact, Options, Unexpressed};
use crate::model::Model;
use crate::schema::SchemaIndex;

#[derive(Serialize)]
pub struct DashboardProviders {
    #[serde(rename = "apiVersion")]
    pub api_version: u32,
    pub providers: Vec<Provider>,
}

#[derive(Serialize)]
pub struct Provider {
    #[serde(rename = "allowUiUpdates")]
    pub allow_ui_updates: bool,
    #[serde(rename = "disableDeletion")]
    pub disable_deletion: bool,
    pub folder: &'static str,
    pub name: &'static str,
    pub options: ProviderOptions,
    #[serde(rename = "orgId")]
    pub org_id: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "updateIntervalSeconds")]
    pub update_interval_seconds: u32,
}

#[derive(Serialize)]
pub struct ProviderOptions {
    #[serde(rename = "foldersFromFilesStructure")]
    pub folders_from_files_structure: bool,
    pub path: &'static str,
}

#[derive(Serialize)]
pub struct DataSources {
    #[serde(rename = "apiVersion")]
    pub api_version: u32,
    pub datasources: Vec<DataSource>,
}

#[derive(Serialize)]
pub struct DataSource {
    pub access: &'static str,
    pub editable: bool,
    #[serde(rename = "isDefault")]
    pub is_default: bool,
    #[serde(rename = "jsonData")]
    pub json_data: JsonData,
    pub name: &'static str,
    #[serde(rename = "orgId")]
    pub org_id: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uid: &'static str,
    pub url: String,
}

#[derive(Serialize)]
pub struct JsonData {
    #[serde(rename = "httpMethod")]
    pub http_method: &'static str,
    /// Prometheus' scrape interval: Grafana's smallest step and `$__rate_interval` base.
    #[serde(rename = "timeInterval")]
    pub time_interval: String,
}

pub fn emit(model: &Model, _: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let Some(monitoring) = &model.monitoring else { return Vec::new() };
    let providers = DashboardProviders {
        api_version: 1,
        providers: vec![Provider {
            allow_ui_updates: false,
            disable_deletion: false,
            folder: FOLDER,
            name: FOLDER,
            options: ProviderOptions { folders_from_files_structure: false, path: DASHBOARDS_PATH },
            org_id: 1,
            kind: "file",
            update_interval_seconds: 30,
        }],
    };
    let sources = DataSources {
        api_version: 1,
        datasources: vec![DataSource {
            access: "proxy",
            editable: false,
            is_default: true,
            json_data: JsonData { http_method: "POST", time_interval: monitoring.scrape_interval.prometheus() },
            name: DATASOURCE_NAME,
            org_id: 1,
            kind: "prometheus",
            uid: DATASOURCE_UID,
            url: DEFAULT_PROMETHEUS_URL.to_string(),
        }],
    };
    vec![
        Artifact {
            path: "grafana/provisioning/dashboards/meshc.yaml".into(),
            contents: yaml(model, &providers),
            origin: monitoring.span,
        },
        Artifact {
            path: "grafana/provisioning/datasources/prometheus.yaml".into(),
            contents: yaml(model, &sources),
            origin: monitoring.span,
        },
    ]
}
