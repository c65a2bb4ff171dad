"""What every benchmark result states about the machine it ran on (imported by the scripts in
this folder, which run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import os
import platform
import time

import torch


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    """One line: core count, CPU model, torch and Python versions."""
    return (f"nproc={os.cpu_count()}, {cpu_model()}, torch {torch.__version__}, "
            f"python {platform.python_version()}")


def load() -> str:
    """The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def log(msg: str) -> None:
    """Print a progress line stamped with the time and the load average."""
    print(f"[{time.strftime('%H:%M:%S')} load {load()}] {msg}", flush=True)


def emit(lines: list[str], out: str | None) -> str:
    """Print a results report and, with ``out``, write it there too; returns the text."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        with open(out, "w") as fh:
            fh.write(text)
    return text
