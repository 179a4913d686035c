"""The campaign ledger: write-once records in the vendor bucket, and what is derived from them.

A `Ledger` is one campaign's bucket and name; every record is written through it, once.
docs/ARCHITECTURE.md names the modules and the keys.
"""
