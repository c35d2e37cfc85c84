//! cert-manager resources (`cert-manager.io/v1`) that issue and rotate the
//! workload certificates in a cluster, as `meshc certs` does locally:
//!
//! - `cert-manager/issuer.yaml`: a `ClusterIssuer` `meshc-ca` signing with
//!   the CA in the Secret `meshc-ca` (in cert-manager's namespace);
//! - `cert-manager/WORKLOAD.yaml`: a `Certificate` per service and gateway,
//!   in its namespace, whose URI SAN is its SPIFFE ID and whose lifetime and
//!   renewal window are the `mtls` block's; the key (ECDSA P-256) is
//!   replaced at each renewal. The Secret `WORKLOAD-mtls` holds the result;
//!   mount it at the `cert-dir` as `WORKLOAD.pem`, `WORKLOAD-key.pem` and
//!   `ca.pem` (the SDS files come from `meshc certs`).
//!
//! Nothing is emitted for a mesh without `mtls`.

use serde_json::{json, Value};

use crate::emit::{yaml, Artifact, Options, Unexpressed};
use crate::model::identity::Mtls;
use crate::model::identity::Workload;
use crate::model::Model;
use crate::schema::SchemaIndex;

const API_VERSION: &str = "cert-manager.io/v1";
pub const ISSUER: &str = "meshc-ca";

pub fn emit(model: &Model, _schemas: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let Some(mtls) = &model.mtls else { return Vec::new() };
    let issuer = json!({
        "apiVersion": API_VERSION,
        "kind": "ClusterIssuer",
        "metadata": { "name": ISSUER },
        "spec": { "ca": { "secretName": ISSUER } }
    });
    let mut out =
        vec![Artifact { path: "cert-manager/issuer.yaml".into(), contents: yaml(model, &issuer), origin: mtls.span }];
    for workload in model.workloads() {
        let certificate = certificate(mtls, &workload);
        out.push(Artifact {
            path: format!("cert-manager/{}.yaml", workload.name),
            contents: yaml(model, &certificate),
            origin: workload.span,
        });
    }
    out
}

fn certificate(mtls: &Mtls, workload: &Workload) -> Value {
    let (identity, secret) = (workload.identity, format!("{}-mtls", workload.name));
    let mut spec = json!({
        "secretName": secret,
        // Go durations, as cert-manager reads them.
        "duration": mtls.certificate_lifetime.to_proto_json(),
        "renewBefore": mtls.renew_before.to_proto_json(),
        "uris": [identity.spiffe_id(&mtls.trust_domain)],
        "privateKey": { "algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always" },
        "usages": ["digital signature", "key encipherment", "server auth", "client auth"],
        "issuerRef": { "name": ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io" }
    });
    if let Some(host) = workload.dns_name {
        spec["dnsNames"] = json!([host]);
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "Certificate",
        "metadata": { "name": secret, "namespace": identity.namespace },
        "spec": spec
    })
}
