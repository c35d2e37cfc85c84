//! The contract runner's reports: JUnit XML for CI (one `testsuite` per
//! plan, a `testcase` per interaction or message contract), a JSON report
//! (format [`REPORT_FORMAT`], docs/contracts.md) and the human summary.

use std::fmt::Write as _;

use quick_xml::escape::escape;
use serde_json::{json, Value};

use super::plan::Role;
use super::runner::{CaseKind, CaseResult, Outcome, PlanResult};

/// The JSON report's format.
pub const REPORT_FORMAT: &str = "meshc-contract-report/1";

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Provider => "provider",
        Role::Consumer => "consumer",
    }
}

/// `shop provider catalog`.
fn suite_name(plan: &PlanResult) -> String {
    format!("{} {} {}", plan.mesh, role_name(plan.role), plan.subject)
}

/// The failure's text: the interaction, where the spec says it, and one
/// line per mismatch.
pub fn failure_text(case: &CaseResult, mismatches: &[super::matcher::Mismatch]) -> String {
    let mut text = format!("{} ({}): {} -> {}\n", case.id, case.source, case.consumer, case.provider);
    for mismatch in mismatches {
        let _ = writeln!(text, "  {mismatch}");
    }
    text
}

fn seconds(case: &CaseResult) -> String {
    format!("{:.3}", case.duration.as_secs_f64())
}

