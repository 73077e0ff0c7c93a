"""The README's curl examples run as written against a broker (with its real port)."""

import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_rest_examples_in_the_readme_work(broker):
    text = README.read_text()
    block = re.search(r"<!-- rest-examples -->\n```sh\n(.*?)```", text, re.S).group(1)
    commands = [l for l in block.splitlines() if l.strip()]
    assert len(commands) >= 8
    for cmd in commands:
        cmd = cmd.replace("127.0.0.1:8080", f"127.0.0.1:{broker.http_port}")
        r = subprocess.run(["bash", "-c", cmd + " -w '\\n%{http_code}'"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (cmd, r.stderr)
        status = r.stdout.strip().splitlines()[-1]
        assert status in ("200", "201"), (cmd, r.stdout)
