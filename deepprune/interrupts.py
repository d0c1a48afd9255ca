"""Process-wide interrupt handling: SIGTERM and SIGINT become ``KeyboardInterrupt`` so ``finally`` blocks run.

Every entry point installs the handlers (:func:`deepprune.commands.entry.run_guarded`); the vLLM engine holds
them back around its engine step (:func:`deferred_interrupts`). A second signal kills as usual.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class _Signals:
    """Interrupt bookkeeping: how deep inside :func:`deferred_interrupts` we are, and a signal held back."""

    deferring = 0
    pending: str | None = None


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # One clean shutdown per process: a second SIGTERM/SIGINT gets the default behaviour (kill).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    name = signal.Signals(signum).name
    if _Signals.deferring:
        _Signals.pending = name
        return
    raise KeyboardInterrupt(name)


def install_signal_handlers() -> None:
    """SIGTERM (and SIGINT) raise ``KeyboardInterrupt`` in the main thread, so ``finally`` blocks run."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def raise_if_interrupted() -> None:
    """Raise the ``KeyboardInterrupt`` of a signal held back by :func:`deferred_interrupts`, if any."""
    if _Signals.pending is not None:
        name, _Signals.pending = _Signals.pending, None
        raise KeyboardInterrupt(name)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGTERM/SIGINT back inside the block; they are raised by :func:`raise_if_interrupted` or on exit.

    For code that must not be interrupted at an arbitrary bytecode: vLLM's engine step holds queue locks
    that an exception raised inside it leaves taken, after which its own cleanup deadlocks.
    """
    _Signals.deferring += 1
    try:
        yield
    finally:
        _Signals.deferring -= 1
    if not _Signals.deferring:
        raise_if_interrupted()
