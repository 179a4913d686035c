"""Delivery intake: the vendor's label files taken in exactly once, written to the ledger.

It reads deliveries and writes their records through the ledger (alflow.ledger); the ledger never
imports it. docs/ARCHITECTURE.md names the modules.
"""
