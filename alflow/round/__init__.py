"""One round of a campaign, one module per stage, and the readers the stages share.

Every stage is a plain function of the `RoundContext` and what earlier stages made; the round's
recipe (alflow.operations.recipe) calls them in order, with Prefect (flows/round.py) or without
(alflow.operations.plain). docs/ARCHITECTURE.md names each module and draws the recipe.
"""
