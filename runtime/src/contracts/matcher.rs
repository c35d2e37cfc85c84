//! Comparing an actual response body with an example's under the example's
//! matchers, and checking the fields a consumer reads (docs/contracts.md,
//! "Matchers"). Pure functions: the result is the list of mismatches, each
//! naming the JSON path (`$.items[2].sku`), what was expected, what came and
//! why it mattered.

use std::fmt;

use regex::Regex;
use serde_json::Value;

use super::plan::{JsonType, MatchRule, Matcher, Read};

/// One way an actual response differs from what the contract expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `$` for the body, `$.items[2].sku` inside it; `status`,
    /// `header NAME`, `response` outside it.
    pub path: String,
    /// What the contract wants there: a value, a JSON type, a rule.
    pub expected: String,
    /// What came (a value with its type); `None` when nothing came.
    pub actual: Option<String>,
    /// What in the contract asked for it: `example`, `matcher type`,
    /// `read by orders`.
    pub why: String,
}

impl fmt::Display for Mismatch {
    /// `$.price_cents: expected integer, got string "12.50" (read by orders)`,
    /// `$.name: missing, expected string (read by orders)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.actual {
            Some(actual) => write!(f, "{}: expected {}, got {} ({})", self.path, self.expected, actual, self.why),
            None => write!(f, "{}: missing, expected {} ({})", self.path, self.expected, self.why),
        }
    }
}

impl Mismatch {
    pub fn new(path: impl Into<String>, expected: impl Into<String>, actual: Option<String>, why: &str) -> Self {
        Mismatch { path: path.into(), expected: expected.into(), actual, why: why.to_string() }
    }
}

/// One step of a matcher's or read's path: a field, or every item of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Each,
}

/// `items[].sku` → field `items`, each item, field `sku`; `[].id`, `$`,
/// `$.name` (a leading `$` is the body itself).
fn parse_path(path: &str) -> Vec<Step> {
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut steps = Vec::new();
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let mut name = segment;
        let mut each = 0;
        while let Some(rest) = name.strip_suffix("[]") {
            name = rest;
            each += 1;
        }
        if !name.is_empty() {
            steps.push(Step::Field(name.to_string()));
        }
        steps.extend(std::iter::repeat_n(Step::Each, each));
    }
    steps
}

/// How values are compared where no matcher says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Equal values; objects may carry extra fields, lists have the same length.
    Equal,
    /// Same JSON types (under `type` or `each-like`).
    Like,
}

struct Comparison<'a> {
    matchers: Vec<(Vec<Step>, &'a MatchRule)>,
    mismatches: Vec<Mismatch>,
}

/// Compares `actual` with the example's `expected` body under `matchers`.
/// Empty when they agree.
pub fn compare_body(expected: &Value, actual: &Value, matchers: &[Matcher]) -> Vec<Mismatch> {
    let mut comparison = Comparison {
        matchers: matchers.iter().map(|m| (parse_path(&m.path), &m.rule)).collect(),
        mismatches: Vec::new(),
    };
    comparison.compare(expected, actual, &mut Vec::new(), "$", Mode::Equal, "example");
    comparison.mismatches
}

