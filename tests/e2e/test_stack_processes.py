"""The whole system as processes, as ``make run`` starts it: smoke passes against it, and SIGINT
stops everything it started."""

import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stack.embedded import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _port_offset() -> int:
    for _ in range(50):
        offset = random.randrange(10_000, 30_000, 10)
        if all(_free(8000 + offset + i) for i in range(1, 5)):
            return offset
    raise RuntimeError("no free port range")


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_make_run_serves_smoke_and_stops_everything_on_sigint(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    offset = _port_offset()
    postgres_port, kafka_port = free_port(), free_port()
    log = (tmp_path / "run.log").open("w+b")
    run = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "stack.run", "--data-dir", str(data_dir),
         "--port-offset", str(offset), "--postgres-port", str(postgres_port),
         "--kafka-port", str(kafka_port)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while b"all four services are ready" not in (tmp_path / "run.log").read_bytes():
            assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the stack did not become ready"
            time.sleep(0.3)
        smoke = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "stack.smoke", "--accounts-file",
             str(data_dir / "accounts.json"), "--port-offset", str(offset)],
            cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "smoke test passed" in smoke.stdout
        assert "a signed LINE webhook is accepted" in smoke.stdout
        assert "a Telegram update is accepted" in smoke.stdout
        _check_demo_tokens(data_dir, offset)
        _check_metrics_with_promtool(offset)
        _fuzz_openapi_with_schemathesis(offset)
    finally:
        run.send_signal(signal.SIGINT)
        code = run.wait(timeout=90)
    output = (tmp_path / "run.log").read_text()
    assert code == 0, output[-3000:]
    assert "[stack] stopped" in output
    assert _processes_mentioning(str(data_dir)) == [], "a process outlived make run"
    ports = [8000 + offset + i for i in range(1, 5)] + [postgres_port, kafka_port]
    assert all(_free(port) for port in ports), "a port of the stack is still open"


def _check_demo_tokens(data_dir: Path, offset: int) -> None:
    """The tokens make run made open the admin APIs, and the claim page is on."""
    tokens = json.loads((data_dir / "tokens.json").read_text())
    assert (data_dir / "tokens.json").stat().st_mode & 0o077 == 0, "readable by others"
    agent = urllib.request.Request(
        f"http://127.0.0.1:{8003 + offset}/v1/admin/agents", method="POST",
        data=json.dumps({"id": "demo-agent", "name": "Demo"}).encode(),
        headers={"Authorization": f"Bearer {tokens['RESPONDER_ADMIN_TOKEN']}",
                 "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(agent, timeout=10) as response:  # noqa: S310
        assert response.status == 201
    campaigns = urllib.request.Request(
        f"http://127.0.0.1:{8004 + offset}/v1/campaigns",
        headers={"Authorization": f"Bearer {tokens['COUPONS_OPERATOR_TOKEN']}"},
    )
    with urllib.request.urlopen(campaigns, timeout=10) as response:  # noqa: S310
        assert response.status == 200
    # a link without its signature is refused as damaged (400), not as a page that is off (403)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{8004 + offset}/p/abc", timeout=10)
    assert refused.value.code == 400


def _check_metrics_with_promtool(offset: int) -> None:
    """Every service's /metrics must be valid exposition text for Prometheus' own linter."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return  # .ci/run installs it; a developer machine may not have it
    for port in range(8001 + offset, 8005 + offset):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            exposition = response.read()
        checked = subprocess.run(  # noqa: S603
            [promtool, "check", "metrics"], input=exposition, capture_output=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def _fuzz_openapi_with_schemathesis(offset: int) -> None:
    """Requests generated from each service's own OpenAPI document never get a 5xx."""
    schemathesis = Path(sys.executable).parent / "schemathesis"
    for port in range(8001 + offset, 8005 + offset):
        fuzzed = subprocess.run(  # noqa: S603
            [str(schemathesis), "run", f"http://127.0.0.1:{port}/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", "30", "--request-timeout", "10"],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert fuzzed.returncode == 0, fuzzed.stdout[-3000:] + fuzzed.stderr[-2000:]
