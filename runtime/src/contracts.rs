//! Contract tests: the plans and mock configs meshc emits
//! (`contracts/`, format `meshc-contracts/2`, docs/contracts.md), and the
//! [`ContractTestRunner`] that runs plans against live providers, judging
//! answers with the [`matcher`] and reporting with [`report`], and the
//! [`ContractMock`] that serves a provider's mock config.

pub mod matcher;
pub mod mock;
pub mod plan;
pub mod report;
pub mod runner;
pub mod tokens;

pub use matcher::Mismatch;
pub use mock::{AnswerUsed, ContractMock, ContractMockHandle, Received};
pub use plan::{MockPlan, Plan, PlanError};
pub use runner::{CaseKind, CaseResult, ContractTestRunner, Outcome, PlanResult, RunnerOptions};
pub use tokens::{GivenTokens, TokenSource};
