"""Shared fixtures: real keys, the Rust CLI binary, a loopback service."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, List

import pytest

import agentcap

REPO = Path(__file__).resolve().parents[2]


def _cli_path() -> Path:
    configured = os.environ.get("AGENTCAP_BIN")
    return Path(configured) if configured else REPO / "target" / "debug" / "agentcap"


@pytest.fixture(scope="session")
def cli() -> Path:
    """The agentcap CLI built from this repository (cargo build --workspace --bins)."""
    path = _cli_path()
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `cargo build --workspace --bins --locked` first")
    return path


def run_cli(cli: Path, *args: str, check: bool = True, env_extra=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(env_extra or {})
    result = subprocess.run(
        [str(cli), *args], capture_output=True, text=True, timeout=60, env=env
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"agentcap {' '.join(args[:2])} exited {result.returncode}: {result.stderr}"
        )
    return result


@pytest.fixture
def root() -> agentcap.KeyPair:
    return agentcap.KeyPair.generate()


@pytest.fixture
def agent() -> agentcap.KeyPair:
    return agentcap.KeyPair.generate()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """`agentcap serve` on 127.0.0.1, stopped at the end of the test."""

    def __init__(self, cli: Path, root_public: agentcap.PublicKey, extra: List[str], tmp: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            str(cli), "serve",
            "--root-public-key", str(root_public),
            "--listen", f"127.0.0.1:{self.port}",
            *extra,
        ]
        env = dict(os.environ, AGENTCAP_STATE_DIR=str(tmp / "state"))
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"agentcap serve exited: {self.process.stderr.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("agentcap serve did not start within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def serve(cli: Path, tmp_path: Path) -> Iterator:
    """Starts services: serve(root_public, *extra_args) -> Service."""
    started: List[Service] = []

    def start(root_public: agentcap.PublicKey, *extra: str) -> Service:
        service = Service(cli, root_public, list(extra), tmp_path)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
