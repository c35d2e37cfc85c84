//! Contract tests: the plans and mock configs meshc emits
//! (`contracts/`, format `meshc-contracts/1`, docs/contracts.md).

pub mod plan;

pub use plan::{MockPlan, Plan, PlanError};
