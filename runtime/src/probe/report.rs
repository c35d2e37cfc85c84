//! The probes' reports: JUnit XML for CI (a `testsuite` per kind, a
//! `testcase` per probe: a finding is a failure, a probe that could not
//! judge an error), SARIF 2.1.0 for code scanning (a result per finding
//! and error, at the spec line it tests) and the human summary.

use std::fmt::Write as _;

use quick_xml::escape::escape;
use serde_json::{json, Value};

use super::plan::Kind;
use super::{ProbeResult, Verdict};

const KINDS: [Kind; 5] = [Kind::Auth, Kind::Authorization, Kind::RateLimit, Kind::Validation, Kind::Parsing];

/// `(passed, findings, errors, skipped)`.
pub fn counts(results: &[ProbeResult]) -> (usize, usize, usize, usize) {
    results.iter().fold((0, 0, 0, 0), |c, r| match r.verdict {
        Verdict::Passed => (c.0 + 1, c.1, c.2, c.3),
        Verdict::Finding(_) => (c.0, c.1 + 1, c.2, c.3),
        Verdict::Error(_) => (c.0, c.1, c.2 + 1, c.3),
        Verdict::Skipped(_) => (c.0, c.1, c.2, c.3 + 1),
    })
}

/// One line per finding, error and skipped probe, then the totals.
pub fn summary(results: &[ProbeResult]) -> String {
    let mut out = String::new();
    for result in results {
        let (word, why) = match &result.verdict {
            Verdict::Passed => continue,
            Verdict::Finding(why) => ("FINDING", why),
            Verdict::Error(why) => ("ERROR", why),
            Verdict::Skipped(why) => ("skipped", why),
        };
        let _ = writeln!(out, "{word} {} ({}): {why}", result.id, result.source);
    }
    let (passed, findings, errors, skipped) = counts(results);
    let _ = writeln!(out, "probes: {passed} passed, {findings} findings, {errors} errors, {skipped} skipped");
    out
}

fn file_line(source: &str) -> (&str, u64) {
    match source.rsplit_once(':') {
        Some((file, line)) => (file, line.parse().unwrap_or(1).max(1)),
        None => (source, 1),
    }
}

/// JUnit XML: a suite per kind of probe.
pub fn junit_xml(mesh: &str, results: &[ProbeResult]) -> String {
    let (passed, findings, errors, skipped) = counts(results);
    let total_time: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"meshc probes\" tests=\"{}\" failures=\"{findings}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{total_time:.3}\">",
        passed + findings + errors + skipped
    );
    for kind in KINDS {
        let cases: Vec<_> = results.iter().filter(|r| r.kind == kind).cloned().collect();
        if cases.is_empty() {
            continue;
        }
        let (p, f, e, s) = counts(&cases);
        let time: f64 = cases.iter().map(|r| r.duration.as_secs_f64()).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{} probes {}\" tests=\"{}\" failures=\"{f}\" errors=\"{e}\" skipped=\"{s}\" time=\"{time:.3}\">",
            escape(mesh),
            kind.as_str(),
            p + f + e + s
        );
        for case in &cases {
            let (file, line) = file_line(&case.source);
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}.{}.{}\" file=\"{}\" line=\"{line}\" time=\"{:.3}\"",
                escape(&case.id),
                escape(mesh),
                kind.as_str(),
                escape(&case.subject),
                escape(file),
                case.duration.as_secs_f64()
            );
            let (element, text) = match &case.verdict {
                Verdict::Passed => {
                    xml.push_str("/>\n");
                    continue;
                }
                Verdict::Finding(text) => ("failure", text),
                Verdict::Error(text) => ("error", text),
                Verdict::Skipped(text) => ("skipped", text),
            };
            let _ = writeln!(
                xml,
                ">\n      <{element} message=\"{}\">{} ({})</{element}>\n    </testcase>",
                escape(text),
                escape(text),
                escape(&case.source)
            );
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// A SARIF 2.1.0 log: a rule per kind, a result per finding (level
/// `error`) and per probe that could not judge (level `warning`), located
/// at the spec line the probe tests (relative to the workspace root).
pub fn sarif(results: &[ProbeResult]) -> Value {
    let rules: Vec<Value> = KINDS
        .iter()
        .map(|kind| {
            json!({
                "id": kind.as_str(),
                "name": kind.as_str(),
                "shortDescription": { "text": kind.description() },
                "helpUri": "https://github.com/meshc/meshc/blob/main/docs/testing.md",
            })
        })
        .collect();
    let findings: Vec<Value> = results
        .iter()
        .filter_map(|result| {
            let (level, text) = match &result.verdict {
                Verdict::Finding(text) => ("error", text),
                Verdict::Error(text) => ("warning", text),
                Verdict::Passed | Verdict::Skipped(_) => return None,
            };
            let (file, line) = file_line(&result.source);
            let index = KINDS.iter().position(|k| *k == result.kind).unwrap_or(0);
            Some(json!({
                "ruleId": result.kind.as_str(),
                "ruleIndex": index,
                "level": level,
                "message": { "text": format!("{}: {text}", result.id) },
                "locations": [{ "physicalLocation": {
                    "artifactLocation": { "uri": file, "uriBaseId": "WORKSPACE" },
                    "region": { "startLine": line },
                }}],
                "partialFingerprints": { "probe": result.id },
            }))
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "meshc-runtime probe",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/meshc/meshc/blob/main/docs/testing.md",
                "rules": rules,
            }},
            "originalUriBaseIds": { "WORKSPACE": { "description": { "text": "The spec's workspace root" } } },
            "results": findings,
        }]
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn result(id: &str, kind: Kind, verdict: Verdict) -> ProbeResult {
        ProbeResult {
            id: id.into(),
            kind,
            attack: "no-token".into(),
            subject: "gateway:public/place-order".into(),
            source: "gateway.kdl:127".into(),
            verdict,
            duration: Duration::from_millis(5),
        }
    }

    #[test]
    fn findings_become_junit_failures_and_sarif_results_at_the_spec_line() {
        let results = vec![
            result("a", Kind::Auth, Verdict::Passed),
            result("b <x>", Kind::Auth, Verdict::Finding("expected 401, got 200 from the upstream".into())),
            result("c", Kind::RateLimit, Verdict::Skipped("a quota".into())),
            result("d", Kind::Parsing, Verdict::Error("control".into())),
        ];
        let xml = junit_xml("shop", &results);
        assert!(xml.contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""), "{xml}");
        assert!(xml.contains("name=\"b &lt;x&gt;\""), "{xml}");
        assert!(xml.contains("file=\"gateway.kdl\" line=\"127\""), "{xml}");
        assert!(xml.contains("<failure message=\"expected 401, got 200 from the upstream\">"), "{xml}");
        let log = sarif(&results);
        let found = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0]["level"], "error");
        assert_eq!(found[0]["ruleId"], "auth");
        assert_eq!(found[0]["locations"][0]["physicalLocation"]["region"]["startLine"], 127);
        assert_eq!(found[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "gateway.kdl");
        assert_eq!(found[1]["level"], "warning");
        assert_eq!(log["version"], "2.1.0");
        assert_eq!(counts(&results), (1, 1, 1, 1));
        assert!(summary(&results).ends_with("probes: 1 passed, 1 findings, 1 errors, 1 skipped\n"));
    }
}
