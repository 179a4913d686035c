"""The campaign ledger: write-once records in the vendor bucket, and everything derived from them.

records   the typed records (round, ingest, claim, write-off, auto-labels, batch metadata), one
          schema each with its JSON form and schema version
writes    every write into the bucket, each once; claims: one run per round, with a lease
state     CampaignState, derived from one listing of the records
budget    the label budget and its arithmetic
votes     the verdict on one delivery file (validation, aggregation, duplicates, relabels)
ingest    deliveries in, exactly once: accepted labels, quarantined rows, one record per file
campaign  a campaign's bucket and state from its config; write-offs
crash     the step boundaries where tests kill a round
"""
