//! `meshc diff` of whole workspaces, as CI runs it: real git repositories
//! built in temp dirs with the `git` CLI (several commits), then
//! `meshc diff --against REF` and `meshc diff OLD NEW` on them, asserting
//! verdicts, rule ids, consumer-aware severities, locations (file:line:col)
//! and exit statuses, in JSON and SARIF.

use std::path::Path;
use std::process::Command;

/// A workspace: a web service calling `Orders/Get`, the orders service
/// serving a gRPC API, a gateway route to the web service, a topic with a
/// consumer and one without.
const MESH: &str = r#"mesh "shop"

service "web" {
    owner "team-web"
    address "web.svc" port=8080
    calls "orders" operation="shop.orders.v1.Orders/Get" timeout="1s"
}

service "orders" {
    owner "team-orders"
    address "orders.svc" port=9090
    api "orders-grpc" kind="grpc" schema="protos/orders.proto"
}

service "mailer" {
    owner "team-mail"
    subscribes "orders-placed"
}

topic "orders-placed" {
    schema "schemas/placed.avsc"
    compatibility "backward"
}

topic "orders-audited" {
    schema "schemas/placed.avsc"
    compatibility "backward"
}

gateway "public" {
    listener "http" port=8000
    route "shop" {
        match path-prefix="/"
        to "web"
        timeout "2s"
        public reason="the example's open site"
    }
}
"#;

const PROTO: &str = "syntax = \"proto3\";
package shop.orders.v1;

message Money { int64 cents = 1; }
message Order { string id = 1; Money total = 2; }
message Ping { string note = 1; }

service Orders {
  rpc Get(Order) returns (Order);
  rpc Health(Ping) returns (Ping);
}
";

const AVRO: &str = r#"{"type": "record", "name": "Placed", "fields": [{"name": "id", "type": "string"}]}
"#;

/// An Avro schema the old one's events do not satisfy (a new field without a default).
const AVRO_BREAKING: &str = r#"{"type": "record", "name": "Placed", "fields": [{"name": "id", "type": "string"}, {"name": "total", "type": "long"}]}
"#;

fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(status.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&status.stderr));
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn commit(repo: &Path, message: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
}

/// A repository whose workspace is `ws/`: commit 1 the base, commit 2 an
/// unused message changed (`Ping`), the working tree as committed.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    write(
        repo,
        &[
            ("README", "shop\n"),
            ("ws/mesh.kdl", MESH),
            ("ws/protos/orders.proto", PROTO),
            ("ws/schemas/placed.avsc", AVRO),
        ],
    );
    commit(repo, "base");
    write(repo, &[("ws/protos/orders.proto", &PROTO.replace("string note = 1;", "int32 note = 1;"))]);
    commit(repo, "ping takes a number");
    dir
}

/// `meshc diff ARGS --format FORMAT` in `dir`: (exit status, stdout as JSON).
fn meshc(dir: &Path, args: &[&str], format: &str) -> (i32, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .arg("diff")
        .args(args)
        .args(["--format", format])
        .current_dir(dir)
        .output()
        .expect("meshc runs");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

/// One line per diagnostic: `error MESH0093 FIELD_SAME_NAME protos/orders.proto:8:10`.
fn lines(report: &serde_json::Value) -> Vec<String> {
    report["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let l = &d["location"];
            format!(
                "{} {} {} {}:{}:{}",
                d["severity"].as_str().unwrap_or_default(),
                d["code"].as_str().unwrap_or_default(),
                d["rule"].as_str().unwrap_or("-"),
                l["file"].as_str().unwrap_or("-"),
                l["start_line"],
                l["start_column"],
            )
        })
        .collect()
}

fn messages(report: &serde_json::Value) -> Vec<String> {
    let list = report["diagnostics"].as_array().into_iter().flatten();
    list.map(|d| format!("{} {}", d["message"].as_str().unwrap_or_default(), d["notes"])).collect()
}

