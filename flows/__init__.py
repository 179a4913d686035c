"""Prefect flows: composition of tasks, no data logic."""
