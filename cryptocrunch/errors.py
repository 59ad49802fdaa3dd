"""What a request can get wrong, as every layer raises it and the views answer it: a malformed
parameter (400), a name nothing is stored under (404). Too few points for a figure is a plain
``ValueError`` (422). A leaf: it imports nothing of the project."""


class BadRequest(ValueError):
    """A parameter is missing or malformed; the message names it."""


class NotFound(LookupError):
    """No such exchange, pair, market or stored listing; the message says what to run."""
