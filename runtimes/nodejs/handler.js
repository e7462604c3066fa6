'use strict';
// tinyFaaS nodejs handler: speaks the handler protocol (docs/handler-protocol.md,
// version 2) on TCP $TINYFAAS_PORT and runs the function in /fn, a tinyFaaS 0.7
// style module that exports `(req, res) => ...`. The contract is in README.md
// beside this file. With $TINYFAAS_SECRET_FILE, a connection serves only once
// the daemon has answered its CHALLENGE with the right PROOF.
//
// Framing: the stream is msgpack objects back to back. The handler scans only
// the headers of the msgpack items to find where a message ends (a payload is
// skipped in O(1) by its announced length), waits until all of its bytes are
// there without rescanning, and only then decodes it with @msgpack/msgpack.
// So a message split over many reads costs one copy, and one read holding
// several messages yields all of them.

const net = require('net');
const fs = require('fs');
const crypto = require('crypto');
const path = require('path');
const { Decoder, encode } = require('@msgpack/msgpack');

const PROTO_VERSION = 2;
const T_READY = 0;
const T_CALL = 1;
const T_REPLY = 2;
const T_CHALLENGE = 3;
const T_PROOF = 4;
const MAX_HEADERS = 64;
const NONCE_BYTES = 32;
const AUTH_MAX_MESSAGE = 256; // bytes a connection may send before its proof checked out
const AUTH_MAX_WAITING = 16; // connections waiting for a proof at once; a new one closes the oldest
const AUTH_WAIT_MS = 5000; // how long one may wait
const AUTH_LOG_EVERY_MS = 10000; // at most one line about refused connections this often

const PORT = intEnv('TINYFAAS_PORT', 8000);
// A unix socket path to listen on instead of the port.
const SOCKET = process.env.TINYFAAS_SOCKET || '';
const FN_DIR = path.resolve(process.env.TINYFAAS_FN_DIR || '/fn');
const MAX_MESSAGE = intEnv('TINYFAAS_MAX_MESSAGE', 64 * 1024 * 1024);
const SECRET = readSecret(process.env.TINYFAAS_SECRET_FILE || '');

function intEnv(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) {
    process.stderr.write(`tinyfaas-nodejs: ${name}=${v} is not a positive integer\n`);
    process.exit(2);
  }
  return n;
}

function log(msg) {
  process.stderr.write(`tinyfaas-nodejs: ${msg}\n`);
}

// The secret file's bytes as they are, whitespace at the end stripped; null
// without a file (no authentication).
function readSecret(file) {
  if (file === '') return null;
  let key;
  try {
    key = fs.readFileSync(file);
  } catch (e) {
    log(`TINYFAAS_SECRET_FILE: ${e.message}`);
    process.exit(1);
  }
  let end = key.length;
  while (end > 0 && [0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c].includes(key[end - 1])) end--;
  if (end === 0 || end > 4096) {
    log(`TINYFAAS_SECRET_FILE: the file is ${end === 0 ? 'empty' : 'over 4096 bytes'}`);
    process.exit(1);
  }
  return key.subarray(0, end);
}

// ---------------------------------------------------------------------------
// Authentication: connections waiting for the daemon's proof are bounded in
// number and time, so strangers on the network cannot hold the handler.

const waiting = new Set(); // sockets waiting for a proof, oldest first
let lastRefusalLog = -Infinity;
let refusalsNotLogged = 0;

function refused(why) {
  const now = Date.now();
  if (now - lastRefusalLog < AUTH_LOG_EVERY_MS) {
    refusalsNotLogged++;
    return;
  }
  const more = refusalsNotLogged ? ` (and ${refusalsNotLogged} more since the last such line)` : '';
  log(`closed a connection that did not authenticate: ${why}${more}`);
  lastRefusalLog = now;
  refusalsNotLogged = 0;
}

// Whether msg (decoded) is the PROOF of nonce under the secret.
function proofHolds(msg, nonce) {
  if (!Array.isArray(msg) || msg.length < 2 || msg[0] !== T_PROOF) return false;
  const mac = msg[1];
  if (!(mac instanceof Uint8Array) || mac.length !== 32) return false;
  const want = crypto.createHmac('sha256', SECRET).update(nonce).digest();
  return crypto.timingSafeEqual(Buffer.from(mac.buffer, mac.byteOffset, mac.byteLength), want);
}