#[test]
fn a_change_no_declared_caller_uses_is_a_warning_and_passes() {
    // An unversioned package promises no major version: consumer awareness alone judges.
    let unversioned = |text: &str| text.replace("shop.orders.v1", "shop.orders");
    let dir = tempfile::tempdir().unwrap();
    let changed = unversioned(&PROTO.replace("string note = 1;", "int32 note = 1;"));
    for (side, proto) in [("old", unversioned(PROTO)), ("new", changed)] {
        let mesh = unversioned(MESH);
        let files =
            [("mesh.kdl", mesh.as_str()), ("protos/orders.proto", proto.as_str()), ("schemas/placed.avsc", AVRO)];
        write(&dir.path().join(side), &files);
    }
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(
        lines(&report),
        ["warning MESH0093 FIELD_WIRE_JSON_COMPATIBLE_TYPE new/protos/orders.proto:6:16"],
        "{report:#}"
    );
    assert_eq!(status, 0, "{report:#}");
    assert!(messages(&report)[0].contains("no declared caller, route or resolver"), "{report:#}");
}

#[test]
fn a_breaking_change_in_a_package_that_keeps_its_major_version_is_an_error_even_unused() {
    let repo = repository();
    let ws = repo.path().join("ws");
    let (status, report) = meshc(&ws, &["--against", "HEAD~1"], "json");
    assert_eq!(
        lines(&report),
        ["error MESH0093 FIELD_WIRE_JSON_COMPATIBLE_TYPE protos/orders.proto:6:16"],
        "{report:#}"
    );
    assert_eq!(status, 1, "{report:#}");
    let notes = &messages(&report)[0];
    assert!(notes.contains("package `shop.orders.v1` keeps its major version"), "{report:#}");
    assert!(notes.contains("whether or not a declared caller, route or resolver uses what changed"), "{report:#}");
    // The old version's place is labelled in the ref's file.
    let related = &report["diagnostics"][0]["related"][0];
    assert_eq!(related["file"], "HEAD~1:protos/orders.proto", "{report:#}");
    // The next major version: the API serves `shop.orders.v2`, where the change
    // breaks no declared caller (`web` calls `Get`, which `Ping` is not part of).
    let v2 = PROTO.replace("shop.orders.v1", "shop.orders.v2").replace("string note = 1;", "bool note = 1;");
    let mesh =
        MESH.replace("shop.orders.v1", "shop.orders.v2").replace("protos/orders.proto", "protos/orders.v2.proto");
    write(&ws, &[("protos/orders.v2.proto", &v2), ("mesh.kdl", &mesh)]);
    let (status, report) = meshc(&ws, &["--against", "HEAD"], "json");
    assert!(lines(&report).iter().all(|l| l.starts_with("warning ")), "a major version bump: {report:#}");
    assert_eq!(status, 0, "{report:#}");
}

#[test]
fn a_change_to_a_message_a_declared_caller_reaches_is_an_error_naming_it() {
    let repo = repository();
    let ws = repo.path().join("ws");
    let committed = PROTO.replace("string note = 1;", "int32 note = 1;");
    write(&ws, &[("protos/orders.proto", &committed.replace("int64 cents = 1;", "int32 cents = 1;"))]);
    let (status, report) = meshc(&ws, &["--against", "HEAD"], "json");
    assert_eq!(
        lines(&report),
        ["error MESH0093 FIELD_WIRE_JSON_COMPATIBLE_TYPE protos/orders.proto:4:17"],
        "{report:#}"
    );
    assert_eq!(status, 1);
    let message = &messages(&report)[0];
    assert!(message.contains("changed type from \"int64\" to \"int32\"; used by service `web`"), "{message}");
    let help = report["diagnostics"][0]["help"].as_str().unwrap_or_default();
    assert!(help.contains("`shop.orders.v2`"), "a versioned package suggests the next major version: {help}");
    // Against the first commit both changes show, each judged on its own.
    let (status, report) = meshc(&ws, &["--against", "main~1"], "json");
    assert_eq!(
        lines(&report),
        [
            "error MESH0093 FIELD_WIRE_JSON_COMPATIBLE_TYPE protos/orders.proto:4:17",
            "error MESH0093 FIELD_WIRE_JSON_COMPATIBLE_TYPE protos/orders.proto:6:16",
        ],
        "{report:#}"
    );
    assert_eq!(status, 1);
}

#[test]
fn an_unchanged_workspace_reports_nothing() {
    let repo = repository();
    let (status, report) = meshc(&repo.path().join("ws"), &["--against", "HEAD"], "json");
    assert_eq!((status, lines(&report)), (0, Vec::<String>::new()), "{report:#}");
}

