// Returns the request body unchanged.
module.exports = (req, res) => {
  res.send(req.body);
};
