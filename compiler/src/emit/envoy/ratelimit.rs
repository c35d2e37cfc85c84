//! Configs for the reference global rate limit service
//! (github.com/envoyproxy/ratelimit), one per gateway with global limits:
//! `ratelimit/gateway-NAME.yaml`, the service's `domain` with a descriptor
//! per limited route (`route: NAME`), nested by the limit's key when it has
//! one, so each distinct key value (a user's `sub`, a client address) gets
//! its own counter. The gateway's Envoy sends the same descriptors
//! (`envoy_security`).

use rayon::prelude::*;
use serde_json::{json, Value};

use super::security::{descriptor_key, domain};
use crate::emit::{yaml, Artifact, Options, Unexpressed};
use crate::model::security::RateKey;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn emit(model: &Model, _: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    model
        .gateways
        .par_iter()
        .filter_map(|gateway| {
            let descriptors: Vec<Value> = gateway
                .routes
                .iter()
                .filter_map(|route| route.rate_limits.global.as_ref().map(|l| (route, l)))
                .map(|(route, limit)| {
                    let rate_limit = json!({ "unit": limit.per.as_str(), "requests_per_unit": limit.requests });
                    let mut descriptor = json!({ "key": "route", "value": route.name.value });
                    match &limit.key.value {
                        RateKey::Route => descriptor["rate_limit"] = rate_limit,
                        key => {
                            descriptor["descriptors"] =
                                json!([{ "key": descriptor_key(key), "rate_limit": rate_limit }])
                        }
                    }
                    descriptor
                })
                .collect();
            (!descriptors.is_empty()).then(|| Artifact {
                path: format!("ratelimit/gateway-{}.yaml", gateway.name.value),
                contents: yaml(model, &json!({ "domain": domain(gateway), "descriptors": descriptors })),
                origin: gateway.name.span,
            })
        })
        .collect()
}
