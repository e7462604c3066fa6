#!/usr/bin/env python3
"""Raw CoAP datagrams for test_coap.sh, standard library only.

    coap_raw.py retrans PORT NAME PAYLOAD
        A CON POST to NAME, the same datagram (same message id and token)
        again 0.5 s later and again 2 s after that; everything received in
        6 s is collected, a separate CON response is ACKed. Prints key=value
        lines describing what came back.
    coap_raw.py twice PORT NAME PAYLOAD
        A CON POST sent twice with the same message id, the second after the
        first answer arrived (or 1 s). Prints key=value lines.
    coap_raw.py malformed PORT KIND
        Sends one malformed datagram of KIND (see MALFORMED) and prints what
        came back within 1 s: dropped, reset, 4.00, or "other ..." (hex).
    coap_raw.py flood PORT COUNT
        Sends COUNT malformed datagrams, the kinds in turn, from one socket
        as fast as it can (a pause of 1 ms every 100, so the socket buffer
        keeps them), and prints how many went out.
    coap_raw.py large PORT NAME COUNT
        COUNT NON POSTs to NAME, each from a socket of its own and waited
        for (10 s at most), then the first sent again unchanged from its
        socket. Prints how many
        answers came with each code, and the repeat's code and payload.
    coap_raw.py first-blocks PORT NAME COUNT SOCKETS SIZE1
        COUNT first blocks of block-wise POSTs to NAME (1024 bytes, more to
        come), each with a Request-Tag of its own and a Size1 of SIZE1 (none
        when 0), from SOCKETS sockets in turn, 50 at a time, each 50 waited
        for (10 s at most). Prints how many answers came with each code
        (0.5 s after the last) and the Size1 of the first 4.13.
    coap_raw.py amplify PORT NAME SOURCE
        A NON POST without payload to NAME from the loopback address SOURCE,
        and what comes back within 3 s: the request's size, how many
        datagrams, the largest, the first one's code and whether it carries
        an Echo option.
    coap_raw.py challenge PORT NAME SOURCE
        A NON POST with neither token nor payload to NAME from SOURCE, and,
        when its answer carries an Echo value, the same again with it under
        a new message id. Prints both answers' codes and sizes.
    coap_raw.py unacked PORT NAME SOURCE SECONDS
        A CON POST without payload to NAME from SOURCE whose answers are
        never acknowledged; prints what came back within SECONDS: how many
        datagrams, how many separate (CON) answers, the largest.
    coap_raw.py kinds
        Lists the malformed kinds.

Only 127.0.0.1 is ever addressed (amplify sends from another loopback
address).
"""
import os
import random
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
CON, NON, ACK, RST = 0, 1, 2, 3
TYPE_NAMES = {CON: "CON", NON: "NON", ACK: "ACK", RST: "RST"}
POST = 0x02
URI_PATH = 11


def code_str(code):
    return "%d.%02d" % (code >> 5, code & 0x1F)


def option(delta, value):
    """One option with a delta and length below 13 (all this file needs)."""
    assert delta < 13 and len(value) < 13
    return bytes([(delta << 4) | len(value)]) + value


def option_any(delta, value):
    """One option with any delta (RFC 7252 3.1's extended forms), length below 13."""
    assert len(value) < 13
    if delta < 13:
        return option(delta, value)
    if delta < 269:
        return bytes([(13 << 4) | len(value), delta - 13]) + value
    return bytes([(14 << 4) | len(value)]) + struct.pack("!H", delta - 269) + value


def header(ver, mtype, tkl, code, mid):
    return struct.pack("!BBH", (ver << 6) | (mtype << 4) | tkl, code, mid)


def request(name, payload, mid, token, mtype=CON):
    msg = header(1, mtype, len(token), POST, mid) + token + option(URI_PATH, name.encode())
    if payload:
        msg += b"\xff" + payload
    return msg


