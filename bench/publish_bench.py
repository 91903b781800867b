"""Publishing figures: `paylink publish` to moto's S3 server, and the Worker beside `paylink serve`.

    .venv/bin/python bench/publish_bench.py [--customers 10000] [--seconds 10]

1. First publish of a site with N pages (the bucket listed, every file sent)
   beside its floor: a plain sequential loop of boto3 put_object over the same files.
2. A publish after one charge: the objects it sent and its time.
3. The Worker (workerd through Miniflare, its R2 filled by `paylink publish`)
   beside `paylink serve`, requests/s on one live link with wrk.
Prints a table and one JSON line. Needs moto[server] (test extras), node with
edge/worker's npm packages, and wrk for part 3 (skipped without).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from data import make_site  # noqa: E402
from s3server import s3_client, use_fake_credentials  # noqa: E402

PAYLINK = [str(Path(sys.executable).parent / "paylink")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def paylink(site: Path, *args: str, ok=(0,)) -> tuple[float, dict | None]:
    started = time.perf_counter()
    done = subprocess.run([*PAYLINK, "--site", str(site), *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in ok:
        raise RuntimeError(f"paylink {' '.join(args)}: {done.returncode} {done.stderr}")
    return elapsed, json.loads(done.stdout) if "--json" in args else None


def set_publish(site: Path, target: str, endpoint: str) -> None:
    toml = site / "paylink.toml"
    lines = [line for line in toml.read_text().splitlines() if not line.startswith("publish")]
    toml.write_text("\n".join([*lines, f'publish = "{target}"', f'publish_endpoint = "{endpoint}"']) + "\n")


def wrk(url: str, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c50", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    use_fake_credentials()
    results: dict = {"customers": args.customers}
    work = Path(tempfile.mkdtemp(prefix="paylink-publish-bench-"))
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        client = s3_client(endpoint)
        client.create_bucket(Bucket="bench")
        site = make_site(PAYLINK, work / "site", args.customers).root
        subprocess.run([*PAYLINK, "--site", str(site), "build"], check=True, capture_output=True)
        files = sorted(p for p in (site / "build").rglob("*") if p.is_file())
        results["files"] = len(files)

        # 1. first publish vs a plain put_object loop of the same files
        set_publish(site, "s3://bench/shop", endpoint)
        results["first_publish_s"], doc = paylink(site, "publish", "--json")
        results["first_publish"] = doc
        started = time.perf_counter()
        from paylink import layout

        for path in files:
            name = path.relative_to(site / "build").as_posix()
            client.put_object(
                Bucket="bench",
                Key=f"loop/{name}",
                Body=path.read_bytes(),
                ContentType=layout.content_type(name),
                CacheControl=layout.cache_control(name),
            )
        results["plain_put_loop_s"] = time.perf_counter() - started
        results["noop_publish_s"], results["noop_publish"] = paylink(site, "publish", "--json")

        # 2. one charge: pushed by the charge itself, and by a later publish
        results["charge_with_push_s"], _ = paylink(site, "charge", "1", "12.50", "Bench charge", "--json")
        set_publish(site, "s3://bench/shop", f"http://127.0.0.1:{free_port()}")
        paylink(site, "charge", "2", "12.50", "Bench charge", "--json", ok=(3,))
        set_publish(site, "s3://bench/shop", endpoint)
        results["publish_after_one_charge_s"], results["publish_after_one_charge"] = paylink(site, "publish", "--json")
        toml = (site / "paylink.toml").read_text()  # the same charge on the same site, publishing off
        (site / "paylink.toml").write_text("".join(x for x in toml.splitlines(True) if not x.startswith("publish")))
        results["charge_without_publish_s"], _ = paylink(site, "charge", "3", "12.50", "Bench charge", "--json")
    finally:
        moto.terminate()
        moto.wait()

    # 3. the Worker beside paylink serve (a small site: the Worker's R2 filled through its S3 endpoint)
    if shutil.which("wrk") and (REPO / "edge/worker/node_modules/miniflare").is_dir():
        small = make_site(PAYLINK, work / "small", 50).root
        keys = (small / "paylink.key").read_text().split()
        worker = subprocess.Popen(
            ["node", "test/serve.mjs", "--keys", ",".join(keys), "--prefix", "shop", "--bucket", "bench"],
            cwd=REPO / "edge/worker",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "WRANGLER_SEND_METRICS": "false"},
        )
        try:
            urls = json.loads(worker.stdout.readline())
            set_publish(small, "s3://bench/shop", urls["s3"])
            subprocess.run([*PAYLINK, "--site", str(small), "build"], check=True, capture_output=True)
            paylink(small, "publish", "--json")
            from data import BenchSite

            token, _ = BenchSite(small, 50).live_link(1)
            serve_port = free_port()
            serve = subprocess.Popen(
                [*PAYLINK, "--site", str(small), "serve", "--port", str(serve_port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_port(serve_port)
                time.sleep(1)
                results["worker_rps"] = wrk(f"{urls['worker']}/p/{token}", args.seconds)
                results["serve_rps"] = wrk(f"http://127.0.0.1:{serve_port}/p/{token}", args.seconds)
            finally:
                serve.terminate()
                serve.wait()
        finally:
            worker.stdin.close()
            worker.wait(timeout=20)
    shutil.rmtree(work, ignore_errors=True)

    rows = [
        (f"first publish, {results['files']} files (listing + upload)", f"{results['first_publish_s']:.1f} s"),
        ("plain sequential put_object loop, same files", f"{results['plain_put_loop_s']:.1f} s"),
        ("publish with nothing changed", f"{results['noop_publish_s']:.2f} s {results['noop_publish']}"),
        ("charge with publish (sends its page)", f"{results['charge_with_push_s']:.2f} s"),
        ("charge without publish", f"{results['charge_without_publish_s']:.2f} s"),
        (
            "publish after one charge",
            f"{results['publish_after_one_charge_s']:.2f} s {results['publish_after_one_charge']}",
        ),
    ]
    if "worker_rps" in results:
        rows += [
            ("Worker (workerd/Miniflare + R2), one live link", f"{results['worker_rps']:.0f} req/s"),
            ("paylink serve, same link", f"{results['serve_rps']:.0f} req/s"),
        ]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(json.dumps({"bench": "publish", **results}))


if __name__ == "__main__":
    main()
