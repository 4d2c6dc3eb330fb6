"""Shared fixtures: the repository root, the golden fixtures, and osmem-server (the in-memory
OpenSearch the Rust integration tests use), started the same way: a fresh server on a free
loopback port per test, killed afterwards."""

import json
import os
import pathlib
import subprocess
import sys
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
GOLDEN = REPO / "crates" / "sonar-mvad" / "tests" / "golden"
TEMPLATE = REPO.parent / "shared" / "reference" / "wazuh-template-4.x.json"


def osmem_binary():
    """SONAR_OSMEM_BIN (scripts/test.sh sets it), else the osmem_server package of python3."""
    path = os.environ.get("SONAR_OSMEM_BIN")
    if path:
        return path
    try:
        out = subprocess.run(
            ["python3", "-c", "import osmem_server; print(osmem_server.resolve_binary())"],
            capture_output=True, text=True, check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.fail("osmem-server not found: run scripts/test.sh or pip install osmem-server==0.1.6")
    return out.stdout.strip()


class Osmem:
    def __init__(self):
        self.proc = subprocess.Popen(
            [osmem_binary(), "-addr", "127.0.0.1:0", "-no-ja", "-no-stdin-watch",
             "-parent-pid", str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        banner = json.loads(self.proc.stdout.readline())
        self.url = banner["url"]
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def request(self, method, path, body=None, ndjson=False):
        data = None
        headers = {}
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            headers["content-type"] = "application/x-ndjson" if ndjson else "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"null")

    def bulk_index(self, index, docs):
        for i in range(0, len(docs), 2000):
            lines = []
            for doc in docs[i:i + 2000]:
                lines.append(json.dumps({"index": {"_index": index}}))
                lines.append(json.dumps(doc))
            reply = self.request("POST", "/_bulk", "\n".join(lines) + "\n", ndjson=True)
            assert reply["errors"] is False, str(reply)[:500]
        self.request("POST", f"/{index}/_refresh")

    def count(self, index):
        return self.request("POST", f"/{index}/_search", {"size": 0, "track_total_hits": True})[
            "hits"]["total"]["value"]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def osmem():
    server = Osmem()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def repo_cwd(monkeypatch):
    """Run from the repository root, where config/default_config.yaml is."""
    monkeypatch.chdir(REPO)
    return REPO


def read_ndjson(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def pytest_report_header(config):
    return f"sonar tests: repo {REPO}, python {sys.version.split()[0]}"
