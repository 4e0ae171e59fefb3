"""Free TCP ports on 127.0.0.1 for test services, safe for parallel test runs.

Ports come from a fixed band below the kernel's ephemeral range, so outgoing
connections never take them between "found free" and "bound". SeaweedFS also
listens on port+10000 for gRPC, so callers can ask for such shadow offsets to
be free as well. Each handed-out port is reserved across processes with an
flock on a file in a shared lock directory until `release_ports` (or process
exit), so two concurrent runs never pick the same port, and a service can be
restarted on its ports without another run taking them meanwhile.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

PORT_BAND = (15000, 22000)  # with +10000 shadows: 25000-32000, below the ephemeral 32768
SEAWEEDFS_GRPC_OFFSET = 10000
_LOCK_DIR = Path(tempfile.gettempdir()) / "quill-test-ports"
_held: dict[int, IO[bytes]] = {}


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _try_reserve(port: int) -> bool:
    if port in _held:
        return False
    _LOCK_DIR.mkdir(mode=0o1777, parents=True, exist_ok=True)
    handle = (_LOCK_DIR / f"{port}.lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _held[port] = handle
    return True


def _release(port: int) -> None:
    handle = _held.pop(port, None)
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def free_ports(count: int, *, offsets: Sequence[int] = (0,), attempts: int = 2000) -> list[int]:
    """Reserve `count` distinct ports p such that p+offset is bindable and reserved for every offset.

    Returns the base ports. All of base+offset are held until `release_ports(base_ports)`.
    """
    low, high = PORT_BAND
    rng = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "little"))
    chosen: list[int] = []
    for _ in range(attempts):
        if len(chosen) == count:
            return chosen
        base = rng.randrange(low, high)
        wanted = [base + offset for offset in offsets]
        if any(port in _held for port in wanted):
            continue
        reserved: list[int] = []
        for port in wanted:
            if not _try_reserve(port):
                break
            reserved.append(port)
            if not _can_bind(port):
                break
        else:
            chosen.append(base)
            continue
        for port in reserved:
            _release(port)
    if len(chosen) == count:
        return chosen
    release_ports(chosen, offsets=offsets)
    raise RuntimeError(f"no {count} free ports with offsets {list(offsets)} in {low}-{high} on 127.0.0.1")


def free_port() -> int:
    """One reserved free port on 127.0.0.1."""
    return free_ports(1)[0]


def release_ports(ports: Iterable[int], *, offsets: Sequence[int] = (0,)) -> None:
    """Give back ports reserved by `free_ports` (same offsets)."""
    for base in ports:
        for offset in offsets:
            _release(base + offset)
