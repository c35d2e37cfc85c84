//! API versions: the versions of one `api` served side by side (`version`
//! children), how a request picks one (its selector), their lifecycle
//! (deprecation, sunset, replacement), and which version a call or a
//! gateway route uses. Not to be confused with a service's deployment
//! `versions` (canaries, splits), which a version may run on.

use std::collections::BTreeMap;
use std::fmt;

use super::traffic::VersionId;
use super::values::HeaderName;
use super::{Api, CallOrigin, GatewayId, Model, SchemaId, Service, ServiceId};
use crate::base::{Span, Spanned};

model_id!(
    /// A version's index in [`Api::versions`].
    ApiVersionId
);

model_id!(
    /// An API's index in [`super::Service::apis`].
    ApiId
);

/// One version of an API.
#[derive(Debug)]
pub struct ApiVersion {
    /// `v1`, `2024-06`: unique within its API.
    pub name: Spanned<String>,
    /// The schema its operations are defined in.
    pub schema: SchemaId,
    /// How a request at the gateway picks it.
    pub selector: Spanned<VersionSelector>,
    pub lifecycle: Lifecycle,
    /// The deployment version (`versions`) whose instances serve it; `None`:
    /// every instance of the service serves every version.
    pub deployment: Option<Spanned<VersionId>>,
    pub span: Span,
}

impl ApiVersion {
    pub fn deprecation(&self) -> Option<&Deprecation> {
        match &self.lifecycle {
            Lifecycle::Current => None,
            Lifecycle::Deprecated(deprecation) => Some(deprecation),
        }
    }
}

/// How a request names the version it wants. One strategy per API (checked).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VersionSelector {
    /// The path starts with it (`/v1`): the service serves the version under it.
    PathPrefix(String),
    /// A request header has this exact value (`api-version: 2`).
    Header { name: HeaderName, value: String },
    /// The `Accept` header names this media type (`application/vnd.shop.orders.v2+json`).
    MediaType(String),
    /// gRPC: the methods of this protobuf package (`shop.payments.v2`).
    GrpcPackage(String),
}

impl VersionSelector {
    /// The strategy's name as the spec writes it (`path-prefix`, ...).
    pub fn strategy(&self) -> &'static str {
        match self {
            VersionSelector::PathPrefix(_) => "path-prefix",
            VersionSelector::Header { .. } => "header",
            VersionSelector::MediaType(_) => "media-type",
            VersionSelector::GrpcPackage(_) => "grpc-package",
        }
    }
}

impl fmt::Display for VersionSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSelector::PathPrefix(prefix) => write!(f, "path-prefix=\"{prefix}\""),
            VersionSelector::Header { name, value } => write!(f, "header=\"{name}\" equals=\"{value}\""),
            VersionSelector::MediaType(media) => write!(f, "media-type=\"{media}\""),
            VersionSelector::GrpcPackage(package) => write!(f, "grpc-package=\"{package}\""),
        }
    }
}

/// Where a version is in its life. Everything after deprecation hangs off
/// it: a version cannot sunset or be replaced without being deprecated.
#[derive(Debug)]
pub enum Lifecycle {
    Current,
    Deprecated(Deprecation),
}

#[derive(Debug)]
pub struct Deprecation {
    /// Since when (RFC 9745 `Deprecation`); the `deprecated=` entry's span.
    pub since: Spanned<Date>,
    /// When it stops being served (RFC 8594 `Sunset`), not before `since` (checked).
    pub sunset: Option<Spanned<Date>>,
    /// The version callers should move to; another version of the same API,
    /// never one that leads back here (checked).
    pub replaced_by: Option<Spanned<ApiVersionId>>,
    /// A page explaining the deprecation and the move.
    pub link: Option<Spanned<String>>,
}

/// Which version of which API a call or route uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiVersionRef {
    pub api: ApiId,
    pub version: ApiVersionId,
    /// The `api-version` entry or node naming it.
    pub span: Span,
}

