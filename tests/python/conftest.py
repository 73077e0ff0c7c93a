"""Fixtures that run the real strikemq binary on free ports for the client tests."""

import os
import shutil
import tempfile
import uuid

import pytest

from broker_process import BrokerProcess


@pytest.fixture
def broker_factory():
    started = []
    dirs = []

    def make(*extra_args, nofile=None):
        d = tempfile.mkdtemp(prefix="strikemq-test-")
        dirs.append(d)
        b = BrokerProcess(os.path.join(d, "data"), extra_args, nofile=nofile).start()
        started.append(b)
        return b

    yield make
    for b in started:
        b.kill()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def broker():
    d = tempfile.mkdtemp(prefix="strikemq-test-")
    b = BrokerProcess(os.path.join(d, "data")).start()
    yield b
    code = b.stop()
    shutil.rmtree(d, ignore_errors=True)
    assert code == 0, "broker did not exit cleanly"


@pytest.fixture
def topic():
    """A fresh topic name per test."""
    return "t-" + uuid.uuid4().hex[:12]
