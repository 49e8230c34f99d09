"""``moto_server`` (S3, SQS, SNS) as a subprocess for the tests, on a free port."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import boto3

from tests import processes

REGION = "us-east-1"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Moto:
    """A running ``moto_server``; clients for its S3, SQS and SNS."""

    def __init__(self, log: pathlib.Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log_file, stderr=subprocess.STDOUT, env={**os.environ, **AWS_ENV})
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start:\n{log.read_text(errors='replace')}") from None
                time.sleep(0.05)

    def client(self, service: str) -> Any:
        return boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                     region_name=REGION).client(service, endpoint_url=self.url)

    def stop(self) -> None:
        processes.stop(self.proc)
        self.log_file.close()