#[test]
fn topic_schemas_are_judged_by_their_compatibility_and_their_consumers() {
    let repo = repository();
    let ws = repo.path().join("ws");
    // Both topics read the same file: `orders-placed` has a consumer, `orders-audited` none.
    write(&ws, &[("schemas/placed.avsc", AVRO_BREAKING)]);
    let (status, report) = meshc(&ws, &["--against", "HEAD"], "json");
    assert_eq!(
        lines(&report),
        [
            "warning MESH0093 SPEC_TOPIC_SCHEMA_COMPATIBLE schemas/placed.avsc:1:92",
            "error MESH0093 SPEC_TOPIC_SCHEMA_COMPATIBLE schemas/placed.avsc:1:92",
        ],
        "{report:#}"
    );
    assert_eq!(status, 1);
    let all = messages(&report).join("\n");
    assert!(all.contains("topic `orders-placed` breaks its `backward` compatibility"), "{all}");
    assert!(all.contains("used by consumer `mailer`"), "{all}");
    assert!(all.contains("no declared producer or consumer"), "{all}");
}

#[test]
fn spec_rules_report_deleted_routes_apis_and_topics() {
    let repo = repository();
    let ws = repo.path().join("ws");
    let mesh = MESH
        .replace("    calls \"orders\" operation=\"shop.orders.v1.Orders/Get\" timeout=\"1s\"\n", "")
        .replace("    api \"orders-grpc\" kind=\"grpc\" schema=\"protos/orders.proto\"\n", "")
        .replace(
            "topic \"orders-audited\" {\n    schema \"schemas/placed.avsc\"\n    compatibility \"backward\"\n}\n",
            "",
        );
    let (before, _route) = mesh.split_once("    route \"shop\" {").unwrap();
    let mesh = format!("{before}}}\n");
    write(&ws, &[("mesh.kdl", &mesh)]);
    let (status, report) = meshc(&ws, &["--against", "HEAD"], "json");
    let rules: Vec<String> =
        lines(&report).iter().map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        rules,
        [
            "error MESH0093 SPEC_TOPIC_NO_DELETE",
            "error MESH0093 SPEC_API_NO_DELETE",
            "error MESH0093 SPEC_ROUTE_NO_DELETE",
        ],
        "{report:#}"
    );
    assert_eq!(status, 1);
    // A deleted topic points at the old file, shown at the ref.
    let files: Vec<&str> =
        report["diagnostics"].as_array().unwrap().iter().filter_map(|d| d["location"]["file"].as_str()).collect();
    assert!(files.contains(&"HEAD:mesh.kdl"), "{files:?}");
}

#[test]
fn two_workspace_directories_compare_like_a_ref() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("old/mesh.kdl", MESH), ("old/protos/orders.proto", PROTO), ("old/schemas/placed.avsc", AVRO)]);
    let changed = PROTO.replace("rpc Get(Order) returns (Order);", "rpc Get(Ping) returns (Order);");
    write(
        dir.path(),
        &[("new/mesh.kdl", MESH), ("new/protos/orders.proto", &changed), ("new/schemas/placed.avsc", AVRO)],
    );
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["error MESH0093 RPC_SAME_REQUEST_TYPE new/protos/orders.proto:9:11"], "{report:#}");
    assert_eq!(status, 1);
    let (status, sarif) = meshc(dir.path(), &["old", "new"], "sarif");
    assert_eq!(status, 1);
    let results = sarif["runs"][0]["results"].as_array().expect("SARIF results");
    let rules: Vec<&str> = results.iter().filter_map(|r| r["properties"]["rule"].as_str()).collect();
    assert_eq!(rules, ["RPC_SAME_REQUEST_TYPE"], "{sarif:#}");
}

#[test]
fn a_version_that_does_not_compile_exits_2_with_its_errors() {
    let repo = repository();
    let ws = repo.path().join("ws");
    write(&ws, &[("mesh.kdl", &MESH.replace("to \"web\"", "to \"wbe\""))]);
    let (status, report) = meshc(&ws, &["--against", "HEAD"], "json");
    assert_eq!(status, 2, "{report:#}");
    assert!(report["errors"].as_u64().unwrap_or_default() > 0, "{report:#}");
}

