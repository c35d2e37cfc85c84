//! Workload certificates for local runs and tests (`meshc certs`): a CA and,
//! per service and gateway, an ECDSA P-256 key and a certificate whose URI
//! SAN is its SPIFFE ID, plus the file-based SDS resources the Envoy
//! backends point at (see `envoy::tls`). Not a registered backend: keys are
//! random and secret, so `meshc build` never writes them; in clusters,
//! cert-manager issues them (the `cert-manager` backend).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::json;
pub use time::OffsetDateTime as Now;
use time::OffsetDateTime;

use super::envoy::tls::{certificate_file, CA_SECRET};
use super::{Artifact, Options};
use crate::base::Span;
use crate::model::identity::{Identity, Mtls};
use crate::model::Model;

const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
/// The CA outlives the workload certificates it signs: a year.
const CA_LIFETIME_SECONDS: i64 = 365 * 24 * 3600;

/// A certificate authority: its certificate (PEM) and private key (PEM).
pub struct Authority {
    pub certificate: String,
    pub key: String,
}

/// Files to write into the cert dir; `secret` ones (keys) must be readable by their owner only.
pub struct CertificateFile {
    pub artifact: Artifact,
    pub secret: bool,
}

/// Issues a certificate for every service and gateway of a mesh with mTLS,
/// signed by `existing` (rotation: the trust bundle stays) or a new CA. The
/// SDS files name the files in `options`' cert dir, where they are to live.
pub fn issue(
    model: &Model,
    options: &Options,
    existing: Option<&Authority>,
    now: OffsetDateTime,
) -> Result<Vec<CertificateFile>, String> {
    let mtls = model.mtls.as_ref().ok_or("the mesh declares no `mtls` block: there is nothing to issue")?;
    let cert_dir = options.cert_dir(mtls);
    let (ca_key, ca_pem) = match existing {
        Some(ca) => (reused_key(ca)?, ca.certificate.clone()),
        None => {
            let key = KeyPair::generate().map_err(|e| e.to_string())?;
            let cert = ca_params(mtls, now).self_signed(&key).map_err(|e| e.to_string())?;
            (key, cert.pem())
        }
    };
    // The issuer's name and key identifier are read from the CA certificate
    // itself, so a reused CA signs as the CA it is (whatever the spec says now).
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key).map_err(|e| format!("ca.pem: {e}"))?;
    let ca_file = |path: String, contents: String, secret: bool| file(path, contents, secret, mtls.span);
    let mut files = vec![
        ca_file(format!("{CA_SECRET}.pem"), ca_pem.clone(), false),
        ca_file(format!("{CA_SECRET}.yaml"), sds_validation(cert_dir), false),
    ];
    if existing.is_none() {
        files.push(ca_file(format!("{CA_SECRET}-key.pem"), ca_key.serialize_pem(), true));
    }
    for workload in model.workloads() {
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let params = leaf_params(mtls, workload.identity, workload.dns_name, now)?;
        let cert = params.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
        let (name, span) = (workload.name, workload.span);
        files.push(file(format!("{name}.pem"), cert.pem(), false, span));
        files.push(file(format!("{name}-key.pem"), key.serialize_pem(), true, span));
        files.push(file(certificate_file(&name), sds_certificate(cert_dir, &name), false, span));
    }
    Ok(files)
}

/// The key of a reused CA, refused unless it is the key of the CA's
/// certificate: certificates signed by another key would not verify against
/// the trust bundle. Messages never quote the files.
fn reused_key(ca: &Authority) -> Result<KeyPair, String> {
    let key = KeyPair::from_pem(&ca.key).map_err(|e| format!("ca-key.pem is not a usable private key ({e})"))?;
    let certificate_key = certificate_public_key(&ca.certificate)?;
    if certificate_key != key.public_key_raw() {
        return Err("ca-key.pem is not the private key of ca.pem (their public keys differ); restore the matching pair, or remove both to create a new CA".into());
    }
    Ok(key)
}

/// The raw subject public key of a PEM certificate.
fn certificate_public_key(pem: &str) -> Result<Vec<u8>, String> {
    let not_a_certificate = || "ca.pem is not a PEM certificate".to_string();
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|_| not_a_certificate())?;
    let certificate = pem.parse_x509().map_err(|_| not_a_certificate())?;
    Ok(certificate.public_key().subject_public_key.data.to_vec())
}

fn file(path: String, contents: String, secret: bool, origin: Span) -> CertificateFile {
    CertificateFile { artifact: Artifact { path, contents, origin }, secret }
}

fn ca_params(mtls: &Mtls, now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "meshc");
    name.push(DnType::CommonName, format!("meshc CA for {}", mtls.trust_domain));
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::seconds(CA_LIFETIME_SECONDS);
    params
}

fn leaf_params(
    mtls: &Mtls,
    identity: &Identity,
    dns_name: Option<&str>,
    now: OffsetDateTime,
) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::default();
    let spiffe = identity.spiffe_id(&mtls.trust_domain);
    let mut sans = vec![SanType::URI(spiffe.clone().try_into().map_err(|e| format!("{spiffe}: {e}"))?)];
    if let Some(host) = dns_name {
        sans.push(SanType::DnsName(host.to_string().try_into().map_err(|e| format!("{host}: {e}"))?));
    }
    params.subject_alt_names = sans;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, spiffe);
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    // A little slack for clocks that are behind.
    params.not_before = now - time::Duration::minutes(5);
    let lifetime = i64::try_from(mtls.certificate_lifetime.as_millis() / 1000).unwrap_or(i64::MAX / 2);
    params.not_after = now + time::Duration::seconds(lifetime);
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// The SDS resource of a workload's certificate and key files in `dir`.
fn sds_certificate(dir: &str, workload: &str) -> String {
    sds(json!({
        "@type": SECRET,
        "name": workload,
        "tls_certificate": {
            "certificate_chain": { "filename": format!("{dir}/{workload}.pem") },
            "private_key": { "filename": format!("{dir}/{workload}-key.pem") }
        }
    }))
}

/// The SDS resource of the trust bundle in `dir`.
fn sds_validation(dir: &str) -> String {
    sds(json!({
        "@type": SECRET,
        "name": CA_SECRET,
        "validation_context": { "trusted_ca": { "filename": format!("{dir}/{CA_SECRET}.pem") } }
    }))
}

fn sds(secret: serde_json::Value) -> String {
    serde_yaml_ng::to_string(&json!({ "resources": [secret] })).expect("JSON values serialize to YAML")
}
