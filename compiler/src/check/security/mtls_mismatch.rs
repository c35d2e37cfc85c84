//! Mutual TLS between a caller and its callee must agree: a caller whose
//! proxy sends plaintext (`mtls "disabled"`) cannot reach a service that
//! accepts only mutual TLS (`strict`). Kiali finds this class of mistake in
//! a running mesh (KIA0207/KIA0208); here it is found before deploying.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::identity::MtlsMode;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    let Some(mtls) = &model.mtls else { return };
    for caller in &model.services {
        if model.mtls_mode(caller) != MtlsMode::Disabled {
            continue;
        }
        for call in &caller.calls {
            let callee = model.service(call.target.value);
            if model.mtls_mode(callee) != MtlsMode::Strict {
                continue;
            }
            let (mode_span, whose) = match caller.own_mtls() {
                Some(own) => (own.span, format!("`{}` turns mTLS off", caller.name.value)),
                None => match mtls.namespaces.iter().find(|(ns, _)| *ns == caller.identity().namespace) {
                    Some((ns, mode)) => (mode.span, format!("namespace `{ns}` turns mTLS off")),
                    None => (mtls.mode.span, "the mesh turns mTLS off".to_string()),
                },
            };
            sink.push(
                Diagnostic::new(
                    Code::MtlsMismatch,
                    format!(
                        "`{}` calls `{}` in plaintext, but `{}` accepts only mutual TLS",
                        caller.name.value, callee.name.value, callee.name.value
                    ),
                )
                .at(call.span, "plaintext call to a strict service")
                .with_label(mode_span, whose)
                .help(format!(
                    "enable mTLS for `{}` (mtls \"permissive\" or \"strict\"), or let `{}` accept plaintext during the migration (mtls \"permissive\")",
                    caller.name.value, callee.name.value
                )),
            );
        }
    }
}