/// The API versions a gateway route sends its requests to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteVersions {
    /// No version named: one route per version, each matching its selector,
    /// and requests that name none go to the API's current version.
    SideBySide { api: ApiId },
    /// Every request the route takes goes to this version (`api-version=`).
    One(ApiVersionRef),
    /// Requests are spread over versions by weight (the weights total 100),
    /// a migration in progress (`api-version "v1" weight=80` children).
    Weighted { api: ApiId, weights: Vec<(ApiVersionRef, u32)> },
}

impl RouteVersions {
    pub fn api(&self) -> ApiId {
        match self {
            RouteVersions::SideBySide { api } | RouteVersions::Weighted { api, .. } => *api,
            RouteVersions::One(r) => r.api,
        }
    }

    /// The one version every request of the route goes to (`api-version=`).
    pub fn one(&self) -> Option<ApiVersionRef> {
        match self {
            RouteVersions::One(r) => Some(*r),
            _ => None,
        }
    }

    /// The versions the route names itself (none when side by side).
    pub fn named(&self) -> Vec<ApiVersionRef> {
        match self {
            RouteVersions::SideBySide { .. } => Vec::new(),
            RouteVersions::One(r) => vec![*r],
            RouteVersions::Weighted { weights, .. } => weights.iter().map(|(r, _)| *r).collect(),
        }
    }
}

impl Api {
    pub fn version(&self, id: ApiVersionId) -> &ApiVersion {
        &self.versions[id.index()]
    }

    pub fn version_ids(&self) -> impl Iterator<Item = ApiVersionId> {
        (0..self.versions.len()).map(ApiVersionId::new)
    }

    pub fn is_versioned(&self) -> bool {
        !self.versions.is_empty()
    }

    /// The version a use that names none resolves to: the last declared
    /// version that is not deprecated, else the last one. `None` when unversioned.
    pub fn current_version(&self) -> Option<ApiVersionId> {
        let current = self.versions.iter().rposition(|v| v.deprecation().is_none());
        current.or(self.versions.len().checked_sub(1)).map(ApiVersionId::new)
    }

    /// The schema a use resolves its operation against: the named
    /// version's, else the API's own (for a versioned API, its current version's).
    pub fn schema_for(&self, version: Option<ApiVersionId>) -> SchemaId {
        version.map_or(self.schema, |v| self.version(v).schema)
    }
}

/// Who names an API version: a call of a service, or a gateway's route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VersionUser {
    /// The `call`-th of the caller's [`super::Service::calls`].
    Call { caller: ServiceId, call: usize },
    /// The `route`-th of the gateway's [`super::Gateway::routes`].
    Route { gateway: GatewayId, route: usize },
}

/// One use of an API version: who, where it names the version, and for a
/// route weighing versions, the share of its requests.
#[derive(Clone, Copy, Debug)]
pub struct VersionUse {
    pub user: VersionUser,
    pub span: Span,
    pub weight: Option<u32>,
}

/// A version of an API of a service.
pub type VersionKey = (ServiceId, ApiId, ApiVersionId);

impl Model {
    /// Every version of every API, with its ids.
    pub fn api_versions(&self) -> impl Iterator<Item = (VersionKey, &Service, &Api, &ApiVersion)> {
        self.service_ids().zip(&self.services).flat_map(|(sid, service)| {
            service.apis.iter().enumerate().flat_map(move |(a, api)| {
                api.version_ids().map(move |v| ((sid, ApiId::new(a), v), service, api, api.version(v)))
            })
        })
    }

