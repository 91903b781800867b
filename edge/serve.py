"""Run the edge on one machine with granian, a production HTTP server (Rust, hyper).

granian was measured against gunicorn (gthread) on a 2-core machine, serving a
live link's snapshot (`wrk -t2 -c50 -d10s`): about 15,000 req/s and p99 ~10 ms
over WSGI against gunicorn's 5,000 req/s and p99 ~40 ms (nginx serving the same
file as a static file: 61,000 req/s, p99 3.5 ms). It stops cleanly on
SIGINT/SIGTERM, replaces a worker that dies, and installs as one wheel from PyPI.

`paylink serve` runs the very same ``Edge`` through granian's ASGI interface
(``paylink.edge.app:asgi_application``, lifespan off): ASGI hands over the raw
path, so ``/p%2F<token>`` and the other encoded forms are refused as under
gunicorn. granian's RSGI interface (a little faster) and its WSGI interface
give only the decoded path, so the edge offers no RSGI entry. ``paylink.edge.app:application`` stays a plain WSGI
app for any other server (gunicorn, uWSGI).

A flood of half-sent requests must not lock customers out. granian admits at
most ``backpressure`` connections per worker (default: backlog / workers, 512
here) and waits 30 s for a request's headers, so ~1,000 slow connections used
to take every slot for up to 30 s. Here each worker admits 16,384 connections
(an idle one costs a few KB in hyper), the listen backlog is 4,096, headers
must arrive within 5 s, and the open-files limit is raised to its hard limit.

granian imports its target by name in each worker, so the build folder and
keys reach the edge through the environment variables that the contract
already defines for it. Its own access log stays off: it would print every
URL, tokens included. The edge writes its own, with tokens replaced by a
fingerprint.
"""

import argparse
import os
import socket
import sys
from pathlib import Path

from paylink.layout import BUILD_DIR_ENV, KEY_ENV, SITE_ENV
from paylink.tokens import NoSigningKey, load_keys

APP_TARGET = "paylink.edge.app:asgi_application"
# What each granian worker loads: a factory that makes the worker die with the server, then gives APP_TARGET.
WORKER_FACTORY = "paylink.edge.serve:worker_application"
SERVER_PID_ENV = "PAYLINK_SERVE_PID"  # the server's pid, for its workers (set by run)
WORKERS_KILL_TIMEOUT = 5  # seconds a worker has to stop on SIGTERM before the server kills it
LISTEN_BACKLOG = 4096
CONNECTIONS_PER_WORKER = 16384  # granian's backpressure: connections a worker takes at once
HEADER_READ_TIMEOUT_MS = 5000  # a client that has not sent its headers by then is dropped


class CannotServe(Exception):
    """The edge cannot start: no build folder, no usable key, or the port is taken."""


def listen_address(host: str, port: int) -> str:
    """Return the IP address to listen on for ``host``; raise ``CannotServe`` if the port is taken.

    granian takes IP addresses only, so a name like ``localhost`` is resolved
    here. It also binds with SO_REUSEPORT, so a second server (another site, an
    old `paylink serve`) would silently share the port and half its requests:
    a plain bind first turns that into an error.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise CannotServe(
            f"cannot listen on {host}: {exc.strerror or exc} — give an IP address or a known name"
        ) from exc
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
            probe.bind(address)
    except OSError as exc:
        raise CannotServe(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}) — stop the other server or pick another port"
        ) from exc
    return str(address[0])


def run(
    build_dir: Path, keys: list[str], host: str = "127.0.0.1", port: int = 8000, workers: int | None = None
) -> None:
    """Serve ``build_dir`` on ``host:port`` until interrupted (Ctrl-C or SIGTERM).

    ``keys`` are the signing keys, newest last. ``workers`` defaults to one
    process per CPU, at most 8. Raises ``CannotServe`` if the build folder or
    the keys are missing or the port is taken.
    """
    # Imported here so `import paylink.edge.serve` (and the generator's CLI) stays light.
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    build_dir = Path(build_dir).absolute()
    if not build_dir.is_dir():
        raise CannotServe(f"build folder {build_dir} does not exist — run `paylink build` first")
    if not keys or any("," in key or "\n" in key for key in keys):
        raise CannotServe("need at least one signing key, without commas or newlines")
    address = listen_address(host, port)
    # Workers inherit the environment; PAYLINK_SITE is dropped so that the
    # build folder and keys given here are the ones served, not another site's.
    os.environ.pop(SITE_ENV, None)
    os.environ[BUILD_DIR_ENV] = str(build_dir)
    os.environ[KEY_ENV] = ",".join(keys)
    os.environ[SERVER_PID_ENV] = str(os.getpid())
    _raise_open_files_limit()
    server = Granian(
        WORKER_FACTORY,
        factory=True,
        address=address,
        port=port,
        interface=Interfaces.ASGINL,
        workers=workers or min(os.cpu_count() or 1, 8),
        backlog=LISTEN_BACKLOG,
        backpressure=CONNECTIONS_PER_WORKER,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        log_access=False,  # would log tokens; the edge logs requests itself
        respawn_failed_workers=True,  # a worker killed (OOM, signal) is replaced, not fatal
        # A worker that missed the stop (a SIGTERM while it was still starting) is killed, not waited for.
        workers_kill_timeout=WORKERS_KILL_TIMEOUT,
    )
    server.serve()


def worker_application():
    """Each granian worker's application (granian calls it in the worker): the edge's ASGI app,
    in a worker that dies with the server, so a server killed outright leaves no worker serving."""
    from paylink.orphans import die_with_parent

    die_with_parent(int(os.environ[SERVER_PID_ENV]))
    from paylink.edge.app import asgi_application

    return asgi_application


def _raise_open_files_limit() -> None:
    """Let the server (and its workers, which inherit it) hold as many connections as the system allows."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else min(hard, 1 << 20)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError):
        pass  # keep the limit we have


def main(argv: list[str] | None = None) -> None:
    """``python -m paylink.edge.serve --build-dir DIR [--host H] [--port N] [--workers N]``; keys from PAYLINK_SECRET_KEY."""
    parser = argparse.ArgumentParser(prog="python -m paylink.edge.serve", description=main.__doc__)
    parser.add_argument("--build-dir", type=Path, required=True, help="the build folder to serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU, at most 8)")
    parser.add_argument("--key-file", type=Path, default=None, help=f"signing keys, if {KEY_ENV} is not set")
    args = parser.parse_args(argv)
    try:
        keys = load_keys(args.key_file)
        run(args.build_dir, keys, host=args.host, port=args.port, workers=args.workers)
    except (NoSigningKey, CannotServe) as exc:
        sys.exit(f"Error: {exc}")


if __name__ == "__main__":
    main()
