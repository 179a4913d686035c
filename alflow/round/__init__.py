"""One round of a campaign, one module per stage, in the order the round flow (flows/round.py) runs them:

    opening    read the campaign, validate its inputs, ingest deliveries, finish interrupted
               exports, list new arrivals -> RoundContext (context); then claim the round
    train      fit the model on every label so far and evaluate it -> Trained
    autolabel  label the items the model is sure of (when configured) -> AutoLabels
    decide     stopping rules and the budget -> Decision
    select     the batch: from the pool by the strategy, or from arriving files (arrivals)
    commit     the round record, written once (after it is logged: alflow.reporting.round_run)
    export     the batch file for the vendor, in the campaign's format

Every stage is a plain function of the context and what earlier stages made: a notebook can call
them in this order without Prefect. `inputs` and `pool` are the readers the stages share.
"""
