"""What people see: the round's report and `alflow status`, and what MLflow shows stakeholders.

reports    RoundReport (the round's line, for people and scripts) and `alflow status` rows
views      the numbers behind a round run's tables and figures
plots      matplotlib figures (Agg, no pyplot)
round_run  what a round logs, and the round's log stage
tracking   the only module that imports MLflow
"""
