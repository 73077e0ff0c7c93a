"""The README as a newcomer reads it: every command and code block that can run here runs as written
(against a broker started by the test, its real port substituted for 9092 and 8080), and the
tables that describe the binary match the binary."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from broker_process import REPO, broker_binary

README = REPO / "README.md"
NODE_MODULES = REPO / "tests" / "node" / "node_modules"


def readme():
    return README.read_text()


def block(name):
    """The fenced block right after `<!-- readme-test: name -->`."""
    m = re.search(rf"<!-- readme-test: {re.escape(name)} -->\n```[a-z]*\n(.*?)```", readme(), re.S)
    assert m, f"README block {name} is missing"
    return m.group(1)


def on(broker, text):
    return text.replace("127.0.0.1:9092", broker.bootstrap).replace("127.0.0.1:8080", f"127.0.0.1:{broker.http_port}")


def kcat_read(broker, topic):
    r = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", topic, "-e", "-f", "%k=%s\\n"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_rest_examples_in_the_readme_work(broker):
    text = readme()
    rest = re.search(r"<!-- rest-examples -->\n```sh\n(.*?)```", text, re.S).group(1)
    commands = [line for line in rest.splitlines() if line.strip()]
    assert len(commands) >= 8
    for cmd in commands:
        r = subprocess.run(["bash", "-c", on(broker, cmd) + " -w '\\n%{http_code}'"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (cmd, r.stderr)
        status = r.stdout.strip().splitlines()[-1]
        assert status in ("200", "201"), (cmd, r.stdout)


def test_try_it_blocks_run_as_written_in_order(broker_factory):
    """kcat, then Python, then Node, on one fresh broker: each sees what the ones before wrote."""
    b = broker_factory()
    outputs = []
    for cmd in [line for line in block("kcat").splitlines() if line.strip()]:
        r = subprocess.run(["bash", "-c", on(b, cmd)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (cmd, r.stderr)
        outputs.append(r.stdout)
    assert "1 brokers:" in outputs[0] and f"broker 0 at 127.0.0.1:{b.port}" in outputs[0], outputs[0]
    assert outputs[2].splitlines() == ["k1 = hello (offset 0)", "k2 = world (offset 1)"]

    r = subprocess.run([sys.executable, "-c", on(b, block("python"))], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['hello', 'world', 'from python']"

    env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
    r = subprocess.run(["node", "-e", on(b, block("node"))], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "offset: '4'" in r.stdout and "high: '4'" in r.stdout, r.stdout

    assert kcat_read(b, "demo") == ["k1=hello", "k2=world", "k3=from python", "k4=from node"]


def test_health_command(broker):
    env = dict(os.environ, STRIKEMQ_HTTP_PORT=str(broker.http_port))
    r = subprocess.run([broker_binary(), "health"], capture_output=True, text=True, timeout=30, env=env)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr
    r = subprocess.run([broker_binary(), "health", "--http-port", str(broker.port)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "strikemq:" in r.stderr, (r.stdout, r.stderr)


def help_settings():
    """(flag, env var) of every setting, from `strikemq --help`."""
    out = subprocess.run([broker_binary(), "--help"], capture_output=True, text=True, check=True).stdout
    settings = re.findall(r"^\s+--([a-z-]+)(?: <[A-Z_]+>)?\s.*?\[env: ([A-Z_]+)=?[^\]]*\]", out, re.M | re.S)
    flags = re.findall(r"^\s+--([a-z-]+)", out, re.M)
    return settings, [f for f in flags if f not in ("help", "version")]


def test_every_setting_is_in_the_readme_and_product_docs():
    settings, flags = help_settings()
    assert len(settings) == len(flags) >= 20, (settings, flags)
    readme_rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `--([a-z-]+)` \|.*$", readme(), re.M)}
    product = (REPO / "docs" / "PRODUCT.md").read_text()
    for flag, env in settings:
        assert flag in readme_rows, f"--{flag} is not in the README's configuration table"
        assert f"`{env}" in readme_rows[flag], f"--{flag}: README row lacks {env}"
        assert f"`--{flag}`" in product and env in product, f"--{flag} / {env} not in docs/PRODUCT.md"
    assert set(readme_rows) == {f for f, _ in settings}, "the README lists a flag the binary does not have"


def test_the_readme_api_table_is_generated_from_the_codec():
    sys.path.insert(0, str(REPO / "tests" / "compat"))
    from report import readme_with_api_versions
    text = readme()
    assert readme_with_api_versions(text) == text, \
        "README's API table is stale: run tests/.venv/bin/python tests/compat/report.py --readme"


def test_dockerfile_uses_real_settings_and_commands():
    docker = (REPO / "Dockerfile").read_text()
    settings, _ = help_settings()
    envs = {env for _, env in settings}
    env_block = re.search(r"^ENV (.*?)(?=^\S)", docker, re.M | re.S).group(1)
    declared = re.findall(r"(STRIKEMQ_[A-Z_]+)=", env_block)
    assert declared and set(declared) <= envs, set(declared) - envs
    assert re.search(r"^USER strikemq$", docker, re.M), "the image must not run as root"
    health = re.search(r'^HEALTHCHECK .*?CMD \["([^"]+)", "([^"]+)"\]', docker, re.M | re.S)
    assert health and health.group(2) == "health"
    assert re.search(r"^EXPOSE 9092 8080$", docker, re.M)
    assert "target" in (REPO / ".dockerignore").read_text().split()
    toolchain = re.search(r'^rust-version = "([0-9.]+)"', (REPO / "Cargo.toml").read_text(), re.M).group(1)
    assert f"FROM rust:{toolchain}-" in docker


@pytest.mark.parametrize("manifest", sorted(str(p.relative_to(REPO)) for p in (REPO / "crates").glob("*/Cargo.toml")))
def test_every_library_crate_has_package_metadata(manifest):
    meta = json.loads(subprocess.run(["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
                                     cwd=REPO, capture_output=True, text=True, check=True).stdout)
    pkg = next(p for p in meta["packages"] if p["manifest_path"] == str(REPO / manifest))
    for field in ("description", "license", "repository", "readme", "rust_version"):
        assert pkg.get(field), f"{pkg['name']}: {field} missing"
    assert pkg["keywords"] and pkg["categories"], pkg["name"]
    assert (Path(pkg["manifest_path"]).parent / pkg["readme"]).exists()
    lib = (Path(pkg["manifest_path"]).parent / "src" / "lib.rs").read_text()
    assert "#![deny(missing_docs)]" in lib and "```" in lib, f"{pkg['name']}: crate docs need an example and deny(missing_docs)"


def test_the_config_file_example_starts_a_broker(tmp_path):
    """The README's TOML example, with its port and data directory moved to free ones."""
    import tomllib
    text = block("config")
    example = tomllib.loads(text)
    assert example["port"] == 19092 and example["flush"] == "always"
    text = text.replace("port = 19092", "port = 0").replace(example["data_dir"], str(tmp_path / "data"))
    (tmp_path / "strikemq.toml").write_text(text)
    proc = subprocess.Popen([broker_binary(), "--config", str(tmp_path / "strikemq.toml"), "--bind", "127.0.0.1",
                             "--http-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        banner = []
        for line in proc.stdout:
            banner.append(line)
            if line.startswith("Ready in"):
                break
        banner = "".join(banner)
        assert "flush: always" in banner and str(tmp_path / "data") in banner, banner
        port = int(re.search(r"accepting Kafka connections on [^:]+:(\d+)", banner).group(1))
        r = subprocess.run(["kcat", "-b", f"127.0.0.1:{port}", "-L", "-t", "configured"],
                           capture_output=True, text=True, timeout=30)
        assert "3 partitions" in r.stdout, r.stdout  # default_partitions = 3, topic auto-created
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_bench_command_runs(broker):
    """The load tool as the README shows it, with fewer round trips (the debug build is slow)."""
    bench = str(Path(broker_binary()).with_name("strikemq-bench"))
    cmd = block("bench").strip()
    assert cmd.startswith("cargo run --release -p strikemq-bench -- latency --bootstrap 127.0.0.1:9092")
    args = on(broker, cmd).split(" -- ", 1)[1].split()
    r = subprocess.run([bench, *args, "--count", "200", "--warmup", "20", "--rounds", "2", "--e2e", "50", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["produce"]["count"] == 200 and report["produce"]["p50_us"] > 0, report
    assert report["baseline"]["count"] == 200 and report["end_to_end"]["count"] == 50, report
