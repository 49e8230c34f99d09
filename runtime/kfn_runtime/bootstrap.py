"""A provided runtime's ``bootstrap`` as a child process: its environment, start, output, exit and kill.

The child leads a process group of its own, so that a kill reaches whatever it started (a shell
script's interpreter, ``npx``'s ``node``), and its stdout and stderr are copied into the
function's log stream, as Lambda sends both to CloudWatch.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from typing import TextIO

from kfn_runtime import config, context, errors, loading

__all__ = ["Process", "Output", "environment", "path_of", "spawn"]

BOOTSTRAP = "bootstrap"
_READ_BYTES = 65536
_REAP_SECONDS = 5.0
# Worded as Go's os/exec prints them, which is what Lambda's "Runtime exited" errors show.
_SIGNALS = {int(signal.SIGKILL): "killed", int(signal.SIGTERM): "terminated", int(signal.SIGSEGV): "segmentation fault",
            int(signal.SIGABRT): "aborted", int(signal.SIGINT): "interrupt", int(signal.SIGBUS): "bus error"}


def path_of(cfg: config.FunctionConfig) -> str:
    """Where Lambda looks for a provided function's runtime: ``bootstrap`` in the task root."""
    return os.path.join(cfg.code_dir, BOOTSTRAP)


def environment(cfg: config.FunctionConfig, identity: context.Identity, *, runtime_api: str,
                base: Mapping[str, str]) -> dict[str, str]:
    """The bootstrap's environment: the host's (without kfn's own settings), the function's, Lambda's.

    The directory of the Python running this host comes first on PATH, so that a bootstrap that
    runs ``python -m awslambdaric`` finds the environment kfn was installed into.
    """
    env = {k: v for k, v in base.items() if not k.startswith("KFN_")}
    env.update(cfg.env)
    env.update(loading.lambda_environment(cfg, identity))
    env["AWS_LAMBDA_RUNTIME_API"] = runtime_api
    own_bin = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join(filter(None, [own_bin, env.get("PATH", os.defpath)]))
    return env


class Output:
    """Copies what the child writes (one pipe for stdout and stderr) into the function's log.

    ``drain()`` reads what is already in the pipe at once: called when the runtime answers, it
    puts the handler's output before the END line that follows. The runtime interface clients
    end the lines of a multi-line record with ``\r``, as CloudWatch wants them; they become
    ``\n`` here, as in the Python host's records, so that a terminal shows them.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.read_fd, self.drain)
        self._open = True

    def child_started(self) -> None:
        """The child holds the write end now; ours would keep the pipe from ever ending."""
        os.close(self.write_fd)
        self.write_fd = -1

    def drain(self) -> None:
        while self._open:
            try:
                chunk = os.read(self.read_fd, _READ_BYTES)
            except BlockingIOError:
                break
            if not chunk:
                self.close()
                break
            self._write(self._decoder.decode(chunk))
        self.out.flush()  # a line without its newline yet must not wait behind the next record

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._loop.remove_reader(self.read_fd)
        os.close(self.read_fd)
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1
        self._write(self._decoder.decode(b"", final=True))

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text.replace("\r\n", "\n").replace("\r", "\n"))


class Process:
    """A started bootstrap; ``exited`` finishes with its exit status (negative: the signal)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.pid = proc.pid
        self._proc = proc
        self.exited: asyncio.Task[int] = asyncio.get_running_loop().create_task(self._reap())

    @property
    def alive(self) -> bool:
        return not self.exited.done()

    def exit_reason(self) -> str:
        """As Lambda words it: ``Runtime exited with error: exit status 1`` / ``signal: killed``."""
        code = self._proc.returncode
        if code is None:
            return "Runtime exited without providing a reason"
        if code < 0:
            return f"Runtime exited with error: signal: {_SIGNALS.get(-code, str(-code))}"
        if code == 0:
            return "Runtime exited without providing a reason"
        return f"Runtime exited with error: exit status {code}"

    def peak_memory_bytes(self) -> int | None:
        """The child's peak resident memory (``VmHWM``), for REPORT lines; None once it is gone."""
        try:
            with open(f"/proc/{self.pid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"VmHWM:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return None

    async def kill(self) -> None:
        """SIGKILL the whole group and wait (bounded) until the child is reaped."""
        self._signal(signal.SIGKILL)
        await self._settle(_REAP_SECONDS)

    async def stop(self, grace: float) -> None:
        """SIGTERM the group, then SIGKILL what is left after ``grace`` seconds."""
        if not self.alive:
            return
        self._signal(signal.SIGTERM)
        if not await self._settle(grace):
            await self.kill()

    async def _settle(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), timeout)
        return not self.alive

    async def _reap(self) -> int:
        code = await self._proc.wait()
        self._signal(signal.SIGKILL)  # what the child left behind in its group
        return code

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


async def spawn(path: str, *, env: Mapping[str, str], cwd: str, output: Output) -> Process:
    """Start ``path``; a missing or unrunnable file is Lambda's ``Runtime.InvalidEntrypoint``."""
    try:
        proc = await asyncio.create_subprocess_exec(
            path, env=dict(env), cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=output.write_fd,
            stderr=output.write_fd, start_new_session=True)
    except FileNotFoundError:
        raise errors.InitError("Runtime.InvalidEntrypoint", f"Couldn't find valid bootstrap(s): [{path}]") from None
    except OSError as e:
        raise errors.InitError("Runtime.InvalidEntrypoint",
                               f"fork/exec {path}: {(e.strerror or str(e)).lower()}") from None
    output.child_started()
    return Process(proc)
