"""Signals. Any command ends on SIGTERM or SIGHUP as on Ctrl-C: the exception unwinds, so a
half-written output is removed, and the exit status is 128 + the signal number
(`terminate_on_signals`).

Ending a live stream cleanly: on SIGINT, SIGTERM or SIGHUP, `compress --stream` stops reading, codes
the audio it already holds as the final chunk and closes the stream, so the file decodes
completely; the command then exits with 128 + the signal number (130 for Ctrl-C). An error
from the input itself (a raw stream ending in a partial sample frame, a file that fails
mid-read) ends the stream the same way: the audio before it is coded and the stream closed,
and the command then reports the error (`GracefulStop.error`).

The handler interrupts only a blocking read of the input. Arriving while a chunk is being
coded or written, it just sets a flag that is looked at before the next read, so no record
is ever cut in half. Arriving before the blocks are first asked for (the input's first bytes,
which say what it is, not yet there), it ends the command as without a stream.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

def _named(*names: str) -> tuple[int, ...]:
    """The signals of these names this platform has."""
    return tuple(getattr(signal, n) for n in names if hasattr(signal, n))


SIGNALS = _named("SIGINT", "SIGTERM", "SIGHUP")


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (a BaseException, like KeyboardInterrupt: nothing catches it
    by accident)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame) -> None:
    raise Terminated(signum)


_stop_event = None  # in a --jobs worker: set when the parent stops
_busy = False  # in a --jobs worker: coding a file


def worker_started(stop) -> None:
    """A --jobs worker: SIGTERM, SIGHUP and SIGINT unwind the file being coded (its temporary
    output is removed) and end the worker; an idle worker just exits."""
    global _stop_event
    _stop_event = stop
    for s in SIGNALS:
        signal.signal(s, _worker_signal)


def _worker_signal(signum: int, frame) -> None:
    if _busy:
        raise Terminated(signum)
    os._exit(128 + signum)


def in_worker(fn, *args):
    """fn(*args) in a --jobs worker, unless the parent has stopped."""
    global _busy
    if _stop_event is not None and _stop_event.is_set():
        raise Terminated(signal.SIGTERM)
    _busy = True
    try:
        return fn(*args)
    finally:
        _busy = False
        if _stop_event is not None and _stop_event.is_set():
            os._exit(128 + signal.SIGTERM)


def terminate_on_signals() -> None:
    """SIGTERM and SIGHUP raise Terminated in the main thread (Python's default would kill
    the process at once, leaving a temporary output file behind)."""
    for s in _named("SIGTERM", "SIGHUP"):
        if signal.getsignal(s) == signal.SIG_DFL:
            signal.signal(s, _terminate)


class StopInput(Exception):
    """Raised inside a blocking read when a stop signal arrives."""


class GracefulStop:
    """Context manager: while active, SIGINT/SIGTERM end `blocks()` instead of the process.
    An input error ends `blocks()` too, and waits in `error` for the caller to report."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.error: Exception | None = None  # a VQCodecError the input raised
        self._reading = False
        self._started = False  # blocks() has begun: from then on a signal ends the stream
        self._old: dict[int, object] = {}

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                if signal.getsignal(s) != signal.SIG_IGN:  # nohup's SIGHUP stays ignored
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
        if not self._started:  # still waiting for the input's first bytes: nothing to close
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)

    def blocks(self, source: Iterable[T]) -> Iterator[T]:
        """The blocks of `source` until it ends, a stop signal arrives, or it fails with a
        user's error (kept in `error`)."""
        from vqcodec.errors import VQCodecError

        self._started = True
        it = iter(source)
        while self.signum is None:
            self._reading = True
            try:
                block = next(it)
            except (StopIteration, StopInput):
                return
            except VQCodecError as exc:
                self.error = exc
                return
            finally:
                self._reading = False
            yield block

    def take_error(self) -> Exception | None:
        """The input error that ended the last `blocks()`, once (then None)."""
        error, self.error = self.error, None
        return error

    @property
    def exit_code(self) -> int | None:
        return None if self.signum is None else 128 + self.signum


class StopBetweenSteps:
    """Context manager for training: the first SIGINT, SIGTERM or SIGHUP asks the run to stop
    after the step it is in and save a checkpoint (`__call__` says whether one came), so a
    Ctrl-C loses no work; the old handlers are back at once, so a second signal stops at once
    as without it. `signum` is the first signal."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> "StopBetweenSteps":
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}

    def _handle(self, signum: int, frame) -> None:
        self.signum = signum
        self._restore()
        try:  # a hung-up terminal (SIGHUP) may refuse it; the run must stop cleanly anyway
            os.write(2, b"\nvqcodec: stopping after this step, with a checkpoint "
                        b"(again to stop at once)\n")
        except OSError:
            pass

    def __call__(self) -> bool:
        return self.signum is not None
