//! Prometheus: the scrape config (`scrape`), recording and alerting rules
//! (`rules`) and promtool unit tests of those rules (`tests`), for a mesh
//! with a `monitoring` block, over the subjects `emit::monitoring` lists.

pub mod rules;
pub mod scrape;
pub mod tests;

/// The alerting rule file (SLO ratios and every alert), relative to the
/// Prometheus config's folder: what the unit tests load.
pub const RULE_FILE: &str = "rules/meshc.yml";
/// The RED recording rules (and consumer lag), in a file of their own:
/// dashboards read them, no alert does, so the unit tests need not evaluate them.
pub const RED_RULE_FILE: &str = "rules/meshc-red.yml";
