//! `alertmanager/alertmanager.yml` (monitored meshes): a receiver per
//! `monitoring { receiver }` with its webhook, a route per `match` (labels
//! by equality, tried in spec order, the first match takes the alert), the
//! default receiver at the root. Alerts are grouped by name and subject.


use serde::Serialize;

use crate::emit::{yaml, Artifact, Options, Unexpressed};
use crate::model::Model;
use crate::schema::SchemaIndex;

/// The root's receiver when the spec names no default: one without targets.
const NOBODY: &str = "meshc-unrouted";

#[derive(Serialize)]
pub struct Config {
    pub receivers: Vec<Receiver>,
    pub route: Route,
}

#[derive(Serialize)]
pub struct Receiver {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhook_configs: Vec<Webhook>,
}

#[derive(Serialize)]
pub struct Webhook {
    pub send_resolved: bool,
    pub url: String,
}

#[derive(Serialize)]
pub struct Route {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<String>,
    pub receiver: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// Alertmanager's matcher syntax: `name="value"`, the value quoted and escaped.
fn matcher(name: &str, value: &str) -> String {
    format!("{name}=\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn emit(model: &Model, _: &SchemaIndex, options: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let Some(monitoring) = &model.monitoring else { return Vec::new() };
    let mut receivers: Vec<Receiver> = monitoring
        .receivers
        .iter()
        .map(|r| Receiver {
            name: r.name.value.clone(),
            webhook_configs: vec![Webhook { send_resolved: true, url: r.webhook.value.clone() }],
        })
        .collect();
    let default = match monitoring.default_receiver {
        Some(i) => monitoring.receivers[i].name.value.clone(),
        None => {
            receivers.push(Receiver { name: NOBODY.into(), webhook_configs: Vec::new() });
            NOBODY.into()
        }
    };
    receivers.sort_by(|a, b| a.name.cmp(&b.name));
    let routes = monitoring
        .receivers
        .iter()
        .flat_map(|r| {
            r.matches.iter().map(|labels| Route {
                group_by: Vec::new(),
                group_interval: None,
                group_wait: None,
                matchers: labels.iter().map(|(k, v)| matcher(k, v)).collect(),
                receiver: r.name.value.clone(),
                repeat_interval: None,
                routes: Vec::new(),
            })
        })
        .collect();
    // Alertmanager's defaults (30s, 5m, 4h), divided like every monitoring window.
    let scale = options.time_scale();
    let window = |ms: u64| crate::model::monitoring::Window::from_millis(ms).scaled(scale).prometheus();
    let config = Config {
        receivers,
        route: Route {
            group_by: vec!["alertname", "gateway", "route", "service", "caller", "call", "slo"],
            group_interval: Some(window(300_000)),
            group_wait: Some(window(30_000)),
            matchers: Vec::new(),
            receiver: default,
            repeat_interval: Some(window(4 * 3_600_000)),
            routes,
        },
    };
    vec![Artifact {
        path: "alertmanager/alertmanager.yml".into(),
        contents: yaml(model, &config),
        origin: monitoring.span,
    }]
}
