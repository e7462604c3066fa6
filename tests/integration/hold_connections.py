#!/usr/bin/env python3
"""Holds TCP connections open with half-sent HTTP requests, for the hostile
client tests.

    hold_connections.py PORT COUNT SECONDS

Opens COUNT connections to 127.0.0.1:PORT (raising this process's open-file
limit as far as it may), sends each the start of a request whose headers
never end, prints "held N" (N: those the server accepted and has not closed)
once they are open, then holds them SECONDS or until stdin closes, and
prints "closed by the server: M" for those the server closed meanwhile.
"""
import resource
import select
import socket
import sys
import time

HOST = "127.0.0.1"
PARTIAL = b"GET /echo HTTP/1.1\r\nHost: tinyfaas\r\nX-Slow: "


def answered(socks):
    """How many of socks the server closed or wrote to (its headers never
    ended, so anything it sent is a refusal)."""
    p = select.poll()
    for s in socks:
        p.register(s, select.POLLIN)
    return len(p.poll(0))


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    port, count, seconds = int(argv[1]), int(argv[2]), float(argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect((HOST, port))
            s.sendall(PARTIAL)
        except OSError:
            s.close()
            continue
        socks.append(s)
    time.sleep(0.5)  # what the server refuses at once, it has closed by now
    print("held %d" % (len(socks) - answered(socks)), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([sys.stdin], [], [], min(0.5, max(0, end - time.monotonic())))
        if r and not sys.stdin.read(1):
            break
    print("closed by the server: %d" % answered(socks), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