#[test]
fn unreadable_refs_are_coded_diagnostics() {
    let repo = repository();
    let ws = repo.path().join("ws");
    let only = |args: &[&str], dir: &Path| {
        let (status, report) = meshc(dir, args, "json");
        assert_eq!(status, 2, "{args:?}: {report:#}");
        assert_eq!(lines(&report).len(), 1, "{report:#}");
        assert_eq!(report["diagnostics"][0]["code"], "MESH0103", "{report:#}");
        report["diagnostics"][0]["message"].as_str().unwrap_or_default().to_string()
    };
    assert!(only(&["--against", "no-such-branch"], &ws).contains("`no-such-branch` names no commit"));
    // A directory added after the ref.
    write(&ws, &[("edge/mesh.kdl", "mesh \"edge\"\n")]);
    assert!(only(&["--against", "HEAD", "edge"], &ws).contains("does not exist at `HEAD`"));
    // Outside any repository.
    let elsewhere = tempfile::tempdir().unwrap();
    write(elsewhere.path(), &[("mesh.kdl", "mesh \"x\"\n")]);
    assert!(only(&["--against", "HEAD"], elsewhere.path()).contains("not in a git repository"));
    // A symlink in the tree at the ref is refused.
    std::os::unix::fs::symlink("protos/orders.proto", ws.join("link.proto")).unwrap();
    commit(repo.path(), "a symlink");
    assert!(only(&["--against", "HEAD"], &ws).contains("symlink"));
}

#[test]
fn the_shop_compared_with_itself_reports_nothing() {
    // Every kind of user (calls, routes with auth, resolvers, topics with
    // producers and consumers, authorization) and nothing changed.
    let shop = crate::support::repo_root().join("examples/shop");
    let (status, report) = meshc(&shop, &[".", "."], "json");
    assert_eq!((status, lines(&report)), (0, Vec::<String>::new()), "{report:#}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn the_shop_with_a_changed_payment_schema_and_a_wider_policy() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new");
    copy_dir(&crate::support::repo_root().join("examples/shop"), &new);
    let edit = |path: &str, from: &str, to: &str| {
        let text = std::fs::read_to_string(new.join(path)).unwrap();
        assert!(text.contains(from), "{path} lacks {from}");
        std::fs::write(new.join(path), text.replacen(from, to, 1)).unwrap();
    };
    // Charge's request changes (its imports resolve through proto-include "protos").
    edit("protos/payments.proto", "int64 amount_cents = 2;", "int32 amount_cents = 2;");
    // Orders may now call every operation of payments, Refund included.
    edit(
        "services/payments.kdl",
        "allow \"orders\" {\n            operation \"shop.payments.v1.Payments/Charge\"\n        }",
        "allow \"orders\"",
    );
    let shop = crate::support::repo_root().join("examples/shop");
    let (status, report) = meshc(dir.path(), &[shop.to_str().unwrap(), "new"], "json");
    let found: Vec<String> =
        lines(&report).iter().map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        found,
        ["error MESH0093 SPEC_POLICY_NO_WEAKEN", "error MESH0093 FIELD_WIRE_JSON_COMPATIBLE_TYPE"],
        "{report:#}"
    );
    assert_eq!(status, 1);
    let all = messages(&report).join("\n");
    assert!(
        all.contains(
            "used by route `charge-rest` of gateway `public`, route `charge` of gateway `public`, service `orders`"
        ),
        "{all}"
    );
    assert!(all.contains("now lets service `orders` call"), "{all}");
}

/// A REST workspace: `web` calls one operation of the orders API, whose
/// response refers to a shared `Order` schema; `GET /orders` has no caller.
const REST_MESH: &str = r#"mesh "rest"

service "web" {
    owner "team-web"
    address "web.svc" port=8080
    calls "orders" operation="GET /orders/{id}" timeout="1s"
}

service "orders" {
    owner "team-orders"
    address "orders.svc" port=9090
    api "orders-http" kind="rest" schema="orders.yaml"
}
"#;

const OPENAPI: &str = "openapi: 3.0.3
info:
  title: orders
  version: '1'
paths:
  /orders/{orderId}:
    get:
      parameters:
      - name: orderId
        in: path
        required: true
        schema: {type: string}
      responses:
        '200':
          description: the order
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Order'
  /orders:
    get:
      parameters:
      - name: limit
        in: query
        schema: {type: integer, maximum: 100}
      responses:
        '200':
          description: the orders
