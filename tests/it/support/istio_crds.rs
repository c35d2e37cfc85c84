//! Istio's CustomResourceDefinitions (the corpus' `istio-crds/`) as a
//! validator for emitted Istio resources: the apiVersion and kind must name
//! a served CRD version, metadata must name the resource, and `spec` must
//! follow that version's OpenAPI schema, unknown fields rejected as
//! Kubernetes' strict field validation does.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{json, Value};

use super::corpora;

/// Compiled `spec` schemas by (group, version, kind), served versions only.
struct Crds {
    specs: HashMap<(String, String, String), jsonschema::Validator>,
}

fn crds() -> &'static Crds {
    static CRDS: OnceLock<Crds> = OnceLock::new();
    CRDS.get_or_init(|| {
        let path = corpora().join("istio-crds/customresourcedefinitions.gen.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let mut specs = HashMap::new();
        for crd in yaml_documents(&text) {
            let group = crd["spec"]["group"].as_str().expect("a CRD has a group").to_string();
            let kind = crd["spec"]["names"]["kind"].as_str().expect("a CRD has a kind").to_string();
            // Only the kinds meshc emits: compiling all of them is slow in debug builds.
            if !["networking.istio.io", "security.istio.io", "telemetry.istio.io"].contains(&group.as_str()) {
                continue;
            }
            for version in crd["spec"]["versions"].as_array().expect("a CRD has versions") {
                if version["served"] != json!(true) {
                    continue;
                }
                let name = version["name"].as_str().expect("a version has a name").to_string();
                let mut spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"].clone();
                assert!(spec.is_object(), "{kind} {name} has no spec schema");
                reject_unknown_fields(&mut spec);
                let validator = jsonschema::draft4::options()
                    .build(&spec)
                    .unwrap_or_else(|e| panic!("the {kind} {name} spec schema does not compile: {e}"));
                specs.insert((group.clone(), name, kind.clone()), validator);
            }
        }
        assert!(specs.len() >= 4, "the CRD file holds the networking kinds");
        Crds { specs }
    })
}

/// Kubernetes rejects fields a structural schema does not declare (strict
/// field validation) unless the schema preserves unknown fields; JSON
/// Schema allows them unless told. Says so on every object schema that
/// lists its properties.
fn reject_unknown_fields(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else { return };
    let preserves = object.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    if object.contains_key("properties") && !object.contains_key("additionalProperties") && !preserves {
        object.insert("additionalProperties".into(), json!(false));
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.values_mut().for_each(reject_unknown_fields);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = object.get_mut(key) {
            reject_unknown_fields(sub);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(subs)) = object.get_mut(key) {
            subs.iter_mut().for_each(reject_unknown_fields);
        }
    }
}

/// Validates one Istio resource: apiVersion and kind name a served CRD
/// version, metadata names it, and `spec` follows the version's schema.
pub fn validate(resource: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let object = resource.as_object().ok_or_else(|| vec!["not an object".to_string()])?;
    for key in object.keys() {
        if !["apiVersion", "kind", "metadata", "spec"].contains(&key.as_str()) {
            errors.push(format!("unexpected top-level field `{key}`"));
        }
    }
    let api_version = resource["apiVersion"].as_str().unwrap_or_default();
    let kind = resource["kind"].as_str().unwrap_or_default().to_string();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let name = resource["metadata"]["name"].as_str().unwrap_or_default();
    if !is_dns_subdomain(name) {
        errors.push(format!("metadata.name `{name}` is not a DNS subdomain"));
    }
    if let Some(namespace) = resource["metadata"].get("namespace") {
        if !namespace.as_str().is_some_and(is_dns_label) {
            errors.push(format!("metadata.namespace {namespace} is not a DNS label"));
        }
    }
    match crds().specs.get(&(group.to_string(), version.to_string(), kind.clone())) {
        None => errors.push(format!("no served CRD version for {api_version} {kind}")),
        Some(validator) => {
            for error in validator.iter_errors(&resource["spec"]) {
                errors.push(format!("spec{}: {error}", error.instance_path()));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

pub fn is_dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

pub fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns_label)
}

/// The documents of a YAML stream, `---`-separated; empty ones skipped.
pub fn yaml_documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("the file is YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}
