//! Response templates: placeholders, typing, and the errors `respond`
//! reports, on a small .proto written by the test.

use crate::support;

use meshc_runtime::prost_reflect::DescriptorPool;
use meshc_runtime::{call_unary, Code, GrpcMock};
use serde_json::json;
use support::{compile_proto, localhost};

const PROTO: &str = r#"
syntax = "proto3";
package t.v1;
import "google/protobuf/timestamp.proto";

service Echo {
  rpc Say(SayRequest) returns (SayReply);
  rpc Watch(SayRequest) returns (stream SayReply);
}

message Inner { string name = 1; int32 size = 2; }
enum Mood { MOOD_UNSPECIFIED = 0; HAPPY = 1; }

message SayRequest {
  string text = 1;
  int32 count = 2;
  bool loud = 3;
  Inner inner = 4;
  repeated string tags = 5;
  int64 big = 6;
  string mood_name = 7;
  google.protobuf.Timestamp at = 8;
}

message SayReply {
  string message = 1;
  int32 count = 2;
  bool loud = 3;
  Inner inner = 4;
  repeated string tags = 5;
  map<string, string> labels = 6;
  string count_text = 7;
  int64 big = 8;
  Mood mood = 9;
  repeated Inner inners = 10;
  google.protobuf.Timestamp at = 11;
  bool flag_from_text = 12;
  repeated string more_tags = 13;
}
"#;

const SAY: &str = "/t.v1.Echo/Say";

fn pool() -> DescriptorPool {
    compile_proto("echo.proto", PROTO).descriptor_pool()
}

#[test]
fn placeholders_take_the_type_of_the_response_field() {
    let pool = pool();
    // Proto names work as well as JSON names; `{{...}}` that is no field name stays text.
    let template = json!({
        "message": "you said {{text}} x{{ count }} ({{loud}}, {{inner}}) {{not a placeholder}} {{mood_name}}",
        "count": "{{count}}",
        "loud": "{{loud}}",
        "inner": "{{inner}}",
        "tags": ["{{text}}", "fixed"],
        "labels": { "n": "{{count}}", "t": "{{ text }}" },
        "countText": "{{count}}",
        "big": "{{big}}",
        "mood": "{{moodName}}",
        "inners": [{ "name": "{{text}}", "size": "{{count}}" }],
        "at": "{{at}}",
        "flagFromText": "{{loud}}",
        "moreTags": "{{tags}}"
    });
    let request = json!({
        "text": "hi",
        "count": 3,
        "loud": true,
        "inner": { "name": "n", "size": 7 },
        "tags": ["a", "b"],
        "big": "9007199254740993",
        "moodName": "HAPPY",
        "at": "2024-01-02T03:04:05Z"
    });
    let mock = GrpcMock::new(pool.clone()).respond(SAY, template).spawn(localhost()).unwrap();
    let reply = call_unary(&pool, mock.addr(), SAY, &request).unwrap();
    assert_eq!(
        reply,
        json!({
            "message": "you said hi x3 (true, {\"name\":\"n\",\"size\":7}) {{not a placeholder}} HAPPY",
            "count": 3,
            "loud": true,
            "inner": { "name": "n", "size": 7 },
            "tags": ["hi", "fixed"],
            "labels": { "n": "3", "t": "hi" },
            "countText": "3",
            "big": "9007199254740993",
            "mood": "HAPPY",
            "inners": [{ "name": "hi", "size": 3 }],
            "at": "2024-01-02T03:04:05Z",
            "flagFromText": true,
            "moreTags": ["a", "b"]
        })
    );

    // Unset request fields fill in their defaults.
    let reply = call_unary(&pool, mock.addr(), SAY, &json!({ "moodName": "HAPPY" })).unwrap();
    assert_eq!(reply["message"], "you said  x0 (false, ) {{not a placeholder}} HAPPY");
    assert_eq!(reply.get("count"), None, "0 is the default and is omitted: {reply}");
    assert_eq!(reply.get("inner"), None, "{reply}");
    assert_eq!(mock.calls()[1], (SAY.to_string(), json!({ "moodName": "HAPPY" })));
}

#[test]
fn a_filled_template_that_is_no_valid_response_is_internal() {
    let pool = pool();
    let mock = GrpcMock::new(pool.clone()).respond(SAY, json!({ "loud": "{{moodName}}" })).spawn(localhost()).unwrap();
    // "HAPPY" is no bool.
    let err = call_unary(&pool, mock.addr(), SAY, &json!({ "moodName": "HAPPY" })).unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    assert!(err.message().contains(SAY) && err.message().contains("t.v1.SayReply"), "{err:?}");
    // "true" is.
    assert_eq!(call_unary(&pool, mock.addr(), SAY, &json!({ "moodName": "true" })).unwrap(), json!({ "loud": true }));
}

#[test]
fn respond_reports_unusable_methods_and_templates() {
    let mock = || GrpcMock::new(pool());
    let err = |method: &str, template| mock().try_respond(method, template).unwrap_err().to_string();

    let e = err("/t.v1.Echo/Shout", json!({}));
    assert!(e.contains("no method `Shout`") && e.contains("Say"), "{e}");
    let e = err("/t.v1.Nope/Say", json!({}));
    assert!(e.contains("no service `t.v1.Nope`") && e.contains("t.v1.Echo"), "{e}");
    let e = err("Say", json!({}));
    assert!(e.contains("/pkg.Service/Method"), "{e}");
    let e = err(SAY, json!({ "messages": "typo" }));
    assert!(e.contains("t.v1.SayReply"), "{e}");
    let e = err(SAY, json!({ "count": "{{cnt}}" }));
    assert!(e.contains("{{cnt}}") && e.contains("count"), "{e}");
    let e = err("/t.v1.Echo/Watch", json!({}));
    assert!(e.contains("streaming"), "{e}");

    // Without the leading slash, and by proto name, is fine.
    mock().try_respond("t.v1.Echo/Say", json!({ "count_text": "{{mood_name}}" })).unwrap();
}

#[test]
#[should_panic(expected = "GrpcMock::respond")]
fn respond_panics_on_an_unknown_method() {
    let _ = GrpcMock::new(pool()).respond("/t.v1.Echo/Shout", json!({}));
}

#[test]
fn streaming_methods_are_unimplemented() {
    let pool = pool();
    let mock = GrpcMock::new(pool.clone()).spawn(localhost()).unwrap();
    // The client sends one message and reads one; the mock refuses first.
    let err = call_unary(&pool, mock.addr(), "/t.v1.Echo/Watch", &json!({})).unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    assert!(err.message().contains("streaming"), "{err:?}");
}
