"""HAT's released SuperTransformers in the workflow (`supernet: {published: ...}` / `{file: ...}`)
and their download (hat.interop.published): resumable, sha-verified, a one-line manual-placement
error when the host refuses."""

from __future__ import annotations

import socket

import pytest
from test_data_download import ARCHIVE, ARCHIVE_SHA, _RangeHandler, server  # noqa: F401 (fixture)
from test_workflow import DRY_RUN_STATS, FULL_CHAIN, job_counts, snakemake, write_override

from hat.cli import main
from hat.errors import HatError
from hat.interop.published import MODEL_IDS, SUPERNET_TASKS, fetch_model, model_url

TARGET = "results/wmt14ende/titanxp@200ms/bleu.txt"
IMPORTED_CHAIN = {**{k: v for k, v in FULL_CHAIN.items() if k != "train_supernet"}, "import_hat_supernet": 1}


def test_published_supernet_is_downloaded_and_imported_instead_of_trained(tmp_path):
    override = write_override(tmp_path, "tasks: {wmt14ende: {supernet: {published: HAT_wmt14ende_super_space0}}}")
    counts = job_counts(snakemake(tmp_path, "--configfile", str(override), *DRY_RUN_STATS, TARGET))
    assert "train_supernet" not in counts
    assert counts == {**IMPORTED_CHAIN, "download_hat_model": 1}


def test_hand_placed_published_file_is_not_downloaded(tmp_path):
    (tmp_path / "resources/hat-models").mkdir(parents=True)
    (tmp_path / "resources/hat-models/HAT_wmt14ende_super_space0.pt").write_bytes(b"placed by hand")
    override = write_override(tmp_path, "tasks: {wmt14ende: {supernet: {published: HAT_wmt14ende_super_space0}}}")
    counts = job_counts(snakemake(tmp_path, "--configfile", str(override), *DRY_RUN_STATS, TARGET))
    assert counts == IMPORTED_CHAIN


def test_local_hat_file_is_imported(tmp_path):
    (tmp_path / "mine.pt").write_bytes(b"a HAT checkpoint")
    override = write_override(tmp_path, f"tasks: {{wmt14ende: {{supernet: {{file: {tmp_path / 'mine.pt'}}}}}}}")
    counts = job_counts(snakemake(tmp_path, "--configfile", str(override), *DRY_RUN_STATS, TARGET))
    assert counts == IMPORTED_CHAIN


def test_other_tasks_still_train(tmp_path):
    override = write_override(tmp_path, "tasks: {wmt14ende: {supernet: {published: HAT_wmt14ende_super_space0}}}")
    target = "results/wmt14enfr/titanxp@200ms/bleu.txt"
    counts = job_counts(snakemake(tmp_path, "--configfile", str(override), *DRY_RUN_STATS, target))
    assert counts == FULL_CHAIN


@pytest.mark.parametrize(
    "supernet, message",
    [
        ("{published: HAT_wmt14ende_super_space9}", "tasks.wmt14ende.supernet.published"),
        ("{published: HAT_wmt14ende_super_space0, file: x.pt}", "tasks.wmt14ende.supernet"),
        (f"{{file: x.pt, sha256: {'0' * 64}}}", "tasks.wmt14ende.supernet"),
    ],
)
def test_bad_supernet_source_is_a_config_error(tmp_path, supernet, message):
    override = write_override(tmp_path, f"tasks: {{wmt14ende: {{supernet: {supernet}}}}}")
    result = snakemake(tmp_path, "--configfile", str(override), "--dry-run", TARGET)
    assert result.returncode != 0
    assert f"invalid config: {message}" in result.stdout + result.stderr


def test_registry_has_hats_44_subtransformers_and_4_supernets():
    assert len(MODEL_IDS) == 48 and len([n for n in MODEL_IDS if "_super_" not in n]) == 44
    assert set(SUPERNET_TASKS) == {n for n in MODEL_IDS if "_super_" in n}
    assert model_url("HAT_wmt14ende_super_space0") == (
        "https://www.dropbox.com/s/pkdddxvvpw9a4vq/HAT_wmt14ende_super_space0.pt?dl=1"
    )
    with pytest.raises(HatError, match="HAT released no model 'HAT_x'"):
        model_url("HAT_x")


def test_download_resumes_and_checks_the_pinned_sha256(server, tmp_path):  # noqa: F811
    out = tmp_path / "HAT_wmt14ende_super_space0.pt"
    _RangeHandler.cut_after = 700
    with pytest.raises(HatError, match="re-run to resume"):
        fetch_model("HAT_wmt14ende_super_space0", out, sha256=ARCHIVE_SHA, url=f"{server}/corpus.tgz")
    assert not out.exists()
    assert fetch_model("HAT_wmt14ende_super_space0", out, sha256=ARCHIVE_SHA, url=f"{server}/corpus.tgz") == ARCHIVE_SHA
    assert _RangeHandler.ranges == [None, "bytes=700-"] and out.read_bytes() == ARCHIVE
    with pytest.raises(HatError, match=f"sha256 {ARCHIVE_SHA} does not match the pinned 0{{64}}"):
        fetch_model("HAT_wmt14ende_super_space0", out, sha256="0" * 64, url=f"{server}/corpus.tgz")


def test_refused_download_says_where_to_put_the_file(tmp_path, capsys):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{closed.getsockname()[1]}/HAT.pt"
    closed.close()
    out = tmp_path / "resources/hat-models/HAT_wmt14ende_super_space0.pt"
    assert main(["import", "download", "HAT_wmt14ende_super_space0", "--out", str(out), "--url", url]) == 2
    message = capsys.readouterr().err.strip()
    assert url in message and f"place it at {out.resolve()}" in message and "\n" not in message
