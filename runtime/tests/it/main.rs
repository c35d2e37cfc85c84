//! The runtime's integration tests, one module per component, linked into
//! one test binary (`cargo test -p meshc-runtime --test it validator::`).

mod support;

mod cli;
mod contract_mock;
mod contract_runner;
mod event_bus;
mod graphql;
mod grpc_mock;
mod health;
mod kafka_groups;
mod load_command;
mod templates;
mod token_exchange;
mod validator;
