//! Contract tests: the plans and mock configs meshc emits
//! (`contracts/`, format `meshc-contracts/1`, docs/contracts.md), and the
//! [`ContractTestRunner`] that runs plans against live providers, judging
//! answers with the [`matcher`] and reporting with [`report`].

pub mod matcher;
pub mod plan;
pub mod report;
pub mod runner;

pub use matcher::Mismatch;
pub use plan::{MockPlan, Plan, PlanError};
pub use runner::{CaseKind, CaseResult, ContractTestRunner, Outcome, PlanResult, RunnerOptions};
