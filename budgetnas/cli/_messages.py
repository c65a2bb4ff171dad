"""Library messages told in command-line terms.

The library's exceptions and notices name Python arguments (``max_params=``, ``task='binary'``,
``read_kwargs=...``) because Python users need those; a command-line user needs the flag to
change instead. :func:`cli_message` rewrites the phrases that a ``budgetnas`` command can show.
Each rule is tested by running the command that reaches it (``tests/test_cli_ux.py``).
"""

from __future__ import annotations

import re

__all__ = ["cli_message"]

_RULES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), r) for p, r in [
    # budgets (budgetnas.tabular.search.check_budget)
    (r"\bmax_params=([-+\d.,eE]+|nan|inf)", r"--max-params \1"),
    (r"\bmax_params must be", "--max-params must be"),
    # the task (budgetnas.tabular.data._check_task)
    (r"\btask=None to detect it", "leave out --task to detect it"),
    (r"task='binary'/'multiclass'", "--task binary / multiclass"),
    (r"\btask='(\w+)'", r"--task \1"),
    # reading a file (budgetnas.tabular.data.read_table, _require_target)
    (r"if the file has no header row, pass read_kwargs=\{'header': None, 'names': \[\.\.\.\]\}\.",
     "the file seems to have no header row: add one with the column names as its first line."),
    (r" \(or names=\.\.\.\)", ""),
    (r", or pass reader options through read_kwargs", ""),
    (r"Convert the file, or read it with pandas yourself and pass the DataFrame",
     "Convert the file to CSV or Parquet"),
    # columns and splits (budgetnas.tabular.data.load_tabular)
    (r"\bdrop_columns names columns", "--drop names columns"),
    (r"\bdrop_columns contains the target (\S+); remove it from drop_columns",
     r"--drop names the target \1; remove that --drop"),
    (r", or change split\b", ""),
    # named data sets (budgetnas.tabular.datasets.load_dataset)
    (r"For your own file use budgetnas\.tabular\.load_tabular\(path, target\), or "
     r"register_dataset\(name, loader\)", "For your own file: budgetnas search DATA --target COLUMN"),
    (r"\(dataset='(\w+)'\)", r"(--dataset \1)"),
    (r"\btarget=\.\.\. is required", "--target COLUMN is required"),
    # run directories (TableSearchResult.save)
    (r"pass overwrite=True \(--overwrite\)", "pass --overwrite"),
    # image data (budgetnas.vision: the Fashion-MNIST finder)
    (r"Fix: pass path=<folder", "Fix: pass --data <folder"),
]]


def cli_message(text: str) -> str:
    """``text`` with its Python-level advice replaced by the command-line flag to change."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