// ---------------------------------------------------------------------------
// Loading the function

function loadFunction() {
  let main = 'index.js';
  const pkgFile = path.join(FN_DIR, 'package.json');
  let pkg;
  try {
    pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${pkgFile}: ${e.message}`);
  }
  if (pkg && typeof pkg.main === 'string' && pkg.main.trim() !== '') main = pkg.main.trim();
  const file = path.resolve(FN_DIR, main);
  let mod;
  try {
    mod = require(file);
  } catch (e) {
    // "type": "module" or an .mjs main: load it as an ES module instead.
    if (e && e.code === 'ERR_REQUIRE_ESM') return import(require('url').pathToFileURL(file).href).then(pick);
    throw e;
  }
  return Promise.resolve(pick(mod));

  function pick(m) {
    if (typeof m === 'function') return m;
    if (m && typeof m.default === 'function') return m.default;
    if (m && typeof m.handler === 'function') return m.handler;
    if (m && m.default && typeof m.default.handler === 'function') return m.default.handler;
    throw new Error(`${file} exports no function: export (req, res) => { ... } with module.exports`);
  }
}

// ---------------------------------------------------------------------------
// Message framing: where does the msgpack object starting at `start` end?

// Returns the end offset of the object at b[start], or -need when b is too
// short, need being a lower bound of the length b must reach. Throws on bytes
// that are not msgpack and on objects larger than `limit` bytes.
function scanObject(b, start, limit) {
  let pos = start;
  let left = 1; // items still to skip
  while (left > 0) {
    if (pos - start + left > limit) throw new ProtoError(`message larger than ${limit} bytes`);
    if (pos >= b.length) return -(pos + left);
    const t = b[pos];
    left--;
    let hdr = 1; // header bytes
    let len = 0; // payload bytes after the header
    let items = 0; // nested items
    let lenBytes = 0; // size of a big-endian length field after the type byte
    let kind = 0; // 0 payload, 1 array, 2 map
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) {
      // fixint, nil, bool
    } else if (t <= 0x8f) {
      items = (t & 0x0f) * 2;
    } else if (t <= 0x9f) {
      items = t & 0x0f;
    } else if (t <= 0xbf) {
      len = t & 0x1f;
    } else {
      switch (t) {
        case 0xc4: case 0xd9: lenBytes = 1; break; // bin8, str8
        case 0xc5: case 0xda: lenBytes = 2; break; // bin16, str16
        case 0xc6: case 0xdb: lenBytes = 4; break; // bin32, str32
        case 0xc7: lenBytes = 1; len = 1; break; // ext8 (+ type byte)
        case 0xc8: lenBytes = 2; len = 1; break; // ext16
        case 0xc9: lenBytes = 4; len = 1; break; // ext32
        case 0xca: len = 4; break; // float32
        case 0xcb: len = 8; break; // float64
        case 0xcc: case 0xd0: len = 1; break;
        case 0xcd: case 0xd1: len = 2; break;
        case 0xce: case 0xd2: len = 4; break;
        case 0xcf: case 0xd3: len = 8; break;
        case 0xd4: len = 2; break; // fixext1 (type + data)
        case 0xd5: len = 3; break;
        case 0xd6: len = 5; break;
        case 0xd7: len = 9; break;
        case 0xd8: len = 17; break;
        case 0xdc: lenBytes = 2; kind = 1; break; // array16
        case 0xdd: lenBytes = 4; kind = 1; break; // array32
        case 0xde: lenBytes = 2; kind = 2; break; // map16
        case 0xdf: lenBytes = 4; kind = 2; break; // map32
        default: throw new ProtoError(`byte 0x${t.toString(16)} is not msgpack`);
      }
    }
    if (lenBytes) {
      hdr += lenBytes;
      if (pos + hdr > b.length) return -(pos + hdr + left);
      let n = 0;
      for (let i = 1; i <= lenBytes; i++) n = n * 256 + b[pos + i];
      if (kind === 1) items = n;
      else if (kind === 2) items = n * 2;
      else len += n;
    }
    pos += hdr + len;
    left += items;
  }
  if (pos - start > limit) throw new ProtoError(`message larger than ${limit} bytes`);
  if (pos > b.length) return -pos;
  return pos;
}

class ProtoError extends Error {}

// Reads the array header at b[pos]: returns [count, header size].
function arrayHeader(b, pos) {
  const t = b[pos];
  if (t >= 0x90 && t <= 0x9f) return [t & 0x0f, 1];
  if (t === 0xdc) return [b.readUInt16BE(pos + 1), 3];
  if (t === 0xdd) return [b.readUInt32BE(pos + 1), 5];
  throw new ProtoError('message is not an array');
}

function mapHeader(b, pos) {
  const t = b[pos];
  if (t >= 0x80 && t <= 0x8f) return [t & 0x0f, 1];
  if (t === 0xde) return [b.readUInt16BE(pos + 1), 3];
  if (t === 0xdf) return [b.readUInt32BE(pos + 1), 5];
  throw new ProtoError('CALL headers are not a map');
}

// ---------------------------------------------------------------------------
// One connection

const utf8 = new TextDecoder('utf-8');

function asString(v, what) {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return utf8.decode(v);
  throw new ProtoError(`CALL ${what} is not a string`);
}

function asBytes(v, what) {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw new ProtoError(`CALL ${what} is not bytes`);
}

function serve(sock, fn) {
  const decoder = new Decoder({ maxMapLength: MAX_HEADERS, maxArrayLength: 1 << 16 });
  const dec = (b, s, e) => decoder.decode(b.subarray(s, e));
  let chunks = [];
  let buffered = 0;
  let need = 1; // bytes needed before scanning again
  let open = true;
  // With a secret: the CHALLENGE's nonce until the PROOF checked out, then null.
  let nonce = null;
  let limit = MAX_MESSAGE;
  let authTimer = null;

  sock.setNoDelay(true);
  if (SECRET !== null) {
    nonce = crypto.randomBytes(NONCE_BYTES);
    limit = AUTH_MAX_MESSAGE; // a stranger is held to a few bytes
    if (waiting.size >= AUTH_MAX_WAITING) {
      const oldest = waiting.values().next().value;
      waiting.delete(oldest); // at once: its 'close' comes later
      refused('more connections waiting for a proof than the bound');
      oldest.destroy();
    }
    waiting.add(sock);
    authTimer = setTimeout(() => refuse(`no proof within ${AUTH_WAIT_MS / 1000} s`), AUTH_WAIT_MS);
    sock.write(encode([T_CHALLENGE, PROTO_VERSION, nonce]));
  } else {
    sock.write(encode([T_READY, PROTO_VERSION, 'nodejs']));
  }

  const fail = (msg) => {
    if (!open) return;
    if (nonce !== null) {
      refuse(msg);
      return;
    }
    open = false;
    log(`closing the connection: ${msg}`);
    sock.destroy();
  };

  // Closes a connection that did not authenticate: nothing run, nothing more sent.
  function refuse(why) {
    if (!open) return;
    open = false;
    refused(why);
    sock.destroy();
  }

  function authenticated() {
    nonce = null;
    limit = MAX_MESSAGE;
    clearTimeout(authTimer);
    waiting.delete(sock);
    sock.write(encode([T_READY, PROTO_VERSION, 'nodejs']));
  }

  sock.on('data', (chunk) => {
    if (!open) return;
    chunks.push(chunk);
    buffered += chunk.length;
    if (buffered < need) return;
    let b = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, buffered);
    let start = 0;
    try {
      for (;;) {
        const end = start < b.length ? scanObject(b, start, limit) : -(start + 1);
        if (end < 0) {
          need = -end - start;
          break;
        }
        onMessage(b, start, end);
        start = end;
        if (!open) return;
      }
    } catch (e) {
      fail(e instanceof ProtoError || (e && e.name === 'DecodeError') || e instanceof RangeError
        ? e.message : String(e && e.stack || e));
      return;
    }
    b = b.subarray(start);
    chunks = b.length ? [b] : [];
    buffered = b.length;
  });

  // A complete message is b[start, end).
  function onMessage(b, start, end) {
    if (nonce !== null) {
      const msg = dec(b, start, end);
      if (!proofHolds(msg, nonce)) {
        refuse(Array.isArray(msg) && msg[0] === T_PROOF ? 'wrong proof' : 'a message before the proof');
        return;
      }
      // The daemon sends nothing more until READY: bytes after the proof are not its.
      if (end !== b.length) {
        refuse('bytes after the proof');
        return;
      }
      authenticated();
      return;
    }
    const [n, h] = arrayHeader(b, start);
    const ends = [];
    let p = start + h;
    for (let i = 0; i < n; i++) {
      const e = scanObject(b, p, MAX_MESSAGE);
      ends.push(e);
      p = e;
    }
    if (n < 1) throw new ProtoError('empty message');
    const type = dec(b, start + h, ends[0]);
    if (type !== T_CALL) throw new ProtoError(`unexpected message type ${type}`);
    if (n < 5) throw new ProtoError(`CALL with ${n} elements`);
    const id = dec(b, ends[0], ends[1]);
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new ProtoError('CALL id is not a uint32');
    const method = asString(dec(b, ends[1], ends[2]), 'method');
    // Headers, one item at a time, so that any name (even "__proto__") is
    // taken as data. Names are lower-cased, as Express and node's http do;
    // repeated names are joined with ", ".
    const [m, mh] = mapHeader(b, ends[2]);
    if (m > MAX_HEADERS) throw new ProtoError(`more than ${MAX_HEADERS} headers`);
    const headers = {};
    p = ends[2] + mh;
    for (let i = 0; i < m; i++) {
      const ke = scanObject(b, p, MAX_MESSAGE);
      const ve = scanObject(b, ke, MAX_MESSAGE);
      const k = asString(dec(b, p, ke), 'header name').toLowerCase();
      const v = asString(dec(b, ke, ve), 'header value');
      p = ve;
      const old = Object.prototype.hasOwnProperty.call(headers, k) ? headers[k] : undefined;
      Object.defineProperty(headers, k, {
        value: old === undefined ? v : `${old}, ${v}`,
        enumerable: true, writable: true, configurable: true,
      });
    }
    // The body: a view of the read buffer, copied to keep it independent.
    const body = Buffer.from(asBytes(dec(b, ends[3], ends[4]), 'body'));
    runCall(id, method, headers, body);
  }

  function reply(id, status, contentType, body) {
    if (!open || sock.destroyed) return; // the daemon went away: nothing is owed
    sock.write(encode([T_REPLY, id, status, contentType, body]));
  }

  function runCall(id, method, headers, body) {
    const res = new Response((status, ct, out) => reply(id, status, ct, out));
    const req = new Request(method, headers, body);
    let ret;
    try {
      ret = fn(req, res);
    } catch (e) {
      res._fail(e);
      return;
    }
    if (ret && typeof ret.then === 'function') {
      ret.then(undefined, (e) => res._fail(e));
    }
  }

  sock.on('error', (e) => {
    if (open && nonce !== null) refuse(`connection error: ${e.message}`);
    else if (open) log(`connection error: ${e.message}`);
  });
  sock.on('close', () => {
    open = false;
    clearTimeout(authTimer);
    waiting.delete(sock);
  });
}

// ---------------------------------------------------------------------------
// req and res, a small Express-like subset

class Request {
  constructor(method, headers, rawBody) {
    this.method = method;
    this.headers = headers;
    this.rawBody = rawBody;
    this.body = rawBody.toString('utf8');
    this.path = '/';
    this.params = {};
    // The query string arrives as the header X-Tinyfaas-Query.
    const q = Object.prototype.hasOwnProperty.call(headers, 'x-tinyfaas-query') ? headers['x-tinyfaas-query'] : '';
    this.url = q ? `/?${q}` : '/';
    this.query = {};
    if (q) {
      for (const [k, v] of new URLSearchParams(q)) {
        const old = Object.prototype.hasOwnProperty.call(this.query, k) ? this.query[k] : undefined;
        const value = old === undefined ? v : [].concat(old, v);
        Object.defineProperty(this.query, k, { value, enumerable: true, writable: true, configurable: true });
      }
    }
  }

  get(name) {
    const v = this.headers[String(name).toLowerCase()];
    return Object.prototype.hasOwnProperty.call(this.headers, String(name).toLowerCase()) ? v : undefined;
  }

  header(name) {
    return this.get(name);
  }
}

const TYPES = {
  html: 'text/html; charset=utf-8',
  text: 'text/plain; charset=utf-8',
  json: 'application/json',
  bin: 'application/octet-stream',
  xml: 'application/xml',
  js: 'application/javascript',
  css: 'text/css',
};

class Response {
  constructor(sendReply) {
    this._send = sendReply;
    this.statusCode = 200;
    this.headersSent = false;
    this._type = '';
    this.locals = {};
  }

  status(code) {
    this.statusCode = Number(code);
    return this;
  }

  set(name, value) {
    if (name && typeof name === 'object') {
      for (const k of Object.keys(name)) this.set(k, name[k]);
    } else if (String(name).toLowerCase() === 'content-type') {
      this._type = String(value);
    }
    // Other response headers are not carried by the handler protocol.
    return this;
  }

  header(name, value) {
    return this.set(name, value);
  }

  setHeader(name, value) {
    this.set(name, value);
    return this;
  }

  get(name) {
    return String(name).toLowerCase() === 'content-type' && this._type ? this._type : undefined;
  }

  getHeader(name) {
    return this.get(name);
  }

  type(t) {
    t = String(t);
    this._type = t.includes('/') ? t : (TYPES[t.replace(/^\./, '')] || 'application/octet-stream');
    return this;
  }

  contentType(t) {
    return this.type(t);
  }

  json(x) {
    if (!this._type) this._type = 'application/json';
    return this._finish(Buffer.from(x === undefined ? '' : JSON.stringify(x), 'utf8'));
  }

  send(x) {
    if (typeof x === 'string') return this._finish(Buffer.from(x, 'utf8'));
    if (x === undefined || x === null) return this._finish(Buffer.alloc(0));
    if (x instanceof Uint8Array) return this._finish(Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    if (x instanceof ArrayBuffer) return this._finish(Buffer.from(x));
    return this.json(x); // objects, arrays, numbers, booleans
  }

  end(x, encoding) {
    if (typeof x === 'string') return this._finish(Buffer.from(x, encoding || 'utf8'));
    return this.send(typeof x === 'function' ? undefined : x);
  }

  sendStatus(code) {
    this.status(code);
    return this.send(String(code));
  }

  _finish(bytes) {
    if (this.headersSent) {
      log('res.send called again after the reply was sent; ignored');
      return this;
    }
    this.headersSent = true;
    // The status the function set reaches the caller as HTTP status (and its
    // CoAP code); one outside 100..599 is a function error.
    const code = this.statusCode;
    const status = Number.isInteger(code) && code >= 100 && code <= 599 ? code : 500;
    this._send(status, this._type, bytes);
    return this;
  }

  _fail(e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`${e instanceof Error && e.stack ? e.stack : `Error: ${msg}`}\n`);
    if (this.headersSent) return;
    this.headersSent = true;
    this._send(500, '', Buffer.from(msg || (e && e.name) || 'Error', 'utf8'));
  }
}

// ---------------------------------------------------------------------------

function main() {
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));

  let loading;
  try {
    process.chdir(FN_DIR);
    loading = loadFunction();
  } catch (e) {
    loading = Promise.reject(e);
  }
  loading.then((fn) => {
    // An error thrown later, outside any call (a timer, an event handler, a
    // promise nobody awaits), is logged; the handler keeps serving.
    process.on('uncaughtException', (e) => {
      process.stderr.write(`uncaught exception: ${e && e.stack ? e.stack : e}\n`);
    });
    process.on('unhandledRejection', (e) => {
      process.stderr.write(`unhandled rejection: ${e && e.stack ? e.stack : e}\n`);
    });
    const server = net.createServer((sock) => serve(sock, fn));
    const where = SOCKET ? `socket ${SOCKET}` : `port ${PORT}`;
    server.on('error', (e) => {
      log(`cannot listen on ${where}: ${e.message}`);
      process.exit(1);
    });
    if (SOCKET) {
      try {
        fs.unlinkSync(SOCKET); // a restarted handler's old socket
      } catch (e) {
        // none there
      }
      server.listen(SOCKET);
    } else {
      server.listen(PORT, '0.0.0.0');
    }
  }, (e) => {
    process.stderr.write(`tinyfaas-nodejs: cannot load the function in ${FN_DIR}:\n${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}

main();
