"""An S3 store for the publish measurements: moto's server on 127.0.0.1, and the floor that uploads to it.

moto (``python -m moto.server``) runs in its own process on a free loopback
port with fake credentials; it keeps objects in memory, so between measured
runs it is reset (``POST /moto-api/reset``) and the bucket made again: every
run is a first publish into an empty bucket. Its recorder
(``/moto-api/recorder/...``) lists the requests that reach it, which is how
the bench counts what a publish after one charge sent.

Run as a script, this module is the floor: a plain loop of boto3
``put_object`` calls uploading every file of a build folder, with the
Content-Type and Cache-Control the edge would send, one after the other.

    python bench/s3.py ENDPOINT BUCKET PREFIX BUILD_DIR
"""

import json
import os
import signal
import sys
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench-access-key",
    "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def s3_env() -> dict[str, str]:
    """This process's environment with moto's fake credentials, and no real AWS profile or config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FAKE_CREDENTIALS)
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


@dataclass
class Moto:
    """A running moto server: its endpoint and the recording file of its recorder."""

    endpoint: str
    recording: Path

    def client(self):
        import boto3

        return boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=self.endpoint)

    def _post(self, path: str) -> bytes:
        request = urllib.request.Request(self.endpoint + path, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.read()

    def empty_bucket(self, bucket: str) -> None:
        """Forget everything moto holds (reset), then make ``bucket`` again, empty."""
        self._post("/moto-api/reset")
        self.client().create_bucket(Bucket=bucket)

    def start_recording(self) -> None:
        self._post("/moto-api/recorder/reset-recording")
        self._post("/moto-api/recorder/start-recording")

    def stop_recording(self) -> list[dict]:
        """Stop the recorder; return the requests it saw: method, path and query of each."""
        self._post("/moto-api/recorder/stop-recording")
        requests = []
        for line in self.recording.read_text().splitlines():
            entry = json.loads(line)
            url = urllib.parse.urlsplit(entry["url"])
            requests.append({"method": entry["method"], "path": url.path, "query": url.query})
        return requests

    def object_count(self, bucket: str, prefix: str) -> int:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sum(page.get("KeyCount", 0) for page in pages)


def classify(requests: list[dict], bucket: str) -> dict[str, int]:
    """Count object uploads, deletions and listings among recorded S3 requests (path-style or virtual-host)."""
    counts = {"put_object": 0, "delete": 0, "list": 0, "other": 0}
    for request in requests:
        path, query = request["path"], urllib.parse.parse_qs(request["query"], keep_blank_values=True)
        key = path.lstrip("/")
        if key.startswith(bucket + "/") or key == bucket:
            key = key[len(bucket) + 1 :]
        if request["method"] == "PUT" and key and "uploadId" not in query:
            counts["put_object"] += 1
        elif request["method"] == "DELETE" or (request["method"] == "POST" and "delete" in query):
            counts["delete"] += 1
        elif request["method"] == "GET" and not key and ("list-type" in query or "prefix" in query or not query):
            counts["list"] += 1
        else:
            counts["other"] += 1
    return counts


@contextmanager
def moto_server(python: str, folder: Path):
    """Run moto's S3 server on a free loopback port until the block ends; yield a ``Moto``."""
    import http_load

    folder.mkdir(parents=True, exist_ok=True)
    port = http_load.free_port()
    endpoint = f"http://127.0.0.1:{port}"
    recording = folder / "moto-recording.jsonl"
    env = {**s3_env(), "MOTO_RECORDER_FILEPATH": str(recording)}
    argv = [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with http_load.running(
        argv, endpoint + "/moto-api/data.json", folder / "moto.log", stop_signal=signal.SIGINT, env=env
    ):
        yield Moto(endpoint, recording)


def build_files(build_dir: Path) -> list[str]:
    """Every file of a build folder, as paths relative to it with ``/``, temp files left out, sorted."""
    found = []
    for folder, dirs, files in os.walk(build_dir):
        dirs.sort()
        for name in sorted(files):
            if not name.startswith(".tmp-"):
                found.append(os.path.relpath(os.path.join(folder, name), build_dir).replace(os.sep, "/"))
    return found


def put_every_file(endpoint: str, bucket: str, prefix: str, build_dir: Path) -> int:
    """The floor: upload every file of ``build_dir`` with one put_object each; return how many."""
    import boto3
    from paylink import layout

    s3 = boto3.client("s3", endpoint_url=endpoint)
    names = build_files(build_dir)
    for name in names:
        with open(build_dir / name, "rb") as data:
            body = data.read()
        s3.put_object(
            Bucket=bucket,
            Key=f"{prefix}/{name}" if prefix else name,
            Body=body,
            ContentType=layout.content_type(name),
            CacheControl=layout.cache_control(name),
        )
    return len(names)


if __name__ == "__main__":
    endpoint, bucket, prefix, build = sys.argv[1:5]
    print(json.dumps({"uploaded": put_every_file(endpoint, bucket, prefix.strip("/"), Path(build))}))
