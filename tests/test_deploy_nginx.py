"""The documented nginx front (docs/deploy/nginx.conf) works as written: TLS, the room socket's
upgrade, forwarded client addresses, the HTTP→HTTPS redirect and /metrics kept private.

The file is used as it is, with only its placeholders (host name, ports, certificate paths, the
upstream port) replaced; the certificate is a throwaway self-signed one made here.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.sync.client import connect

from tests.servers import Cluster, free_port
from tests.services import require_present

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
StartLocal = Callable[..., Cluster]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Front:
    def __init__(self, https_port: int, http_port: int, cert: Path) -> None:
        self.https = f"https://127.0.0.1:{https_port}"
        self.http = f"http://127.0.0.1:{http_port}"
        self.tls = ssl.create_default_context(cafile=str(cert))
        no_redirects = type("NoRedirects", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *a: None})
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self.tls), no_redirects
        )

    def get(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        try:
            with self.opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def post(self, path: str, body: dict[str, object], token: str | None = None) -> dict[str, object]:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        request = urllib.request.Request(self.https + path, json.dumps(body).encode(), headers)
        with self.opener.open(request, timeout=10) as response:
            result: dict[str, object] = json.load(response)
            return result


@pytest.fixture
def front(tmp_path: Path, start_local: StartLocal) -> Iterator[tuple[Front, Cluster]]:
    require_present(
        None if Path(NGINX).exists() else f"nginx is not installed at {NGINX} (apt-get install nginx-light)"
    )
    https_port, http_port = free_port(), free_port()
    origin = f"https://127.0.0.1:{https_port}"
    cluster = start_local(PUBLIC_BASE_URL=origin, ACCESS_LOG="1", METRICS_TOKEN="m")
    cert, key = _self_signed(tmp_path)
    site = (
        EXAMPLE.read_text()
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
        .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{cluster[0].port};")
        .replace("/etc/letsencrypt/live/rooms.example.com/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/rooms.example.com/privkey.pem", str(key))
        .replace("rooms.example.com", "127.0.0.1")
    )
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log warn;\n"
        "events {}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path};\n  proxy_temp_path {tmp_path};\n"
        f"  include {tmp_path}/site.conf;\n}}\n"
    )
    process = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")])
    result = Front(https_port, http_port, cert)
    deadline = time.monotonic() + 15
    while True:
        try:
            if result.get(result.https + "/healthz")[0] == 200:
                break
        except (OSError, ssl.SSLError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"nginx did not come up: {(tmp_path / 'error.log').read_text(errors='replace')}")
        time.sleep(0.1)
    try:
        yield result, cluster
    finally:
        process.terminate()
        process.wait(10)


def test_deploy_nginx_serves_the_api_and_the_room_socket_over_tls(front: tuple[Front, Cluster]) -> None:
    proxy, cluster = front
    user = proxy.post("/api/users", {"name": "Ann"})
    token = str(user["token"])
    group = proxy.post("/api/groups", {"name": "Over TLS"}, token)
    invite = proxy.post(f"/api/groups/{group['id']}/invite", {}, token)
    assert str(invite["url"]).startswith(proxy.https + "/join/")  # PUBLIC_BASE_URL, as phones see it

    ws_url = proxy.https.replace("https://", "wss://") + f"/ws/groups/{group['id']}"
    with connect(ws_url, ssl=proxy.tls, origin=proxy.https, proxy=None) as ws:
        ws.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        ws.send(json.dumps({"type": "chat", "id": "c1", "text": "through nginx"}))
        frames = [json.loads(ws.recv(timeout=10)) for _ in range(2)]
        assert {f["type"] for f in frames} == {"chat", "ack"}


def test_deploy_nginx_forwards_the_client_address_and_redirects_plain_http(front: tuple[Front, Cluster]) -> None:
    proxy, cluster = front
    status, headers, _ = proxy.get(proxy.https + "/healthz", {"X-Forwarded-For": "203.0.113.9"})
    assert status == 200
    status, headers, _ = proxy.get(proxy.http + "/healthz")
    assert status == 301 and headers["Location"].startswith("https://127.0.0.1")
    cluster.stop()
    assert '203.0.113.9:0 - "GET /healthz HTTP/1.1" 200' in cluster[0].log()  # the client, not nginx


def test_deploy_nginx_keeps_metrics_private(front: tuple[Front, Cluster]) -> None:
    proxy, cluster = front
    assert proxy.get(proxy.https + "/metrics", {"Authorization": "Bearer m"})[0] == 404
    direct = urllib.request.Request(f"{cluster[0].base_url}/metrics", headers={"Authorization": "Bearer m"})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(direct, timeout=5) as response:
        assert response.status == 200