    /// The declared calls and routes naming each version, in spec order
    /// (a route's version weighted 0 is not used). One pass over calls and routes.
    pub fn api_version_uses(&self) -> BTreeMap<VersionKey, Vec<VersionUse>> {
        let mut uses: BTreeMap<VersionKey, Vec<VersionUse>> = BTreeMap::new();
        for (caller, service) in self.service_ids().zip(&self.services) {
            for (call, c) in service.calls.iter().enumerate().filter(|(_, c)| c.origin == CallOrigin::Declared) {
                if let Some(r) = c.api_version {
                    let user = VersionUser::Call { caller, call };
                    uses.entry((c.target.value, r.api, r.version)).or_default().push(VersionUse {
                        user,
                        span: r.span,
                        weight: None,
                    });
                }
            }
        }
        for (gateway, g) in self.gateway_ids().zip(&self.gateways) {
            for (route, r) in g.routes.iter().enumerate() {
                let Some(forward) = r.forward() else { continue };
                let user = VersionUser::Route { gateway, route };
                let target = forward.target.value;
                match &forward.api_versions {
                    Some(RouteVersions::One(v)) => {
                        uses.entry((target, v.api, v.version)).or_default().push(VersionUse {
                            user,
                            span: v.span,
                            weight: None,
                        });
                    }
                    Some(RouteVersions::Weighted { weights, .. }) => {
                        for (v, weight) in weights.iter().filter(|(_, w)| *w > 0) {
                            uses.entry((target, v.api, v.version)).or_default().push(VersionUse {
                                user,
                                span: v.span,
                                weight: Some(*weight),
                            });
                        }
                    }
                    Some(RouteVersions::SideBySide { .. }) | None => {}
                }
            }
        }
        uses
    }

    /// `service `web`` or `route `orders` of gateway `public``, for messages.
    pub fn describe_user(&self, user: VersionUser) -> String {
        match user {
            VersionUser::Call { caller, .. } => format!("service `{}`", self.service(caller).name.value),
            VersionUser::Route { gateway, route } => {
                let g = self.gateway(gateway);
                format!("route `{}` of gateway `{}`", g.routes[route].name.value, g.name.value)
            }
        }
    }
}

/// A calendar date (`YYYY-MM-DD`, UTC), as lifecycle dates are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(time::Date);

impl Date {
    /// `YYYY-MM-DD`, a real date of years 1970 to 9999.
    pub fn parse(text: &str) -> Result<Date, String> {
        let bad = || format!("`{}` is not a date; write it as YYYY-MM-DD, e.g. \"2026-09-01\"", text.escape_debug());
        let parts: Vec<&str> = text.split('-').collect();
        let [year, month, day] = parts[..] else { return Err(bad()) };
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(year, 4) && digits(month, 2) && digits(day, 2)) {
            return Err(bad());
        }
        let (year, month, day): (i32, u8, u8) =
            (year.parse().map_err(|_| bad())?, month.parse().map_err(|_| bad())?, day.parse().map_err(|_| bad())?);
        if year < 1970 {
            return Err(format!("`{text}` is before 1970; lifecycle dates are Unix times"));
        }
        let month = time::Month::try_from(month).map_err(|_| format!("`{text}`: there is no month {month}"))?;
        time::Date::from_calendar_date(year, month, day)
            .map(Date)
            .map_err(|_| format!("`{text}`: {month} {year} has no day {day}"))
    }

    /// The UTC day of a Unix time (seconds); `None` out of range.
    pub fn from_unix(seconds: i64) -> Option<Date> {
        time::OffsetDateTime::from_unix_timestamp(seconds).ok().map(|t| Date(t.date()))
    }

    /// Seconds since the Unix epoch at midnight UTC starting the day.
    pub fn unix_seconds(self) -> i64 {
        self.0.midnight().assume_utc().unix_timestamp()
    }

    /// Midnight UTC starting the day as an HTTP date (RFC 9110 IMF-fixdate):
    /// `Mon, 01 Mar 2027 00:00:00 GMT`.
    pub fn imf_fixdate(self) -> String {
        let weekday = &self.0.weekday().to_string()[..3];
        let month = &self.0.month().to_string()[..3];
        format!("{weekday}, {:02} {month} {} 00:00:00 GMT", self.0.day(), self.0.year())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), u8::from(self.0.month()), self.0.day())
    }
}

