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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Helper {
    pub config: String,
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