impl Comparison<'_> {
    fn rule_at(&self, steps: &[Step]) -> Option<&MatchRule> {
        self.matchers.iter().find(|(path, _)| path == steps).map(|(_, rule)| *rule)
    }

    fn fail(&mut self, path: &str, expected: String, actual: &Value, why: &str) {
        self.mismatches.push(Mismatch::new(path, expected, Some(describe(actual)), why));
    }

    /// Compares at one node: its own matcher, else `mode` and `why` from
    /// the nearest matcher above (or the example's default).
    fn compare(&mut self, expected: &Value, actual: &Value, steps: &mut Vec<Step>, path: &str, mode: Mode, why: &str) {
        match self.rule_at(steps).cloned() {
            None => self.compare_in(expected, actual, steps, path, mode, why),
            Some(MatchRule::Exact) => self.compare_in(expected, actual, steps, path, Mode::Equal, "matcher exact"),
            Some(MatchRule::Type) => self.compare_in(expected, actual, steps, path, Mode::Like, "matcher type"),
            Some(MatchRule::Regex(pattern)) => self.regex(&pattern, actual, path),
            Some(MatchRule::Range { min, max }) => self.range(min, max, actual, path),
            Some(MatchRule::EachLike { min }) => self.each_like(min, expected, actual, steps, path),
        }
    }

    /// The comparison of `mode` at one node, then its children.
    fn compare_in(
        &mut self,
        expected: &Value,
        actual: &Value,
        steps: &mut Vec<Step>,
        path: &str,
        mode: Mode,
        why: &str,
    ) {
        match (expected, actual) {
            (Value::Object(fields), Value::Object(actual_fields)) => {
                for (name, value) in fields {
                    let child = format!("{path}.{name}");
                    steps.push(Step::Field(name.clone()));
                    match actual_fields.get(name) {
                        Some(actual_value) => self.compare(value, actual_value, steps, &child, mode, why),
                        None => self.mismatches.push(Mismatch::new(child, describe(value), None, why)),
                    }
                    steps.pop();
                }
            }
            (Value::Array(items), Value::Array(actual_items)) => {
                if mode == Mode::Equal && items.len() != actual_items.len() {
                    let expected = format!("a list of {} items", items.len());
                    return self.fail(path, expected, actual, why);
                }
                steps.push(Step::Each);
                for (index, actual_item) in actual_items.iter().enumerate() {
                    // Like: every item is like the example's first.
                    let Some(item) = items.get(if mode == Mode::Like { 0 } else { index }) else { break };
                    self.compare(item, actual_item, steps, &format!("{path}[{index}]"), mode, why);
                }
                steps.pop();
            }
            _ if mode == Mode::Like => {
                if !same_type(expected, actual) {
                    self.fail(path, json_type(expected).to_string(), actual, why);
                }
            }
            _ => {
                if !same_value(expected, actual) {
                    self.fail(path, expected.to_string(), actual, why);
                }
            }
        }
    }

    fn regex(&mut self, pattern: &str, actual: &Value, path: &str) {
        let expected = format!("a string matching /{pattern}/");
        let Value::String(text) = actual else { return self.fail(path, expected, actual, "matcher regex") };
        match Regex::new(&format!("^(?:{pattern})$")) {
            Ok(regex) if regex.is_match(text) => {}
            Ok(_) => self.fail(path, expected, actual, "matcher regex"),
            Err(e) => self.mismatches.push(Mismatch::new(path, expected, None, &format!("invalid matcher regex: {e}"))),
        }
    }

    fn range(&mut self, min: Option<f64>, max: Option<f64>, actual: &Value, path: &str) {
        let bound = |b: Option<f64>| b.map_or_else(String::new, |b| b.to_string());
        let expected = format!("a number in [{}, {}]", bound(min), bound(max));
        let within = actual.as_f64().is_some_and(|n| min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m));
        if !within {
            self.fail(path, expected, actual, "matcher range");
        }
    }

    fn each_like(&mut self, min: usize, expected: &Value, actual: &Value, steps: &mut Vec<Step>, path: &str) {
        let wanted = format!("a list of at least {min} items");
        let Value::Array(actual_items) = actual else { return self.fail(path, wanted, actual, "matcher each-like") };
        if actual_items.len() < min {
            return self.fail(path, wanted, actual, "matcher each-like");
        }
        let Some(first) = expected.as_array().and_then(|items| items.first()) else { return };
        steps.push(Step::Each);
        for (index, actual_item) in actual_items.iter().enumerate() {
            self.compare(first, actual_item, steps, &format!("{path}[{index}]"), Mode::Like, "matcher each-like");
        }
        steps.pop();
    }
}

/// Checks that `body` holds every field `consumer` reads, with its type:
/// a guaranteed read must be present and not null, one that is not
/// guaranteed may be absent or null.
pub fn check_reads(body: &Value, reads: &[Read], consumer: &str) -> Vec<Mismatch> {
    let why = format!("read by {consumer}");
    let mut mismatches = Vec::new();
    for read in reads {
        let mut found = Vec::new();
        locate(body, &parse_path(&read.path), "$".to_string(), &mut found);
        for (path, value) in found {
            match value {
                None | Some(Value::Null) if !read.guaranteed => {}
                None => mismatches.push(Mismatch::new(path, type_name(read.ty), None, &why)),
                Some(value) if !fits(read.ty, value) => {
                    mismatches.push(Mismatch::new(path, type_name(read.ty), Some(describe(value)), &why))
                }
                Some(_) => {}
            }
        }
    }
    mismatches
}

