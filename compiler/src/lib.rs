//! meshc: a compiler and static validator for service meshes.
//!
//! The pipeline, one layer per module, each knowing only the ones above it in
//! this list:
//!
//! - [`base`]: file ids, spans, the source map.
//! - [`diag`]: diagnostics, the code table, renderers.
//! - [`syntax`]: KDL text → AST with spans. Pure; never fails.
//! - [`load`]: the only front-end IO: reads the root file, follows imports.
//! - [`schema`]: loads the protocol schema files the spec points at into one index.
//! - [`model`]: lowers ASTs into the typed, name-resolved model (the hub).
//! - [`check`]: analysis passes over the model, one module each.
//! - [`emit`]: backends turning the model into artifacts in memory, one module each.
//! - [`driver`]: runs the pipeline; [`cli`] is the command line on top of it.

pub mod base;
pub mod check;
pub mod cli;
pub mod diag;
pub mod driver;
pub mod emit;
pub mod load;
pub mod model;
pub mod schema;
pub mod syntax;
