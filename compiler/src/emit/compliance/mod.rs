//! Compliance evidence: the report of every rule's results.

pub mod report;
