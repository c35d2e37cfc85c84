//! Configs for `meshc-runtime token-exchange`, the exchanger beside a
//! caller's sidecar that trades the end user's token for one scoped to the
//! callee (OAuth 2.0 Token Exchange, RFC 8693):
//! `token-exchange/SERVICE-EXCHANGE.json` per service and token exchange its
//! calls use, with the STS endpoint and the audiences asked for. The
//! sidecar reaches it through ext_authz (`envoy_security::token_exchange_filter`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::identity::TokenExchangeId;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn emit(model: &Model, _schemas: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let mut out = Vec::new();
    for service in &model.services {
        let mut audiences: BTreeMap<TokenExchangeId, BTreeSet<&str>> = BTreeMap::new();
        for exchange in service.calls.iter().filter_map(|c| c.token.exchange()) {
            audiences.entry(exchange.exchange).or_default().insert(&exchange.audience);
        }
        for (id, audiences) in audiences {
            let exchange = model.token_exchange(id);
            let config = json!({
                "listen": format!("127.0.0.1:{}", exchange.exchanger_port),
                "sts": { "url": exchange.sts.text },
                "audiences": audiences,
            });
            out.push(Artifact {
                path: format!("token-exchange/{}-{}.json", service.name.value, exchange.name.value),
                contents: crate::emit::pretty_json(&config),
                origin: exchange.name.span,
            });
        }
    }
    out
}
