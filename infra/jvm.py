"""Start, find and stop the stack's JVMs.

A JVM started here carries ``-Dsurge.stack=<stack dir>:<name>`` on its command line and has a
pid file; ``stop`` kills a pid only if its command line still carries that mark, so a recycled
pid or somebody else's Java is never touched.
"""

from __future__ import annotations

import errno
import functools
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import psutil

from infra.errors import StackError

MIN_JAVA = 17
STOP_GRACE_S = 30.0


@dataclass(frozen=True)
class JvmSpec:
    name: str
    main_class: str
    classpath: str
    heap: str
    args: tuple[str, ...] = ()
    system_properties: tuple[str, ...] = ()


def java_binary(java_home: Path | None) -> str:
    """The ``java`` to run, checked to be version 17 or newer."""
    java = str(java_home / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).exists():
        raise StackError(f"Java {MIN_JAVA}+ is needed: install a JDK or set SURGE_JAVA_HOME")
    banner = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    found = re.search(r'version "(\d+)(?:\.(\d+))?', banner)
    major = int(found.group(1)) if found else 0
    if major == 1 and found.group(2):  # "1.8.0_402" style
        major = int(found.group(2))
    if major < MIN_JAVA:
        raise StackError(
            f"{java} is Java {major or '?'}; the stack needs {MIN_JAVA}+ "
            "(set SURGE_JAVA_HOME to a newer JDK)"
        )
    return java


def check_port_free(host: str, port: int, what: str, env_name: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the JVM servers do: connections in TIME_WAIT must not make a free port look taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise StackError(
                f"port {host}:{port} ({what}) is taken by another process: "
                f"stop it, or choose another port with {env_name}"
            ) from None


class JvmProcesses:
    """The JVMs of one stack directory: pid files in ``run/``, logs in ``logs/``."""

    def __init__(self, stack_dir: Path, java_home: Path | None = None):
        self.stack_dir = stack_dir
        self.java_home = java_home
        self.run_dir = stack_dir / "run"
        self.log_dir = stack_dir / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, spec: JvmSpec) -> subprocess.Popen:
        """Start ``spec`` detached from this process (it outlives ``make stack-up``)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self._log(spec) as log:
            proc = subprocess.Popen(**self._launch(spec, log), start_new_session=True)
        (self.run_dir / f"{spec.name}.pid").write_text(str(proc.pid))
        return proc

    def run(self, spec: JvmSpec) -> None:
        """Run a short JVM tool (formatting) to completion, failing with its log tail."""
        with self._log(spec) as log:
            code = subprocess.run(**self._launch(spec, log)).returncode
        if code != 0:
            raise StackError(f"{spec.name} failed (exit {code}):\n{self.log_tail(spec.name)}")

    def _log(self, spec: JvmSpec) -> BinaryIO:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_path(spec.name).open("ab")

    def _launch(self, spec: JvmSpec, log: BinaryIO) -> dict:
        """What every JVM of the stack is started with: its log as output, no input."""
        return dict(
            args=self.command(spec),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.stack_dir,
        )

    @functools.cached_property
    def java(self) -> str:
        """Looked up on first start only: stopping and status never need Java."""
        return java_binary(self.java_home)

    def command(self, spec: JvmSpec) -> list[str]:
        return [
            self.java,
            f"-Xmx{spec.heap}",
            f"-Dsurge.stack={self._mark(spec.name)}",
            *(f"-D{prop}" for prop in spec.system_properties),
            "-cp",
            spec.classpath,
            spec.main_class,
            *spec.args,
        ]

    def running(self, name: str) -> psutil.Process | None:
        """The live JVM started here as ``name``, or None."""
        try:
            pid = int((self.run_dir / f"{name}.pid").read_text())
            proc = psutil.Process(pid)
            mark = f"-Dsurge.stack={self._mark(name)}"
            return proc if mark in _cmdline(proc) and proc.status() != "zombie" else None
        except (FileNotFoundError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def stop(self, names: list[str]) -> list[str]:
        """SIGTERM all, then SIGKILL what outlives the grace period. Returns the names stopped."""
        found = {name: self.running(name) for name in names}
        procs = [proc for proc in found.values() if proc is not None]
        for proc in procs:
            proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=STOP_GRACE_S)
        for straggler in alive:
            straggler.kill()
        psutil.wait_procs(alive, timeout=10)
        for name in names:
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        return [name for name, proc in found.items() if proc is not None]

    def log_tail(self, name: str, lines: int = 25) -> str:
        path = self.log_path(name)
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:]) + f"\n(full log: {path})"

    def _mark(self, name: str) -> str:
        return f"{self.stack_dir}:{name}"


def _cmdline(proc: psutil.Process, tries: int = 5) -> list[str]:
    """The process's command line. /proc can give a live process's as empty for a moment
    (its memory busy or being set up): asked again before it counts as not ours."""
    for _ in range(tries - 1):
        cmdline = proc.cmdline()
        if cmdline:
            return cmdline
        time.sleep(0.05)
    return proc.cmdline()
