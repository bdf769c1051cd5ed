"""A fault-injecting TCP proxy on loopback: it sits between a connector and a fake platform server and, per
connection, adds latency, resets the connection, or hangs it for a while before closing.

Faults are drawn from a seeded random generator, so a failing run can be replayed. Every loop is bounded: a hung
connection is closed after `hang_seconds`, and `close()` stops the listener and every open connection.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType


@dataclass
class FaultRates:
    reset: float = 0.0  # close at once with a TCP reset
    hang: float = 0.0  # accept, read, never answer; close after hang_seconds
    latency: float = 0.0  # forward after latency_seconds
    hang_seconds: float = 1.0
    latency_seconds: float = 0.05


@dataclass
class FaultProxy:
    """`with FaultProxy(("127.0.0.1", port), FaultRates(reset=0.05)) as proxy: proxy.url` ..."""

    upstream: tuple[str, int]
    rates: FaultRates = field(default_factory=FaultRates)
    seed: int = 7
    counts: Counter[str] = field(default_factory=Counter)
    most_open: int = 0  # the most connections being forwarded at one time

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._sockets: list[socket.socket] = []
        self._open = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _draw(self) -> str:
        with self._lock:
            roll = self._random.random()
        rates = self.rates
        for fault, rate in (("reset", rates.reset), ("hang", rates.hang), ("latency", rates.latency)):
            if roll < rate:
                return fault
            roll -= rate
        return "pass"

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        fault = self._draw()
        with self._lock:
            self.counts[fault] += 1
        if fault == "reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        if fault == "hang":
            deadline = time.monotonic() + self.rates.hang_seconds
            while time.monotonic() < deadline and not self._stopping.is_set():
                time.sleep(0.05)
            client.close()
            return
        if fault == "latency":
            time.sleep(self.rates.latency_seconds)
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets.append(server)
            self._open += 1
            self.most_open = max(self.most_open, self._open)
        threading.Thread(target=_pump, args=(server, client), daemon=True).start()
        _pump(client, server)
        with self._lock:
            self._open -= 1


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy bytes one way until either side closes (each read waits at most 30 s)."""
    source.settimeout(30)
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
