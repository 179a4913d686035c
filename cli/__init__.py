"""The `alflow` command (app): the top of the stack, above flows/ and tasks/."""

from cli.main import app

__all__ = ["app"]
