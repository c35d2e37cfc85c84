//! CLI tests: see below.
