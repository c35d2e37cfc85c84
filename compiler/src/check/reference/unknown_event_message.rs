//! A topic's protobuf schema version names a message its `.proto` file
//! (with its imports) does not define.

use crate::diag::{suggestion, Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for topic in &model.topics {
        for version in &topic.versions {
            let (Some(message), Some(schema)) = (&version.message, schemas.get(version.schema)) else { continue };
            // The full list (for the did-you-mean) only when the lookup fails.
            if schema.defines_proto_message(&message.value) != Some(false) {
                continue;
            }
            let known = schema.proto_messages().unwrap_or_default();
            let path = &model.schema(version.schema).path;
            sink.push(
                Diagnostic::new(
                    Code::UnknownEventMessage,
                    format!(
                        "`{}` defines no message `{}`",
                        path.file_name().unwrap_or_default().to_string_lossy(),
                        message.value
                    ),
                )
                .at(message.span, "unknown message")
                .help_opt(
                    suggestion(&message.value, known.iter().map(String::as_str))
                        .or_else(|| Some("name a message by its full name: package.Message".to_string())),
                ),
            );
        }
    }
}