/// JUnit XML over every plan's results.
pub fn junit_xml(plans: &[PlanResult]) -> String {
    let totals = plans.iter().map(PlanResult::counts).fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    let total_time: f64 = plans.iter().flat_map(|p| &p.cases).map(|c| c.duration.as_secs_f64()).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"meshc contracts\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{total_time:.3}\">",
        totals.0 + totals.1 + totals.2,
        totals.1,
        totals.2
    );
    for plan in plans {
        let (passed, failed, skipped) = plan.counts();
        let time: f64 = plan.cases.iter().map(|c| c.duration.as_secs_f64()).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">",
            escape(suite_name(plan)),
            passed + failed + skipped
        );
        let classname = format!("{}.{}.{}", plan.mesh, role_name(plan.role), plan.subject);
        for case in &plan.cases {
            let file = case.source.rsplit_once(':').map_or(case.source.as_str(), |(file, _)| file);
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{}\"",
                escape(&case.id),
                escape(&classname),
                escape(file),
                seconds(case)
            );
            match &case.outcome {
                Outcome::Passed => xml.push_str("/>\n"),
                Outcome::Skipped(reason) => {
                    let _ = writeln!(xml, ">\n      <skipped message=\"{}\"/>\n    </testcase>", escape(reason));
                }
                Outcome::Failed(mismatches) => {
                    let first = mismatches.first().map(ToString::to_string).unwrap_or_default();
                    let _ = writeln!(
                        xml,
                        ">\n      <failure message=\"{}\" type=\"contract\">{}</failure>\n    </testcase>",
                        escape(&first),
                        escape(failure_text(case, mismatches))
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// The JSON report (docs/contracts.md, "Reports").
pub fn json_report(plans: &[PlanResult]) -> Value {
    let counts = |(passed, failed, skipped): (usize, usize, usize)| json!({"passed": passed, "failed": failed, "skipped": skipped});
    let totals = plans.iter().map(PlanResult::counts).fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    let plans: Vec<Value> = plans
        .iter()
        .map(|plan| {
            json!({
                "mesh": plan.mesh,
                "role": role_name(plan.role),
                "subject": plan.subject,
                "counts": counts(plan.counts()),
                "cases": plan.cases.iter().map(case_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "format": REPORT_FORMAT, "counts": counts(totals), "plans": plans })
}

fn case_json(case: &CaseResult) -> Value {
    let mut value = json!({
        "id": case.id,
        "kind": match case.kind { CaseKind::Interaction => "interaction", CaseKind::Message => "message" },
        "consumer": case.consumer,
        "provider": case.provider,
        "source": case.source,
        // Tenths of a millisecond are all a contract run needs.
        "duration_ms": (case.duration.as_secs_f64() * 10_000.0).round() / 10.0,
    });
    match &case.outcome {
        Outcome::Passed => value["outcome"] = json!("passed"),
        Outcome::Skipped(reason) => {
            value["outcome"] = json!("skipped");
            value["reason"] = json!(reason);
        }
        Outcome::Failed(mismatches) => {
            value["outcome"] = json!("failed");
            value["mismatches"] = mismatches
                .iter()
                .map(|m| {
                    json!({"path": m.path, "expected": m.expected, "actual": m.actual, "why": m.why, "text": m.to_string()})
                })
                .collect();
        }
    }
    value
}

/// What a person reads: per plan its counts, then every failure with its
/// mismatches and every skip with its reason.
pub fn summary(plans: &[PlanResult]) -> String {
    let mut text = String::new();
    for plan in plans {
        let (passed, failed, skipped) = plan.counts();
        let _ = writeln!(text, "{}: {passed} passed, {failed} failed, {skipped} skipped", suite_name(plan));
        for case in &plan.cases {
            match &case.outcome {
                Outcome::Passed => {}
                Outcome::Failed(mismatches) => {
                    let _ = write!(text, "  FAIL {}", failure_text(case, mismatches).replace("\n  ", "\n       "));
                }
                Outcome::Skipped(reason) => {
                    let _ = writeln!(text, "  SKIP {} ({}): {reason}", case.id, case.source);
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::matcher::Mismatch;
    use super::*;

    fn results() -> Vec<PlanResult> {
        let case = |id: &str, outcome| CaseResult {
            id: id.into(),
            kind: CaseKind::Interaction,
            consumer: "orders".into(),
            provider: "catalog".into(),
            source: "services/orders.kdl:32".into(),
            outcome,
            duration: Duration::from_millis(12),
        };
        vec![PlanResult {
            mesh: "shop".into(),
            role: Role::Provider,
            subject: "catalog".into(),
            cases: vec![
                case("orders->catalog GET /products", Outcome::Passed),
                case(
                    "orders->catalog GET /products/{productId} #<a & b>",
                    Outcome::Failed(vec![Mismatch::new("status", "200", Some("404".into()), "example")]),
                ),
                case("x", Outcome::Skipped("not runnable: \"why\"".into())),
            ],
        }]
    }

    #[test]
    fn junit_has_a_suite_per_plan_and_escapes_text() {
        let xml = junit_xml(&results());
        assert!(
            xml.contains(r#"<testsuite name="shop provider catalog" tests="3" failures="1" errors="0" skipped="1""#),
            "{xml}"
        );
        assert!(xml.contains(r#"<testcase name="orders-&gt;catalog GET /products" classname="shop.provider.catalog" file="services/orders.kdl" time="0.012"/>"#), "{xml}");
        assert!(xml.contains(r#"<failure message="status: expected 200, got 404 (example)" type="contract">orders-&gt;catalog GET /products/{productId} #&lt;a &amp; b&gt; (services/orders.kdl:32): orders -&gt; catalog"#), "{xml}");
        assert!(xml.contains(r#"<skipped message="not runnable: &quot;why&quot;"/>"#), "{xml}");
        // Well-formed.
        let mut reader = quick_xml::Reader::from_str(&xml);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{e}: {xml}"),
            }
        }
    }

    #[test]
    fn the_json_report_counts_and_lists_mismatches() {
        let report = json_report(&results());
        assert_eq!(report["format"], REPORT_FORMAT);
        assert_eq!(report["counts"], json!({"passed": 1, "failed": 1, "skipped": 1}));
        let failed = &report["plans"][0]["cases"][1];
        assert_eq!(failed["outcome"], "failed");
        assert_eq!(failed["mismatches"][0]["text"], "status: expected 200, got 404 (example)");
        assert_eq!(report["plans"][0]["cases"][2]["reason"], "not runnable: \"why\"");
    }

    #[test]
    fn the_summary_names_failures_and_skips() {
        let text = summary(&results());
        assert!(text.starts_with("shop provider catalog: 1 passed, 1 failed, 1 skipped\n"), "{text}");
        assert!(text.contains("  FAIL orders->catalog GET /products/{productId} #<a & b> (services/orders.kdl:32): orders -> catalog\n       status: expected 200, got 404 (example)\n"), "{text}");
        assert!(text.contains("  SKIP x (services/orders.kdl:32): not runnable: \"why\"\n"), "{text}");
    }
}
