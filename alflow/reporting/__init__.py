"""What people see: the round's report and `alflow status`, where the campaign is heading (worded the
same on every surface), and what MLflow shows stakeholders (one module imports MLflow, enforced by
`make lint`). docs/ARCHITECTURE.md names each module."""
