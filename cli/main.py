"""`alflow`: the command line, the top of the stack. The only place where errors become exit codes
(cli.console.errors_as_exit_codes); one module per group of commands.

Prefect and the flows are imported inside the commands that run them, so `alflow init` and
`alflow status` start fast.
"""

from __future__ import annotations

import typer

from cli import campaign, check, control, dataset, review, rounds, serve, server, status, tools, watch
from cli.console import start

app = typer.Typer(
    help="Active-learning campaigns: Prefect rounds, MLflow tracking, vendor buckets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.callback()(start)
app.command()(campaign.init)
app.command()(check.check)
app.command(name="round")(rounds.round_)
app.command(name="write-off")(rounds.write_off)
app.command()(dataset.dataset)
app.command()(review.review)
app.command()(control.pause)
app.command()(control.resume)
app.command()(control.change)
app.command()(status.status)
app.command()(tools.demo)
app.command()(tools.simulate)
app.command()(watch.watch)
app.command()(serve.serve)
app.add_typer(server.app, name="server")
