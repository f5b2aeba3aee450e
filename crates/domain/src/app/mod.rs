//! Application versions: the declarative file a site publishes (`file`), its validation
//! (`validate`) and the immutable, id-carrying version that work orders are pinned to (`version`).
//!
//! The format is documented in `docs/application-format.md`.

mod file;
mod validate;
mod version;

pub use file::ApplicationFile;
pub use validate::{parse_and_validate, AppFileError};
pub use version::{
    AppVersion, Binding, BindingRule, BlurCheck, ConformRule, ConformityChecks, DuplicateCheck,
    ExamplePhoto, ExposureCheck, ResolutionCheck, Task, TaskGroup, TaskType, WorkOrderType,
};
