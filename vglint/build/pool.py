"""The parent side of the probe: runs build jobs in a child process with a time and memory cap.

The parent never imports torch. One child (`python -m vglint.build.worker`) is reused across jobs
and replaced after one that kills it. Every job gets exactly one result, in order.

A job: `file` (or `module` with `project_root`), `target` (`kind`: class, variable, factory or auto;
`name`), `args`, `kwargs`, `input` (shapes) and `input_dtype`, or `input_hint` (the first layer),
`sequence_length`, `spatial`, `device`, `steps`, `id` (echoed back).

A result: `id`, `pid` (the child's, when it answered), `ok`; then `measurement` and `built`, or `kind`
(import, needs-arguments, raise, input, forward, not-a-module, not-found, timeout, memory, crash,
internal) and `reason`. A crash also has `stderr`, the child's last output.
"""

from __future__ import annotations

import importlib.util
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any

from vglint.build.worker import MEMORY_ENV

#: A child lives through a failure of these kinds only in a doubtful state: the next job gets a fresh one.
FATAL_KINDS = frozenset({"timeout", "memory", "crash"})
#: Importing torch takes seconds, more on a cold disk; not counted against a job's timeout.
STARTUP_TIMEOUT_S = 120.0
STDERR_TAIL_BYTES = 2048
_POLL_S = 0.05


def torch_available() -> bool:
    """Whether torch could be imported, without importing it."""
    return importlib.util.find_spec("torch") is not None


def run_jobs(
    jobs: list[dict[str, Any]],
    *,
    timeout_s: float = 60,
    memory_bytes: int = 4 << 30,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run each job in the child; one result per job, in order. `on_progress(done, total)` after each."""
    results: list[dict[str, Any]] = []
    worker: Worker | None = None
    address_cap = not any(_may_use_cuda(job.get("device")) for job in jobs)
    try:
        for index, job in enumerate(jobs):
            if worker is None or not worker.alive:
                worker = Worker(memory_bytes=memory_bytes, address_cap=address_cap)
            result = worker.run(job, timeout_s=timeout_s)
            if result.get("kind") in FATAL_KINDS:
                worker.close()
                worker = None
            results.append(result)
            if on_progress is not None:
                on_progress(index + 1, len(jobs))
    finally:
        if worker is not None:
            worker.close()
    return results


class Worker:
    """One child process; `run` sends it a job and waits for its answer, or for its end.

    The memory cap: the child sets RLIMIT_AS to `memory_bytes` on itself before importing torch
    (so an allocation over it fails as a MemoryError the child reports), unless `address_cap` is
    False (CUDA reserves far more address space than it uses). Either way the parent polls the
    child's resident size from /proc where there is one and kills it above the cap.
    """

    def __init__(self, *, memory_bytes: int = 4 << 30, address_cap: bool = True, cwd: str | None = None):
        self.memory_bytes = memory_bytes
        self._buffer = b""
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child; close()
        env = dict(os.environ)
        env.setdefault("MALLOC_ARENA_MAX", "2")  # glibc reserves 64 MiB of address space per thread otherwise
        env["PYTHONUNBUFFERED"] = "1"
        env.pop(MEMORY_ENV, None)
        if address_cap:
            env[MEMORY_ENV] = str(memory_bytes)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "vglint.build.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=cwd,
            start_new_session=os.name == "posix",
        )
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._process.stdout, selectors.EVENT_READ)
        self._ready: dict[str, Any] | None = None

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def run(self, job: dict[str, Any], *, timeout_s: float = 60) -> dict[str, Any]:
        """The child's result for `job`, or a timeout, memory or crash result (then the child is gone)."""
        if self._ready is None:
            self._ready = self._receive(STARTUP_TIMEOUT_S)
            if not self._ready.get("ready"):
                return {"id": job.get("id"), **self._ready}
        self._stderr.seek(0)  # the child writes at this shared offset: the tail is this job's
        self._stderr.truncate()
        try:
            self._process.stdin.write((json.dumps(job) + "\n").encode())
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"id": job.get("id"), **self._ended()}
        result = self._receive(timeout_s)
        result["id"] = job.get("id")
        if result.get("kind") == "memory" and "pid" in result:
            result.setdefault("detail", result.get("reason"))
            result["reason"] = _memory_reason(self.memory_bytes)
        return result

    def close(self) -> None:
        """End the child (and anything it started) and release its files."""
        if self._process.poll() is None:
            try:
                self._process.stdin.close()
                self._process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()  # and whatever the user's code started in the child's session
        self._selector.close()
        self._process.stdout.close()
        self._stderr.close()

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                return {
                    "ok": False,
                    "kind": "timeout",
                    "reason": f"did not finish in {timeout_s:g} s (raise the limit with --probe-timeout)",
                }
            if self._selector.select(min(remaining, _POLL_S)):
                chunk = os.read(self._process.stdout.fileno(), 1 << 16)
                if not chunk:
                    return self._ended()
                self._buffer += chunk
            elif _resident_bytes(self._process.pid) > self.memory_bytes:
                self._kill()
                return {"ok": False, "kind": "memory", "reason": _memory_reason(self.memory_bytes)}
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            answer = json.loads(line)
        except ValueError:
            self._kill()
            return {"ok": False, "kind": "crash", "reason": "the build process broke the protocol", **self._tail()}
        return answer if isinstance(answer, dict) else {"ok": False, "kind": "crash", "reason": "bad answer"}

    def _ended(self) -> dict[str, Any]:
        """The result for a child that closed its end: how it exited."""
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
            code = self._process.returncode
        tail = self._tail()
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            reason = f"the build process was killed by {name}"
            if name == "SIGKILL":
                reason += " (perhaps by the system, out of memory)"
        else:
            reason = f"the build process exited with code {code}"
        if "MemoryError" in tail.get("stderr", ""):
            return {"ok": False, "kind": "memory", "reason": _memory_reason(self.memory_bytes), **tail}
        return {"ok": False, "kind": "crash", "reason": reason, **tail}

    def _kill(self) -> None:
        try:
            if os.name == "posix":
                os.killpg(self._process.pid, signal.SIGKILL)
            else:
                self._process.kill()
        except (ProcessLookupError, PermissionError, OSError):
            pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def _tail(self) -> dict[str, str]:
        try:
            self._stderr.flush()
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - STDERR_TAIL_BYTES))
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return {}
        return {"stderr": text} if text else {}


def _memory_reason(memory_bytes: int) -> str:
    gib = memory_bytes / (1 << 30)
    shown = f"{round(gib, 2):g} GiB" if gib >= 1 else f"{memory_bytes / (1 << 20):.0f} MiB"
    return f"ran out of memory (limit {shown}; raise it with --probe-memory, or give a smaller input in [tool.vglint.models])"


def _resident_bytes(pid: int) -> int:
    """The child's resident set size, from /proc (0 where there is none)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _may_use_cuda(device: str | None) -> bool:
    """Whether the child may initialise CUDA, whose reservations no address-space cap allows."""
    if device in (None, "auto"):
        return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/kfd"))
    return str(device).startswith("cuda")
