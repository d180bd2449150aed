"""Active health checks of UDP pool members, run by the agent (nginx has passive ones only).

UDP-CONNECT, as upstream's amphora health checker does it: send one datagram to the member
on a connected socket and wait `timeout` seconds. An ICMP port-unreachable (the socket
reports ECONNREFUSED) means down; a reply, or silence, means up. TCP: a connection to the
member's port within `timeout`. HTTP: that request answered with one of the expected status
codes within `timeout`. Every member of a round is probed at once, so a round takes at most
one `timeout`.

`MemberHealth` turns probe results into UP/DOWN with the monitor's rise and fall counts;
a member starts UP, as haproxy's servers do.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import http.client
import os
import selectors
import socket
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from ostia.amphora.udp_config import HttpRequest

PROBE_PAYLOAD = b"\x00ostia-udp-connect-check\n"
CLONE_NEWNET = 0x40000000
Target = tuple[str, int]


def probe(
    kind: str, targets: Iterable[Target], timeout: float, http: HttpRequest | None = None
) -> dict[Target, bool]:
    """{target: reachable} for one round of `kind` checks (UDP-CONNECT, HTTP with `http`,
    else TCP)."""
    wanted = list(dict.fromkeys(targets))
    if kind == "UDP-CONNECT":
        return _probe_udp(wanted, timeout)
    if http is not None:
        return _probe_http(wanted, timeout, http)
    return _probe_tcp(wanted, timeout)


def _probe_http(targets: list[Target], timeout: float, request: HttpRequest) -> dict[Target, bool]:
    def one(target: Target) -> bool:
        host = f"[{target[0]}]" if ":" in target[0] else target[0]
        connection = http.client.HTTPConnection(target[0], target[1], timeout=timeout)
        try:
            connection.request(
                request.method,
                request.path,
                headers={"Host": request.host or f"{host}:{target[1]}", "Connection": "close"},
            )
            return connection.getresponse().status in request.codes
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    if not targets:
        return {}
    # Network namespaces are per thread: the helper threads join the caller's.
    namespace = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        with ThreadPoolExecutor(
            max_workers=min(len(targets), 16), initializer=_join_namespace, initargs=(namespace,)
        ) as pool:
            return dict(zip(targets, pool.map(one, targets), strict=True))
    finally:
        os.close(namespace)


def _join_namespace(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _probe_udp(targets: list[Target], timeout: float) -> dict[Target, bool]:
    result: dict[Target, bool] = {}
    selector = selectors.DefaultSelector()
    try:
        for target in targets:
            sock = socket.socket(_family(target[0]), socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.connect(target)
                sock.send(PROBE_PAYLOAD)
            except OSError:
                sock.close()
                result[target] = False  # refused at once, or no route to the member
                continue
            selector.register(sock, selectors.EVENT_READ, target)
        deadline = time.monotonic() + timeout
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in selector.select(remaining):
                sock = key.fileobj  # type: ignore[assignment]
                try:
                    sock.recv(2048)
                    up = True
                except OSError:
                    up = False  # ICMP port (or host) unreachable
                result[key.data] = up
                selector.unregister(sock)
                sock.close()
        for key in list(selector.get_map().values()):
            result[key.data] = True  # silence: nothing refused the datagram
            selector.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
    finally:
        selector.close()
    return result


def _probe_tcp(targets: list[Target], timeout: float) -> dict[Target, bool]:
    result: dict[Target, bool] = {}
    selector = selectors.DefaultSelector()
    try:
        for target in targets:
            sock = socket.socket(_family(target[0]), socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex(target)
            if code not in (0, errno.EINPROGRESS):
                sock.close()
                result[target] = False
                continue
            selector.register(sock, selectors.EVENT_WRITE, target)
        deadline = time.monotonic() + timeout
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in selector.select(remaining):
                sock = key.fileobj  # type: ignore[assignment]
                result[key.data] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                selector.unregister(sock)
                sock.close()
        for key in list(selector.get_map().values()):
            result[key.data] = False  # no connection within the timeout
            selector.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
    finally:
        selector.close()
    return result


@dataclasses.dataclass
class MemberHealth:
    """One member's state under a monitor's rise/fall counts."""

    up: bool = True
    streak: int = 0  # consecutive results that disagree with `up`

    def record(self, reachable: bool, rise: int, fall: int) -> bool:
        """Count one probe result; True if the member's state changed."""
        if reachable == self.up:
            self.streak = 0
            return False
        self.streak += 1
        if self.streak >= (rise if reachable else fall):
            self.up = reachable
            self.streak = 0
            return True
        return False
