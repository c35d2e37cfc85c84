//! A call to a versioned API that names no version follows the API's
//! current version (the last one not deprecated): it moves whenever a new
//! version becomes current, unseen, and no migration path lists it.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::{CallOrigin, Model};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        for call in service.calls.iter().filter(|c| c.origin == CallOrigin::Declared && c.api_version.is_none()) {
            let callee = model.service(call.target.value);
            // The API the call reaches: the one serving its operation, else the port's only versioned API.
            let api = match &call.operation {
                Some(op) => callee.apis.iter().find(|a| a.serves(&op.value)),
                None => callee.apis_on(call.port).find(|a| a.is_versioned()),
            };
            let Some(api) = api.filter(|a| a.is_versioned()) else { continue };
            let Some(current) = api.current_version() else { continue };
            let current = &api.version(current).name.value;
            let span = call.operation.as_ref().map_or(call.span, |op| op.span);
            sink.push(
                Diagnostic::new(
                    Code::UnpinnedApiVersion,
                    format!(
                        "`{}` calls `{}`'s versioned API `{}` without naming a version",
                        service.name.value, callee.name.value, api.name.value
                    ),
                )
                .at(span, format!("resolved against the current version, `{current}`"))
                .with_label(api.name.span, "versioned here")
                .help(format!("name the version the caller is written against: api-version=\"{current}\"")),
            );
        }
    }
}
