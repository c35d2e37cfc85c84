//! The `istio` and `kubernetes` backends.
//!
//! Every Istio resource the examples compile to is validated against
//! Istio's own CRD schemas (`shared/corpora/istio-crds`, read in place): the
//! resource's `spec` against the `openAPIV3Schema` of a served version of
//! its kind, with unknown fields rejected as Kubernetes' strict field
//! validation (`kubectl apply`'s default) rejects them. The Kubernetes
//! Services are read back with `k8s-openapi`'s `Service` type and compared
//! with the Online Boutique's own manifests.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value};
use support::istio_crds::{validate, yaml_documents};
use support::kube::{parse_service, IntOrString, KubeService};
use support::repo_root;

// ---------------------------------------------------------------------------
// Building the examples
// ---------------------------------------------------------------------------

/// The example's artifacts, by path.
fn build(example: &str) -> BTreeMap<String, String> {
    let compilation = meshc::driver::compile(&repo_root().join("examples").join(example));
    assert_eq!(compilation.errors(), 0, "{example} compiles");
    let artifacts = compilation.emit().expect("the example builds");
    artifacts.into_iter().map(|a| (a.path, a.contents)).collect()
}

/// Every Istio resource of a build, in artifact and document order.
fn istio_resources(artifacts: &BTreeMap<String, String>) -> Vec<(String, Value)> {
    artifacts
        .iter()
        .filter(|(path, _)| path.starts_with("istio/"))
        .flat_map(|(path, text)| yaml_documents(text).into_iter().map(move |doc| (path.clone(), doc)))
        .collect()
}

fn resource<'a>(resources: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    resources
        .iter()
        .map(|(_, r)| r)
        .find(|r| r["kind"] == kind && r["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// A VirtualService's HTTP route by name.
fn route<'a>(virtual_service: &'a Value, name: &str) -> &'a Value {
    virtual_service["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no route `{name}` in {}", virtual_service["metadata"]["name"]))
}

fn validate_all(example: &str) -> Vec<(String, Value)> {
    let resources = istio_resources(&build(example));
    let failures: Vec<String> = resources
        .iter()
        .filter_map(|(path, r)| {
            validate(r).err().map(|e| format!("{path}: {} {}: {}", r["kind"], r["metadata"]["name"], e.join("; ")))
        })
        .collect();
    assert!(failures.is_empty(), "resources that fail Istio's CRD schemas:\n{}", failures.join("\n"));
    resources
}

