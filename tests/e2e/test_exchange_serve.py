"""`coinswarm exchange serve` as a user runs it: HTTPS on 127.0.0.1, a key file, a CA to trust."""

from __future__ import annotations

import json
import re
import signal
import ssl
import subprocess
import sys
import time

import httpx

from coinswarm.exchanges.local_coinbase import CdpKey, build_jwt


def test_serve_answers_the_official_paths_over_https_and_stops_on_a_signal(tmp_path):
    key_file, ca = tmp_path / "key.json", tmp_path / "ca.pem"
    process = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-m",
            "coinswarm",
            "exchange",
            "serve",
            "--port",
            "0",
            "--key-out",
            str(key_file),
            "--cert-out",
            str(ca),
            "--bar-seconds",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = None
        deadline = time.monotonic() + 60
        while base is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            found = re.search(r"REST: (https://127\.0\.0\.1:\d+)/api/v3/brokerage", line)
            base = found.group(1) if found else None
        assert base is not None, process.stderr.read()
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        key = CdpKey.from_json(key_file.read_text())
        host = base.removeprefix("https://")
        path = "/api/v3/brokerage/products"
        token = build_jwt(key, f"GET {host}{path}", now_s=int(time.time()))
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=5) as client:
            answer = client.get(base + path, headers={"Authorization": f"Bearer {token}"})
            anonymous = client.get(base + path)
        assert answer.status_code == 200, answer.text
        products = answer.json()["products"]
        assert [p["product_id"] for p in products] == ["SYN-USDT"]
        assert anonymous.status_code == 401
        assert key.private_key_pem not in json.dumps(answer.json())
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        finally:
            process.kill()
            process.communicate()
    assert process.returncode == 0
