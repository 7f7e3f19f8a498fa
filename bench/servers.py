"""Service processes for the HTTP benchmarks: the Linli service as ``linli serve`` runs it, and
the bare ceiling app, both under the same server (uvicorn, or granian) with the same worker count.
Each process is started here, in a session of its own, and only that one is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import machine

BIN = Path(sys.executable).parent


class Server:
    def __init__(
        self, name: str, command: list[str], env: dict[str, str], port: int, log: Path
    ) -> None:
        self.name, self.command, self.env, self.port, self.log = name, command, env, port, log
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_kib = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, health: str, timeout: float = 180.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            self.command,
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + health, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"{self.name} did not answer {health} in {timeout} s")
        time.sleep(0.5)  # every worker up

    def pids(self) -> list[int]:
        if self.process is None:
            return []
        return [self.process.pid, *machine.children(self.process.pid)]

    def workers(self) -> list[int]:
        """The processes that serve requests (uvicorn's supervisor only watches them)."""
        kids = machine.children(self.process.pid) if self.process else []
        python = [k for k in kids if _is_python(k)]
        return python or ([self.process.pid] if self.process else [])

    def peak_rss_mib(self) -> float:
        """The largest peak resident set (VmHWM) of a serving process so far."""
        kib = max((machine.status_kib(p, "VmHWM") for p in self.workers()), default=0)
        self.peak_kib = max(self.peak_kib, kib)
        return self.peak_kib / 1024

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.peak_rss_mib()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the session this harness started
            self.process.wait(timeout=10)


def _is_python(pid: int) -> bool:
    try:
        return b"python" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def linli(
    env: dict[str, str], port: int, workers: int, log: Path, server: str = "uvicorn"
) -> Server:
    """The service exactly as ``linli serve`` starts it (migrations first, then the server)."""
    if server == "granian":
        command = [
            str(BIN / "granian"), "--interface", "asgi", "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--log-level", "warning",
            "--no-ws", "service.app:app_from_env",
        ]  # fmt: skip
    else:
        command = [
            str(BIN / "linli"), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers),
        ]  # fmt: skip
    return Server(f"linli:{port}", command, env, port, log)


def bare(port: int, workers: int, log: Path, server: str = "uvicorn") -> Server:
    if server == "granian":
        command = [
            str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--log-level", "warning",
            "--no-ws", "bench.bare:app",
        ]  # fmt: skip
    else:
        command = [
            str(BIN / "python"), "-m", "uvicorn", "bench.bare:app", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--log-level", "warning",
            "--no-proxy-headers",
        ]  # fmt: skip
    return Server(f"bare:{port}", command, {}, port, log)