components:
  schemas:
    Order:
      type: object
      required: [id]
      properties:
        id: {type: string}
        total: {type: number}
";

/// `old/` and `new/` workspaces of `mesh` with `file` as `old` and `new`.
fn two_versions(mesh: &str, file: &str, old: &str, new: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (old_file, new_file) = (format!("old/{file}"), format!("new/{file}"));
    write(dir.path(), &[("old/mesh.kdl", mesh), ("new/mesh.kdl", mesh), (&old_file, old), (&new_file, new)]);
    dir
}

#[test]
fn an_openapi_change_in_a_schema_a_called_operation_refers_to_is_an_error_naming_the_caller() {
    let new = OPENAPI.replace("        total: {type: number}\n", "");
    let dir = two_versions(REST_MESH, "orders.yaml", OPENAPI, &new);
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(
        lines(&report),
        ["error MESH0093 OPENAPI_RESPONSE_PROPERTY_NO_DELETE new/orders.yaml:31:5"],
        "{report:#}"
    );
    assert_eq!(status, 1, "{report:#}");
    let message = &messages(&report)[0];
    assert!(message.contains("; used by service `web`"), "{message}");
    let help = report["diagnostics"][0]["help"].as_str().unwrap_or_default();
    assert!(help.contains("new version"), "{help}");
}

#[test]
fn an_openapi_change_to_an_operation_nobody_calls_is_a_warning() {
    // `info.version` 0.x promises nothing (semantic versioning's initial development).
    let old = OPENAPI.replace("version: '1'", "version: '0.9'");
    let new = old.replace("maximum: 100", "maximum: 50");
    let dir = two_versions(REST_MESH, "orders.yaml", &old, &new);
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["warning MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/orders.yaml:25:9"], "{report:#}");
    assert_eq!(status, 0, "{report:#}");
    assert!(messages(&report)[0].contains("no declared caller, route or resolver"), "{report:#}");
    // A call naming no operation uses the whole API: then it is an error.
    let whole = REST_MESH.replace(r#" operation="GET /orders/{id}""#, "");
    let dir = two_versions(&whole, "orders.yaml", &old, &new);
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["error MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/orders.yaml:25:9"], "{report:#}");
    assert_eq!(status, 1, "{report:#}");
    // A document that stays at major version 1 promises its clients compatibility, used or not;
    // bumping `info.version` to 2.0.0 leaves it to its declared users.
    let new = OPENAPI.replace("maximum: 100", "maximum: 50");
    let dir = two_versions(REST_MESH, "orders.yaml", OPENAPI, &new.replace("version: '1'", "version: '1.1.0'"));
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["error MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/orders.yaml:25:9"], "{report:#}");
    assert!(messages(&report)[0].contains("`info.version` 1 → 1.1.0"), "{report:#}");
    assert_eq!(status, 1, "{report:#}");
    let dir = two_versions(REST_MESH, "orders.yaml", OPENAPI, &new.replace("version: '1'", "version: '2.0.0'"));
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["warning MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/orders.yaml:25:9"], "{report:#}");
    assert_eq!(status, 0, "{report:#}");
}

/// A GraphQL API resolving `Query.order` with the orders REST API.
const GRAPHQL_MESH: &str = r#"mesh "graph"

service "orders" {
    owner "team-orders"
    address "orders.svc" port=9090
    api "orders-http" kind="rest" schema="orders.yaml"
}

service "storefront" {
    owner "team-web"
    address "storefront.svc" port=8080
    api "storefront-graphql" kind="graphql" schema="storefront.graphql" {
        resolve "Query.order" service="orders" operation="GET /orders/{orderId}" timeout="1s"
    }
}
"#;

const SDL: &str = "type Query {
  order(orderId: ID!): Order
  orders: [Order!]!
}

type Order {
  id: ID!
  total: Float
}
";

