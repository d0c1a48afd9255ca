"""Keep vLLM's engine processes from outliving, or cluttering the shutdown of, the script that started them.

With ``VLLM_ENABLE_V1_MULTIPROCESSING=1`` vLLM starts an ``EngineCore`` process, which starts ``VLLM::Worker``
processes. Two problems, both fixed in the EngineCore at start-up (:func:`guard_engine_processes` routes vLLM's
entry point through :func:`_run_engine_core`; a watchdog in the parent cannot help, ``kill -9`` stops it too):

* After ``kill -9`` of the script the EngineCore re-parents to PID 1 and keeps its memory (GBs) forever. It now
  asks the kernel to be killed with its parent (``PR_SET_PDEATHSIG``); its Workers follow through vLLM's own
  death pipe, and the multiprocessing resource tracker exits once nobody holds its pipe any more.
* Ctrl-C sends SIGINT to the terminal's foreground process group: the Worker and EngineCore then stopped on
  their own, and the script printed their tracebacks and an ``EngineDeadError`` instead of its one "interrupted"
  line. The EngineCore now starts its own process group (its Workers join it), which Ctrl-C does not reach; the
  script shuts them down with SIGTERM anyway. (Blocking SIGINT there is not enough: threads that exist before
  the entry point runs keep it unblocked, and Python runs the handler whichever thread took the signal.)
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_original: Callable[..., Any] | None = None  # vLLM's EngineCoreProc.run_engine_core, once patched


def guard_engine_processes() -> None:
    """Make every EngineCore that vLLM starts from now on run :func:`_run_engine_core` first (idempotent)."""
    global _original
    from vllm.v1.engine.core import EngineCoreProc

    if _original is None:
        _original = EngineCoreProc.run_engine_core
        # vLLM passes ``EngineCoreProc.run_engine_core`` as the Process target: a spawned child unpickles it as
        # this module's function (by name), a forked child inherits the patched class.
        EngineCoreProc.run_engine_core = staticmethod(_run_engine_core)


def _run_engine_core(*args: Any, **kwargs: Any) -> Any:
    """The EngineCore's entry point (runs in the child): own process group, dies with its parent, then vLLM's."""
    with contextlib.suppress(OSError):  # (EPERM for a session leader: not how multiprocessing starts one)
        os.setpgid(0, 0)  # out of the terminal's foreground group: Ctrl-C reaches only the script
    die_with_parent()
    from vllm.v1.engine.core import EngineCoreProc

    # Spawned: this module was imported afresh and the class holds vLLM's function; forked: the saved original.
    return (_original or EngineCoreProc.run_engine_core)(*args, **kwargs)


def die_with_parent() -> None:
    """Exit this process when its parent process dies, even by SIGKILL.

    Linux: the kernel sends SIGKILL (``PR_SET_PDEATHSIG``). It fires when the *thread* that started this process
    ends, so the engine must be built in a thread that lives as long as the script (the main thread here).
    Elsewhere a daemon thread polls for re-parenting.
    """
    parent = multiprocessing.parent_process()
    parent_pid = parent.pid if parent is not None and parent.pid is not None else os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d): may outlive its parent", ctypes.get_errno())
    else:
        threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True, name="die-with-parent").start()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)


def _exit_when_orphaned(parent_pid: int, interval_s: float = 1.0) -> None:
    while os.getppid() == parent_pid:
        time.sleep(interval_s)
    os._exit(1)
