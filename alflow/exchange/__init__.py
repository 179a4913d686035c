"""The exchange with the labeling vendor: where files live (a write-once store, a folder or S3) and
what they look like (the exchange formats, one module each, and their registry).

It knows nothing of campaigns beyond the key layout (enforced by `make lint`), and only its AWS
modules import boto3. docs/ARCHITECTURE.md names each module.
"""
