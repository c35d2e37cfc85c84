//! `evolution` exceptions naming something that does not exist: a rule
//! id `meshc diff` has no rule of for the API's schema format (a typo
//! would silently allow nothing), a version the API does not declare, or
//! a schema version the topic does not declare.

use crate::diag::{suggestion, Code, Diagnostic, Sink};
use crate::model::api_versions::Allowed;
use crate::model::values::ApiKind;
use crate::model::{Api, Model};
use crate::schema::breaking::{self, Format};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    // Each format's rule ids, gathered once (not once per API).
    let ids = |format: Format| -> Vec<&'static str> {
        breaking::rules().filter(|r| r.format == format).map(|r| r.id).collect()
    };
    let tables = [ids(Format::OpenApi), ids(Format::Protobuf), ids(Format::Graphql)];
    for service in &model.services {
        for api in service.apis.iter().filter(|a| !a.evolution.exceptions.is_empty()) {
            let table = match api.kind {
                ApiKind::Rest => &tables[0],
                ApiKind::Grpc => &tables[1],
                ApiKind::Graphql => &tables[2],
            };
            api_exceptions(api, table, sink);
        }
    }
    for topic in &model.topics {
        for exception in &topic.evolution.exceptions {
            let Allowed::TopicVersion(number) = exception.allows.value else { continue };
            if topic.version(number).is_some() {
                continue;
            }
            let declared: Vec<String> = topic.versions.iter().map(|v| v.number.to_string()).collect();
            sink.push(
                Diagnostic::new(
                    Code::UnknownExceptionTarget,
                    format!("topic `{}` declares no schema version {number}", topic.name.value),
                )
                .at(exception.allows.span, "no such version")
                .help(format!(
                    "its versions are {}; an exception allows one of them to break the topic's compatibility",
                    declared.join(", ")
                )),
            );
        }
    }
}

fn api_exceptions(api: &Api, ids: &[&'static str], sink: &mut Sink) {
    let format = format_of(api.kind);
    for exception in &api.evolution.exceptions {
        let Allowed::Rule { id, version } = &exception.allows.value else { continue };
        if !ids.contains(&id.as_str()) {
            let mut d = Diagnostic::new(
                Code::UnknownExceptionTarget,
                format!("`meshc diff` has no {} rule `{id}`", format.as_str()),
            )
            .at(exception.allows.span, "no such rule");
            d = d.help(
                suggestion(id, ids.iter().copied())
                    .unwrap_or_else(|| format!("`meshc diff --list-rules` lists the {} rules", format.as_str())),
            );
            sink.push(d);
        }
        let Some(version) = version else { continue };
        if !api.versions.iter().any(|v| v.name.value == version.value) {
            let names: Vec<&str> = api.versions.iter().map(|v| v.name.value.as_str()).collect();
            let help = match suggestion(&version.value, names.iter().copied()) {
                Some(hint) => hint,
                None if names.is_empty() => format!("API `{}` declares no versions: remove `version=`", api.name.value),
                None => format!("its versions: {}", names.join(", ")),
            };
            sink.push(
                Diagnostic::new(
                    Code::UnknownApiVersion,
                    format!("API `{}` declares no version `{}`", api.name.value, version.value),
                )
                .at(version.span, "no such version")
                .help(help),
            );
        }
    }
}

/// The rule table an API's changes are judged by.
fn format_of(kind: ApiKind) -> Format {
    match kind {
        ApiKind::Rest => Format::OpenApi,
        ApiKind::Grpc => Format::Protobuf,
        ApiKind::Graphql => Format::Graphql,
    }
}
