"""The campaign ledger: write-once records in the vendor bucket, and the state derived from them.

A `Ledger` (alflow.ledger.ledger) is one campaign's bucket and name; every record is written
through it, once. docs/ARCHITECTURE.md names the modules and the records' keys.
"""
