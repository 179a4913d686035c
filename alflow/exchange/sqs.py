"""S3's event notifications, read from the SQS queue a team points them at (docs/TEAM.md).

The watcher (`alflow watch --queue`) reads them instead of listing the completion markers.
"""

from __future__ import annotations

import json

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from alflow.errors import ConfigError, ServiceUnavailableError


def created_objects(queue_url: str, *, wait_seconds: int = 10) -> list[str]:
    """The objects S3 says were created, from its event notifications on an SQS queue, as s3:// URIs
    (keys URL-encoded, as S3 sends them); waits up to `wait_seconds` for some. The messages read are
    deleted: notifications are at-least-once anyway, so readers must be idempotent.
    """
    sqs = boto3.client("sqs", config=Config(retries={"mode": "standard"}, connect_timeout=10))
    try:
        response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
    except (BotoConnectionError, HTTPClientError) as error:
        raise ServiceUnavailableError(f"SQS queue {queue_url} did not answer ({error})") from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise ConfigError(f"SQS queue {queue_url}: {code}: check the URL and the permissions") from None
    uris = []
    for message in response.get("Messages", []):
        try:
            body = json.loads(message["Body"])
            body = json.loads(body["Message"]) if "Message" in body else body  # delivered through SNS
        except (ValueError, TypeError):
            body = {}
        for record in body.get("Records", []) if isinstance(body, dict) else []:
            if str(record.get("eventName", "")).startswith("ObjectCreated"):
                uris.append(f"s3://{record['s3']['bucket']['name']}/{record['s3']['object']['key']}")
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return uris
