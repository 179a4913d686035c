"""The campaign's model: the scikit-learn classifier, built, trained, evaluated and made servable.
docs/ARCHITECTURE.md names each module."""