/// Every place `steps` leads to from `value` (a list fans out), with the
/// value there or `None` when a field is missing. A step that meets
/// something other than an object or list is reported as that value, so
/// the type check names it.
fn locate<'a>(value: &'a Value, steps: &[Step], path: String, found: &mut Vec<(String, Option<&'a Value>)>) {
    let Some((step, rest)) = steps.split_first() else {
        found.push((path, Some(value)));
        return;
    };
    match (step, value) {
        (Step::Field(name), Value::Object(fields)) => match fields.get(name) {
            Some(child) => locate(child, rest, format!("{path}.{name}"), found),
            None => found.push((format!("{path}.{name}"), None)),
        },
        (Step::Each, Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                locate(item, rest, format!("{path}[{index}]"), found);
            }
        }
        (Step::Field(_), Value::Null) => found.push((path, None)),
        (Step::Field(_), _) => found.push((path, Some(value))),
        (Step::Each, _) => found.push((path, Some(value))),
    }
}

fn fits(ty: JsonType, value: &Value) -> bool {
    match ty {
        JsonType::Any => true,
        JsonType::String => value.is_string(),
        JsonType::Integer => is_integer(value),
        JsonType::Number => value.is_number(),
        JsonType::Boolean => value.is_boolean(),
        JsonType::Object => value.is_object(),
        JsonType::Array => value.is_array(),
    }
}

fn type_name(ty: JsonType) -> &'static str {
    match ty {
        JsonType::String => "string",
        JsonType::Integer => "integer",
        JsonType::Number => "number",
        JsonType::Boolean => "boolean",
        JsonType::Object => "object",
        JsonType::Array => "array",
        JsonType::Any => "any",
    }
}

fn is_integer(value: &Value) -> bool {
    value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|n| n.fract() == 0.0)
}

/// The JSON type of a value, integers apart from other numbers.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) if is_integer(value) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Same JSON type; an integer is also a number.
fn same_type(expected: &Value, actual: &Value) -> bool {
    match (json_type(expected), json_type(actual)) {
        ("number", "integer") => true,
        (expected, actual) => expected == actual,
    }
}

/// Equal values, numbers by value (`1250` and `1250.0` agree).
fn same_value(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        _ => expected == actual,
    }
}

