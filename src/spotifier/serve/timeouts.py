"""The seconds a server gives its clients and its own exit: `spotifier serve`'s `--head-timeout`,
`--body-timeout`, `--keep-alive` and `--drain-timeout` (uvicorn applies three, the app the body's;
see `serve.run`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from spotifier.errors import InvalidInputError


@dataclass(frozen=True)
class Timeouts:
    """The seconds a server gives its clients, and its requests in flight at exit (each > 0)."""

    #: To send a request's line and headers (from connecting, or from the previous answer's end):
    #: a client dripping header bytes cannot hold a connection longer; then 408 and closed.
    head: float = 10.0
    #: To send a whole request body once its headers are in; then 408.
    body: float = 30.0
    #: An idle keep-alive connection is closed after this long.
    keep_alive: float = 5.0
    #: After SIGTERM or Ctrl-C, the requests in flight get this long to finish before the exit.
    drain: float = 30.0

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InvalidInputError(
                    f"{timeout_option(name)} must be a number of seconds above 0, got {value}"
                )


def timeout_option(name: str) -> str:
    """The `spotifier serve` option that sets the `Timeouts` field `name`.

    >>> timeout_option("head"), timeout_option("keep_alive")
    ('--head-timeout', '--keep-alive')
    """
    return "--keep-alive" if name == "keep_alive" else f"--{name}-timeout"


DEFAULT_TIMEOUTS = Timeouts()