#[test]
fn a_graphql_field_removal_a_resolver_uses_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let new = SDL.replace("  order(orderId: ID!): Order\n", "");
    let files = [
        ("old/mesh.kdl", GRAPHQL_MESH),
        ("new/mesh.kdl", GRAPHQL_MESH),
        ("old/orders.yaml", OPENAPI),
        ("new/orders.yaml", OPENAPI),
        ("old/storefront.graphql", SDL),
        ("new/storefront.graphql", new.as_str()),
    ];
    write(dir.path(), &files);
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["error MESH0093 GRAPHQL_FIELD_NO_DELETE new/storefront.graphql:1:6"], "{report:#}");
    assert_eq!(status, 1, "{report:#}");
    let message = &messages(&report)[0];
    assert!(message.contains("; used by resolver `Query.order` of service `storefront`"), "{message}");
    // A field no resolver or caller names is a warning.
    let new = SDL.replace("  orders: [Order!]!\n", "");
    write(dir.path(), &[("new/storefront.graphql", new.as_str())]);
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["warning MESH0093 GRAPHQL_FIELD_NO_DELETE new/storefront.graphql:1:6"], "{report:#}");
    assert_eq!(status, 0, "{report:#}");
    // A change to a type the resolved field returns reaches the resolver.
    let new = SDL.replace("  total: Float\n", "");
    write(dir.path(), &[("new/storefront.graphql", new.as_str())]);
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["error MESH0093 GRAPHQL_FIELD_NO_DELETE new/storefront.graphql:6:6"], "{report:#}");
    assert_eq!(status, 1, "{report:#}");
    assert!(messages(&report)[0].contains("used by resolver `Query.order`"), "{report:#}");
}

#[test]
fn the_shop_with_a_storefront_type_changed_names_the_resolvers_reaching_it() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new");
    copy_dir(&crate::support::repo_root().join("examples/shop"), &new);
    let path = new.join("apis/storefront.graphql");
    let sdl = std::fs::read_to_string(&path).unwrap();
    assert!(sdl.contains("  shipped\n"));
    // An enum value dropped from `Order`'s status: `Query.order` and
    // `Mutation.placeOrder` return it, `Query.products` does not.
    std::fs::write(&path, sdl.replacen("  shipped\n", "", 1)).unwrap();
    let shop = crate::support::repo_root().join("examples/shop");
    let (status, report) = meshc(dir.path(), &[shop.to_str().unwrap(), "new"], "json");
    let found: Vec<String> =
        lines(&report).iter().map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(found, ["error MESH0093 GRAPHQL_ENUM_VALUE_NO_DELETE"], "{report:#}");
    assert_eq!(status, 1);
    let message = &messages(&report)[0];
    assert!(message.contains("resolver `Mutation.placeOrder` of service `storefront`"), "{message}");
    assert!(message.contains("resolver `Query.order` of service `storefront`"), "{message}");
    assert!(!message.contains("Query.products"), "{message}");
}

/// A versioned REST API: `web` pins version `v1` of `GET /orders`.
fn versioned_mesh(versions: &str, evolution: &str) -> String {
    format!(
        r#"mesh "rest"

service "web" {{
    owner "team-web"
    address "web.svc" port=8080
    calls "orders" operation="GET /orders" api-version="v1" timeout="1s"
}}

service "orders" {{
    owner "team-orders"
    address "orders.svc" port=9090
    api "orders-http" kind="rest" {{
{versions}{evolution}    }}
}}
"#
    )
}

const V1_ONLY: &str = "        version \"v1\" schema=\"v1.yaml\" path-prefix=\"/v1\"\n";
const V1_AND_V2: &str =
    "        version \"v1\" schema=\"v1.yaml\" path-prefix=\"/v1\"\n        version \"v2\" schema=\"v2.yaml\" path-prefix=\"/v2\"\n";

/// `old/` and `new/` workspaces from (path, text) files each.
fn two_workspaces(old: &[(&str, &str)], new: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("old"), old);
    write(&dir.path().join("new"), new);
    dir
}

