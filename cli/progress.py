"""Rich progress bars for training (only on a terminal) and the closing summary table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
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
    table = Table("summary", "value", title="training finished")
    for key, value in summary.items():
        if key == "codebooks":
            for i, cb in enumerate(value):
                table.add_row(f"codebook {i}", f"perplexity {cb['perplexity']}, used {cb['used']}/"
                                               f"{cb['size']}, dead {cb['dead']}")
        else:
            table.add_row(key, str(value))
    console.print(table)
