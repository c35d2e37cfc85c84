//! Contract tests: the plans `meshc-runtime`'s contract runner executes and
//! the mock providers it serves (docs/contracts.md).

mod access;
mod graphql_query;
pub mod load;
pub mod plan;
pub mod probes;
