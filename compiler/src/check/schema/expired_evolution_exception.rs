//! `evolution` exceptions past their `until` day. An exception lets a
//! breaking change through `meshc diff` (an API's rule) or a topic's
//! compatibility check (a schema version) for a while; once the day has
//! passed it no longer applies, and this error says so in `meshc check`
//! too, so the spec is fixed before the next diff fails for no visible
//! reason. The day is the compilation's (`--today`, `SOURCE_DATE_EPOCH`,
//! the clock); without one, nothing has expired.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::api_versions::{Allowed, Date, Exception};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    let Some(today) = model.today else { return };
    for service in &model.services {
        for api in &service.apis {
            for exception in api.evolution.exceptions.iter().filter(|e| !e.applies_on(Some(today))) {
                let what = format!("API `{}` of service `{}`", api.name.value, service.name.value);
                sink.push(expired(exception, &what, today));
            }
        }
    }
    for topic in &model.topics {
        for exception in topic.evolution.exceptions.iter().filter(|e| !e.applies_on(Some(today))) {
            sink.push(expired(exception, &format!("topic `{}`", topic.name.value), today));
        }
    }
}

fn expired(exception: &Exception, owner: &str, today: Date) -> Diagnostic {
    let allowed = match &exception.allows.value {
        Allowed::Rule { id, version: Some(v) } => format!("`{id}` in version `{}`", v.value),
        Allowed::Rule { id, version: None } => format!("`{id}`"),
        Allowed::TopicVersion(n) => format!("schema version {n}"),
    };
    Diagnostic::new(
        Code::ExpiredEvolutionException,
        format!("the exception allowing {allowed} for {owner} expired on {} (today is {today})", exception.until.value),
    )
    .at(exception.until.span, "expired")
    .with_label(exception.reason.span, "the reason it was granted")
    .help("fix what it allowed (make the change compatible, or ship it as a new version), then remove the exception; or renew it with a later `until` and a reason that still holds")
}
