"""Ending a live stream cleanly: on SIGINT or SIGTERM, `compress --stream` stops reading, codes
the audio it already holds as the final chunk and closes the stream, so the file decodes
completely; the command then exits with 128 + the signal number (130 for Ctrl-C).

The handler interrupts only a blocking read of the input. Arriving while a chunk is being
coded or written, it just sets a flag that is looked at before the next read, so no record
is ever cut in half.
"""

from __future__ import annotations

import signal
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopInput(Exception):
    """Raised inside a blocking read when a stop signal arrives."""


class GracefulStop:
    """Context manager: while active, SIGINT/SIGTERM end `blocks()` instead of the process."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._reading = False
        self._old: dict[int, object] = {}

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc) -> bool:
        for s, old in self._old.items():
            signal.signal(s, old)
        return False

    def _handler(self, signum: int, frame) -> None:
        self.signum = signum
        if self._reading:
            raise StopInput

    def blocks(self, source: Iterable[T]) -> Iterator[T]:
        """The blocks of `source` until it ends or a stop signal arrives."""
        it = iter(source)
        while self.signum is None:
            self._reading = True
            try:
                block = next(it)
            except (StopIteration, StopInput):
                return
            finally:
                self._reading = False
            yield block

    @property
    def exit_code(self) -> int | None:
        return None if self.signum is None else 128 + self.signum
