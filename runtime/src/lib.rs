//! Runtime pieces that meshc's tests run next to real engines.
//!
//! The first one is [`GrpcMock`], a dynamic gRPC server: it serves every
//! unary method of a protobuf descriptor set (no generated code, no protoc)
//! and answers from JSON templates, so Envoy's gRPC-JSON transcoder, gRPC
//! routes and filters can be tested against a real gRPC upstream.
//! [`call_unary`] is a small blocking gRPC client (HTTP/2 with prior
//! knowledge, JSON in and out) for checking such an upstream directly.
//!
//! ```no_run
//! use meshc_runtime::GrpcMock;
//! # fn pool() -> prost_reflect::DescriptorPool { unimplemented!() }
//! let mock = GrpcMock::new(pool())
//!     .respond("/hipstershop.CurrencyService/Convert", serde_json::json!({
//!         "currencyCode": "{{toCode}}", "units": 42, "nanos": 0
//!     }))
//!     .spawn("127.0.0.1:0".parse().unwrap())
//!     .unwrap();
//! println!("gRPC upstream on 127.0.0.1:{}", mock.port());
//! // ... drive traffic, then inspect mock.calls(); dropping `mock` stops it.
//! ```
//!
//! [`Validator`] is the request validator: an HTTP service for Envoy's
//! `ext_authz` filter that rejects requests violating their route's OpenAPI
//! operation with 400 and the gateway's error body ([`serve_validator`]).
//!
//! [`GraphqlGateway`] serves a composed GraphQL API whose root fields are
//! resolved by REST and gRPC upstreams ([`serve_graphql`]; see the
//! [`graphql`] module).
//!
//! [`TokenExchange`] is an `ext_authz` HTTP service that trades the caller's
//! bearer token for one scoped to an audience by OAuth 2.0 Token Exchange
//! (RFC 8693) with a security token service ([`serve_token_exchange`]).
//!
//! [`event_bus::EventBus`] publishes and consumes a service's events on NATS
//! JetStream and RabbitMQ, as the compiled `event-bus.json` describes them:
//! schema-validated publishes, handlers with retries, backoff and dead
//! letters, tracking headers.
//!
//! [`health::HealthMonitor`] probes the instances of each service with a
//! health check (HTTP, the gRPC health protocol, TCP) on its schedule and
//! serves the results as Prometheus metrics and JSON
//! ([`health::serve_health`]).
//!
//! [`contracts::ContractMock`] serves a provider's contract mock config
//! (`contracts/mocks/NAME.json`): REST, GraphQL and gRPC on one port,
//! answering from the spec's examples or from the schemas, recording every
//! request.
//! [`contracts::ContractTestRunner`] runs the contract plans meshc emits
//! against live providers (HTTP/JSON, gRPC, GraphQL, events) and reports
//! each interaction's mismatches as JUnit XML and JSON ([`contracts`]).
//!
//! [`load`] drives the routes and calls of the load-test plan meshc emits
//! through the mesh with an open-loop generator and judges the spec's
//! latency, shedding and retry claims against what it measured.
//!
//! Everything listens on loopback addresses only.

mod client;
mod codec;
mod config;
pub mod contracts;
pub mod event_bus;
pub mod graphql;
mod grpc_mock;
pub mod health;
mod http_client;
mod http_server;
pub mod load;
pub mod local_mesh;
pub mod probe;
mod template;
pub mod token_exchange;
pub mod validator;

pub use client::{call_unary, call_unary_with_metadata};
pub use codec::DynamicCodec;
pub use graphql::{serve_graphql, GraphqlGateway, GraphqlHandle, ServedRequest, UpstreamCall};
pub use grpc_mock::{GrpcMock, MockError, MockHandle};
pub use token_exchange::{serve_token_exchange, Exchange, Outcome, TokenExchange, TokenExchangeHandle};
pub use validator::{serve_validator, CheckedRequest, Decision, Validator, ValidatorHandle, Verdict};

/// Re-exported so users name the same versions the mock is built with.
pub use prost_reflect;
pub use tonic::{Code, Status};
