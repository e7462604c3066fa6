#!/usr/bin/env node
// node-coap client for test_coap.sh: a CON POST, a NON POST and a GET of a
// function whose answer needs block-wise transfer, against 127.0.0.1 only.
//
//   node client.js PORT ECHO_NAME BIG_NAME OUTDIR
//
// Writes each answer's payload to OUTDIR/{con,non,get}.out and prints one
// line per request: "<label> <code> <type> <bytes>".
'use strict'
const coap = require('coap')
const fs = require('fs')
const path = require('path')

const [port, echoName, bigName, outDir] = process.argv.slice(2)
if (!outDir) {
  console.error('usage: client.js PORT ECHO_NAME BIG_NAME OUTDIR')
  process.exit(2)
}
const agent = new coap.Agent({ type: 'udp4' })

function typeOf (packet) {
  if (packet.ack) return 'ACK'
  if (packet.reset) return 'RST'
  return packet.confirmable ? 'CON' : 'NON'
}

function call (label, opts, body) {
  return new Promise((resolve, reject) => {
    const req = coap.request(Object.assign({
      hostname: '127.0.0.1', port: Number(port), agent
    }, opts))
    const timer = setTimeout(() => reject(new Error(label + ': no answer in 20 s')), 20000)
    req.on('response', (res) => {
      clearTimeout(timer)
      fs.writeFileSync(path.join(outDir, label + '.out'), res.payload)
      console.log(`${label} ${res.code} ${typeOf(res._packet)} ${res.payload.length}`)
      resolve()
    })
    req.on('error', (err) => { clearTimeout(timer); reject(err) })
    if (body !== undefined) req.write(body)
    req.end()
  })
}

async function main () {
  await call('con', { pathname: '/' + echoName, method: 'POST', confirmable: true },
    Buffer.from('hello from node-coap, CON'))
  await call('non', { pathname: '/' + echoName, method: 'POST', confirmable: false },
    Buffer.from('hello from node-coap, NON'))
  await call('get', { pathname: '/' + bigName, method: 'GET', confirmable: true })
}

main().then(() => process.exit(0), (err) => {
  console.error('error: ' + err.message)
  process.exit(1)
})
