"""What every command shares: one-line user errors and a clean shutdown on SIGTERM/SIGINT.

An expected user error (bad file, bad config value, missing weights, unwritable run directory) prints::

    error: <one line naming the file/key and what is wrong>
    (set HYDRA_FULL_ERROR=1 for the full traceback)

on stderr and exits with code 2; anything else keeps its traceback. ``HYDRA_FULL_ERROR=1`` shows the full
traceback for user errors too. SIGTERM is turned into ``KeyboardInterrupt`` like SIGINT, so ``finally``
blocks run (the vLLM engine and its worker processes are shut down, finished output stays on disk); code
that must not be interrupted mid-way holds the signal back with
:func:`deepprune.interrupts.deferred_interrupts`. A second signal kills as usual.

Hydra prints its own report for errors raised inside ``@hydra.main`` unless ``HYDRA_FULL_ERROR`` is set:
:func:`entry` sets it while Hydra runs so that every error reaches this module, and unsets it for the
task itself so that processes the task starts (Lightning DDP ranks rerun the script) see the user's value.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from deepprune.interrupts import install_signal_handlers

log = logging.getLogger(__name__)

FULL_ERROR = "HYDRA_FULL_ERROR"
HINT = f"(set {FULL_ERROR}=1 for the full traceback)"
USER_ERROR_EXIT = 2

# Exceptions that mean "the input or the configuration is wrong", not "the program is wrong".
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # includes TraceFormatError, json.JSONDecodeError, UnicodeDecodeError
    FileNotFoundError,
    FileExistsError,  # e.g. a run or output directory given as the path of an existing file
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    OmegaConfBaseException,  # MissingMandatoryValue, ConfigKeyError, InterpolationResolutionError, ...
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
)
# OSErrors of the user's environment rather than of the program.
_USER_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def is_user_error(err: BaseException) -> bool:
    if isinstance(err, USER_ERRORS):
        return True
    return isinstance(err, OSError) and err.errno in _USER_ERRNOS


def one_line(err: BaseException) -> str:
    """The error's message on one line (OSErrors as ``PATH: reason``, OmegaConf errors without their key dump)."""
    if isinstance(err, MissingConfigException):
        # Hydra's message continues with the option list and the config search path, one per line.
        first = str(err).splitlines()[0]
        return f"{first} (available: {', '.join(err.options)})" if err.options else first
    if isinstance(err, OverrideParseException):
        return f"override {err.override!r}: {' '.join(err.message.split())}"
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        target = f"{err.filename} -> {err.filename2}" if err.filename2 is not None else str(err.filename)
        return f"{target}: {err.strerror}"
    if isinstance(err, OmegaConfBaseException):
        # OmegaConf appends "    full_key: ...\n    object_type=..." lines; the first line says it all.
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text or type(err).__name__


def _full_error_requested(value: str | None) -> bool:
    return value == "1"  # Hydra's own reading of HYDRA_FULL_ERROR


class _State:
    """Per-process facts the handlers need: the user's HYDRA_FULL_ERROR and whether the task started."""

    user_full_error: str | None = None
    task_started = False


def exit_with_user_error(err: BaseException, prefix: str = "") -> NoReturn:
    print(f"error: {prefix}{one_line(err)}", file=sys.stderr)
    print(HINT, file=sys.stderr)
    sys.exit(USER_ERROR_EXIT)


def run_guarded(
    main: Callable[[], Any],
    *,
    full_trace: bool | None = None,
    task_started: Callable[[], bool] = lambda: True,
) -> Any:
    """Call ``main()``: user errors -> one line + exit 2, interrupts -> exit 128+signal, others -> traceback.

    ``full_trace``: re-raise user errors too (default: whether ``HYDRA_FULL_ERROR`` is set); ``task_started``
    tells whether an error can still come from Hydra preparing the run directory.
    """
    if full_trace is None:
        full_trace = _full_error_requested(os.environ.get(FULL_ERROR))
    install_signal_handlers()
    # A log record that cannot be written (disk full) must not print logging's own traceback beside the
    # one-line error the failing write of results gives.
    logging.raiseExceptions = False
    try:
        return main()
    except KeyboardInterrupt as err:
        name = str(err) or "SIGINT"
        print(f"interrupted ({name}): stopped cleanly; finished output is kept", file=sys.stderr)
        sys.exit(128 + getattr(signal, name, signal.SIGINT))
    except Exception as err:
        if full_trace or not is_user_error(err):
            raise
        # Before the task ran, an OSError comes from Hydra writing the run directory (mkdir, .hydra/, log).
        from_hydra_dir = not task_started() and isinstance(err, OSError) and err.errno is not None
        prefix = "cannot write the run directory: " if from_hydra_dir else ""
        exit_with_user_error(err, prefix)


# The Hydra configs: the repository's conf/, shipped inside the package as deepprune.conf (see pyproject.toml).
CONFIG_PATH = "pkg://deepprune.conf"


def entry(
    config_name: str, config_path: str = CONFIG_PATH
) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """``@hydra.main`` for the commands, with :func:`run_guarded`'s error and signal handling.

    Usage (``config_path`` as for ``hydra.main``; default: the package's configs)::

        @entry("prune")
        def main(cfg: DictConfig) -> None: ...

        if __name__ == "__main__":
            main()

    In a multirun (``-m``) a failing job is logged on one line as it fails, the other jobs still run, and
    the first failure ends the sweep with the same one-line report.
    """
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        @functools.wraps(task)  # Hydra names the job after the task's file, found through __wrapped__
        def job(cfg: DictConfig) -> Any:
            _State.task_started = True
            hydra_set = os.environ.pop(FULL_ERROR, None)
            if _State.user_full_error is not None:
                os.environ[FULL_ERROR] = _State.user_full_error
            try:
                return task(cfg)
            except Exception as err:
                if not is_user_error(err) or _full_error_requested(_State.user_full_error):
                    raise
                if HydraConfig.get().mode == RunMode.RUN:
                    # Exiting here skips Hydra's "Error executing job with overrides" line.
                    exit_with_user_error(err)
                # Multirun: report this job now, let Hydra run the others, re-raise its error at the end.
                log.error("job %s failed: %s", HydraConfig.get().job.num, one_line(err))
                raise
            finally:
                if hydra_set is not None:
                    os.environ[FULL_ERROR] = hydra_set

        hydra_main = hydra.main(config_path=config_path, config_name=config_name, version_base="1.3")(job)

        @functools.wraps(task)
        def main() -> Any:
            _State.user_full_error = os.environ.get(FULL_ERROR)
            # Hydra re-raises instead of printing its report: run_guarded decides what the user sees.
            os.environ[FULL_ERROR] = "1"
            try:
                return run_guarded(
                    hydra_main,
                    full_trace=_full_error_requested(_State.user_full_error),
                    task_started=lambda: _State.task_started,
                )
            finally:
                _restore_full_error()

        return main

    return decorate


def _restore_full_error() -> None:
    if _State.user_full_error is None:
        os.environ.pop(FULL_ERROR, None)
    else:
        os.environ[FULL_ERROR] = _State.user_full_error


def run_tool(main: Callable[[], Any]) -> Any:
    """A ``--flags`` tool's ``main`` with warnings on stderr and :func:`run_guarded`'s error handling."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    return run_guarded(main)
