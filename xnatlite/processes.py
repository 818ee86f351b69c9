"""Processes that belong together: a child that ends with its parent, and a name only one process on
this host may hold at a time.

`end_with_parent` asks the kernel (Linux `prctl(PR_SET_PDEATHSIG)`) to signal this process the
moment its parent dies, even by SIGKILL, so no receiver or spool worker outlives the process that
started it (a child that polled for its parent was still serving 10 s after the parent's SIGKILL on
a loaded machine). Python has no binding for prctl and the `python-prctl` package is unmaintained
and needs libcap's headers to build: two lines of ctypes instead.

`hold_name` binds an abstract Unix socket (Linux: a name in the network namespace, not a file): the
kernel releases it when its holder dies, whatever the death, so a name held means a live holder.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket

_PR_SET_PDEATHSIG = 1


def end_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Have the kernel send `sig` to this process when the process `parent_pid` that started it dies;
    if it already has, send it now."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the parent died before the request was made
        os.kill(os.getpid(), sig)


def hold_name(name: str) -> socket.socket | None:
    """Hold `name` on this host for as long as the returned socket is open (close it to let go); None
    when another live process holds it."""
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        holder.bind("\0xnatlite:" + name)
    except OSError:
        holder.close()
        return None
    return holder
