//! Uses of deprecated API versions. Each deprecated version that calls or
//! routes still name gets one warning listing all of them (its migration
//! path: who must move before the version can go) with its replacement,
//! sunset and link; each use on or after the version's sunset is an error.
//! A route serving versions side by side names none: its clients learn of
//! the deprecation from the response headers the gateway adds.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::api_versions::{ApiVersion, Deprecation, VersionUse};
use crate::model::{Api, Model, Service};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    let uses = model.api_version_uses();
    for (key, service, api, version) in model.api_versions() {
        let Some(deprecation) = version.deprecation() else { continue };
        let Some(users) = uses.get(&key).filter(|u| !u.is_empty()) else { continue };
        let past_sunset = deprecation.sunset.as_ref().filter(|s| model.today.is_some_and(|today| today >= s.value));
        let Some(sunset) = past_sunset else {
            sink.push(migration_warning(model, service, api, version, deprecation, users));
            continue;
        };
        for user in users {
            sink.push(
                Diagnostic::new(
                    Code::ApiVersionPastSunset,
                    format!(
                        "{} uses version `{}` of `{}`'s API `{}`, removed on {} (its sunset)",
                        model.describe_user(user.user),
                        version.name.value,
                        service.name.value,
                        api.name.value,
                        sunset.value
                    ),
                )
                .at(user.span, "past its sunset")
                .with_label(sunset.span, "sunset")
                .help(move_help(api, version, deprecation)),
            );
        }
    }
}

fn migration_warning(
    model: &Model,
    service: &Service,
    api: &Api,
    version: &ApiVersion,
    deprecation: &Deprecation,
    users: &[VersionUse],
) -> Diagnostic {
    let count = match users.len() {
        1 => "1 use".to_string(),
        n => format!("{n} uses"),
    };
    let mut d = Diagnostic::new(
        Code::DeprecatedApiVersionUsed,
        format!(
            "version `{}` of `{}`'s API `{}` is deprecated since {}; {count} must move before it can go",
            version.name.value, service.name.value, api.name.value, deprecation.since.value
        ),
    )
    .at(deprecation.since.span, "deprecated");
    let mut who = Vec::with_capacity(users.len());
    for user in users {
        let name = model.describe_user(user.user);
        let label = match user.weight {
            Some(weight) => format!("{name} sends {weight}% of its requests to it"),
            None => format!("{name} uses it"),
        };
        d = d.with_label(user.span, label);
        who.push(name);
    }
    d = d.note(format!("migration path: {}", who.join(", ")));
    if let Some(sunset) = &deprecation.sunset {
        d = d.note(format!("its sunset is {}: uses from that day on are errors", sunset.value));
    }
    if let Some(link) = &deprecation.link {
        d = d.note(format!("how to move: {}", link.value));
    }
    d.help(move_help(api, version, deprecation))
}

fn move_help(api: &Api, version: &ApiVersion, deprecation: &Deprecation) -> String {
    match &deprecation.replaced_by {
        Some(next) => {
            let next = &api.version(next.value).name.value;
            format!("move each use to version `{next}` (api-version=\"{next}\"), which replaces it")
        }
        None => format!("move each use off version `{}` to a version that is not deprecated", version.name.value),
    }
}