fn kinds(resources: &[(String, Value)]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (_, r) in resources {
        *out.entry(r["kind"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    out
}

// ---------------------------------------------------------------------------
// Istio
// ---------------------------------------------------------------------------

#[test]
fn every_istio_resource_of_the_shop_validates_against_istios_crds() {
    let resources = validate_all("shop");
    // Counted, so the test cannot pass on an empty output: a ServiceEntry for
    // the external bank, a DestinationRule per service with a traffic block,
    // a VirtualService per called HTTP service (the bank's API is HTTP) plus the gateway's (one per
    // `host` block and one for the other hosts), one Gateway,
    // the gateway's JWT validation and policy, payments', loyalty's, the cache's and
    // inventory's (its service role expanded) allow policies, accounts' and loyalty's token requirements (a
    // RequestAuthentication and a DENY policy each), the mesh's and
    // reviews' mTLS modes, and the mesh's tracing and payments' own rate.
    assert_eq!(
        kinds(&resources),
        BTreeMap::from([
            ("AuthorizationPolicy".to_string(), 7),
            ("PeerAuthentication".to_string(), 2),
            ("DestinationRule".to_string(), 9),
            ("Telemetry".to_string(), 2),
            ("Gateway".to_string(), 1),
            ("RequestAuthentication".to_string(), 3),
            ("ServiceEntry".to_string(), 1),
            ("VirtualService".to_string(), 10),
        ])
    );
    for (_, r) in &resources {
        let security = ["RequestAuthentication", "AuthorizationPolicy", "PeerAuthentication"]
            .contains(&r["kind"].as_str().unwrap());
        let expected = match r["kind"].as_str() {
            Some("Telemetry") => "telemetry.istio.io/v1",
            _ if security => "security.istio.io/v1",
            _ => "networking.istio.io/v1",
        };
        assert_eq!(r["apiVersion"], expected);
    }
}

#[test]
fn every_istio_resource_of_the_online_boutique_validates_against_istios_crds() {
    let resources = validate_all("online-boutique");
    assert_eq!(
        kinds(&resources),
        BTreeMap::from([
            ("DestinationRule".to_string(), 10),
            ("Gateway".to_string(), 1),
            // Nine called gRPC services (not redis-cart) and the gateway's.
            ("VirtualService".to_string(), 10),
        ])
    );
}

#[test]
fn the_validator_rejects_misspelled_fields_wrong_types_and_unknown_versions() {
    let resources = validate_all("shop");
    let rule = resource(&resources, "DestinationRule", "inventory").clone();
    assert_eq!(validate(&rule), Ok(()));

    let mut misspelled = rule.clone();
    let outlier = misspelled["spec"]["trafficPolicy"]["outlierDetection"].as_object_mut().unwrap();
    let value = outlier.remove("consecutive5xxErrors").unwrap();
    outlier.insert("consecutive5xxError".into(), value);
    let errors = validate(&misspelled).unwrap_err();
    assert!(errors.iter().any(|e| e.contains("consecutive5xxError")), "{errors:?}");

    let mut mistyped = rule.clone();
    mistyped["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] = json!("512");
    let errors = validate(&mistyped).unwrap_err();
    assert!(errors.iter().any(|e| e.contains("maxConnections")), "{errors:?}");

    let mut bad_enum = rule.clone();
    bad_enum["spec"]["trafficPolicy"]["loadBalancer"] = json!({ "simple": "FASTEST" });
    assert!(validate(&bad_enum).is_err());

    let mut two_hashes = rule.clone();
    two_hashes["spec"]["trafficPolicy"]["loadBalancer"]["consistentHash"]["useSourceIp"] = json!(true);
    assert!(validate(&two_hashes).is_err(), "consistentHash takes one key (oneOf)");

    let mut unserved = rule.clone();
    unserved["apiVersion"] = json!("networking.istio.io/v2");
    assert!(validate(&unserved).is_err());

    let routes = resource(&resources, "VirtualService", "catalog");
    let mut retries = routes.clone();
    retries["spec"]["http"][0]["retries"]["attempts"] = json!("two");
    assert!(validate(&retries).is_err());
    let mut stray = routes.clone();
    stray["spec"]["http"][0]["retry"] = json!({ "attempts": 1 });
    assert!(validate(&stray).is_err());
}

#[test]
fn the_shop_traffic_policies_become_destination_rules() {
    let resources = validate_all("shop");
    let inventory = resource(&resources, "DestinationRule", "inventory");
    assert_eq!(inventory["metadata"]["namespace"], "shop");
    let spec = &inventory["spec"];
    assert_eq!(spec["host"], "inventory.shop.svc.cluster.local");
    let policy = &spec["trafficPolicy"];
    assert_eq!(policy["loadBalancer"], json!({ "consistentHash": { "httpHeaderName": "x-product-id" } }));
    assert_eq!(
        policy["connectionPool"],
        json!({
            "tcp": { "maxConnections": 512 },
            "http": { "http1MaxPendingRequests": 128, "http2MaxRequests": 1024, "maxRetries": 16 }
        })
    );
    assert_eq!(
        policy["outlierDetection"],
        json!({ "consecutive5xxErrors": 3, "interval": "5s", "baseEjectionTime": "15s", "maxEjectionPercent": 10 })
    );
    // Active health checks have no DestinationRule field: none is invented.
    assert!(policy.get("healthCheck").is_none() && policy.as_object().unwrap().len() == 3);

    let catalog = &resource(&resources, "DestinationRule", "catalog")["spec"]["trafficPolicy"];
    assert_eq!(catalog["loadBalancer"], json!({ "simple": "LEAST_REQUEST" }));
    let payments = &resource(&resources, "DestinationRule", "payments")["spec"]["trafficPolicy"];
    assert_eq!(
        payments["connectionPool"],
        json!({ "http": { "http1MaxPendingRequests": 50, "http2MaxRequests": 200 } })
    );
    // The storefront sets no traffic policy and nobody in the mesh calls it: no resources.
    assert!(!build("shop").contains_key("istio/service-storefront.yaml"));
}

#[test]
fn service_identities_become_peer_authentications_and_authorization_policies() {
    let resources = validate_all("shop");
    let mesh = resources.iter().find(|(path, _)| path == "istio/mesh-mtls.yaml").expect("the mesh's mode").1.clone();
    assert_eq!(mesh["metadata"], json!({ "name": "default", "namespace": "istio-system" }));
    assert_eq!(mesh["spec"], json!({ "mtls": { "mode": "STRICT" } }));
    // reviews sets its own mode: a PeerAuthentication selecting its pods.
    let reviews = resource(&resources, "PeerAuthentication", "reviews");
    assert_eq!(reviews["metadata"]["namespace"], "shop");
    assert_eq!(
        reviews["spec"],
        json!({ "selector": { "matchLabels": { "app": "reviews" } }, "mtls": { "mode": "PERMISSIVE" } })
    );
    // The external bank runs no sidecar: no mode of its own.
    assert!(!resources.iter().any(|(_, r)| r["kind"] == "PeerAuthentication" && r["metadata"]["name"] == "bank"));
    // payments admits orders and the ingress gateway, for Charge only.
    let policy = resource(&resources, "AuthorizationPolicy", "payments-allow");
    assert_eq!(policy["metadata"]["namespace"], "shop");
    assert_eq!(policy["spec"]["action"], "ALLOW");
    let charge = json!([{ "operation": { "paths": ["/shop.payments.v1.Payments/Charge"] } }]);
    assert_eq!(
        policy["spec"]["rules"],
        json!([
            { "from": [{ "source": { "principals": ["shop.example/ns/shop/sa/orders"] } }], "to": charge },
            { "from": [{ "source": { "principals": ["shop.example/ns/istio-system/sa/istio-ingressgateway-service-account"] } }], "to": charge }
        ])
    );
}

#[test]
fn a_service_requiring_the_token_gets_request_authentication_and_a_deny_policy() {
    let resources = validate_all("shop");
    let authn = resource(&resources, "RequestAuthentication", "loyalty");
    assert_eq!(authn["metadata"]["namespace"], "shop");
    assert_eq!(authn["spec"]["selector"], json!({ "matchLabels": { "app": "loyalty" } }));
    // loyalty requires the STS's tokens (accounts exchanges the customer's for one).
    let rule = &authn["spec"]["jwtRules"][0];
    assert_eq!(rule["issuer"], "https://sts.shop.example");
    assert_eq!(rule["forwardOriginalToken"], true);
    let first =
        &resources.iter().find(|(path, _)| path == "istio/service-loyalty.yaml").expect("loyalty's resources").1;
    let note = first["metadata"]["annotations"]["meshc/not-in-istio"].as_str().expect("a note");
    assert!(note.contains("token exchange on the calls from accounts"), "{note}");
    // loyalty's allow rule has a header condition: Istio's `when`.
    let allow = resource(&resources, "AuthorizationPolicy", "loyalty-allow");
    assert_eq!(
        allow["spec"]["rules"][0]["when"],
        json!([{ "key": "request.headers[x-customer-id]", "values": ["*"] }])
    );
    let deny = resource(&resources, "AuthorizationPolicy", "loyalty-require-token");
    assert_eq!(deny["spec"]["action"], "DENY");
    assert_eq!(deny["spec"]["rules"], json!([{ "from": [{ "source": { "notRequestPrincipals": ["*"] } }] }]));
}

#[test]
fn versions_become_subsets_and_traffic_rules_route_between_them() {
    let resources = validate_all("shop");
    let subsets = &resource(&resources, "DestinationRule", "catalog")["spec"]["subsets"];
    assert_eq!(
        subsets,
        &json!([
            { "name": "v1", "labels": { "version": "v1" } },
            { "name": "v2", "labels": { "version": "v2" } },
            { "name": "v3", "labels": { "version": "v3" } }
        ])
    );
    let catalog = resource(&resources, "VirtualService", "catalog");
    let subset = |n: &str| json!({ "host": "catalog.shop.svc.cluster.local", "port": { "number": 8080 }, "subset": n });
    // The header rule's copy keeps the call's match and settings, adds the header, goes to v2 only.
    let canary = route(catalog, "orders: GET /products/{productId}|v2");
    let plain = route(catalog, "orders: GET /products/{productId}");
    assert_eq!(canary["match"][0]["headers"], json!({ "x-catalog-canary": { "exact": "always" } }));
    assert_eq!(canary["match"][0]["uri"], plain["match"][0]["uri"]);
    assert_eq!(canary["timeout"], plain["timeout"]);
    assert_eq!(canary["route"], json!([{ "destination": subset("v2") }]));
    assert!(canary.get("mirror").is_none());
    // The rest: 95/5 over v1 and v2, a copy of 10 % to v3.
    assert_eq!(
        plain["route"],
        json!([{ "destination": subset("v1"), "weight": 95 }, { "destination": subset("v2"), "weight": 5 }])
    );
    assert_eq!(plain["mirror"], subset("v3"));
    assert_eq!(plain["mirrorPercentage"], json!({ "value": 10.0 }));
    // The orders → catalog retry budget has no Istio field: it is noted.
    let first =
        &resources.iter().find(|(path, _)| path == "istio/service-catalog.yaml").expect("catalog's resources").1;
    let note = first["metadata"]["annotations"]["meshc/not-in-istio"].as_str().expect("a note");
    assert!(note.contains("retry budgets of the calls from orders"), "{note}");
}

#[test]
fn callers_timeouts_and_retries_become_per_caller_virtual_service_routes() {
    let resources = validate_all("shop");
    let catalog = resource(&resources, "VirtualService", "catalog");
    assert_eq!(catalog["spec"]["hosts"], json!(["catalog.shop.svc.cluster.local"]));
    let http = catalog["spec"]["http"].as_array().unwrap();
    let names: Vec<&str> = http.iter().map(|r| r["name"].as_str().unwrap()).collect();
    // Each route is preceded by its copy for catalog's header rule (to v2).
    assert_eq!(
        names,
        [
            "orders: GET /products/{productId}|v2",
            "orders: GET /products/{productId}",
            "orders: default|v2",
            "orders: default",
            // The storefront's GraphQL resolvers call catalog too.
            "reviews: GET /products|v2",
            "reviews: GET /products",
            "reviews: default|v2",
            "reviews: default",
            "storefront: GET /products|v2",
            "storefront: GET /products",
            "storefront: GET /products/{productId}|v2",
            "storefront: GET /products/{productId}",
            "storefront: default|v2",
            "storefront: default",
            "default|v2",
            "default"
        ]
    );
    // A resolver's call: its timeout, one attempt (the runtime does not retry).
    let resolver = route(catalog, "storefront: GET /products/{productId}");
    assert_eq!((&resolver["timeout"], &resolver["retries"]), (&json!("1s"), &json!({ "attempts": 0 })));

    let get_product = route(catalog, "orders: GET /products/{productId}");
    assert_eq!(
        get_product["match"],
        json!([{
            "sourceLabels": { "app": "orders" },
            "sourceNamespace": "shop",
            "uri": { "regex": "^/products/[^/]+$" },
            "method": { "exact": "GET" }
        }])
    );
    assert_eq!(get_product["timeout"], "0.500s");
    assert_eq!(
        get_product["retries"],
        json!({ "attempts": 1, "perTryTimeout": "0.200s", "retryOn": "5xx,reset,connect-failure" })
    );
    // (Where the requests go, catalog's versions, is asserted in versions_become_subsets_...)
    // The rest of orders' traffic: no retries (Istio's default would retry
    // twice) and Envoy's 15 s default timeout, as orders' sidecar has.
    let rest = route(catalog, "orders: default");
    assert_eq!(rest["retries"], json!({ "attempts": 0 }));
    assert_eq!(rest["timeout"], "15s");
    // Callers the spec does not declare: Istio's defaults (with catalog's split and mirror).
    assert_eq!(
        http.last().unwrap().as_object().unwrap().keys().collect::<Vec<_>>(),
        ["mirror", "mirrorPercentage", "name", "route"]
    );

    // A charge must not happen twice: only unsent requests are retried.
    let payments = resource(&resources, "VirtualService", "payments");
    let charge = route(payments, "orders: shop.payments.v1.Payments/Charge");
    assert_eq!(charge["match"][0]["uri"], json!({ "exact": "/shop.payments.v1.Payments/Charge" }));
    assert_eq!(charge["timeout"], "2s");
    assert_eq!(
        charge["retries"],
        json!({ "attempts": 1, "retryOn": "connect-failure,refused-stream", "backoff": "0.025s" })
    );

    // Two callers of inventory, each with its own settings.
    let inventory = resource(&resources, "VirtualService", "inventory");
    let stock = route(inventory, "catalog: shop.inventory.v1.Inventory/GetStock");
    assert_eq!(stock["timeout"], "0.300s", "catalog's call-defaults timeout");
    assert_eq!(
        stock["retries"],
        json!({ "attempts": 2, "perTryTimeout": "0.080s", "retryOn": "unavailable,reset,connect-failure" })
    );
    let catalog_rest = route(inventory, "catalog: default");
    assert_eq!(catalog_rest["retries"]["retryOn"], "5xx,reset,connect-failure,refused-stream", "std-idempotent");
    let reserve = route(inventory, "orders: shop.inventory.v1.Inventory/Reserve");
    assert_eq!((&reserve["timeout"], &reserve["retries"]), (&json!("0.400s"), &json!({ "attempts": 0 })));
}

#[test]
fn the_external_bank_gets_a_service_entry_with_its_endpoints() {
    let resources = validate_all("shop");
    let bank = resource(&resources, "ServiceEntry", "bank");
    assert!(bank["metadata"].get("namespace").is_none(), "not a cluster name: the namespace kubectl applies to");
    assert_eq!(
        bank["spec"],
        json!({
            "hosts": ["api.acquirer.example"],
            "location": "MESH_EXTERNAL",
            "ports": [{ "name": "http", "number": 443, "protocol": "HTTP" }],
            "resolution": "DNS",
            "endpoints": [
                { "address": "eu.api.acquirer.example", "locality": "eu-west1" },
                { "address": "us.api.acquirer.example", "locality": "us-east1" }
            ]
        })
    );
    // What Istio cannot carry is said on the resource.
    let note = bank["metadata"]["annotations"]["meshc/not-in-istio"].as_str().unwrap();
    assert!(note.contains("endpoint priorities"), "{note}");
    // Its port carries HTTP (it declares no `protocol`): payments' timeout and retries are routes.
    assert!(resources.iter().any(|(_, r)| r["kind"] == "VirtualService" && r["metadata"]["name"] == "bank"));
}

#[test]
fn the_shop_gateway_becomes_an_istio_gateway_and_its_routes() {
    let resources = validate_all("shop");
    let gateway = resource(&resources, "Gateway", "public");
    assert_eq!(
        gateway["spec"],
        json!({
            "selector": { "istio": "ingressgateway" },
            "servers": [
                { "hosts": ["*"], "port": { "name": "http", "number": 8080, "protocol": "HTTP" } },
                { "hosts": ["*"], "port": { "name": "admin-lan", "number": 8081, "protocol": "HTTP" }, "bind": "127.0.0.1" }
            ]
        })
    );
    let routes = resource(&resources, "VirtualService", "gateway-public");
    assert_eq!(routes["spec"]["gateways"], json!(["public"]));
    assert_eq!(routes["spec"]["hosts"], json!(["*"]));
    let names: Vec<&str> =
        routes["spec"]["http"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    // place-order (validate), charge-rest and stock (transcode) are Envoy-only.
    assert_eq!(
        names,
        [
            "get-product|v2",
            "get-product",
            "list-products|v2",
            "list-products",
            "old-catalog-links",
            "products-v1|v2",
            "products-v1",
            "short-product-links|v2",
            "short-product-links",
            // Orders' API versions side by side (picked by header), then requests naming none.
            "order-updates@v1",
            "order-updates@v2",
            "order-updates",
            "app-checkout@v1",
            "app-checkout@v2",
            "app-checkout",
            "get-order@v1",
            "get-order@v2",
            "get-order",
            "account",
            "admin-orders@v1",
            "admin-orders@v2",
            "admin-orders",
            "graphql",
            "charge",
            "health|v2",
            "health"
        ]
    );
    let note = routes["metadata"]["annotations"]["meshc/not-in-istio"].as_str().unwrap();
    for expected in [
        "get-product: without cache",
        "list-products: without cache, rename-header",
        "place-order: left out (validate)",
        "charge-rest: left out (transcode)",
        "stock: left out (transcode)",
    ] {
        assert!(note.contains(expected), "{note}");
    }

    // Rewrites and redirects; WebSocket upgrades need nothing in Istio.
    assert_eq!(
        route(routes, "products-v1")["rewrite"],
        json!({ "uri": "/products", "authority": "catalog.shop.svc.cluster.local" })
    );
    assert_eq!(
        route(routes, "short-product-links")["rewrite"],
        json!({ "uriRegexRewrite": { "match": "^/p/([A-Za-z0-9-]+)$", "rewrite": "/products/\\1" } })
    );
    let old = route(routes, "old-catalog-links");
    assert_eq!(old["redirect"], json!({ "prefixRewrite": "/products/", "redirectCode": 301 }));
    assert!(old.get("route").is_none() && old.get("timeout").is_none() && old.get("retries").is_none());
    // `timeout "none"`: Istio's default is no timeout (its CRD refuses `0s`).
    let updates = route(routes, "order-updates");
    assert!(updates.get("timeout").is_none(), "{updates}");
    assert!(note.contains("order-updates: without idle-timeout"), "{note}");
    // A VirtualService per `host` block, with its hosts and only its routes.
    let www = resource(&resources, "VirtualService", "gateway-public-host-1");
    assert_eq!(www["spec"]["hosts"], json!(["shop.example"]));
    assert_eq!(
        www["spec"]["http"],
        json!([{
            "match": [{ "uri": { "prefix": "/" } }],
            "name": "to-www",
            "redirect": { "authority": "www.shop.example", "scheme": "https", "redirectCode": 301 }
        }])
    );
    let partners = resource(&resources, "VirtualService", "gateway-public-host-2");
    assert_eq!(partners["spec"]["hosts"], json!(["partners.shop.example", "*.partners.shop.example"]));
    assert_eq!(partners["spec"]["gateways"], json!(["public"]));
    let names: Vec<&str> =
        partners["spec"]["http"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["partner-order-export@v1", "partner-order-export@v2", "partner-order-export"]);

    let get_product = route(routes, "get-product");
    assert_eq!(get_product["match"], json!([{ "uri": { "prefix": "/products/" }, "method": { "exact": "GET" } }]));
    assert_eq!(get_product["timeout"], "1s");
    assert_eq!(
        get_product["retries"],
        json!({ "attempts": 1, "perTryTimeout": "0.450s", "retryOn": "5xx,reset,connect-failure" })
    );
    let list = route(routes, "list-products");
    assert_eq!(
        list["headers"],
        json!({ "response": { "set": { "x-served-by": "shop-gateway" }, "remove": ["server"] } })
    );
    let charge = route(routes, "charge");
    assert_eq!(
        charge["match"],
        json!([{
            "uri": { "prefix": "/shop.payments.v1.Payments/" },
            "headers": { "content-type": { "prefix": "application/grpc" } }
        }])
    );
    assert_eq!(
        charge["route"],
        json!([{ "destination": { "host": "payments.shop.svc.cluster.local", "port": { "number": 50051 } } }])
    );
    assert_eq!(route(routes, "graphql")["timeout"], "10s");
}

#[test]
fn the_boutique_gateway_matches_its_own_istio_manifest() {
    let resources = validate_all("online-boutique");
    let upstream_path = repo_root().join("../shared/corpora/online-boutique/istio/frontend-gateway.yaml");
    let upstream = yaml_documents(&std::fs::read_to_string(upstream_path).unwrap());
    let ours = resource(&resources, "Gateway", "frontend-gateway");
    assert_eq!(ours["spec"], upstream[0]["spec"], "same selector and server");
    let routes = resource(&resources, "VirtualService", "gateway-frontend-gateway");
    assert_eq!(routes["spec"]["gateways"], upstream[1]["spec"]["gateways"]);
    assert_eq!(routes["spec"]["hosts"], upstream[1]["spec"]["hosts"]);
    let ours = &routes["spec"]["http"][0]["route"][0]["destination"];
    let theirs = &upstream[1]["spec"]["http"][0]["route"][0]["destination"];
    assert_eq!(ours["port"], theirs["port"]);
    // Upstream names the Service by its short name, meshc by its full one.
    assert_eq!(ours["host"], "frontend.default.svc.cluster.local");
    assert_eq!(theirs["host"], "frontend");
}

#[test]
fn the_boutique_frontend_calls_reach_each_callee_with_its_timeout() {
    let resources = validate_all("online-boutique");
    let ads = resource(&resources, "VirtualService", "adservice");
    let get_ads = route(ads, "frontend: hipstershop.AdService/GetAds");
    assert_eq!(get_ads["timeout"], "0.100s");
    assert_eq!(get_ads["match"][0]["sourceLabels"], json!({ "app": "frontend" }));
    assert_eq!(get_ads["match"][0]["sourceNamespace"], "default");
    let cart = resource(&resources, "VirtualService", "cartservice");
    let callers: BTreeSet<&str> = cart["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["match"][0]["sourceLabels"]["app"].as_str())
        .collect();
    assert_eq!(callers, BTreeSet::from(["checkoutservice", "frontend"]));
    // redis-cart speaks RESP, not HTTP: no VirtualService, and its only
    // traffic setting (a TCP health check) has no DestinationRule field.
    assert!(!build("online-boutique").contains_key("istio/service-redis-cart.yaml"));
}

#[test]
fn an_ip_addressed_service_and_a_gateway_istio_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    support::write_files(
        dir.path(),
        &[
            (
                "mesh.kdl",
                r#"
service "web" {
    owner "team"
    address "web.apps.svc.cluster.local" port=8080
    calls "ledger" timeout="1s"
}
service "ledger" {
    owner "team"
    address "10.1.2.3" port=8443
    api "ledger-http" kind="rest" schema="ledger.yaml"
    traffic {
        outlier-detection consecutive-5xx=2
    }
}
gateway "edge" {
    listener "http" port=80
    validator port=9191
    route "post-entry" {
        match path="/entries" method="POST"
        to "ledger" operation="POST /entries"
        validate
    }
}
"#,
            ),
            (
                "ledger.yaml",
                "openapi: 3.0.3\ninfo: {title: ledger, version: '1'}\npaths:\n  /entries:\n    post:\n      \
                 responses:\n        '201': {description: created}\n",
            ),
        ],
    );
    let compilation = meshc::driver::compile(dir.path());
    assert_eq!(compilation.errors(), 0);
    let artifacts: BTreeMap<String, String> =
        compilation.emit().unwrap().into_iter().map(|a| (a.path, a.contents)).collect();
    let resources = istio_resources(&artifacts);
    for (path, r) in &resources {
        assert_eq!(validate(r), Ok(()), "{path}: {r}");
    }
    let entry = resource(&resources, "ServiceEntry", "ledger");
    assert_eq!(entry["spec"]["resolution"], "STATIC");
    assert_eq!(entry["spec"]["addresses"], json!(["10.1.2.3"]));
    assert_eq!(entry["spec"]["endpoints"], json!([{ "address": "10.1.2.3" }]));
    assert_eq!(entry["spec"]["ports"], json!([{ "name": "http", "number": 8443, "protocol": "HTTP" }]));
    let routes = resource(&resources, "VirtualService", "ledger");
    assert_eq!(route(routes, "web: default")["match"][0]["sourceNamespace"], "apps");
    assert_eq!(route(routes, "web: default")["timeout"], "1s");
    // Its only route needs validation: no VirtualService, and the Gateway says why.
    let gateway = resource(&resources, "Gateway", "edge");
    assert_eq!(gateway["metadata"]["annotations"]["meshc/not-in-istio"], "post-entry: left out (validate)");
    assert!(!resources.iter().any(|(_, r)| r["metadata"]["name"] == "gateway-edge"));
    // Only web's address is a cluster name: the IP gets no Kubernetes Service.
    assert_eq!(kube_services(&artifacts).keys().collect::<Vec<_>>(), ["web"]);
}

/// Health checks, a `max-backoff` other than ten times the base and a
/// gateway's `error-format` have no Istio field: `meshc build` warns
/// (MESH0073) at each, and the resources' annotation lists them; `meshc
/// check`, which emits nothing, does not.
#[test]
fn settings_istio_cannot_express_are_warned_about_and_annotated() {
    let dir = tempfile::tempdir().unwrap();
    support::write_files(
        dir.path(),
        &[
            (
                "mesh.kdl",
                r#"
service "web" {
    owner "team"
    address "web.apps.svc.cluster.local" port=8080
    calls "ledger" timeout="2s" {
        retries 2 backoff="50ms" max-backoff="200ms"
    }
}
service "ledger" {
    owner "team"
    address "ledger.apps.svc.cluster.local" port=8080
    api "ledger-http" kind="rest" schema="ledger.yaml"
    traffic {
        outlier-detection consecutive-5xx=2
        health-check "http" path="/healthz" interval="1500ms" healthy=2
    }
}
service "bank" {
    owner "team"
    address "bank.example" port=443
    external
    traffic { health-check "tcp" }
}
gateway "edge" {
    listener "http" port=80
    error-format "json" {
        status 404 message="nothing here"
    }
    route "entries" {
        match path="/entries" method="POST"
        to "ledger" operation="POST /entries"
        timeout "2s"
        retries 1 backoff="10ms" max-backoff="100ms"
    }
}
"#,
            ),
            (
                "ledger.yaml",
                "openapi: 3.0.3\ninfo: {title: ledger, version: '1'}\npaths:\n  /entries:\n    post:\n      \
                 responses:\n        '201': {description: created}\n  /healthz:\n    get:\n      \
                 responses:\n        '200': {description: ready}\n",
            ),
        ],
    );
    let compilation = meshc::driver::compile(dir.path());
    assert!(compilation.diagnostics.is_empty(), "{}", support::human(&compilation));
    let built = compilation.build(&meshc::emit::Options::default()).expect("it builds");
    let warnings: Vec<(String, String, String)> = built
        .warnings
        .iter()
        .map(|d| {
            let label = d.primary.as_ref().expect("a label");
            (d.code.id().to_string(), support::span_text(&compilation, label.span), d.message.clone())
        })
        .collect();
    let at = |text: &str| warnings.iter().find(|w| w.1.starts_with(text)).unwrap_or_else(|| panic!("{warnings:#?}"));
    assert_eq!(warnings.len(), 4, "{warnings:#?}");
    assert!(warnings.iter().all(|w| w.0 == "MESH0073"));
    assert_eq!(at("health-check \"http\"").2, "the istio backend cannot express this health check");
    assert_eq!(at("health-check \"tcp\"").2, "the istio backend cannot express this health check");
    assert_eq!(at("retries 2").2, "the istio backend cannot express this `max-backoff`");
    assert_eq!(at("error-format").2, "the istio backend cannot express this `error-format`");
    // The gateway route's retries cap at ten times the base already: nothing to say.
    assert!(!warnings.iter().any(|w| w.1.starts_with("retries 1")));
    let probe = built
        .warnings
        .iter()
        .find(|d| d.message.contains("health check") && d.help.as_deref().is_some_and(|h| h.contains("httpGet")));
    let help = probe.and_then(|d| d.help.as_deref()).expect("the probe to use");
    assert!(
        help.contains("httpGet path /healthz")
            && help.contains("periodSeconds 2")
            && help.contains("successThreshold 2"),
        "{help}"
    );

    let artifacts: BTreeMap<String, String> = built.artifacts.into_iter().map(|a| (a.path, a.contents)).collect();
    let resources = istio_resources(&artifacts);
    let note = |kind: &str, name: &str| {
        resource(&resources, kind, name)["metadata"]["annotations"]["meshc/not-in-istio"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(note("DestinationRule", "ledger").contains("the health check"), "{}", note("DestinationRule", "ledger"));
    assert!(note("DestinationRule", "ledger").contains("max-backoff of the calls from web"));
    assert!(note("ServiceEntry", "bank").contains("the health check"));
    assert!(note("VirtualService", "gateway-edge").contains("the gateway's error-format"));
}

/// Istio's proxies keep their admin and stats ports and name their stats
/// their own way: a `monitoring` block is one MESH0073 for the rules, and
/// one per port the spec moves.
#[test]
fn monitoring_istio_cannot_carry_is_warned_about() {
    let mut fs = meshc::base::fs::MemoryFs::new();
    fs.insert(
        "/ws/mesh.kdl",
        r#"
monitoring {
    admin-port 9901
    receiver "oncall" webhook="http://pager.example.com/hook"
}
service "web" {
    owner "team"
    address "web.apps.svc.cluster.local" port=8080
    sidecar inbound-port=15006 outbound-port=15001 admin-port=9902
    slo-exempt reason="internal"
}
gateway "edge" {
    listener "http" port=80
    admin-port 15000
    route "web" { match path-prefix="/"; to "web"; }
}
"#,
    );
    let compilation = meshc::driver::compile_in(&fs, std::path::Path::new("/ws"));
    assert!(compilation.diagnostics.is_empty(), "{}", support::human(&compilation));
    let options = meshc::emit::Options::default().with_backends(["istio"]).unwrap();
    let built = compilation.build(&options).expect("it builds");
    let mut messages: Vec<(&str, &str)> = built.warnings.iter().map(|d| (d.code.id(), d.message.as_str())).collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            ("MESH0073", "the istio backend cannot express the monitoring rules"),
            ("MESH0073", "the istio backend cannot express the sidecar admin-port of `web` (9902)"),
            ("MESH0073", "the istio backend cannot express this admin-port (9901)"),
        ]
    );
}

#[test]
fn the_shop_gateway_security_becomes_request_authentication_and_a_deny_policy() {
    let resources = validate_all("shop");
    let authn = resource(&resources, "RequestAuthentication", "gateway-public");
    assert_eq!(
        authn["spec"],
        json!({
            "selector": { "matchLabels": { "istio": "ingressgateway" } },
            "jwtRules": [{
                "issuer": "https://auth.shop.example",
                "audiences": ["shop-api"],
                "jwksUri": "https://auth.shop.example/.well-known/jwks.json",
                "forwardOriginalToken": true,
                "outputClaimToHeaders": [{ "header": "x-customer-id", "claim": "sub" }],
                "spaceDelimitedClaims": ["scope"]
            }]
        })
    );
    let policy = resource(&resources, "AuthorizationPolicy", "gateway-public-jwt");
    assert_eq!(policy["spec"]["action"], "DENY");
    let rules = policy["spec"]["rules"].as_array().unwrap();
    // Per served route with auth (partner-order-export, order-updates, app-checkout,
    // get-order, account, admin-orders, charge): no token, then each failing requirement.
    assert_eq!(rules.len(), 13, "{rules:#?}");
    // A route of a `host` block of exact names is guarded on those hosts only;
    // with a wildcard among them, on every host (failing closed).
    let export: Vec<&Value> =
        rules.iter().filter(|r| r["to"][0]["operation"]["paths"] == json!(["/orders/export"])).collect();
    assert!(export.iter().all(|r| r["to"][0]["operation"].get("hosts").is_none()), "{export:#?}");
    let admin: Vec<&Value> =
        rules.iter().filter(|r| r["to"][0]["operation"]["paths"] == json!(["/admin/orders/*"])).collect();
    assert_eq!(admin[0]["from"], json!([{ "source": { "notRequestPrincipals": ["https://auth.shop.example/*"] } }]));
    assert_eq!(admin[1]["when"], json!([{ "key": "request.auth.claims[roles]", "notValues": ["admin"] }]));
    // place-order is left out of Istio (validate): no rule guards a route Istio does not serve.
    assert!(!rules.iter().any(|r| r["to"][0]["operation"]["paths"] == json!(["/orders"])));
    let note = resource(&resources, "VirtualService", "gateway-public")["metadata"]["annotations"]
        ["meshc/not-in-istio"]
        .as_str()
        .unwrap();
    for expected in ["health: without rate-limit", "admin-orders: without audit", "get-order: the token is forwarded"] {
        assert!(note.contains(expected), "{note}");
    }
}

#[test]
fn inline_keys_and_alternative_roles_become_valid_istio_security_resources() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}"#;
    support::write_files(
        dir.path(),
        &[
            (
                "mesh.kdl",
                r#"
jwt-issuer "staff" {
    issuer "https://sso.example"
    jwks "staff.jwks.json"
    claim "groups" type="string-list"
    claim "dept" type="string"
}
role "auditor" {
    require-claim "groups" contains="audit"
    require-claim "dept" equals="finance"
}
role "admin" {
    require-claim "groups" contains="admin"
}
service "ledger" {
    owner "team"
    address "ledger.apps.svc.cluster.local" port=8080
}
gateway "edge" {
    listener "http" port=80
    route "entries" {
        match path-prefix="/entries/" method="GET" {
            header "x-tenant" present=#true
        }
        to "ledger"
        auth "staff" {
            require-role "auditor" "admin"
        }
    }
}
"#,
            ),
            ("staff.jwks.json", jwks),
        ],
    );
    let compilation = meshc::driver::compile(dir.path());
    assert!(compilation.diagnostics.is_empty(), "{:?}", compilation.diagnostics);
    let artifacts: BTreeMap<String, String> =
        compilation.emit().unwrap().into_iter().map(|a| (a.path, a.contents)).collect();
    let resources = istio_resources(&artifacts);
    for (path, r) in &resources {
        assert_eq!(validate(r), Ok(()), "{path}: {r}");
    }
    let authn = resource(&resources, "RequestAuthentication", "gateway-edge");
    let inlined: Value = serde_json::from_str(authn["spec"]["jwtRules"][0]["jwks"].as_str().unwrap()).unwrap();
    assert_eq!(inlined["keys"][0]["kid"], "k1");
    let rules =
        resource(&resources, "AuthorizationPolicy", "gateway-edge-jwt")["spec"]["rules"].as_array().unwrap().clone();
    // No token; then holding neither role: (auditor's groups or dept fails) and admin's groups fails.
    assert_eq!(rules.len(), 3, "{rules:#?}");
    let tenant = json!({ "key": "request.headers[x-tenant]", "values": ["*"] });
    assert_eq!(rules[0]["when"], json!([tenant]));
    assert_eq!(
        rules[1]["when"],
        json!([tenant, { "key": "request.auth.claims[groups]", "notValues": ["audit"] },
               { "key": "request.auth.claims[groups]", "notValues": ["admin"] }])
    );
    assert_eq!(
        rules[2]["when"],
        json!([tenant, { "key": "request.auth.claims[dept]", "notValues": ["finance"] },
               { "key": "request.auth.claims[groups]", "notValues": ["admin"] }])
    );
}

// ---------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------

fn kube_services(artifacts: &BTreeMap<String, String>) -> BTreeMap<String, KubeService> {
    artifacts
        .iter()
        .filter(|(path, _)| path.starts_with("kubernetes/"))
        .map(|(path, text)| {
            let service = parse_service(path, text);
            assert_eq!(path, &format!("kubernetes/{}.yaml", service.metadata.name.as_deref().unwrap()));
            (service.metadata.name.clone().unwrap(), service)
        })
        .collect()
}

/// (name, port, targetPort, appProtocol) of a Service's ports.
fn ports(service: &KubeService) -> Vec<(String, i32, Option<IntOrString>, Option<String>)> {
    let spec = service.spec.as_ref().expect("a spec");
    spec.ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap_or_default(), p.port, p.target_port.clone(), p.app_protocol.clone()))
        .collect()
}

#[test]
fn shop_services_become_kubernetes_services_reached_through_the_sidecar() {
    let artifacts = build("shop");
    let services = kube_services(&artifacts);
    // The bank's address is outside cluster DNS, and the mailer listens nowhere: no Service.
    assert_eq!(
        services.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "accounts",
            "broker",
            "cache",
            "catalog",
            "catalog-replica",
            "catalog-v1",
            "catalog-v2",
            "catalog-v3",
            "inventory",
            "loyalty",
            "orders",
            "payments",
            "reviews",
            "storefront"
        ]
    );
    // A version's own Service selects only its pods, on the service's port.
    let canary = &services["catalog-v2"];
    let spec = canary.spec.as_ref().expect("a spec");
    assert_eq!(
        spec.selector.as_ref().expect("a selector"),
        &BTreeMap::from([("app".to_string(), "catalog".to_string()), ("version".to_string(), "v2".to_string())])
    );
    assert_eq!(ports(canary), ports(&services["catalog"]));
    let catalog = &services["catalog"];
    assert_eq!(catalog.metadata.namespace.as_deref(), Some("shop"));
    assert_eq!(catalog.metadata.labels, Some(BTreeMap::from([("app".to_string(), "catalog".to_string())])));
    let spec = catalog.spec.as_ref().unwrap();
    assert_eq!(spec.selector, Some(BTreeMap::from([("app".to_string(), "catalog".to_string())])));
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    // Callers dial the address's port; the pod's port named `mesh-inbound`
    // takes it (meshc's sidecar inbound port, or the app's under Istio).
    let inbound = Some(IntOrString::String("mesh-inbound".into()));
    assert_eq!(ports(catalog), [("http".into(), 8080, inbound.clone(), Some("http".into()))]);
    assert_eq!(ports(&services["inventory"]), [("grpc".into(), 50051, inbound, Some("grpc".into()))]);
    assert_eq!(ports(&services["reviews"])[0].0, "http", "GraphQL is HTTP");
}

