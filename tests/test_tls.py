"""HTTPS with a private CA: SSL_CERT_FILE and REQUESTS_CA_BUNDLE work for API, S3 and CDN
traffic; an untrusted certificate is one clear line and exit 6."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from audio import make_wav

from gsep_cli.cli import run
from gsep_cli.sandbox import Sandbox

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key, crt = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return crt, key


@pytest.fixture()
def song(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in (
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "HTTPS_PROXY",
        "https_proxy",
        "GAUDIO_API_KEY",
        "GSEP_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GSEP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GSEP_API_KEY", "tls-secret-key-1111")
    monkeypatch.setenv("GSEP_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("GSEP_RETRIES", "2")
    monkeypatch.setenv("GSEP_RETRY_CAP", "0.05")
    monkeypatch.chdir(tmp_path)
    return make_wav(tmp_path / "song.wav", seconds=0.5, rate=16000, channels=1)


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_private_ca_is_trusted_through_env(
    cert: tuple[Path, Path], song: Path, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, str(cert[0]))
    with Sandbox(job_seconds=0, chunk_size=4096, tls_cert=cert[0], tls_key=cert[1]) as sb:
        assert sb.base_url.startswith("https://127.0.0.1:")
        assert run(["--base-url", sb.base_url, "separate", str(song), "-o", "out"]) == 0
        kinds = {e["kind"] for e in sb.requests}
        assert kinds == {"api", "s3", "cdn"}  # every kind of traffic went over TLS
    assert (song.parent / "out" / "song" / "vocal.wav").stat().st_size > 0


def test_untrusted_certificate_is_a_clear_error(
    cert: tuple[Path, Path], song: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Sandbox(job_seconds=0, chunk_size=4096, tls_cert=cert[0], tls_key=cert[1]) as sb:
        assert run(["--base-url", sb.base_url, "upload", str(song)]) == 6
        assert sb.store.upload_count() == 0
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("gsep: error:")]
    assert len(errors) == 1 and "not trusted" in errors[0] and "SSL_CERT_FILE" in errors[0]
