//! `prometheus/prometheus.yml`: a scrape job per proxy (each gateway's and
//! each in-mesh service's sidecar) on its metrics listener
//! (`/stats/prometheus`, served from the admin endpoint), one per broker
//! that declares `metrics` or has a consumer whose lag is watched (its
//! exporter's endpoint; RabbitMQ's detailed endpoint asked for the queue
//! counts of the broker's vhost alone), one on `meshc-runtime health` when
//! the spec has health checks, the rule files, and the Alertmanager to send
//! alerts to.

use serde::Serialize;

use std::collections::{BTreeMap, BTreeSet};

use super::{RED_RULE_FILE, RULE_FILE};
use crate::emit::monitoring::{broker_job, gateway_job, lags, sidecar_job};
use crate::emit::{yaml, Artifact, Options, Unexpressed};
use crate::model::events::{BrokerId, BrokerKind};
use crate::model::Model;
use crate::schema::SchemaIndex;

/// The scrape job of `meshc-runtime health` (its metrics carry `service`
/// and `instance` labels of their own).
pub const HEALTH_MONITOR_JOB: &str = "meshc-health";

#[derive(Serialize)]
pub struct Config {
    pub alerting: Alerting,
    pub global: Global,
    pub rule_files: Vec<&'static str>,
    pub scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Serialize)]
pub struct Alerting {
    pub alertmanagers: Vec<StaticConfigs>,
}

#[derive(Serialize)]
pub struct StaticConfigs {
    pub static_configs: Vec<Targets>,
}

#[derive(Serialize)]
pub struct Global {
    pub evaluation_interval: String,
    pub scrape_interval: String,
}

#[derive(Serialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub metrics_path: &'static str,
    /// URL query parameters.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<&'static str, Vec<String>>,
    pub static_configs: Vec<Targets>,
}

#[derive(Serialize)]
pub struct Targets {
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: BTreeMap<&'static str, String>,
    pub targets: Vec<String>,
}

pub fn emit(model: &Model, _: &SchemaIndex, options: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let Some(monitoring) = &model.monitoring else { return Vec::new() };
    let port = monitoring.metrics_port.get();
    let mut jobs = Vec::new();
    for gateway in &model.gateways {
        // A listener bound to one address is where the gateway is reached;
        // else its name (its Kubernetes Service).
        let host = gateway
            .listeners
            .iter()
            .map(|l| l.address)
            .find(|a| !a.is_unspecified())
            .map_or_else(|| gateway.name.value.clone(), |a| a.to_string());
        jobs.push(ScrapeConfig {
            job_name: gateway_job(&gateway.name.value),
            metrics_path: "/stats/prometheus",
            params: BTreeMap::new(),
            static_configs: vec![Targets {
                labels: [("gateway", gateway.name.value.clone())].into(),
                targets: vec![format!("{host}:{port}")],
            }],
        });
    }
    for service in &model.services {
        if service.mesh().is_none() {
            continue;
        }
        // Its instances where they are declared, else its address.
        let mut targets: Vec<String> = service.endpoints.iter().map(|e| format!("{}:{port}", e.host)).collect();
        if targets.is_empty() {
            let Some(host) = service.host() else { continue };
            targets.push(format!("{host}:{port}"));
        }
        targets.sort();
        targets.dedup();
        jobs.push(ScrapeConfig {
            job_name: sidecar_job(&service.name.value),
            metrics_path: "/stats/prometheus",
            params: BTreeMap::new(),
            static_configs: vec![Targets { labels: [("service", service.name.value.clone())].into(), targets }],
        });
    }
    let watched: BTreeSet<BrokerId> = lags(model, false).iter().map(|l| l.broker).collect();
    for (id, broker) in model.events.broker_ids().map(|id| (id, model.events.broker(id))) {
        if broker.metrics.is_none() && !watched.contains(&id) {
            continue;
        }
        let Some(endpoint) = broker.metrics_endpoint() else { continue };
        let (metrics_path, params) = match broker.kind {
            BrokerKind::Rabbitmq => (
                "/metrics/detailed",
                BTreeMap::from([
                    ("family", vec!["queue_coarse_metrics".to_string()]),
                    ("vhost", vec![broker.vhost().to_string()]),
                ]),
            ),
            BrokerKind::Nats | BrokerKind::Kafka => ("/metrics", BTreeMap::new()),
        };
        jobs.push(ScrapeConfig {
            job_name: broker_job(&broker.name.value),
            metrics_path,
            params,
            static_configs: vec![Targets {
                labels: [("broker", broker.name.value.clone())].into(),
                targets: vec![format!("{}:{}", endpoint.host, endpoint.port.get())],
            }],
        });
    }
    // `meshc-runtime health`, where some service has a health check for it to run.
    if model.services.iter().any(|s| s.traffic.health_check.is_some()) {
        jobs.push(ScrapeConfig {
            job_name: HEALTH_MONITOR_JOB.to_string(),
            metrics_path: "/metrics",
            params: BTreeMap::new(),
            static_configs: vec![Targets {
                labels: Default::default(),
                targets: vec![monitoring.health_monitor.value.clone()],
            }],
        });
    }
    let interval = monitoring.scrape_interval.scaled(options.time_scale()).prometheus();
    let config = Config {
        alerting: Alerting {
            alertmanagers: vec![StaticConfigs {
                static_configs: vec![Targets {
                    labels: Default::default(),
                    targets: vec![monitoring.alertmanager.value.clone()],
                }],
            }],
        },
        global: Global { evaluation_interval: interval.clone(), scrape_interval: interval },
        rule_files: vec![RED_RULE_FILE, RULE_FILE],
        scrape_configs: jobs,
    };
    vec![Artifact { path: "prometheus/prometheus.yml".into(), contents: yaml(model, &config), origin: monitoring.span }]
}
