//! A strict reader of Kubernetes `v1` `Service` manifests, meshc's and
//! upstream projects' alike: the fields a Service of either sets, by the
//! Kubernetes API's names and types. Any other field is an error
//! (`deny_unknown_fields`), so a misspelt key in what meshc emits fails
//! the tests instead of being ignored, as the API server would ignore it.
//! The shapes follow the API's (optional fields as `Option`).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeService {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: Option<ServiceSpec>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectMeta {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub selector: Option<BTreeMap<String, String>>,
    pub ports: Option<Vec<ServicePort>>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: i32,
    pub target_port: Option<IntOrString>,
    pub protocol: Option<String>,
    pub app_protocol: Option<String>,
}

/// A port by number or by the container port's name.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i32),
    String(String),
}

/// A Service manifest, read strictly; panics (naming `what`) on anything
/// else, including another `kind` or API version.
pub fn parse_service(what: &str, text: &str) -> KubeService {
    let service: KubeService = serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!((service.api_version.as_str(), service.kind.as_str()), ("v1", "Service"), "{what}");
    service
}
