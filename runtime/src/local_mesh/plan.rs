//! `runtime/local-mesh.json`, the plan `meshc build` writes for `up`
//! (format in docs/runtime.md#the-mesh-on-one-machine).

use serde::Deserialize;

/// The only version this reader understands.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[serde(default)]
    pub cert_dir: Option<String>,
    pub helpers: Vec<Helper>,
    /// The JWT issuers the proxies check tokens of.
    #[serde(default)]
    pub issuers: Vec<Issuer>,
    pub mesh: String,
    pub proxies: Vec<Proxy>,
    pub services: Vec<Service>,
    pub version: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    pub clusters: Vec<LocalCluster>,
    pub config: String,
    #[serde(default)]
    pub identity: Option<String>,
    pub kind: ProxyKind,
    pub listeners: Vec<NamedListener>,
    pub name: String,
    #[serde(default)]
    pub service: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyKind {
    Gateway,
    Sidecar,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedListener {
    pub name: String,
    #[serde(default)]
    pub port: Option<String>,
    pub role: ListenerRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerRole {
    Inbound,
    Outbound,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalCluster {
    #[serde(default)]
    pub helper: Option<String>,
    pub name: String,
    #[serde(default)]
    pub port: Option<String>,
    pub target: LocalTarget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalTarget {
    App,
    Admin,
    Helper,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub identity: String,
    pub name: String,
    pub ports: Vec<Port>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub addresses: Vec<String>,
    pub name: String,
    pub number: u16,
    pub protocol: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    /// The tokens' `iss`.
    pub issuer: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Helper {
    pub config: String,
    /// A token exchanger's: the `iss` of the tokens its STS issues.
    #[serde(default)]
    pub issues: Option<String>,
    pub kind: HelperKind,
    pub name: String,
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HelperKind {
    Validator,
    TokenExchange,
    Graphql,
}

impl Plan {
    /// Reads and checks a plan: its version, and that every name it refers
    /// to exists (a proxy's service and helpers, a helper's service and port).
    pub fn from_json(text: &str) -> Result<Plan, String> {
        let plan: Plan = crate::config::from_json(text)?;
        if plan.version != FORMAT_VERSION {
            return Err(format!(
                "`version`: {} is not {FORMAT_VERSION}, the version this meshc-runtime reads; rebuild with the matching meshc",
                plan.version
            ));
        }
        // Names become file names in the run directory, configs paths under
        // OUT: neither may lead elsewhere, whoever wrote the plan.
        for (i, proxy) in plan.proxies.iter().enumerate() {
            plain_name(&proxy.name).map_err(|e| format!("`proxies[{i}].name`: {e}"))?;
            inside(&proxy.config).map_err(|e| format!("`proxies[{i}].config`: {e}"))?;
        }
        for (i, service) in plan.services.iter().enumerate() {
            plain_name(&service.name).map_err(|e| format!("`services[{i}].name`: {e}"))?;
        }
        for (i, helper) in plan.helpers.iter().enumerate() {
            inside(&helper.config).map_err(|e| format!("`helpers[{i}].config`: {e}"))?;
        }
        for (i, proxy) in plan.proxies.iter().enumerate() {
            if let Some(service) = &proxy.service {
                plan.service(service).ok_or_else(|| format!("`proxies[{i}].service`: no service `{service}`"))?;
            }
            for (j, cluster) in proxy.clusters.iter().enumerate() {
                let at = format!("`proxies[{i}].clusters[{j}]`");
                match cluster.target {
                    LocalTarget::Helper => {
                        let helper = cluster
                            .helper
                            .as_deref()
                            .ok_or_else(|| format!("{at}: a helper target names no `helper`"))?;
                        plan.helpers
                            .iter()
                            .find(|h| h.name == helper)
                            .ok_or_else(|| format!("{at}: no helper `{helper}`"))?;
                    }
                    LocalTarget::App => {
                        let service =
                            proxy.service.as_deref().ok_or_else(|| format!("{at}: an app target outside a sidecar"))?;
                        let port =
                            cluster.port.as_deref().ok_or_else(|| format!("{at}: an app target names no `port`"))?;
                        plan.port(service, port).ok_or_else(|| format!("{at}: `{service}` has no port `{port}`"))?;
                    }
                    LocalTarget::Admin => {}
                }
            }
        }
        for (i, helper) in plan.helpers.iter().enumerate() {
            if let (Some(service), Some(port)) = (&helper.service, &helper.port) {
                plan.port(service, port).ok_or_else(|| format!("`helpers[{i}]`: `{service}` has no port `{port}`"))?;
            }
        }
        Ok(plan)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn port(&self, service: &str, port: &str) -> Option<&Port> {
        self.service(service)?.ports.iter().find(|p| p.name == port)
    }

    /// The sidecar of `service`.
    pub fn sidecar(&self, service: &str) -> Option<&Proxy> {
        self.proxies.iter().find(|p| p.kind == ProxyKind::Sidecar && p.service.as_deref() == Some(service))
    }
}

/// A name usable as a file name: not empty, no path separator, not `.` or `..`.
fn plain_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']);
    if bad {
        Err(format!("{name:?} is not a plain name"))
    } else {
        Ok(())
    }
}

/// A path inside the build's output: relative, without `..`.
fn inside(path: &str) -> Result<(), String> {
    let p = std::path::Path::new(path);
    let escapes = p.components().any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    if path.is_empty() || escapes {
        Err(format!("{path:?} is not a path inside the build's output"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{inside, plain_name};

    #[test]
    fn names_and_config_paths_cannot_lead_out_of_their_folders() {
        assert!(plain_name("sidecar-orders").is_ok());
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "a\0b"] {
            assert!(plain_name(bad).is_err(), "{bad:?}");
        }
        assert!(inside("envoy/sidecar-orders.yaml").is_ok());
        for bad in ["", "/etc/passwd", "../x.yaml", "envoy/../../x.yaml"] {
            assert!(inside(bad).is_err(), "{bad:?}");
        }
    }
}