def parse(data):
    """A received datagram as a dict; 'error' set when it is not valid CoAP."""
    m = {"raw": data}
    if len(data) < 4:
        m["error"] = "short"
        return m
    b0, code, mid = struct.unpack("!BBH", data[:4])
    m.update(ver=b0 >> 6, type=(b0 >> 4) & 3, tkl=b0 & 15, code=code, mid=mid)
    if m["tkl"] > 8 or len(data) < 4 + m["tkl"]:
        m["error"] = "token"
        return m
    m["token"] = data[4:4 + m["tkl"]]
    i = 4 + m["tkl"]
    num = 0
    opts = []
    payload = b""
    while i < len(data):
        b = data[i]
        i += 1
        if b == 0xFF:
            payload = data[i:]
            if not payload:
                m["error"] = "empty payload after marker"
            break
        delta, length = b >> 4, b & 15
        ext = {13: (1, 13), 14: (2, 269)}
        if delta == 15 or length == 15:
            m["error"] = "option nibble 15"
            return m
        if delta in ext:
            n, base = ext[delta]
            delta = int.from_bytes(data[i:i + n], "big") + base
            i += n
        if length in ext:
            n, base = ext[length]
            length = int.from_bytes(data[i:i + n], "big") + base
            i += n
        num += delta
        opts.append((num, data[i:i + length]))
        i += length
    m["options"] = opts
    m["payload"] = payload
    return m


def describe(m):
    if "error" in m:
        return "unparsable(%s) %s" % (m["error"], m["raw"].hex())
    return "%s %s mid=%04x token=%s options=%s payload=%r" % (
        TYPE_NAMES[m["type"]], code_str(m["code"]), m["mid"], m["token"].hex(),
        [(n, v.hex()) for n, v in m["options"]], m["payload"])


def new_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    return s


def receive_until(s, deadline, on_message=None):
    """Everything received until deadline (monotonic), as (time, parsed)."""
    got = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        s.settimeout(left)
        try:
            data, _ = s.recvfrom(65536)
        except socket.timeout:
            return got
        m = parse(data)
        got.append((time.monotonic(), m))
        if on_message:
            on_message(m)


def empty_ack(mid):
    return header(1, ACK, 0, 0, mid)


def cmd_retrans(port, name, payload):
    s = new_socket()
    dst = (HOST, port)
    mid = random.randrange(0x10000)
    token = os.urandom(4)
    req = request(name, payload, mid, token)
    acked = {}  # mid of a separate response -> when we ACKed it
    retransmits_after_ack = [0]

    def on_message(m):
        if "error" in m or m["type"] != CON:
            return
        if m["mid"] in acked:
            retransmits_after_ack[0] += 1
        acked.setdefault(m["mid"], time.monotonic())
        s.sendto(empty_ack(m["mid"]), dst)  # also for a retransmission

    start = time.monotonic()
    got = []
    sends = [0.0, 0.5, 2.5]
    for k, at in enumerate(sends):
        got += receive_until(s, start + at, on_message)
        s.sendto(req, dst)
    got += receive_until(s, start + 6.0, on_message)

    for t, m in got:
        print("# +%.2fs %s" % (t - start, describe(m)))
    ok = [m for _, m in got if "error" not in m]
    acks = [m for m in ok if m["type"] == ACK]
    empty_acks = [m for m in acks if m["code"] == 0 and not m["token"] and not m["payload"]]
    cons = [m for m in ok if m["type"] == CON]
    con_mids = sorted({m["mid"] for m in cons})
    print("unparsable=%d" % (len(got) - len(ok)))
    print("resets=%d" % sum(1 for m in ok if m["type"] == RST))
    print("nons=%d" % sum(1 for m in ok if m["type"] == NON))
    print("empty_acks=%d" % len(empty_acks))
    print("empty_acks_mid_match=%s" % all(m["mid"] == mid for m in empty_acks))
    print("other_acks=%d" % (len(acks) - len(empty_acks)))
    print("separate_responses=%d" % len(con_mids))
    # Retransmissions of the separate response must be identical to it.
    print("separate_consistent=%s" % (len({m["raw"] for m in cons}) <= 1))
    if cons:
        c = cons[0]
        first_con = min(t for t, m in got if "error" not in m and m["type"] == CON)
        first_ack = min([t for t, m in got if m in empty_acks] or [float("inf")])
        print("ack_before_response=%s" % (first_ack < first_con))
        print("response_code=%s" % code_str(c["code"]))
        print("response_token_match=%s" % (c["token"] == token))
        print("response_payload=%s" % c["payload"].decode("latin-1"))
    print("retransmits_after_our_ack=%d" % retransmits_after_ack[0])


