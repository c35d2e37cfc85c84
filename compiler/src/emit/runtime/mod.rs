//! The meshc runtime engine: configs for `meshc-runtime`'s event bus,
//! GraphQL gateway, health monitor, request validator and token exchanger.

pub mod event_bus;
pub mod graphql_gateway;
pub mod health_monitor;
pub mod request_validator;
pub mod token_exchange;
