"""Run the edge on one machine with granian, a production HTTP server (Rust, hyper).

granian was measured against gunicorn (gthread) serving the same snapshot and
was faster with better tail latency, handles SIGINT/SIGTERM itself, and is a
single wheel from PyPI. granian imports its WSGI target by name in each worker,
so the build folder and keys reach ``edge.app:application`` through the
environment variables that the contract already defines for the edge.

Its own access log stays off: it would print every URL, tokens included. The
edge writes its own, with tokens replaced by a fingerprint.
"""

import argparse
import os
import sys
from pathlib import Path

from generator.tokens import KEY_ENV, NoSigningKey, load_keys

APP_TARGET = "edge.app:application"


def run(
    build_dir: Path, keys: list[str], host: str = "127.0.0.1", port: int = 8000, workers: int | None = None
) -> None:
    """Serve ``build_dir`` on ``host:port`` until interrupted (Ctrl-C or SIGTERM).

    ``keys`` are the signing keys, newest last. ``workers`` defaults to one
    process per CPU. Raises ``ValueError`` if the build folder or the keys are missing.
    """
    # Imported here so `import edge.serve` (and the generator's CLI) stays light.
    from granian import Granian
    from granian.constants import Interfaces

    build_dir = Path(build_dir).absolute()
    if not build_dir.is_dir():
        raise ValueError(f"build folder {build_dir} does not exist — run `paylink build` first")
    if not keys or any("," in key or "\n" in key for key in keys):
        raise ValueError("need at least one signing key, without commas or newlines")
    # Workers inherit the environment; PAYLINK_SITE is dropped so that the
    # build folder and keys given here are the ones served, not another site's.
    os.environ.pop("PAYLINK_SITE", None)
    os.environ["PAYLINK_BUILD_DIR"] = str(build_dir)
    os.environ[KEY_ENV] = ",".join(keys)
    server = Granian(
        APP_TARGET,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers or os.cpu_count() or 1,
        # The edge is a few microseconds of Python per request and granian does
        # all network I/O in Rust, so a few Python threads per worker suffice
        # (the default, hundreds, only adds latency; measured, see the module doc).
        blocking_threads=4,
        log_access=False,  # would log tokens; the edge logs requests itself
    )
    server.serve()


def main(argv: list[str] | None = None) -> None:
    """``python -m edge.serve --build-dir DIR [--host H] [--port N] [--workers N]``; keys from PAYLINK_SECRET_KEY."""
    parser = argparse.ArgumentParser(prog="python -m edge.serve", description=main.__doc__)
    parser.add_argument("--build-dir", type=Path, required=True, help="the build folder to serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU)")
    parser.add_argument("--key-file", type=Path, default=None, help=f"signing keys, if {KEY_ENV} is not set")
    args = parser.parse_args(argv)
    try:
        keys = load_keys(args.key_file)
        run(args.build_dir, keys, host=args.host, port=args.port, workers=args.workers)
    except (NoSigningKey, ValueError) as exc:
        sys.exit(f"Error: {exc}")


if __name__ == "__main__":
    main()
