"""How ``--help`` names the values of options and arguments (click's conventions).

The installed typer labels every value with its Python type in angle brackets (``<int>``,
``<str>``, ``<list[str]>``) and labels flags ``<bool>`` although they take no value. The
command and group classes here keep the metavars a command sets (``--max-params N``) and
otherwise use click's names: ``INTEGER``, ``FLOAT``, ``TEXT``, ``PATH``, ``[a|b]`` for a choice,
nothing for a flag; arguments appear by their upper-case name (``RUN_DIR``), also in the usage
line (``budgetnas predict [OPTIONS] RUN_DIR [DATA]``).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup

__all__ = ["HelpCommand", "HelpGroup", "use_help_classes"]

_CLICK_NAMES = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "path": "PATH",
                "bool": "BOOLEAN"}


def _value_name(param: Any, ctx: Any) -> str:
    """click's name of the value a parameter takes (``INTEGER``, ``PATH``, ``[a|b]``)."""
    label = str(param.display_type(ctx)).strip("<>")
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]
    label = label.removesuffix(" range")
    if "|" in label:
        return f"[{label}]"
    return _CLICK_NAMES.get(label, label.upper())


def _tidy(params: list[Any], ctx: Any) -> list[Any]:
    for param in params:
        if getattr(param, "_budgetnas_tidy", False):
            continue
        param._budgetnas_tidy = True
        if isinstance(param, TyperArgument):
            kind = _value_name(param, ctx)
            if param.metavar is None:
                param.metavar = param.name.upper()
            # the type column of an argument: click's name, not typer's ``<path>``
            param.display_type_rich = lambda ctx, kind=kind: kind
        elif param.metavar is None:
            flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
            param.metavar = "" if flag else _value_name(param, ctx)
    return params


def _usage(command: Any, ctx: Any) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            name = param.metavar or param.name.upper()
            name = name if param.required else f"[{name}]"
            pieces.append(name + ("..." if param.nargs != 1 else ""))
    return pieces


class HelpCommand(TyperCommand):
    """A typer command whose ``--help`` reads as click's does (see the module docstring)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx), ctx)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(self, ctx)


class HelpGroup(TyperGroup):
    """A typer group whose ``--help`` reads as click's does (see the module docstring)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx), ctx)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*_usage(self, ctx), self.subcommand_metavar]


def use_help_classes(app: Any) -> None:
    """Give every command of ``app`` and of its sub-apps :class:`HelpCommand` (unless a command
    chose its own class) and every sub-app :class:`HelpGroup`."""
    for info in app.registered_commands:
        if info.cls is None or info.cls is TyperCommand:
            info.cls = HelpCommand
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub.info.cls is None or sub.info.cls is TyperGroup or not isinstance(sub.info.cls, type):
            sub.info.cls = HelpGroup
        use_help_classes(sub)
