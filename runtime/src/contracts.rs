//! Contract tests: the plans and mock configs meshc emits
//! (`contracts/`, format `meshc-contracts/1`, docs/contracts.md).

pub mod mock;
pub mod plan;

pub use mock::{AnswerUsed, ContractMock, ContractMockHandle, Received};
pub use plan::{MockPlan, Plan, PlanError};
