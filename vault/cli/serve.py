"""``serve``: check keys and schema, take the address, then hand the socket to uvicorn.

The socket is bound here, before anything says "serving": a port in use, an address
that is not this machine's, or a port without permission is one line and exit status
4, not a log of a server that started and stopped.
"""

from __future__ import annotations

import argparse
import errno
import socket
from typing import TextIO

from vault import __version__
from vault.cli import context
from vault.cli.errors import EXIT_OK, CannotListenError, CliError
from vault.db import require_migrated, upgrade

BACKLOG = 2048  # uvicorn's own default


def _why_not(exc: OSError, host: str, port: int) -> str:
    where = f"cannot listen on {host} port {port}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: another program listens there already; stop it or choose another --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: {host} is not an address of this machine; use one of its own addresses"
    if exc.errno == errno.EACCES:
        return (
            f"{where}: no permission; ports below 1024 need root or CAP_NET_BIND_SERVICE, so "
            "serve on a higher port behind the TLS proxy"
        )
    return f"{where}: {exc.strerror or exc}"


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``; :class:`CannotListenError` otherwise."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError):
        raise CannotListenError(
            f"cannot listen on {host!r}: it is neither an IP address nor a name this machine "
            "resolves; give --host an address such as 127.0.0.1 or 0.0.0.0"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise CannotListenError(_why_not(exc, host, port)) from None
    sock.set_inheritable(True)  # worker processes serve on it too
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(args: argparse.Namespace, out: TextIO) -> int:
    """Check keys and schema, listen, then serve with uvicorn until stopped."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    runtime = context.open_vault(migrated=False)  # fails early on bad settings or keys
    try:
        if args.migrate:
            upgrade(runtime.engine)
        require_migrated(runtime.engine)
    finally:
        runtime.dispose()
    sock = listen(args.host, args.port)
    config = uvicorn.Config(
        "vault.api.app:create_app_from_environment",
        factory=True,
        workers=args.workers,
        proxy_headers=bool(args.forwarded_allow_ips),
        forwarded_allow_ips=args.forwarded_allow_ips or None,
        log_level=args.log_level,
        access_log=args.access_log,
    )
    print(f"deid-vault {__version__} serving on {_url(sock)}", file=out, flush=True)
    try:
        if args.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
            return EXIT_OK
        server = uvicorn.Server(config)
        try:
            server.run(sockets=[sock])
        except SystemExit:  # uvicorn's own exit when the application cannot start
            server.started = False
    finally:
        sock.close()
    if not server.started:
        raise CliError("the vault stopped while starting; the messages above say why")
    return EXIT_OK