#[test]
fn a_new_api_version_beside_the_old_one_breaks_nothing_but_a_released_version_may_not_change() {
    let narrowed = OPENAPI.replace("maximum: 100", "maximum: 50");
    let narrowed_v2 = narrowed.replace("version: '1'", "version: '2'");
    let old_mesh = versioned_mesh(V1_ONLY, "");
    let new_mesh = versioned_mesh(V1_AND_V2, "");
    // v2 ships the narrowed schema beside v1: v1's users are untouched.
    let dir = two_workspaces(
        &[("mesh.kdl", &old_mesh), ("v1.yaml", OPENAPI)],
        &[("mesh.kdl", &new_mesh), ("v1.yaml", OPENAPI), ("v2.yaml", &narrowed_v2)],
    );
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    // Requests naming no version move to v2: no declared user sends them.
    assert_eq!(lines(&report), ["warning MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/v2.yaml:25:9"], "{report:#}");
    assert_eq!(status, 0, "{report:#}");
    // Narrowing v1 itself breaks its pinned caller.
    let dir = two_workspaces(
        &[("mesh.kdl", &old_mesh), ("v1.yaml", OPENAPI)],
        &[("mesh.kdl", &new_mesh), ("v1.yaml", &narrowed), ("v2.yaml", &narrowed_v2)],
    );
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(
        lines(&report),
        [
            "error MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/v1.yaml:25:9",
            "warning MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/v2.yaml:25:9"
        ],
        "{report:#}"
    );
    assert!(messages(&report)[0].contains("used by service `web`"), "{report:#}");
    assert!(messages(&report)[0].contains("version `v1` of API `orders-http` is released"), "{report:#}");
    assert_eq!(status, 1);
    // With nobody pinned to it, a released version still may not break.
    let unpinned = |m: &str| m.replace(r#"api-version="v1""#, r#"api-version="v2""#);
    let dir = two_workspaces(
        &[("mesh.kdl", &unpinned(&versioned_mesh(V1_AND_V2, ""))), ("v1.yaml", OPENAPI), ("v2.yaml", OPENAPI)],
        &[("mesh.kdl", &unpinned(&new_mesh)), ("v1.yaml", &narrowed), ("v2.yaml", OPENAPI)],
    );
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["error MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/v1.yaml:25:9"], "{report:#}");
    assert!(messages(&report)[0].contains("a breaking change needs a new major version, whether or not"), "{report:#}");
    assert_eq!(status, 1);
}