/// How much of a protobuf schema's users a change may break, as buf's
/// breaking-change categories nest: FILE ⊃ PACKAGE ⊃ WIRE_JSON ⊃ WIRE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Generated code per file: no element moves between files.
    File,
    /// Generated code per package: elements may move between a package's files.
    Package,
    /// Binary and JSON encodings.
    WireJson,
    /// The binary encoding only.
    Wire,
}

impl Category {
    /// Strictest first.
    pub const ALL: [Category; 4] = [Category::File, Category::Package, Category::WireJson, Category::Wire];

    /// buf's name: `FILE`, `PACKAGE`, `WIRE_JSON`, `WIRE`.
    pub fn id(self) -> &'static str {
        match self {
            Category::File => "FILE",
            Category::Package => "PACKAGE",
            Category::WireJson => "WIRE_JSON",
            Category::Wire => "WIRE",
        }
    }

    /// The spec's and `--category`'s value: `file`, `package`, `wire-json`, `wire`.
    pub fn flag(self) -> &'static str {
        match self {
            Category::File => "file",
            Category::Package => "package",
            Category::WireJson => "wire-json",
            Category::Wire => "wire",
        }
    }

    pub fn parse(text: &str) -> Result<Category, String> {
        Category::ALL.into_iter().find(|c| c.flag() == text).ok_or_else(|| {
            let flags: Vec<&str> = Category::ALL.iter().map(|c| c.flag()).collect();
            let hint = crate::diag::suggestion(text, flags.iter().copied()).unwrap_or_default();
            format!("unknown category `{}`: {hint}", text.escape_debug())
        })
    }

    /// Whether `self` is stricter than `other` (FILE is the strictest).
    pub fn stricter_than(self, other: Category) -> bool {
        self < other
    }
}

/// How an API's or a topic's schema may evolve (`evolution`): the
/// category its protobuf changes are judged by, and the breaking changes
/// allowed for a while.
#[derive(Clone, Debug, Default)]
pub struct Evolution {
    /// gRPC APIs only (checked when lowering); `None`: `meshc diff --category`.
    pub category: Option<Spanned<Category>>,
    pub exceptions: Vec<Exception>,
}

/// A breaking change allowed until a day, for a reason (`allow`).
#[derive(Clone, Debug)]
pub struct Exception {
    pub allows: Spanned<Allowed>,
    pub reason: Spanned<String>,
    /// The last day it applies; from the day after, it is an error (`MESH0105`).
    pub until: Spanned<Date>,
    pub span: Span,
}

/// What an exception allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// An API's changes of this `meshc diff` rule id (`FIELD_NO_DELETE`), in
    /// every version of the API or in the one named.
    Rule { id: String, version: Option<Spanned<String>> },
    /// A topic's schema version that may break the topic's compatibility
    /// mode against the versions before it.
    TopicVersion(u32),
}

impl Exception {
    /// Whether it still applies on `today` (every exception applies when no day is known).
    pub fn applies_on(&self, today: Option<Date>) -> bool {
        today.is_none_or(|today| today <= self.until.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly_and_format_for_http() {
        let date = Date::parse("2027-03-01").unwrap();
        assert_eq!(date.to_string(), "2027-03-01");
        assert_eq!(date.imf_fixdate(), "Mon, 01 Mar 2027 00:00:00 GMT");
        assert_eq!(date.unix_seconds(), 1_803_859_200);
        assert_eq!(Date::from_unix(1_803_859_200 + 86_399), Some(date));
        for bad in [
            "2027-3-01",
            "2027-02-29",
            "2027-13-01",
            "27-03-01",
            "2027-03-01T00:00",
            "",
            "1969-12-31",
            "２０２７-03-01",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad} parsed");
        }
        assert!(Date::parse("2028-02-29").is_ok());
    }
}
