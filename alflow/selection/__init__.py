"""Pure selection: from a model and items to the items worth a label. Imports nothing of alflow but errors.

registry     every strategy, one spec each (prefilter, pick, candidates, what it needs)
measures     per-row scores, higher = label first: uncertainty, committee, expected gradient length
diversity    batch picks over candidates: k-center greedy, k-means, TypiClust, density
committee    query-by-committee members
scoring      the two-stage selection over a streamed pool (`score_chunks`)
pool         `select_batch` over an in-memory pool (the notebook API)
stream       stream-based selective sampling with an adaptive threshold
synthesis    query synthesis on the decision boundary
autolabel    the confidence threshold that meets a held-out accuracy target
"""
