// Returns the request headers as a JSON object, keys sorted (the handler
// gives the names in lower case, as Express does).
module.exports = (req, res) => {
  const sorted = Object.fromEntries(
    Object.keys(req.headers).sort().map((name) => [name, req.headers[name]]),
  );
  res.type('application/json').send(JSON.stringify(sorted));
};
