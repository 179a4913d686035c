"""The campaign's input data: the pool and the label files, read, checked and shaped for the model.
docs/ARCHITECTURE.md names each module."""
