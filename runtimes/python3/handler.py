"""tinyFaaS python3 handler.

One long-lived interpreter that loads the function module `fn` from the
function folder and serves it over the tinyFaaS handler protocol, version 1
(docs/handler-protocol.md): it listens on TCP, sends READY on every accepted
connection once the function is loaded, and answers each CALL with a REPLY.
Calls run on a thread pool, so several calls are in flight at once and a slow
call does not hold up the others. The function contract is in README.md.

Environment:
  TINYFAAS_PORT         port to listen on (default 8000), on all addresses
  TINYFAAS_SOCKET       a unix socket path to listen on instead
  TINYFAAS_FN_DIR       the function folder (default /fn)
  TINYFAAS_DEPS_DIR     where requirements.txt was installed (default /deps)
  TINYFAAS_THREADS      calls run at once (default 16)
  TINYFAAS_MAX_MESSAGE  largest CALL accepted, in bytes (default 64 MiB)
"""

import os
import signal
import socket
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import msgpack

PROTOCOL_VERSION = 1
RUNTIME = "python3"
READY, CALL, REPLY = 0, 1, 2
MAX_HEADERS = 64
MAX_ID = 2**32 - 1

_log_lock = threading.Lock()


def log(text):
    """Write one whole message to stderr, never interleaved with another."""
    if not text.endswith("\n"):
        text += "\n"
    with _log_lock:
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def env_int(name, default, low, high):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        log("handler: %s=%s is not a number from %d to %d" % (name, raw, low, high))
        sys.exit(2)
    return value


class Headers(dict):
    """The request headers: a dict from name to value, names as the client sent
    them. HTTP header names are case-insensitive, so `h[name]`, `h.get(name)`
    and `name in h` also find a header written in another case."""

    __slots__ = ()

    def _find(self, key):
        if isinstance(key, str):
            low = key.lower()
            for name in dict.keys(self):
                if name.lower() == low:
                    return name
        raise KeyError(key)

    def __missing__(self, key):
        return dict.__getitem__(self, self._find(key))

    def __contains__(self, key):
        if dict.__contains__(self, key):
            return True
        try:
            self._find(key)
            return True
        except KeyError:
            return False

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default


class ProtocolError(Exception):
    pass


def text_of(value, what):
    """A protocol str: msgpack str, or bin holding UTF-8."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    raise ProtocolError("%s is not a string" % what)


def parse_call(msg):
    """[1, id, method, headers, body, ...] -> (id, method, headers, body)."""
    if not isinstance(msg, list) or not msg:
        raise ProtocolError("message is not a non-empty array")
    kind = msg[0]
    if type(kind) is not int:
        raise ProtocolError("message type is not an integer")
    if kind != CALL:
        raise ProtocolError("unexpected message type %d" % kind)
    if len(msg) < 5:
        raise ProtocolError("CALL has %d elements, not 5" % len(msg))
    cid, method, headers, body = msg[1:5]
    if type(cid) is not int or not 0 <= cid <= MAX_ID:
        raise ProtocolError("CALL id is not a uint32")
    method = text_of(method, "method")
    if not isinstance(headers, dict):
        raise ProtocolError("headers are not a map")
    if len(headers) > MAX_HEADERS:
        raise ProtocolError("more than %d headers" % MAX_HEADERS)
    hdrs = Headers()
    for name, value in headers.items():
        dict.__setitem__(hdrs, text_of(name, "header name"), text_of(value, "header value"))
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogateescape")
    elif not isinstance(body, bytes):
        raise ProtocolError("body is not bin")
    return cid, method, hdrs, body


def result_bytes(result):
    """What the function returned -> the reply body."""
    if result is None:
        return b""
    if isinstance(result, str):
        return result.encode("utf-8", "surrogateescape")
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result)
    return str(result).encode("utf-8", "surrogateescape")


def format_traceback(exc):
    """The traceback of exc, without the handler's own frames on top."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def error_message(exc):
    try:
        text = str(exc)
    except Exception:
        text = ""
    return text or type(exc).__name__


