//! A service nobody owns: alerts, runbooks and reviews have no one to go to.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for service in model.services.iter().filter(|s| s.owner.is_none()) {
        sink.push(
            Diagnostic::new(Code::MissingOwner, format!("service `{}` has no owner", service.name.value))
                .at(service.name.span, "no `owner`")
                .help("add the owning team: owner \"team-name\""),
        );
    }
}
