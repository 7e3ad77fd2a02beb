"""`coinswarm exchange serve` as a user runs it: HTTPS on 127.0.0.1, a key file, a CA to trust."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from coinswarm.exchanges.local_coinbase import CdpKey, build_jwt


def get(base: str, path: str, key: CdpKey, ca: Path) -> httpx.Response:
    token = build_jwt(key, f"GET {base.removeprefix('https://')}{path}", now_s=int(time.time()))
    with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=5) as client:
        return client.get(base + path, headers={"Authorization": f"Bearer {token}"})


def test_serve_answers_the_official_paths_over_https_and_stops_on_a_signal(tmp_path):
    key_file, ca = tmp_path / "key.json", tmp_path / "ca.pem"
    # A narrow terminal: a line that rich wrapped would break the key name in two.
    env = {**os.environ, "COLUMNS": "60"}
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
        env=env,
    )
    try:
        base, printed = None, []
        deadline = time.monotonic() + 60
        while not printed or not printed[-1].startswith("serving"):
            assert time.monotonic() < deadline
            line = process.stdout.readline()
            assert line, process.stderr.read()
            printed.append(line.rstrip("\n"))
            found = re.search(r"REST: (https://127\.0\.0\.1:\d+)/api/v3/brokerage", line)
            base = found.group(1) if found else base
        assert base is not None, process.stderr.read()
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        key = CdpKey.from_json(key_file.read_text())
        assert len(f"key name: {key.name}") > 60
        assert f"key name: {key.name}" in printed  # whole, on one line: copy and paste it
        assert "products: BTC-USD, ETH-USD" in printed
        host = base.removeprefix("https://")
        path = "/api/v3/brokerage/products"
        token = build_jwt(key, f"GET {host}{path}", now_s=int(time.time()))
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=5) as client:
            answer = client.get(base + path, headers={"Authorization": f"Bearer {token}"})
            anonymous = client.get(base + path)
        assert answer.status_code == 200, answer.text
        products = answer.json()["products"]
        assert [p["product_id"] for p in products] == ["BTC-USD", "ETH-USD"]
        assert anonymous.status_code == 401
        assert key.private_key_pem not in json.dumps(answer.json())
        # The product the README's `sandbox --url URL --product BTC-USD` trades, at a BTC price.
        btc = get(base, "/api/v3/brokerage/products/BTC-USD", key, ca)
        assert btc.status_code == 200, btc.text
        assert 5_000 < float(btc.json()["price"]) < 100_000
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        finally:
            process.kill()
            process.communicate()
    assert process.returncode == 0
