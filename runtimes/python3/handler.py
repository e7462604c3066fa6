"""tinyFaaS python3 handler.

One long-lived interpreter that loads the function module `fn` from the
function folder and serves it over the tinyFaaS handler protocol, version 2
(docs/handler-protocol.md): it listens on TCP, sends READY on every accepted
connection once the function is loaded (with a secret, once the daemon has
answered its CHALLENGE with the right PROOF), and answers each CALL with a
REPLY.
Calls run on a thread pool, so several calls are in flight at once and a slow
call does not hold up the others. The function contract is in README.md.

Environment:
  TINYFAAS_PORT         port to listen on (default 8000), on all addresses
  TINYFAAS_SOCKET       a unix socket path to listen on instead
  TINYFAAS_FN_DIR       the function folder (default /fn)
  TINYFAAS_DEPS_DIR     where requirements.txt was installed (default /deps)
  TINYFAAS_THREADS      calls run at once (default 16)
  TINYFAAS_MAX_MESSAGE  largest CALL accepted, in bytes (default 64 MiB)
  TINYFAAS_SECRET_FILE  a file holding the secret the daemon must prove it
                        knows; unset: no authentication
"""

import collections
import hashlib
import hmac
import os
import signal
import socket
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import msgpack

PROTOCOL_VERSION = 2
RUNTIME = "python3"
READY, CALL, REPLY, CHALLENGE, PROOF = 0, 1, 2, 3, 4
MAX_HEADERS = 64
MAX_ID = 2**32 - 1
NONCE_BYTES = 32
AUTH_MAX_MESSAGE = 256  # bytes a connection may send before its proof checked out
AUTH_MAX_WAITING = 16  # connections waiting for a proof at once; a new one closes the oldest
AUTH_WAIT_S = 5.0  # how long one may wait
AUTH_LOG_EVERY_S = 10.0  # at most one line about refused connections this often

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


def read_secret(path):
    """The secret file's bytes as they are, whitespace at the end stripped."""
    try:
        with open(path, "rb") as f:
            key = f.read(4097)
    except OSError as exc:
        log("handler: TINYFAAS_SECRET_FILE: %s" % exc)
        sys.exit(1)
    key = key.rstrip(b" \t\n\r\v\f")
    if len(key) > 4096 or not key:
        log("handler: TINYFAAS_SECRET_FILE: the file is %s" % ("empty" if not key else "over 4096 bytes"))
        sys.exit(1)
    return key


class Auth:
    """The daemon proves it knows the secret before a connection serves:
    CHALLENGE [3, 2, nonce], PROOF [4, HMAC-SHA256(secret, nonce)]. At most
    AUTH_MAX_WAITING connections wait for their proof, each AUTH_WAIT_S at
    most, so strangers on the network cannot hold the handler."""

    def __init__(self, key):
        self.key = key
        self.lock = threading.Lock()
        self.waiting = collections.OrderedDict()  # connection -> its socket, oldest first
        self.last_log = None
        self.not_logged = 0

    def refused(self, why):
        """One line on stderr per AUTH_LOG_EVERY_S at most."""
        with self.lock:
            now = time.monotonic()
            if self.last_log is not None and now - self.last_log < AUTH_LOG_EVERY_S:
                self.not_logged += 1
                return
            more, self.last_log, self.not_logged = self.not_logged, now, 0
        log("handler: closed a connection that did not authenticate: %s%s"
            % (why, " (and %d more since the last such line)" % more if more else ""))

    def begin(self, conn):
        with self.lock:
            oldest = None
            if len(self.waiting) >= AUTH_MAX_WAITING:
                oldest = self.waiting.popitem(last=False)[1]
            self.waiting[conn] = conn.sock
        if oldest is not None:
            self.refused("more connections waiting for a proof than the bound")
            try:
                oldest.shutdown(socket.SHUT_RDWR)  # its thread sees the end and closes it
            except OSError:
                pass

    def end(self, conn):
        with self.lock:
            return self.waiting.pop(conn, None) is not None

    def authenticate(self, conn):
        """Sends the CHALLENGE and waits for the PROOF; whether it was right.
        Nothing but the proof is read: what follows it stays in the socket."""
        nonce = os.urandom(NONCE_BYTES)
        self.begin(conn)
        why = "no proof within %g s" % AUTH_WAIT_S
        try:
            conn.sock.sendall(msgpack.packb([CHALLENGE, PROTOCOL_VERSION, nonce], use_bin_type=True))
            unpacker = msgpack.Unpacker(raw=True, max_buffer_size=AUTH_MAX_MESSAGE)
            fed = 0
            deadline = time.monotonic() + AUTH_WAIT_S
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                conn.sock.settimeout(left)
                data = conn.sock.recv(AUTH_MAX_MESSAGE)
                if not data:
                    why = "closed before its proof"
                    break
                unpacker.feed(data)
                fed += len(data)
                msg = next(unpacker, None)
                if msg is None:
                    continue
                why = "a message before the proof"
                if isinstance(msg, list) and len(msg) >= 2 and type(msg[0]) is int and msg[0] == PROOF:
                    why = "wrong proof"
                    mac = msg[1]
                    want = hmac.new(self.key, nonce, hashlib.sha256).digest()
                    # The daemon sends nothing more until READY: bytes after the proof are not its.
                    if isinstance(mac, bytes) and hmac.compare_digest(mac, want) and \
                            unpacker.tell() == fed:
                        return self.end(conn)
                break
        except socket.timeout:
            pass
        except (OSError, ValueError, msgpack.UnpackException) as exc:
            why = "%s" % (exc.__class__.__name__)
        finally:
            conn.sock.settimeout(None)
        if self.end(conn) or why != "closed before its proof":
            self.refused(why)
        return False


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

    def __init__(self, sock, peer, fn, pool, max_message, auth):
        self.sock = sock
        self.peer = peer
        self.fn = fn
        self.pool = pool
        self.max_message = max_message
        self.auth = auth  # None: no secret, no authentication
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
            if self.auth is not None and not self.auth.authenticate(self):
                return  # nothing run, nothing more sent
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
    secret_file = os.environ.get("TINYFAAS_SECRET_FILE")
    auth = Auth(read_secret(secret_file)) if secret_file else None

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
        conn = Connection(sock, peer, func, pool, max_message, auth)
        threading.Thread(target=conn.serve, name="conn", daemon=True).start()


if __name__ == "__main__":
    main()