def cmd_twice(port, name, payload):
    s = new_socket()
    dst = (HOST, port)
    mid = random.randrange(0x10000)
    token = os.urandom(4)
    req = request(name, payload, mid, token)
    start = time.monotonic()
    got = []
    for _ in range(2):
        s.sendto(req, dst)
        t0 = time.monotonic()
        first = receive_until(s, t0 + 1.0)
        got += first
    got += receive_until(s, time.monotonic() + 1.0)
    for t, m in got:
        print("# +%.2fs %s" % (t - start, describe(m)))
    ok = [m for _, m in got if "error" not in m]
    acks = [m for m in ok if m["type"] == ACK and m["mid"] == mid]
    print("datagrams=%d" % len(got))
    print("acks=%d" % len(acks))
    print("acks_identical=%s" % (len({m["raw"] for m in acks}) == 1))
    if acks:
        a = acks[0]
        print("ack_code=%s" % code_str(a["code"]))
        print("ack_token_match=%s" % (a["token"] == token))
        print("ack_payload=%s" % a["payload"].decode("latin-1"))


def malformed_kinds():
    tok = b"\x5a"
    path = option(URI_PATH, b"echo")
    valid_tail = tok + path + b"\xffpayload"
    kinds = {
        "truncated-1": b"\x41",
        "truncated-2": b"\x41\x02",
        "truncated-3": b"\x41\x02\x12",
    }
    for ver in (0, 2, 3):
        kinds["version-%d" % ver] = header(ver, CON, 1, POST, 0x1234) + valid_tail
    for tkl in range(9, 16):
        kinds["token-length-%d" % tkl] = (header(1, CON, tkl, POST, 0x2000 + tkl) +
                                          bytes(range(1, tkl + 1)) + path + b"\xffpayload")
    # Option delta nibble 15 that is not the payload marker 0xFF.
    kinds["option-delta-15"] = header(1, CON, 1, POST, 0x3001) + tok + path + b"\xf1x"
    kinds["option-delta-15-first"] = header(1, CON, 1, POST, 0x3002) + tok + b"\xf4echo"
    # Option length nibble 15 (reserved).
    kinds["option-length-15"] = header(1, CON, 1, POST, 0x3003) + tok + b"\xbfecho"
    kinds["option-length-15-after"] = (header(1, CON, 1, POST, 0x3004) + tok + path +
                                       b"\x0f" + b"y" * 20)
    # Payload marker with nothing after it.
    kinds["payload-marker-no-payload"] = header(1, CON, 1, POST, 0x3005) + tok + path + b"\xff"
    return kinds


def cmd_malformed(port, kind):
    data = malformed_kinds()[kind]
    s = new_socket()
    start = time.monotonic()
    s.sendto(data, (HOST, port))
    got = receive_until(s, start + 1.0)
    print("# sent %s" % data.hex())
    for t, m in got:
        print("# +%.2fs %s" % (t - start, describe(m)))
    if not got:
        print("dropped")
        return
    m = got[0][1]
    if len(got) == 1 and "error" not in m and m["type"] == RST and m["code"] == 0:
        if len(data) >= 4 and m["mid"] != struct.unpack("!H", data[2:4])[0]:
            print("# note: the Reset's message id %04x is not the datagram's %04x" %
                  (m["mid"], struct.unpack("!H", data[2:4])[0]))
        print("reset")
    elif len(got) == 1 and "error" not in m and code_str(m["code"]) == "4.00":
        print("4.00")
    else:
        print("other " + " ".join(m["raw"].hex() for _, m in got))


