"""The ``budgetnas`` command line (typer).

Each command group lives in its own module of this package and registers itself on ``app``;
this module only assembles them. Usage errors exit with code 2.
"""

from __future__ import annotations

import typer

from budgetnas.cli._help import HelpGroup, use_help_classes

app = typer.Typer(
    cls=HelpGroup,
    name="budgetnas",
    help="Neural architecture search under resource budgets (parameters, MACs, latency).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Imported for their side effect of adding commands to ``app``; kept in one place so the
    # command groups stay independent of each other.
    import importlib

    for name in ("cost", "search", "runs", "latency", "multidomain", "image"):
        try:
            importlib.import_module(f"budgetnas.cli.{name}")
        except ModuleNotFoundError as exc:  # a command group not built yet
            if exc.name != f"budgetnas.cli.{name}":
                raise
    use_help_classes(app)


_register()

__all__ = ["app"]