#[test]
fn boutique_services_match_the_online_boutiques_own_manifests() {
    let ours = kube_services(&build("online-boutique"));
    let dir = repo_root().join("../shared/corpora/online-boutique/kubernetes");
    let mut theirs: BTreeMap<String, KubeService> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in yaml_documents(&text).into_iter().filter(|d| d["kind"] == "Service") {
            let service = parse_service(&name(&path), &serde_json::to_string(&doc).unwrap());
            // frontend-external is the LoadBalancer way in, which the gateway models.
            if service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer") {
                continue;
            }
            theirs.insert(service.metadata.name.clone().unwrap(), service);
        }
    }
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "the same Services");
    assert_eq!(ours.len(), 11);
    for (name, theirs) in &theirs {
        let ours = &ours[name];
        assert_eq!(ours.metadata.namespace.as_deref(), Some("default"), "{name}");
        assert_eq!(ours.spec.as_ref().unwrap().selector, theirs.spec.as_ref().unwrap().selector, "{name}");
        let (ours, theirs) = (ports(ours), ports(theirs));
        assert_eq!(ours.len(), theirs.len(), "{name}");
        for (ours, theirs) in ours.iter().zip(&theirs) {
            assert_eq!(ours.1, theirs.1, "{name}: the port callers dial");
            // Istio reads the protocol from the name's prefix (`tcp-redis` is TCP).
            let prefix = |n: &str| n.split('-').next().unwrap().to_string();
            assert_eq!(prefix(&ours.0), prefix(&theirs.0), "{name}: port name");
            // Upstream targets the app's container port by number; meshc the
            // port the pod names `mesh-inbound` (its sidecar's, or the app's under Istio).
            assert!(matches!(theirs.2, Some(IntOrString::Int(_))), "{name}");
            assert_eq!(ours.2, Some(IntOrString::String("mesh-inbound".into())), "{name}");
        }
    }
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn authenticated_routes_of_a_host_block_are_guarded_on_its_hosts() {
    let dir = tempfile::tempdir().unwrap();
    support::write_files(
        dir.path(),
        &[(
            "mesh.kdl",
            r#"
jwt-issuer "staff" {
    issuer "https://sso.example"
    jwks-uri "https://sso.example/jwks.json"
}
service "ledger" {
    owner "team"
    address "ledger.apps.svc.cluster.local" port=8080
}
gateway "edge" {
    listener "http" port=80
    host "ledger.example" "books.example" {
        route "entries" {
            match path-prefix="/entries/"
            to "ledger"
            auth "staff"
        }
    }
    route "old" {
        match path="/ledger"
        redirect host="ledger.example" path="/entries/" code=308 strip-query=#true
    }
}
"#,
        )],
    );
    let compilation = meshc::driver::compile(dir.path());
    assert_eq!(compilation.errors(), 0);
    let artifacts: BTreeMap<String, String> =
        compilation.emit().unwrap().into_iter().map(|a| (a.path, a.contents)).collect();
    let resources = istio_resources(&artifacts);
    for (path, r) in &resources {
        assert_eq!(validate(r), Ok(()), "{path}: {r}");
    }
    let policy = resource(&resources, "AuthorizationPolicy", "gateway-edge-jwt");
    assert_eq!(
        policy["spec"]["rules"][0]["to"][0]["operation"]["hosts"],
        json!(["ledger.example", "ledger.example:*", "books.example", "books.example:*"])
    );
    let block = resource(&resources, "VirtualService", "gateway-edge-host-1");
    assert_eq!(block["spec"]["hosts"], json!(["ledger.example", "books.example"]));
    let rest = resource(&resources, "VirtualService", "gateway-edge");
    assert_eq!(
        route(rest, "old")["redirect"],
        json!({ "authority": "ledger.example", "uri": "/entries/", "redirectCode": 308 })
    );
    let note = rest["metadata"]["annotations"]["meshc/not-in-istio"].as_str().unwrap();
    assert!(note.contains("old: without strip-query"), "{note}");
}
