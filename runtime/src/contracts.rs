//! Contract tests: the plans and mock configs meshc emits
//! (`contracts/`, format `meshc-contracts/1`, docs/contracts.md).

pub mod matcher;
pub mod plan;
pub mod report;
pub mod runner;

pub use plan::{MockPlan, Plan, PlanError};