class Connection:
    """One daemon connection: reads CALLs, hands them to the pool, and writes
    REPLYs one whole message at a time."""

    def __init__(self, sock, peer, fn, pool, max_message):
        self.sock = sock
        self.peer = peer
        self.fn = fn
        self.pool = pool
        self.max_message = max_message
        self.lock = threading.Lock()
        self.closed = False

    def send(self, msg):
        data = msgpack.packb(msg, use_bin_type=True)
        with self.lock:
            if self.closed:
                return
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def run_call(self, cid, headers, body):
        if self.closed:  # the daemon dropped the connection: abandon the call
            return
        try:
            arg = body.decode("utf-8", "surrogateescape") if body else None
            status, out = 200, result_bytes(self.fn(arg, headers))
        except BaseException as exc:  # SystemExit too: a call never ends the handler
            log(format_traceback(exc))
            status = 500
            out = error_message(exc).encode("utf-8", "replace")
        self.send([REPLY, cid, status, "", out])

    def serve(self):
        try:
            if self.sock.family == socket.AF_INET:  # a unix socket has no Nagle
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.send([READY, PROTOCOL_VERSION, RUNTIME])
            unpacker = msgpack.Unpacker(raw=False, unicode_errors="surrogateescape",
                                        max_buffer_size=self.max_message)
            while not self.closed:
                data = self.sock.recv(1 << 16)
                if not data:
                    break
                unpacker.feed(data)
                for msg in unpacker:
                    cid, _method, headers, body = parse_call(msg)
                    self.pool.submit(self.run_call, cid, headers, body)
        except ProtocolError as exc:
            log("handler: protocol error from %s: %s; closing the connection" % (self.peer, exc))
        except msgpack.BufferFull:
            log("handler: message from %s larger than %d bytes; closing the connection"
                % (self.peer, self.max_message))
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            log("handler: bad msgpack from %s (%s); closing the connection" % (self.peer, exc))
        except OSError:
            pass
        finally:
            with self.lock:
                self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


def load_function(fn_dir, deps_dir):
    """Import fn.py from fn_dir; on any failure print why and exit 1."""
    # The handler's own folder is not the function's business.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    front = [fn_dir] + ([deps_dir] if os.path.isdir(deps_dir) else [])
    sys.path[0:0] = front
    try:
        os.chdir(fn_dir)
        import fn as module  # noqa: E402  (the user's fn.py)
    except BaseException as exc:
        log("handler: cannot load %s/fn.py:\n%s" % (fn_dir, format_traceback(exc)))
        sys.exit(1)
    func = getattr(module, "fn", None)
    if not callable(func):
        log("handler: %s/fn.py defines no function fn(input, headers)" % fn_dir)
        sys.exit(1)
    return func


def main():
    port = env_int("TINYFAAS_PORT", 8000, 1, 65535)
    threads = env_int("TINYFAAS_THREADS", 16, 1, 4096)
    max_message = env_int("TINYFAAS_MAX_MESSAGE", 64 << 20, 1 << 20, 1 << 31)
    fn_dir = os.environ.get("TINYFAAS_FN_DIR") or "/fn"
    deps_dir = os.environ.get("TINYFAAS_DEPS_DIR") or "/deps"

    def stop(_signum, _frame):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # Listen before loading: a daemon that connects meanwhile waits in the
    # backlog for READY instead of being refused.
    socket_path = os.environ.get("TINYFAAS_SOCKET")
    where = "socket %s" % socket_path if socket_path else "port %d" % port
    try:
        if socket_path:
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if os.path.exists(socket_path):
                os.unlink(socket_path)  # a restarted handler's old socket
            srv.bind(socket_path)
        else:
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("0.0.0.0", port))
        srv.listen(64)
    except OSError as exc:
        log("handler: cannot listen on %s: %s" % (where, exc))
        sys.exit(1)

    func = load_function(fn_dir, deps_dir)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fn")

    while True:
        try:
            sock, addr = srv.accept()
        except OSError as exc:
            log("handler: accept: %s" % exc)
            time.sleep(0.1)
            continue
        peer = "%s:%d" % addr[:2] if isinstance(addr, tuple) else "the unix socket"
        conn = Connection(sock, peer, func, pool, max_message)
        threading.Thread(target=conn.serve, name="conn", daemon=True).start()


if __name__ == "__main__":
    main()
