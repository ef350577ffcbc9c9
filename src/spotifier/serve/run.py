"""Start the HTTP server (uvicorn) — on loopback only unless remote access is asked for."""

from __future__ import annotations

import ipaddress

from spotifier.errors import InvalidInputError


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("192.168.1.5"), is_loopback("example.org")
    (False, False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback(host):
        raise InvalidInputError(
            f"refusing to listen on {host}: the server listens on loopback (127.0.0.1) unless "
            "you pass --allow-remote"
        )


def run(
    app: object,
    host: str = "127.0.0.1",
    port: int = 8000,
    allow_remote: bool = False,
    log_level: str = "info",
) -> None:
    """Serve `app` until interrupted. BLAS is limited to one thread: requests run in parallel."""
    import uvicorn
    from threadpoolctl import threadpool_limits

    check_host(host, allow_remote)
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"--port must be between 0 and 65535, got {port}")
    threadpool_limits(limits=1)
    uvicorn.run(app, host=host, port=port, log_level=log_level)  # type: ignore[arg-type]