def cmd_flood(port, count):
    kinds = list(malformed_kinds().values())
    s = new_socket()
    sent = 0
    for i in range(count):
        sent += s.sendto(kinds[i % len(kinds)], (HOST, port)) > 0
        if i % 100 == 99:
            time.sleep(0.001)
    print(sent)


def receive_one(s, timeout):
    """The next datagram within timeout seconds, parsed, or None."""
    s.settimeout(timeout)
    try:
        data, _ = s.recvfrom(65536)
    except socket.timeout:
        return None
    m = parse(data)
    return None if "error" in m else m


def cmd_large(port, name, count):
    dst = (HOST, port)
    codes = {}
    first = first_socket = None
    for i in range(count):
        s = new_socket()
        req = (header(1, NON, 4, POST, (0x4000 + i) & 0xFFFF) + struct.pack("!I", i) +
               option(URI_PATH, name.encode()) + option(15 - URI_PATH, b"i=%d" % i))
        s.sendto(req, dst)
        m = receive_one(s, 10.0)
        code = code_str(m["code"]) if m else "none"
        codes[code] = codes.get(code, 0) + 1
        if first is None:
            first, first_socket = req, s
        else:
            s.close()
    for code in sorted(codes):
        print("answers_%s=%d" % (code, codes[code]))
    first_socket.sendto(first, dst)
    m = receive_one(first_socket, 2.0)
    print("repeat_code=%s" % (code_str(m["code"]) if m else "none"))
    print("repeat_payload=%s" % (m["payload"].decode("latin-1") if m else ""))


def cmd_first_blocks(port, name, count, sockets, size1):
    """First Block1 blocks (1024 bytes, more to come), each with a Request-Tag
    of its own and Size1 (when not 0), from `sockets` sockets in turn; prints
    how many answers came with each code and the Size1 of the first 4.13."""
    dst = (HOST, port)
    socks = [new_socket() for _ in range(sockets)]
    for s in socks:
        s.setblocking(False)
    codes, size1_seen = {}, None

    def drain():
        nonlocal size1_seen
        for s in socks:
            while True:
                try:
                    data, _ = s.recvfrom(65536)
                except BlockingIOError:
                    break
                m = parse(data)
                code = "error" if "error" in m else code_str(m["code"])
                codes[code] = codes.get(code, 0) + 1
                if code == "4.13" and size1_seen is None:
                    size1_seen = [int.from_bytes(v, "big") for n, v in m["options"] if n == 60]

    def wait_answers(n):
        # At most 50 unanswered at once: the daemon's socket buffer never
        # drops one, however slow a busy machine makes it.
        end = time.monotonic() + 10.0
        while sum(codes.values()) < n and time.monotonic() < end:
            time.sleep(0.001)
            drain()

    for i in range(count):
        opts = (option(URI_PATH, name.encode()) + option_any(27 - URI_PATH, b"\x0e") +
                (option_any(60 - 27, struct.pack("!I", size1)) if size1 else b"") +
                option_any(292 - (60 if size1 else 27), struct.pack("!I", i)))
        req = header(1, CON, 4, POST, i & 0xFFFF) + struct.pack("!I", i) + opts + b"\xff" + b"b" * 1024
        socks[i % sockets].sendto(req, dst)
        if i % 50 == 49 or i == count - 1:
            wait_answers(i + 1)

    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        time.sleep(0.05)
        drain()
    for code in sorted(codes):
        print("answers_%s=%d" % (code, codes[code]))
    print("size1=%s" % (",".join(str(v) for v in size1_seen) if size1_seen else "none"))


