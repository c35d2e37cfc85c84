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
    let repo = repository();
    let ws = repo.path().join("ws");
    let (status, report) = meshc(&ws, &["--against", "HEAD~1"], "json");
    assert_eq!(
        lines(&report),
        ["warning MESH0093 FIELD_WIRE_JSON_COMPATIBLE_TYPE protos/orders.proto:6:16"],
        "{report:#}"
    );
    assert_eq!(status, 0, "{report:#}");
    assert!(messages(&report)[0].contains("no declared caller, route or resolver"), "{report:#}");
    // The old version's place is labelled in the ref's file.
    let related = &report["diagnostics"][0]["related"][0];
    assert_eq!(related["file"], "HEAD~1:protos/orders.proto", "{report:#}");
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
            "warning MESH0093 FIELD_WIRE_JSON_COMPATIBLE_TYPE protos/orders.proto:6:16",
        ],
        "{report:#}"
    );
    assert_eq!(status, 1);
    // --fail-on warning fails on the warning alone.
    git(repo.path(), &["checkout", "-q", "--", "."]);
    let (status, _) = meshc(&ws, &["--against", "HEAD~1", "--fail-on", "warning"], "json");
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
    let new = OPENAPI.replace("maximum: 100", "maximum: 50");
    let dir = two_versions(REST_MESH, "orders.yaml", OPENAPI, &new);
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["warning MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/orders.yaml:25:9"], "{report:#}");
    assert_eq!(status, 0, "{report:#}");
    assert!(messages(&report)[0].contains("no declared caller, route or resolver"), "{report:#}");
    // A call naming no operation uses the whole API: then it is an error.
    let whole = REST_MESH.replace(r#" operation="GET /orders/{id}""#, "");
    let dir = two_versions(&whole, "orders.yaml", OPENAPI, &new);
    let (status, report) = meshc(dir.path(), &["old", "new"], "json");
    assert_eq!(lines(&report), ["error MESH0093 OPENAPI_REQUEST_TYPE_NO_NARROW new/orders.yaml:25:9"], "{report:#}");
    assert_eq!(status, 1, "{report:#}");
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