#[test]
fn deleting_an_api_version_before_its_sunset_is_an_error() {
    let v1_gone = versioned_mesh("        version \"v2\" schema=\"v2.yaml\" path-prefix=\"/v2\"\n", "")
        .replace(r#" api-version="v1""#, r#" api-version="v2""#);
    let deprecated = |sunset: &str| {
        versioned_mesh(V1_AND_V2, "").replace(
            r#"path-prefix="/v1""#,
            &format!(r#"path-prefix="/v1" deprecated="2019-01-01" sunset="{sunset}" replaced-by="v2""#),
        )
    };
    let run = |old_mesh: &str| {
        let dir = two_workspaces(
            &[("mesh.kdl", old_mesh), ("v1.yaml", OPENAPI), ("v2.yaml", OPENAPI)],
            &[("mesh.kdl", &v1_gone), ("v2.yaml", OPENAPI)],
        );
        meshc(dir.path(), &["old", "new"], "json")
    };
    let (status, report) = run(&versioned_mesh(V1_AND_V2, ""));
    assert_eq!(lines(&report), ["error MESH0093 SPEC_API_VERSION_NO_DELETE new/mesh.kdl:12:9"], "{report:#}");
    assert!(messages(&report)[0].contains("without being deprecated"), "{report:#}");
    assert_eq!(status, 1);
    let (_, report) = run(&deprecated("2099-01-01"));
    assert_eq!(lines(&report), ["error MESH0093 SPEC_API_VERSION_NO_DELETE new/mesh.kdl:12:9"], "{report:#}");
    assert!(messages(&report)[0].contains("before its sunset (2099-01-01)"), "{report:#}");
    // After its sunset, deleting it is the end of its life.
    let (status, report) = run(&deprecated("2020-01-01"));
    assert_eq!(lines(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!(status, 0);
    // A caller still naming the deleted version does not compile: the error names it.
    let still_used = versioned_mesh("        version \"v2\" schema=\"v2.yaml\" path-prefix=\"/v2\"\n", "");
    let dir = two_workspaces(
        &[("mesh.kdl", &deprecated("2020-01-01")), ("v1.yaml", OPENAPI), ("v2.yaml", OPENAPI)],
        &[("mesh.kdl", &still_used), ("v2.yaml", OPENAPI)],
    );
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["error MESH0094 - new/mesh.kdl:6:44"], "{report:#}");
    assert!(messages(&report)[0].contains("service `web` uses API version `v1` of service `orders`"), "{report:#}");
    assert_eq!(status, 2);
}

#[test]
fn an_evolution_exception_allows_its_rule_until_its_day() {
    let narrowed = OPENAPI.replace("maximum: 100", "maximum: 50");
    let allow = |until: &str| {
        format!("        evolution {{\n            allow \"OPENAPI_REQUEST_TYPE_NO_NARROW\" version=\"v1\" reason=\"ids above 50 were never issued\" until=\"{until}\"\n        }}\n")
    };
    let run = |evolution: &str| {
        let dir = two_workspaces(
            &[("mesh.kdl", &versioned_mesh(V1_ONLY, "")), ("v1.yaml", OPENAPI)],
            &[("mesh.kdl", &versioned_mesh(V1_ONLY, evolution)), ("v1.yaml", &narrowed)],
        );
        meshc(dir.path(), &["old", "new"], "json")
    };
    let (status, report) = run(&allow("2099-12-31"));
    assert_eq!(lines(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!(status, 0);
    // Expired: the change is reported again.
    let (status, report) = run(&allow("2020-12-31"));
    assert_eq!(lines(&report), ["error MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/v1.yaml:25:9"], "{report:#}");
    assert_eq!(status, 1);
    // Another rule, or another version, allows nothing.
    let other = allow("2099-12-31").replace("OPENAPI_REQUEST_TYPE_NO_NARROW", "OPENAPI_PATH_NO_DELETE");
    let (status, _) = run(&other);
    assert_eq!(status, 1);
}

#[test]
fn an_apis_evolution_category_judges_its_protobuf_changes() {
    let renamed = PROTO.replace("string note = 1;", "string memo = 1;");
    let run = |mesh: &str| {
        let dir = two_workspaces(
            &[("mesh.kdl", MESH), ("protos/orders.proto", PROTO), ("schemas/placed.avsc", AVRO)],
            &[("mesh.kdl", mesh), ("protos/orders.proto", &renamed), ("schemas/placed.avsc", AVRO)],
        );
        meshc(dir.path(), &["old", "new"], "json")
    };
    // A field's name is part of the JSON encoding: WIRE_JSON (the default) breaks.
    let (status, report) = run(MESH);
    assert!(lines(&report).iter().any(|l| l.starts_with("error MESH0093 FIELD_SAME_NAME")), "{report:#}");
    assert_eq!(status, 1);
    // An API that declares only its binary encoding a contract is judged by WIRE.
    let wire = MESH.replace(
        r#"schema="protos/orders.proto""#,
        "schema=\"protos/orders.proto\" {\n        evolution category=\"wire\"\n    }",
    );
    let (status, report) = run(&wire);
    assert!(lines(&report).iter().all(|l| l.starts_with("warning ")), "{report:#}");
    assert_eq!(status, 0, "{report:#}");
}

#[test]
fn a_warning_at_the_place_of_an_allowed_breaking_change_is_still_reported() {
    // Renamed and retyped: under `wire` the new type breaks the encoding
    // (allowed below); what breaks only generated code or JSON is a
    // warning, and those at the type, the allowed error's place, stay.
    let changed = PROTO.replace("string note = 1;", "int64 memo = 1;");
    let mesh = MESH.replace(
        r#"schema="protos/orders.proto""#,
        "schema=\"protos/orders.proto\" {\n        evolution category=\"wire\" {\n            allow \"FIELD_WIRE_COMPATIBLE_TYPE\" reason=\"no client sends notes yet\" until=\"2099-12-31\"\n        }\n    }",
    );
    let dir = two_workspaces(
        &[("mesh.kdl", MESH), ("protos/orders.proto", PROTO), ("schemas/placed.avsc", AVRO)],
        &[("mesh.kdl", &mesh), ("protos/orders.proto", &changed), ("schemas/placed.avsc", AVRO)],
    );
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    let found: Vec<String> =
        lines(&report).iter().map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        found,
        [
            "warning MESH0093 FIELD_SAME_TYPE",
            "warning MESH0093 FIELD_WIRE_JSON_COMPATIBLE_TYPE",
            "warning MESH0093 FIELD_SAME_JSON_NAME",
            "warning MESH0093 FIELD_SAME_NAME"
        ],
        "{report:#}"
    );
    assert_eq!(status, 0, "{report:#}");
}
