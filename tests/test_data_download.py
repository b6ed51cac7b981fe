"""Downloads: resume over HTTP Range, checksum, offline error, manually placed file, unpacking."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import tarfile
import threading
from pathlib import Path

import pytest

from hat.data.config import Source
from hat.data.download import download_source
from hat.errors import HatError

PAYLOAD = b"".join(f"line {i} of the corpus\n".encode() for i in range(5000))


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


ARCHIVE = _tarball({"corpus/train.en": PAYLOAD, "corpus/train.de": PAYLOAD})
ARCHIVE_SHA = hashlib.sha256(ARCHIVE).hexdigest()


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ARCHIVE at /corpus.tgz, honouring `Range: bytes=N-`; records the ranges asked."""

    ranges: list[str | None] = []
    cut_after: int | None = None  # drop the connection after this many bytes (once)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/drive":  # a confirmation page instead of the file (Google Drive)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"<html>confirm</html>")
            return
        if self.path != "/corpus.tgz":
            self.send_error(404)
            return
        asked = self.headers.get("Range")
        type(self).ranges.append(asked)
        start = int(asked.split("=")[1].rstrip("-")) if asked else 0
        body = ARCHIVE[start:]
        self.send_response(206 if asked else 200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(body)))
        if asked:
            self.send_header("Content-Range", f"bytes {start}-{len(ARCHIVE) - 1}/{len(ARCHIVE)}")
        self.end_headers()
        cut = type(self).cut_after
        if cut is not None:
            type(self).cut_after = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _RangeHandler.ranges = []
    _RangeHandler.cut_after = None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


REQUIRED = ["corpus/train.en", "corpus/train.de"]


def _source(url: str, sha256: str | None = ARCHIVE_SHA) -> Source:
    return Source(name="tiny", url=url, sha256=sha256, filename=Path(url).name)


def test_download_verifies_and_unpacks(server, tmp_path):
    unpacked = download_source(_source(f"{server}/corpus.tgz"), tmp_path, REQUIRED)
    assert unpacked == tmp_path / "tiny"
    assert (unpacked / "corpus/train.en").read_bytes() == PAYLOAD
    assert (tmp_path / "corpus.tgz").read_bytes() == ARCHIVE
    assert not (tmp_path / ".partial" / "corpus.tgz").exists()


def test_interrupted_download_resumes_with_range(server, tmp_path):
    _RangeHandler.cut_after = 1000
    with pytest.raises(HatError, match="re-run to resume"):
        download_source(_source(f"{server}/corpus.tgz"), tmp_path, REQUIRED)
    partial = tmp_path / ".partial" / "corpus.tgz"
    assert partial.stat().st_size == 1000
    assert not (tmp_path / "corpus.tgz").exists()  # a partial file never gets the final name

    download_source(_source(f"{server}/corpus.tgz"), tmp_path, REQUIRED)
    assert _RangeHandler.ranges == [None, "bytes=1000-"]
    assert (tmp_path / "corpus.tgz").read_bytes() == ARCHIVE


def test_rerun_does_not_download_again(server, tmp_path):
    download_source(_source(f"{server}/corpus.tgz"), tmp_path, REQUIRED)
    download_source(_source(f"{server}/corpus.tgz"), tmp_path, REQUIRED)
    assert _RangeHandler.ranges == [None]


def test_checksum_mismatch_is_an_error(server, tmp_path):
    with pytest.raises(HatError, match="sha256 .* does not match the expected 0{64}"):
        download_source(_source(f"{server}/corpus.tgz", sha256="0" * 64), tmp_path, REQUIRED)


def test_missing_member_is_an_error(server, tmp_path):
    with pytest.raises(HatError, match="has no member 'corpus/valid.en'"):
        download_source(_source(f"{server}/corpus.tgz", sha256=None), tmp_path, ["corpus/valid.en"])


def test_offline_error_names_url_and_manual_path(tmp_path):
    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{closed_port.getsockname()[1]}/corpus.tgz"
    closed_port.close()
    with pytest.raises(HatError) as err:
        download_source(_source(url), tmp_path, REQUIRED)
    message = str(err.value)
    assert url in message
    assert f"place it at {(tmp_path / 'corpus.tgz').resolve()}" in message
    assert "\n" not in message


def test_bad_url_error(server, tmp_path):
    with pytest.raises(HatError, match=r"cannot download .*/missing.tgz \(HTTP 404\)"):
        download_source(_source(f"{server}/missing.tgz"), tmp_path, REQUIRED)


def test_web_page_instead_of_file_is_an_error(server, tmp_path):
    source = Source(name="tiny", url=f"{server}/drive", sha256=None, filename="corpus.tgz")
    with pytest.raises(HatError, match=r"answered with a web page.*place it at .*corpus\.tgz"):
        download_source(source, tmp_path, REQUIRED)
    assert not (tmp_path / "corpus.tgz").exists()


def test_manually_placed_file_is_verified_and_used(tmp_path):
    url = "http://127.0.0.1:9/corpus.tgz"  # never contacted: the file is already there
    (tmp_path / "corpus.tgz").write_bytes(ARCHIVE)
    unpacked = download_source(_source(url), tmp_path, REQUIRED)
    assert (unpacked / "corpus/train.de").read_bytes() == PAYLOAD


def test_manually_placed_wrong_file_is_rejected(tmp_path):
    (tmp_path / "corpus.tgz").write_bytes(ARCHIVE[:-10])
    with pytest.raises(HatError, match="does not match"):
        download_source(_source("http://127.0.0.1:9/corpus.tgz"), tmp_path, REQUIRED)


def test_truncated_archive_without_checksum_is_rejected(tmp_path):
    (tmp_path / "corpus.tgz").write_bytes(ARCHIVE[: len(ARCHIVE) // 2])
    with pytest.raises(HatError, match="damaged or incomplete archive"):
        download_source(_source("http://127.0.0.1:9/corpus.tgz", sha256=None), tmp_path, REQUIRED)
    assert not (tmp_path / "tiny").exists()


def test_file_url(tmp_path):
    archive = tmp_path / "mirror" / "corpus.tgz"
    archive.parent.mkdir()
    archive.write_bytes(ARCHIVE)
    raw = tmp_path / "raw"
    download_source(_source(archive.as_uri()), raw, REQUIRED)
    assert (raw / "tiny/corpus/train.en").read_bytes() == PAYLOAD


def test_tar_without_the_data_filter_accepts_plain_members_and_refuses_escapes(tmp_path, monkeypatch):
    """Python < 3.11.4 has no tarfile.data_filter: plain members unpack, a member outside the
    target or a link is a one-line error (tarfile's "data" filter refuses both too)."""
    from hat.data.download import unpack_archive

    monkeypatch.delattr(tarfile, "data_filter")
    (tmp_path / "good.tgz").write_bytes(ARCHIVE)
    unpack_archive(tmp_path / "good.tgz", tmp_path / "good")
    assert (tmp_path / "good" / "corpus" / "train.en").read_bytes() == PAYLOAD
    (tmp_path / "evil.tgz").write_bytes(_tarball({"../outside.txt": b"x"}))
    with pytest.raises(HatError, match=r"evil\.tgz: member '\.\./outside\.txt' is a link or lies outside"):
        unpack_archive(tmp_path / "evil.tgz", tmp_path / "evil")
    assert not (tmp_path / "outside.txt").exists()
