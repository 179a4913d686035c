"""Pure selection: from a model and items to the items worth a label. Imports nothing of alflow but errors.

Its modules, and how a selection runs through them, are in docs/ARCHITECTURE.md ("Selection").
"""
