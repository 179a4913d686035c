"""Learning from the labels: the pool and label files the model reads, the checks they must pass, and
the model itself. docs/ARCHITECTURE.md names each module."""
