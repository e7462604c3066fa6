#!/usr/bin/env python3
"""A stranger at a handler's TCP port: reads what the handler sends first,
sends it a CALL as the daemon would, and prints what came of it. A handler
given a secret (handler protocol v2) prints "challenge then closed": its
CHALLENGE, then nothing (no READY, no REPLY) until it closes the link.

    hproto_stranger.py HOST:PORT
"""
import socket
import sys

# CHALLENGE [3, 2, nonce: bin 32]: 93 03 02 c4 20, then the 32 bytes.
CHALLENGE_HEAD = bytes([0x93, 3, 2, 0xC4, 32])
# CALL [1, 7, "POST", {"X-Foo": "bar"}, b"hi"] (docs/handler-protocol.md).
CALL = bytes.fromhex("950107a4504f535481a5582d466f6fa3626172c4026869")


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    got = b""
    while len(got) < 37:
        b = s.recv(64)
        if not b:
            break
        got += b
    ok = got[:5] == CHALLENGE_HEAD and len(got) == 37
    first = "challenge" if ok else "no challenge: " + got.hex()
    s.sendall(CALL)
    s.settimeout(15)
    more = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            more += b
    except socket.timeout:
        print(first, "then still open after 15 s")
        return
    print(first, "then closed" if not more else "then " + more.hex())


main()
