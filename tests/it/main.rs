//! The compiler's integration tests, one module per concern, linked into one
//! test binary (`cargo test -p meshc --test it`; one module:
//! `cargo test -p meshc --test it traffic::`): one link instead of one per
//! file is most of the suite's build time on a 2-core machine.
//!
//! `tests/no_panic.rs` is a binary of its own: it installs a process-wide
//! panic hook (quiet on rayon workers, recording the last panic) and a
//! watchdog that aborts the process on a hang, neither of which other tests
//! should share.

mod support;

mod api_versions;
mod architecture;
mod avro_reference;
mod cert_dir;
mod cli;
mod compliance;
mod contract_mocks;
mod contract_runner;
mod contracts;
mod dependency_policy;
mod diagnostics_docs;
mod diff_cli;
mod diff_workspaces;
mod docs_examples;
mod envoy_gateway;
mod envoy_mtls;
mod envoy_reload;
mod envoy_security;
mod envoy_sidecar;
mod event_bus_runtime;
mod events_compatibility;
mod events_language;
mod fallbacks;
mod fuzz_regressions;
mod gateway_routes;
mod generated_meshes;
mod golden;
mod grafana;
mod graphql_breaking;
mod graphql_gateway;
mod graphql_schema;
mod health_checks;
mod identity;
mod input_safety;
mod istio;
mod kafka_topics;
mod kdl_suite;
mod language_fixtures;
mod limits;
mod load_tests;
mod local_mesh;
mod monitoring;
mod nats_streams;
mod online_boutique;
mod output_safety;
mod proto_breaking;
mod rabbitmq_definitions;
mod runtime_configs;
mod schema_registry_subjects;
mod service_roles;
mod site;
mod sock_shop;
mod stdlib_docs;
mod support_selftest;
mod tcp_services;
mod tracing;
mod traffic;
mod versioning_docs;
