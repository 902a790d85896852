"""Rich progress bars for training and for coding large images (only on a terminal), and the
closing summary table."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeRemainingColumn)
from rich.table import Table


class TrainingProgress:
    def __init__(self, console: Console, enabled: bool = True):
        self.console = console
        self.enabled = enabled and console.is_terminal
        self.bar = Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                            console=console, disable=not self.enabled)
        self.tasks: dict[str, int] = {}
        self.plain = enabled and not console.is_terminal

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def update(self, stage: str, step: int, total: int, rec: dict) -> None:
        if stage == "warning":
            if self.enabled or self.plain:
                self.console.print(f"vqcodec: warning: {rec['message']}", highlight=False, markup=False, soft_wrap=True)
            return
        info = "  ".join(f"{k}={v:.4g}" for k, v in rec.items()
                         if isinstance(v, float))
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total, info="")
        self.bar.update(self.tasks[stage], completed=step, info=info)
        if self.plain and (step % max(1, total // 20) == 0 or step == total):
            self.console.print(f"{stage} {step}/{total} {info}", highlight=False)


class FileProgress:
    """A bar over the files of a folder (on a terminal; silent otherwise)."""

    def __init__(self, console: Console, what: str, enabled: bool = True):
        self.bar = Progress(TextColumn(f"{what:<12}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), TextColumn("{task.fields[name]}"),
                            console=console, disable=not (enabled and console.is_terminal))
        self.task = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def update(self, done: int, total: int, name: str) -> None:
        if self.task is None:
            self.task = self.bar.add_task("", total=total, name="")
        self.bar.update(self.task, completed=done, name=Path(name).name[-40:] if name else "")


def print_summary(console: Console, summary: dict) -> None:
    stopped = "stopped_at" in summary  # --stop-after: the checkpoint to --resume from
    table = Table("summary", "value", title="training stopped" if stopped else "training finished")
    for key, value in summary.items():
        if key == "codebooks":
            for i, cb in enumerate(value):
                table.add_row(f"codebook {i}", f"perplexity {cb['perplexity']}, used {cb['used']}/"
                                               f"{cb['size']}, dead {cb['dead']}")
        else:
            table.add_row(key, str(value))
    console.print(table)


class CodingProgress:
    """One file's coding as a bar with an ETA on a terminal, fed by the core's
    progress(done, total) callback. It appears only once the work has run for `delay`
    seconds, so quick files print nothing, and it is removed when the file is done."""

    def __init__(self, console: Console, label: str, delay: float = 1.0):
        self.console, self.label, self.delay = console, label, delay
        self.start = time.monotonic()
        self.bar: Progress | None = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if done >= total or time.monotonic() - self.start < self.delay:
                return
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                TimeRemainingColumn(), console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done)

    def __enter__(self) -> "CodingProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def with_progress(fn: Callable, verb: str, console: Console) -> Callable:
    """fn(src, dst, opts, ...) that shows a CodingProgress for each file on `console`."""

    def run(src: str, dst, opts, *rest):
        with CodingProgress(console, f"{verb} {src}") as bar:
            return fn(src, dst, dataclasses.replace(opts, progress=bar), *rest)

    return run
