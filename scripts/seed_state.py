#!/usr/bin/env python3
"""Writes the state AWS's Redshift Auto Loader (the seed) keeps, in its own shapes, to a DynamoDB and S3 endpoint
(moto): its three tables (../shared/reference/seed-state.md) and the COPY manifests its log points to. The
import-seed-state test builds the seed's state with it; it can also set up a trial of the migration.

    seed_state.py ENDPOINT BUCKET < spec.json

spec: {"tables": [{"folder", "schema", "status", "options", "checkpoint"}],
       "files": [{"folder", "recorded", "key", "size"}],            # key: the object key in BUCKET
       "copies": [{"id", "folder", "status", "keys": [...]}]}       # a manifest listing those keys
"""
import json
import sys

import boto3

endpoint, bucket = sys.argv[1], sys.argv[2]
spec = json.load(sys.stdin)
session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
dynamo = session.client("dynamodb", endpoint_url=endpoint)
s3 = session.client("s3", endpoint_url=endpoint)

KEYS = {
    "s3_data_loader_table_config": [("s3_table_name", "HASH")],
    "s3_data_loader_file_metadata": [("s3_table_name", "HASH"), ("file_created_timestamp", "RANGE")],
    "s3_data_loader_log": [("data_api_queryId", "HASH")],
}
for name, keys in KEYS.items():
    # Not by list_tables: it answers 100 names a page, and the tests' catalogs soon outnumber that.
    try:
        dynamo.delete_table(TableName=name)
    except dynamo.exceptions.ResourceNotFoundException:
        pass
    dynamo.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
                        KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys])

for t in spec.get("tables", []):
    dynamo.put_item(TableName="s3_data_loader_table_config", Item={
        "s3_table_name": {"S": t["folder"]}, "redshift_table_name": {"S": t["folder"].split(".")[-1]},
        "redshift_schema": {"S": t.get("schema", "public")}, "load_status": {"S": t.get("status", "active")},
        "iam_role": {"S": t.get("iam_role", "default")}, "additional_copy_options": {"S": t.get("options", "")},
        "max_file_proccessed_timestamp": {"S": t["checkpoint"]}, "schema_detection_completed": {"S": "Yes"}})
for f in spec.get("files", []):
    dynamo.put_item(TableName="s3_data_loader_file_metadata", Item={
        "s3_table_name": {"S": f["folder"]}, "file_created_timestamp": {"S": f["recorded"]},
        "s3_file_path": {"S": "s3://%s/%s" % (bucket, f["key"])}, "file_content_length": {"N": str(f["size"])}})
for c in spec.get("copies", []):
    manifest = "s3-redshift-loader-manifest/%s/%s.json" % (c["folder"], c["id"])
    entries = [{"url": "s3://%s/%s" % (bucket, k), "mandatory": True} for k in c["keys"]]
    s3.put_object(Bucket=bucket, Key=manifest, Body=json.dumps({"entries": entries}).encode())
    dynamo.put_item(TableName="s3_data_loader_log", Item={
        "data_api_queryId": {"S": c["id"]}, "s3_table_name": {"S": c["folder"]},
        "s3_manifest_file_path": {"S": "s3://%s/%s" % (bucket, manifest)}, "copy_command_status": {"S": c["status"]},
        "redshift_query_Id": {"S": ""}, "copy_command_sql": {"S": "COPY ..."}})