def cmd_amplify(port, name, source):
    """One NON POST without payload from a socket bound to `source`, and
    every datagram that comes back within 3 s."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    req = header(1, NON, 4, POST, 0x5151) + b"ampl" + option(URI_PATH, name.encode())
    s.sendto(req, (HOST, port))
    got = [m["raw"] for _, m in receive_until(s, time.monotonic() + 3.0)]
    print("request_bytes=%d" % len(req))
    print("datagrams=%d" % len(got))
    print("largest=%d" % max((len(d) for d in got), default=0))
    if got:
        m = parse(got[0])
        print("code=%s" % code_str(m["code"]))
        print("echo_option=%s" % any(n == 252 for n, _ in m["options"]))


def cmd_challenge(port, name, source):
    """A NON POST with no token and no payload from `source` (too small for
    any block of an answer within the bound), then, if the answer carried
    an Echo value, the same request with it and a new message id."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    req = header(1, NON, 0, POST, 0x6161) + option(URI_PATH, name.encode())
    s.sendto(req, (HOST, port))
    m = receive_one(s, 10.0)
    echo = [v for n, v in m["options"] if n == 252] if m else []
    print("request_bytes=%d" % len(req))
    print("first_code=%s" % (code_str(m["code"]) if m else "none"))
    print("first_bytes=%d" % (len(m["raw"]) if m else 0))
    print("first_payload=%d" % (len(m["payload"]) if m else 0))
    if not echo:
        return
    retry = (header(1, NON, 0, POST, 0x6162) + option(URI_PATH, name.encode()) +
             option_any(252 - URI_PATH, echo[0]))
    s.sendto(retry, (HOST, port))
    m = receive_one(s, 10.0)
    print("retry_code=%s" % (code_str(m["code"]) if m else "none"))
    print("retry_payload=%d" % (len(m["payload"]) if m else 0))


def cmd_unacked(port, name, source, seconds):
    """A CON POST without payload from `source`, whose answers are never
    acknowledged: every datagram that comes back within `seconds`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    req = header(1, CON, 4, POST, 0x7171) + b"unak" + option(URI_PATH, name.encode())
    s.sendto(req, (HOST, port))
    got = [m for _, m in receive_until(s, time.monotonic() + seconds)]
    cons = [m for m in got if "error" not in m and m["type"] == CON]
    print("request_bytes=%d" % len(req))
    print("datagrams=%d" % len(got))
    print("separate_answers=%d" % len(cons))
    print("largest=%d" % max((len(m["raw"]) for m in got), default=0))


def main(argv):
    if len(argv) >= 2 and argv[1] == "kinds":
        print("\n".join(malformed_kinds()))
    elif len(argv) == 5 and argv[1] == "retrans":
        cmd_retrans(int(argv[2]), argv[3], argv[4].encode())
    elif len(argv) == 5 and argv[1] == "twice":
        cmd_twice(int(argv[2]), argv[3], argv[4].encode())
    elif len(argv) == 4 and argv[1] == "malformed":
        cmd_malformed(int(argv[2]), argv[3])
    elif len(argv) == 5 and argv[1] == "large":
        cmd_large(int(argv[2]), argv[3], int(argv[4]))
    elif len(argv) == 7 and argv[1] == "first-blocks":
        cmd_first_blocks(int(argv[2]), argv[3], int(argv[4]), int(argv[5]), int(argv[6]))
    elif len(argv) == 5 and argv[1] == "challenge":
        cmd_challenge(int(argv[2]), argv[3], argv[4])
    elif len(argv) == 6 and argv[1] == "unacked":
        cmd_unacked(int(argv[2]), argv[3], argv[4], float(argv[5]))
    elif len(argv) == 5 and argv[1] == "amplify":
        cmd_amplify(int(argv[2]), argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "flood":
        cmd_flood(int(argv[2]), int(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