/// `string "12.50"`, `integer 7`, `object {...}` (long values cut).
pub(crate) fn describe(value: &Value) -> String {
    const LONGEST: usize = 80;
    let mut text = value.to_string();
    if text.chars().count() > LONGEST {
        text = text.chars().take(LONGEST).collect::<String>() + "…";
    }
    match value {
        Value::Null => "null".to_string(),
        _ => format!("{} {text}", json_type(value)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn matcher(path: &str, rule: MatchRule) -> Matcher {
        Matcher { path: path.into(), rule }
    }

    fn messages(mismatches: &[Mismatch]) -> Vec<String> {
        mismatches.iter().map(ToString::to_string).collect()
    }

    fn read(path: &str, ty: JsonType, guaranteed: bool) -> Read {
        Read { path: path.into(), ty, guaranteed }
    }

    #[test]
    fn paths_parse_into_fields_and_items() {
        use Step::*;
        assert_eq!(parse_path("items[].sku"), [Field("items".into()), Each, Field("sku".into())]);
        assert_eq!(parse_path("[].id"), [Each, Field("id".into())]);
        assert_eq!(parse_path("$"), []);
        assert_eq!(parse_path("$.name"), [Field("name".into())]);
        assert_eq!(parse_path("grid[][]"), [Field("grid".into()), Each, Each]);
    }

    #[test]
    fn equal_bodies_agree_and_extra_fields_are_allowed() {
        let expected = json!({"id": "42", "price_cents": 1250});
        let actual = json!({"id": "42", "price_cents": 1250.0, "stock": 3});
        assert_eq!(compare_body(&expected, &actual, &[]), []);
    }

    #[test]
    fn by_default_values_lists_and_missing_fields_are_exact() {
        let expected = json!({"id": "42", "tags": ["a", "b"], "name": "Cup", "size": {"cm": 9}});
        let actual = json!({"id": "43", "tags": ["a"], "size": {"cm": "9"}});
        assert_eq!(
            messages(&compare_body(&expected, &actual, &[])),
            [
                r#"$.id: expected "42", got string "43" (example)"#,
                r#"$.name: missing, expected string "Cup" (example)"#,
                r#"$.size.cm: expected 9, got string "9" (example)"#,
                r#"$.tags: expected a list of 2 items, got array ["a"] (example)"#,
            ]
        );
    }

    #[test]
    fn a_type_matcher_accepts_other_values_of_the_type_recursively() {
        let matchers = [matcher("$", MatchRule::Type)];
        let expected = json!({"name": "Cup", "price": 1.5, "dims": {"cm": 9}, "tags": ["x"]});
        let ok = json!({"name": "Mug", "price": 2, "dims": {"cm": 12}, "tags": ["y", "z"]});
        assert_eq!(compare_body(&expected, &ok, &matchers), []);
        let bad = json!({"name": 7, "price": "2", "dims": {}, "tags": [1]});
        assert_eq!(
            messages(&compare_body(&expected, &bad, &matchers)),
            [
                "$.dims.cm: missing, expected integer 9 (matcher type)",
                r#"$.name: expected string, got integer 7 (matcher type)"#,
                r#"$.price: expected number, got string "2" (matcher type)"#,
                "$.tags[0]: expected string, got integer 1 (matcher type)",
            ]
        );
    }

    #[test]
    fn an_integer_is_not_like_a_fraction() {
        let matchers = [matcher("n", MatchRule::Type)];
        assert_eq!(
            messages(&compare_body(&json!({"n": 1}), &json!({"n": 1.5}), &matchers)),
            ["$.n: expected integer, got number 1.5 (matcher type)"]
        );
    }

    #[test]
    fn an_exact_matcher_restores_equality_under_a_type_matcher() {
        let matchers = [matcher("$", MatchRule::Type), matcher("currency", MatchRule::Exact)];
        let expected = json!({"amount": 5, "currency": "EUR"});
        assert_eq!(compare_body(&expected, &json!({"amount": 9, "currency": "EUR"}), &matchers), []);
        assert_eq!(
            messages(&compare_body(&expected, &json!({"amount": 9, "currency": "USD"}), &matchers)),
            [r#"$.currency: expected "EUR", got string "USD" (matcher exact)"#]
        );
    }

    #[test]
    fn a_regex_matches_the_whole_string() {
        let matchers = [matcher("[].id", MatchRule::Regex("[0-9]+".into()))];
        let expected = json!([{"id": "42"}]);
        assert_eq!(compare_body(&expected, &json!([{"id": "7"}]), &matchers), []);
        assert_eq!(
            messages(&compare_body(&expected, &json!([{"id": "7a"}]), &matchers)),
            [r#"$[0].id: expected a string matching /[0-9]+/, got string "7a" (matcher regex)"#]
        );
        assert_eq!(
            messages(&compare_body(&expected, &json!([{"id": 7}]), &matchers)),
            ["$[0].id: expected a string matching /[0-9]+/, got integer 7 (matcher regex)"]
        );
    }

    #[test]
    fn an_invalid_regex_is_a_mismatch_not_a_panic() {
        let matchers = [matcher("id", MatchRule::Regex("(".into()))];
        let found = compare_body(&json!({"id": "1"}), &json!({"id": "1"}), &matchers);
        assert_eq!(found.len(), 1);
        assert!(found[0].why.starts_with("invalid matcher regex"), "{}", found[0]);
    }

    #[test]
    fn each_like_wants_enough_items_each_like_the_first() {
        let matchers =
            [matcher("$", MatchRule::EachLike { min: 2 }), matcher("[].id", MatchRule::Regex("[0-9]+".into()))];
        let expected = json!([{"id": "42", "price_cents": 1250}]);
        let ok = json!([{"id": "1", "price_cents": 5}, {"id": "2", "price_cents": 7, "name": "x"}]);
        assert_eq!(compare_body(&expected, &ok, &matchers), []);
        assert_eq!(
            messages(&compare_body(&expected, &json!([{"id": "1", "price_cents": 5}]), &matchers)),
            [r#"$: expected a list of at least 2 items, got array [{"id":"1","price_cents":5}] (matcher each-like)"#]
        );
        let bad = json!([{"id": "1", "price_cents": 5}, {"id": "x", "price_cents": "7"}]);
        assert_eq!(
            messages(&compare_body(&expected, &bad, &matchers)),
            [
                r#"$[1].id: expected a string matching /[0-9]+/, got string "x" (matcher regex)"#,
                r#"$[1].price_cents: expected integer, got string "7" (matcher each-like)"#,
            ]
        );
        assert_eq!(
            messages(&compare_body(&expected, &json!({"items": []}), &matchers)),
            [r#"$: expected a list of at least 2 items, got object {"items":[]} (matcher each-like)"#]
        );
    }

    #[test]
    fn a_range_is_inclusive_and_may_be_open() {
        let matchers = [
            matcher("a", MatchRule::Range { min: Some(0.0), max: None }),
            matcher("b", MatchRule::Range { min: Some(1.0), max: Some(5.0) }),
        ];
        let expected = json!({"a": 1, "b": 3});
        assert_eq!(compare_body(&expected, &json!({"a": 0, "b": 5}), &matchers), []);
        assert_eq!(
            messages(&compare_body(&expected, &json!({"a": -1, "b": "3"}), &matchers)),
            [
                "$.a: expected a number in [0, ], got integer -1 (matcher range)",
                r#"$.b: expected a number in [1, 5], got string "3" (matcher range)"#,
            ]
        );
    }

    #[test]
    fn reads_need_their_fields_with_their_types() {
        let reads = [read("id", JsonType::String, true), read("price_cents", JsonType::Integer, true)];
        assert_eq!(check_reads(&json!({"id": "42", "price_cents": 1250}), &reads, "orders"), []);
        assert_eq!(
            messages(&check_reads(&json!({"price_cents": "12.50"}), &reads, "orders")),
            [
                "$.id: missing, expected string (read by orders)",
                r#"$.price_cents: expected integer, got string "12.50" (read by orders)"#,
            ]
        );
    }

    #[test]
    fn reads_fan_out_over_lists() {
        let reads = [read("items[].sku", JsonType::String, true), read("[].id", JsonType::Number, true)];
        let body = json!({"items": [{"sku": "a"}, {}, {"sku": 3}]});
        assert_eq!(
            messages(&check_reads(&body, &reads[..1], "orders")),
            [
                "$.items[1].sku: missing, expected string (read by orders)",
                "$.items[2].sku: expected string, got integer 3 (read by orders)"
            ]
        );
        assert_eq!(check_reads(&json!([{"id": 1}, {"id": 2.5}]), &reads[1..], "web"), []);
        assert_eq!(
            messages(&check_reads(&json!({"id": 1}), &reads[1..], "web")),
            [r#"$: expected number, got object {"id":1} (read by web)"#]
        );
    }

    #[test]
    fn unguaranteed_reads_may_be_absent_or_null_but_not_mistyped() {
        let reads = [read("nickname", JsonType::String, false), read("points", JsonType::Integer, true)];
        assert_eq!(check_reads(&json!({"points": 3}), &reads, "accounts"), []);
        assert_eq!(check_reads(&json!({"nickname": null, "points": 3}), &reads, "accounts"), []);
        assert_eq!(
            messages(&check_reads(&json!({"nickname": 5, "points": null}), &reads, "accounts")),
            [
                "$.nickname: expected string, got integer 5 (read by accounts)",
                "$.points: expected integer, got null (read by accounts)"
            ]
        );
    }

    #[test]
    fn a_whole_body_read_of_any_type_accepts_anything_present() {
        assert_eq!(check_reads(&json!("text"), &[read("$", JsonType::Any, true)], "c"), []);
    }
}
