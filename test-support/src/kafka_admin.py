# The Kafka side of the tests' `kafka` module: kafka-python's admin client
# (a real Kafka client: API version negotiation, CreateTopics, Metadata,
# DescribeConfigs, DeleteTopics) driven by one JSON request on stdin, one
# JSON answer on stdout. Errors are answered as {"error": "..."}.
import json
import sys


def main():
    request = json.load(sys.stdin)
    from kafka.admin import (ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ConfigResource,
                             ConfigResourceType, KafkaAdminClient, NewTopic, ResourcePattern, ResourceType)

    op = request["op"]
    if op == "acls":
        # No broker: kafka-python's own ACL types check every name.
        out = []
        for acl in request["acls"]:
            binding = ACL(
                principal=acl["principal"],
                host=acl["host"],
                operation=ACLOperation[acl["operation"]],
                permission_type=ACLPermissionType[acl["permission_type"]],
                resource_pattern=ResourcePattern(
                    ResourceType[acl["resource_type"]],
                    acl["resource_name"],
                    ACLResourcePatternType[acl["pattern_type"]],
                ),
            )
            binding.validate()
            out.append({
                "principal": binding.principal,
                "host": binding.host,
                "operation": binding.operation.name,
                "permission_type": binding.permission_type.name,
                "resource_type": binding.resource_pattern.resource_type.name,
                "resource_name": binding.resource_pattern.resource_name,
                "pattern_type": binding.resource_pattern.pattern_type.name,
            })
        return {"acls": out}

    admin = KafkaAdminClient(bootstrap_servers=request["bootstrap"], client_id="meshc-test", request_timeout_ms=15000)
    try:
        if op == "create_topics":
            topics = [
                NewTopic(t["name"], t["num_partitions"], t["replication_factor"], topic_configs=t["configs"])
                for t in request["topics"]
            ]
            result = admin.create_topics(topics)
            errors = [t for t in result["topics"] if t["error_code"] != 0]
            return {"errors": errors} if errors else {"created": [t["name"] for t in result["topics"]]}
        if op == "describe_topics":
            names = request["names"]
            described = admin.describe_topics(names)
            configs = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name) for name in names], config_filter="all")
            out = {}
            for topic in described:
                partitions = sorted(topic["partitions"], key=lambda p: p["partition_index"])
                out[topic["name"]] = {
                    "error_code": topic["error_code"],
                    "num_partitions": len(partitions),
                    "replication_factor": len(partitions[0]["replica_nodes"]) if partitions else 0,
                    "configs": {k: v["value"] for k, v in configs.get("topic", {}).get(topic["name"], {}).items()},
                }
            return {"topics": out}
        if op == "delete_topics":
            admin.delete_topics(request["names"])
            return {"deleted": request["names"]}
        if op == "describe_group":
            # The group's members, with each one's assigned partitions as
            # kafka-python decodes the ConsumerProtocol assignment (Tansu
            # 0.6 describes members with empty assignments).
            # Tansu answers authorized operations kafka-python has no name
            # for; they are not asked about.
            admin._process_acl_operations = lambda obj: obj
            group = admin.describe_groups([request["group"]])[request["group"]]
            members = {}
            for member in group.get("members", []):
                assignment = member.get("member_assignment")
                if hasattr(assignment, "partitions"):
                    pairs = [[tp.topic, tp.partition] for tp in assignment.partitions()]
                elif isinstance(assignment, dict):
                    pairs = [[t[0] if isinstance(t, (list, tuple)) else t["topic"], p]
                             for t in assignment.get("assigned_partitions", [])
                             for p in (t[1] if isinstance(t, (list, tuple)) else t["partitions"])]
                else:
                    pairs = []
                members[member["member_id"]] = sorted(pairs)
            return {"state": group.get("group_state"), "protocol": group.get("protocol_data"), "members": members}
        if op == "list_topics":
            return {"topics": sorted(admin.list_topics())}
        return {"error": "unknown op " + op}
    finally:
        admin.close()


try:
    answer = main()
except Exception as e:  # the test shows it
    answer = {"error": "%s: %s" % (type(e).__name__, e)}
json.dump(answer, sys.stdout)
