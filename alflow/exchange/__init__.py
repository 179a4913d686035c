"""The exchange with the labeling vendor: where files live and what they look like.

    store      the Store protocol (write-once object storage) and safe keys
    local, s3  its two implementations: a folder, and S3 or any S3-compatible store
    bucket     `open_store`: the store behind a bucket URI
    layout     the bucket layout: batches, deliveries, ledger and quarantine keys per round
    formats    one module per exchange format (CSV, JSON Lines, Ground Truth, Label Studio)

It knows nothing of campaigns beyond the key layout (enforced by `make lint`).
"""
