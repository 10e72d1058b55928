"""Running children and timing them: wall time, CPU time and peak RSS from wait4, and the small statistics the suite reports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


REPOSITORY = Path(__file__).resolve().parent.parent.parent


STARTED = time.monotonic()


MIB = 1024 * 1024


def log(message):
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


class BenchmarkError(Exception):
    pass


@dataclass
class Run:
    """One child process: wall time and peak RSS (from wait4's rusage, so no GNU time needed)."""
    wall_seconds: float
    peak_rss_kib: int
    status: int
    log: str
    cpu_seconds: float = 0.0

    def check(self, what):
        if self.status != 0:
            raise BenchmarkError(f"{what} exited with {self.status}; its output ({self.log}):\n{tail(self.log)}")
        return self


def tail(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


LAUNCHER = r"""
import json, os, sys, time
started = {}
for line in sys.stdin:
    request = json.loads(line)
    try:
        if request["op"] == "start":
            actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                       (os.POSIX_SPAWN_OPEN, 1, request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                       (os.POSIX_SPAWN_DUP2, 1, 2)]
            start = time.monotonic()
            pid = os.posix_spawnp(request["argv"][0], request["argv"], request["env"], file_actions=actions)
            started[pid] = start
            reply = {"pid": pid}
        elif request["op"] == "wait":
            pid, status, usage = os.wait4(request["pid"], os.WNOHANG if request["nohang"] else 0)
            reply = {"done": False} if pid == 0 else {
                "done": True, "status": os.waitstatus_to_exitcode(status), "maxrss": usage.ru_maxrss,
                "wall": time.monotonic() - started.pop(pid), "cpu": usage.ru_utime + usage.ru_stime}
        elif request["op"] == "signal":
            os.kill(request["pid"], request["signal"])
            reply = {}
    except OSError as error:
        reply = {"error": str(error)}
    print(json.dumps(reply), flush=True)
"""


class Launcher:
    """Starts children and reaps them with wait4, for their wall time, CPU time and peak RSS."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-I", "-S", "-c", LAUNCHER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, **request):
        self.process.stdin.write(json.dumps(request) + "\n")
        reply = json.loads(self.process.stdout.readline())
        if "error" in reply:
            raise BenchmarkError(f"cannot {request['op']} {request.get('argv', [request.get('pid')])[0]}: {reply['error']}")
        return reply

    def start(self, argv, env, log_path):
        return self.ask(op="start", argv=[str(a) for a in argv], env=dict(env or os.environ), log=str(log_path))["pid"]

    def wait(self, pid, log_path, nohang=False):
        """The finished child's Run, or None if it still runs (nohang)."""
        reply = self.ask(op="wait", pid=pid, nohang=nohang)
        if not reply["done"]:
            return None
        return Run(reply["wall"], reply["maxrss"], reply["status"], str(log_path), reply["cpu"])

    def stop(self, pid, log_path):
        """SIGTERM (SIGKILL after a minute); the child's Run."""
        self.ask(op="signal", pid=pid, signal=signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = self.wait(pid, log_path, nohang=True)
            if run:
                return run
            time.sleep(0.05)
        self.ask(op="signal", pid=pid, signal=signal.SIGKILL)
        return self.wait(pid, log_path)

    def close(self):
        self.process.stdin.close()
        self.process.wait()


LAUNCHER_PROCESS = None


def launcher():
    global LAUNCHER_PROCESS
    if LAUNCHER_PROCESS is None:
        LAUNCHER_PROCESS = Launcher()
    return LAUNCHER_PROCESS


def timed(argv, env, log_path):
    """Runs argv to completion with its output in log_path; its wall time, CPU time and peak RSS."""
    return launcher().wait(launcher().start(argv, env, log_path), log_path)


class Background:
    """A child running while the benchmark does other things, e.g. `narsync watch`."""

    def __init__(self, argv, env, log_path):
        self.log = Path(log_path)
        self.pid = launcher().start(argv, env, log_path)
        self.run = None

    def running(self):
        self.run = self.run or launcher().wait(self.pid, self.log, nohang=True)
        return self.run is None

    def stop(self):
        """Stops it if it still runs; its Run (peak RSS over its whole life)."""
        if self.running():
            self.run = launcher().stop(self.pid, self.log)
        return self.run


def stop(process):
    """Stops a process this one started (moto_server)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def output_of(argv, env=None, **kwargs):
    result = subprocess.run(argv, env=env, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise BenchmarkError(f"{' '.join(map(str, argv[:4]))} ... exited with {result.returncode}:\n{result.stderr[-3000:]}")
    return result.stdout


def wait_for(condition, what, timeout=60.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise BenchmarkError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def median(values):
    return statistics.median(values) if values else None


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def remove_tree(path):
    """Store paths are read-only: make the tree writable, then delete it."""
    if os.path.lexists(path):
        subprocess.run(["chmod", "-R", "u+w", str(path)], stderr=subprocess.DEVNULL)
        shutil.rmtree(path, ignore_errors=True)
