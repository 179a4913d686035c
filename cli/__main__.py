"""`python -m cli`: the `alflow` command, as the console script runs it."""

from cli import main

main()
