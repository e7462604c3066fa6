// Counts the primes up to N, where N is the body as an integer (10000 when
// the body is empty), with the sieve of Eratosthenes; sends the count as a
// decimal string ("1229" for 10000).
module.exports = (req, res) => {
  const text = req.body.trim();
  if (text !== '' && !/^[+-]?\d+$/.test(text)) {
    throw new Error(`not an integer: ${JSON.stringify(text)}`);
  }
  const n = text === '' ? 10000 : Number(text);
  if (n < 2) {
    res.send('0');
    return;
  }
  const composite = new Uint8Array(n + 1);
  let count = 0;
  for (let i = 2; i <= n; i++) {
    if (composite[i]) continue;
    count++;
    for (let j = i * i; j <= n; j += i) composite[j] = 1;
  }
  res.send(String(count));
};
