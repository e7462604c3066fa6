// A folder picked in the browser, zipped in the page: stored entries (no
// compression), which the daemon's libarchive reads as any zip. Small code,
// no library: the page works on an offline gateway.
"use strict";

const tfZip = (() => {
  const CRC_TABLE = (() => {
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[n] = c >>> 0;
    }
    return t;
  })();

  function crc32(bytes) {
    let c = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  // MS-DOS time and date, as zip headers keep them.
  function dosTime(d) {
    return {
      time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
      date: ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
    };
  }

  function header(size, fields) {
    const buf = new Uint8Array(size);
    const v = new DataView(buf.buffer);
    for (const [off, bytes, value] of fields) {
      if (bytes === 2) v.setUint16(off, value, true);
      else v.setUint32(off, value, true);
    }
    return buf;
  }

  // entries: [{name, data: Uint8Array}] -> Uint8Array of a zip. Every file is
  // marked executable: a folder picked in a browser loses its modes, and a
  // function's fn.sh, or a program it runs, must stay runnable.
  function build(entries) {
    const enc = new TextEncoder();
    const { time, date } = dosTime(new Date());
    const parts = [], central = [];
    let offset = 0;
    for (const e of entries) {
      const name = enc.encode(e.name), crc = crc32(e.data), n = e.data.length;
      const common = [[6, 2, 0x0800], [8, 2, 0], [10, 2, time], [12, 2, date],
        [14, 4, crc], [18, 4, n], [22, 4, n], [26, 2, name.length]];
      const local = header(30, [[0, 4, 0x04034b50], [4, 2, 20], ...common]);
      parts.push(local, name, e.data);
      central.push(header(46, [[0, 4, 0x02014b50], [4, 2, 0x031e], [6, 2, 20],
        ...common.map(([o, b, v]) => [o + 2, b, v]), [38, 4, (0o100755 << 16) >>> 0], [42, 4, offset]]), name);
      offset += local.length + name.length + n;
    }
    const size = central.reduce((s, p) => s + p.length, 0);
    const end = header(22, [[0, 4, 0x06054b50], [8, 2, entries.length], [10, 2, entries.length],
      [12, 4, size], [16, 4, offset]]);
    return concat([...parts, ...central, end]);
  }

  function concat(parts) {
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  // The files of an <input webkitdirectory>, at the zip's root (the picked
  // folder's own name dropped, as `cd DIR && zip -r` does).
  async function fromFolder(files) {
    const entries = [];
    for (const f of files) {
      const path = (f.webkitRelativePath || f.name).split("/").slice(1).join("/") || f.name;
      entries.push({ name: path, data: new Uint8Array(await f.arrayBuffer()) });
    }
    return build(entries);
  }

  function base64(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000)
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }

  return { build, fromFolder, base64, crc32 };
})();
