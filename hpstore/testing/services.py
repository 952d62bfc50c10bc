"""Throw-away servers on 127.0.0.1 for tests and benchmarks: an S3-compatible server (moto_server, in
memory), with the standard ``AWS_*`` variables pointing at it while it runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def s3_server(timeout: float = 20.0) -> Iterator[str]:
    """Run moto_server (``pip install 'moto[s3,server]'``) on a free port; yield its endpoint URL with the
    ``AWS_*`` variables set for it, and restore them and stop the server afterwards. Raises RuntimeError if
    it does not start within ``timeout`` seconds."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    saved = {k: os.environ.get(k) for k in AWS}
    os.environ.update(
        AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint, AWS_ALLOW_HTTP="true",
    )  # fmt: skip
    try:
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.terminate()
        server.wait(timeout=10)
