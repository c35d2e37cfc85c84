//! The GraphQL gateway: serves a composed GraphQL API whose root fields are
//! each resolved by one REST or gRPC operation of a backend service.
//!
//! meshc writes one config per API (`graphql/SERVICE-API.json`): the SDL,
//! the descriptor set of the gRPC backends, and a resolver per root field;
//! see `docs/runtime.md` ("GraphQL gateway") for the format. A query's
//! root fields call their upstreams concurrently, a mutation's one after
//! the other; the upstreams' JSON is shaped to the selection by apollo's
//! executor.
//!
//! ```no_run
//! use meshc_runtime::{serve_graphql, GraphqlGateway};
//! let config = std::fs::read_to_string("out/graphql/storefront-storefront-graphql.json").unwrap();
//! let gateway = GraphqlGateway::from_json(&config).unwrap();
//! let handle = serve_graphql(gateway, "127.0.0.1:0".parse().unwrap()).unwrap();
//! println!("POST http://127.0.0.1:{}/graphql", handle.port());
//! // ... send requests, then inspect what they took:
//! for served in handle.take_requests() {
//!     println!("{:?} {:?}: {} upstream calls", served.operation, served.root_fields, served.calls.len());
//! }
//! // dropping `handle` stops the server.
//! ```

mod config;
mod execute;
mod grpc;
mod request;
mod rest;
mod server;
mod upstream;
mod value;

pub use server::{serve_graphql, GraphqlHandle, ServedRequest};
pub use upstream::UpstreamCall;

/// A GraphQL API's config, loaded and checked: the schema validated, the
/// descriptor set decoded, every root field's resolver checked against
/// both. Serve it with [`serve_graphql`].
pub struct GraphqlGateway {
    config: config::Config,
    /// Where every upstream call connects instead of its upstream (a
    /// sidecar's outbound listener); the upstream stays the `host`/`:authority`.
    proxy: Option<std::net::SocketAddr>,
}

impl std::fmt::Debug for GraphqlGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphqlGateway")
            .field("service", &self.config.service)
            .field("api", &self.config.api)
            .field("fields", &self.fields())
            .finish()
    }
}

impl GraphqlGateway {
    /// Loads a config file's JSON. `Err` says what is wrong: JSON, SDL
    /// (with line and column), descriptor set, or the resolver (by its
    /// `Root.field` key) and its entry; also root fields without a resolver.
    pub fn from_json(text: &str) -> Result<GraphqlGateway, String> {
        config::load(text).map(|config| GraphqlGateway { config, proxy: None })
    }

    /// Sends every upstream call to `proxy` (a sidecar's outbound
    /// listener, as an app in the mesh does), naming the upstream in `host`
    /// (REST) or `:authority` (gRPC) so that the proxy routes it.
    pub fn through_proxy(mut self, proxy: std::net::SocketAddr) -> GraphqlGateway {
        self.proxy = Some(proxy);
        self
    }

    /// The service the API belongs to.
    pub fn service(&self) -> &str {
        &self.config.service
    }

    /// The API's name.
    pub fn api(&self) -> &str {
        &self.config.api
    }

    /// The resolved root fields, `Query.field` then `Mutation.field`, each
    /// sorted.
    pub fn fields(&self) -> Vec<String> {
        self.config.resolvers.values().map(|resolver| resolver.key.clone()).collect()
    }

    /// Whether `__schema` and `__type` are answered (config
    /// `introspection`, default true).
    pub fn introspection(&self) -> bool {
        self.config.introspection
    }
}
