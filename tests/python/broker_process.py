"""Runs the strikemq binary: start, stop, kill and restart it on the same port and data."""

import os
import re
import resource
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"accepting Kafka connections on [^:]+:(\d+)")
HTTP = re.compile(r"^\s*http\s+\S+:(\d+) \(REST")


def broker_binary() -> str:
    path = os.environ.get("STRIKEMQ_BIN") or str(REPO / "target" / "debug" / "strikemq")
    if not os.path.exists(path):
        raise RuntimeError(f"strikemq binary not found at {path}: build it first (cargo build)")
    return path


class BrokerProcess:
    """One strikemq process; start/stop/kill it, and restart it on the same port and data."""

    def __init__(self, data_dir: str, extra_args=(), nofile=None):
        """`nofile`: a descriptor limit (`ulimit -n`) for the broker process."""
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.nofile = nofile
        self.port = 0
        self.http_port = 0
        self.proc = None
        self.log_path = Path(data_dir + ".log")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self):
        args = [
            broker_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--http-port", str(self.http_port),
            "--data-dir", self.data_dir,
            "--io-threads", "2",
            *self.extra_args,
        ]
        log = open(self.log_path, "ab")
        limit = self.nofile

        def set_limits():
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=log, text=True, preexec_fn=set_limits
        )
        deadline = time.time() + 30
        for line in self.proc.stdout:
            h = HTTP.search(line)
            if h:
                self.http_port = int(h.group(1))
            m = READY.search(line)
            if m:
                self.port = int(m.group(1))
                break
            if time.time() > deadline:
                break
        if not self.port:
            self.proc.kill()
            raise RuntimeError("broker did not report ready; see " + str(self.log_path))
        return self

    def stop(self):
        """SIGTERM and wait: a clean shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("broker did not stop within 10 s of SIGTERM")
        if self.proc:
            rc = self.proc.returncode
            self.proc.stdout.close()
            self.proc = None
            return rc

    def kill(self):
        """SIGKILL: a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()
