"""Prints each object of an S3 bucket on loopback as `key<TAB>first 16 bytes in hex<TAB>size`, for tests
that check what a repository stores (usage: s3-objects.py TLS_PORT BUCKET)."""
import sys, warnings
import boto3
warnings.simplefilter("ignore")
port, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=f"https://127.0.0.1:{port}", verify=False, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for item in page.get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        print(f"{item['Key']}\t{body[:16].hex()}\t{len(body)}")
