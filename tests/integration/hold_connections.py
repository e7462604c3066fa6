#!/usr/bin/env python3
"""Holds TCP connections open with half-sent HTTP requests, for the hostile
client tests.

    hold_connections.py PORT COUNT SECONDS [SOURCES [TRICKLE]]

Opens COUNT connections to 127.0.0.1:PORT from SOURCES loopback addresses in
turn (127.0.0.1, 127.0.0.2, ...; default 1), raising this process's
open-file limit as far as it may, and sends each the start of a request
whose headers never end. Prints "held N" (N: those the server neither
closed nor answered once that number has stood still for a second, however
slowly a busy server gets through them), then holds them SECONDS or until
stdin closes; with TRICKLE=1 it sends each one more header byte every
second, which must not count as progress. Then prints "closed by the
server: all", or "closed by the server: M of K".
"""
import resource
import select
import socket
import sys
import time

PARTIAL = b"GET /echo HTTP/1.1\r\nHost: tinyfaas\r\nX-Slow: "


def answered(socks):
    """How many of socks the server closed or wrote to (their headers never
    ended, so anything it sent is a refusal)."""
    p = select.poll()
    for s in socks:
        p.register(s, select.POLLIN)
    return len(p.poll(0))


def settled_answers(socks):
    """answered(socks) once it has not changed for a second (at most 30 s)."""
    last, end = -1, time.monotonic() + 30
    while time.monotonic() < end:
        now = answered(socks)
        if now == last:
            return now
        last = now
        time.sleep(1)
    return last


def connect(port, source):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(PARTIAL)
    except OSError:
        s.close()
        return None
    return s


def trickle(socks):
    for s in socks:
        try:
            s.send(b"x", socket.MSG_DONTWAIT)
        except OSError:
            pass  # closed by the server: counted at the end


def main(argv):
    if not 4 <= len(argv) <= 6:
        sys.stderr.write(__doc__)
        return 2
    port, count, seconds = int(argv[1]), int(argv[2]), float(argv[3])
    sources = int(argv[4]) if len(argv) > 4 else 1
    trickling = len(argv) > 5 and argv[5] == "1"
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = [connect(port, "127.0.0.%d" % (1 + i % sources)) for i in range(count)]
    socks = [s for s in socks if s is not None]
    print("held %d" % (len(socks) - settled_answers(socks)), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([sys.stdin], [], [], min(1.0, max(0, end - time.monotonic())))
        if r and not sys.stdin.read(1):
            break
        if trickling:
            trickle(socks)
    closed = answered(socks)
    print("closed by the server: %s" % ("all" if closed == len(socks) else
                                        "%d of %d" % (closed, len(socks))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
