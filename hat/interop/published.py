"""The models HAT released (its download_model.py): 44 SubTransformers and 4 SuperTransformers.

HAT hosts them on Dropbox (`?dl=1` asks for the file rather than the preview page). Their
sha256 sums are not published and could not be recorded here (no access to Dropbox from where
this was written), so a download is verified by a sha256 the user pins (`--sha256`, or the
workflow's `supernet: {sha256: ...}`) when given, and always structurally: `hat import
hat-checkpoint` refuses a file whose tensors are not exactly HAT's layout of the task's space.
Downloads resume from a partial file (`.partial/` beside the target) and, when the host refuses,
the error names the path to place a hand-downloaded copy at.
"""

from __future__ import annotations

import os
from pathlib import Path

from hat.errors import HatError
from hat.io import sha256_file

DROPBOX = "https://www.dropbox.com/s"

# name -> Dropbox share id, from HAT's download_model.py (commit 70e5a279).
MODEL_IDS = {
    "HAT_wmt14ende_raspberrypi@3.5s_bleu@25.8": "pmfwwg1d1kmfdh5",
    "HAT_wmt14ende_raspberrypi@4.0s_bleu@26.9": "ko0i65k1664p74u",
    "HAT_wmt14ende_raspberrypi@4.5s_bleu@27.6": "f4y6u9cbcdykeha",
    "HAT_wmt14ende_raspberrypi@5.0s_bleu@27.8": "av5vycafxo57x6w",
    "HAT_wmt14ende_raspberrypi@6.0s_bleu@28.2": "ywedqumq91a4ekn",
    "HAT_wmt14ende_raspberrypi@6.9s_bleu@28.4": "x7iucaotbeald3q",
    "HAT_wmt14ende_xeon@137.9ms_bleu@25.8": "bvq3y6igoyxe1t5",
    "HAT_wmt14ende_xeon@204.2ms_bleu@27.6": "yg12xz504uw2g1s",
    "HAT_wmt14ende_xeon@278.7ms_bleu@27.9": "l5ljas8zyg9ik65",
    "HAT_wmt14ende_xeon@340.2ms_bleu@28.1": "fkp61h8jbyt524i",
    "HAT_wmt14ende_xeon@369.6ms_bleu@28.2": "3mv3oaddeb132np",
    "HAT_wmt14ende_xeon@450.9ms_bleu@28.5": "bjldda9nzj7cpni",
    "HAT_wmt14ende_titanxp@57.1ms_bleu@25.8": "71w5t0qidsxqe1e",
    "HAT_wmt14ende_titanxp@91.2ms_bleu@27.6": "j0hnmxw6xz6tskh",
    "HAT_wmt14ende_titanxp@126.0ms_bleu@27.9": "pyetdnbz1zvcfg5",
    "HAT_wmt14ende_titanxp@146.7ms_bleu@28.1": "ixn832oai2k44j9",
    "HAT_wmt14ende_titanxp@208.1ms_bleu@28.5": "owpdwmqwpn9jw14",
    "HAT_wmt14enfr_raspberrypi@4.3s_bleu@38.8": "ku97fwz1oj1a112",
    "HAT_wmt14enfr_raspberrypi@5.3s_bleu@40.1": "9noopb605fqmjpl",
    "HAT_wmt14enfr_raspberrypi@5.8s_bleu@40.6": "vmdkh0ctpdac7gr",
    "HAT_wmt14enfr_raspberrypi@6.9s_bleu@41.1": "dbo9abn5pnb6qgz",
    "HAT_wmt14enfr_raspberrypi@7.8s_bleu@41.4": "x8tsbxbwkk64ejg",
    "HAT_wmt14enfr_raspberrypi@9.1s_bleu@41.8": "zbsbl5e96y3t5zl",
    "HAT_wmt14enfr_xeon@154.7ms_bleu@39.1": "6xswl0oesuvmqk5",
    "HAT_wmt14enfr_xeon@208.8ms_bleu@40.0": "ot3zt8nenda54j7",
    "HAT_wmt14enfr_xeon@329.4ms_bleu@41.1": "epe2lvus4l40v9o",
    "HAT_wmt14enfr_xeon@394.5ms_bleu@41.4": "qnt2qzkb3i054c6",
    "HAT_wmt14enfr_xeon@442.0ms_bleu@41.7": "79zcolb53jbhchk",
    "HAT_wmt14enfr_titanxp@69.3ms_bleu@39.1": "hvy255ls277onjw",
    "HAT_wmt14enfr_titanxp@94.9ms_bleu@40.0": "rvfv99jbh4n7qys",
    "HAT_wmt14enfr_titanxp@132.9ms_bleu@40.7": "u6u3u40pr4f5mzh",
    "HAT_wmt14enfr_titanxp@168.3ms_bleu@41.1": "wlbbmnrl61dx4z7",
    "HAT_wmt14enfr_titanxp@208.3ms_bleu@41.7": "e41lnsktn5bb2fz",
    "HAT_wmt19ende_titanxp@55.7ms_bleu@42.4": "6pokem8orb75ldh",
    "HAT_wmt19ende_titanxp@93.2ms_bleu@44.4": "zgcd70pzf1sle4z",
    "HAT_wmt19ende_titanxp@134.5ms_bleu@45.4": "mm827rst6a144zy",
    "HAT_wmt19ende_titanxp@176.1ms_bleu@46.2": "y0vov0n9zt50n9c",
    "HAT_wmt19ende_titanxp@204.5ms_bleu@46.5": "w1si4mgf1e3l8oj",
    "HAT_wmt19ende_titanxp@237.8ms_bleu@46.7": "rljih3t0hglp39a",
    "HAT_iwslt14deen_titanxp@45.6ms_bleu@33.4": "ntj1gfskish8vz3",
    "HAT_iwslt14deen_titanxp@74.5ms_bleu@34.2": "gjq46181s3xbz0k",
    "HAT_iwslt14deen_titanxp@109.0ms_bleu@34.5": "fg3r3tk2vjg0diq",
    "HAT_iwslt14deen_titanxp@137.8ms_bleu@34.7": "3j5vu5jh71xwec1",
    "HAT_iwslt14deen_titanxp@168.8ms_bleu@34.8": "5xy9hdjuc5c6sw5",
    "HAT_wmt14ende_super_space0": "pkdddxvvpw9a4vq",
    "HAT_wmt14enfr_super_space0": "asegvw9qzpxui6a",
    "HAT_wmt19ende_super_space0": "uc0lw6jdep1vazc",
    "HAT_iwslt14deen_super_space1": "yv0mn8ns36gxkhs",
}

# The four SuperTransformers and the task whose design space each was trained on.
SUPERNET_TASKS = {
    "HAT_wmt14ende_super_space0": "wmt14ende",
    "HAT_wmt14enfr_super_space0": "wmt14enfr",
    "HAT_wmt19ende_super_space0": "wmt19ende",
    "HAT_iwslt14deen_super_space1": "iwslt14deen",
}


def model_url(name: str) -> str:
    if name not in MODEL_IDS:
        raise HatError(
            f"HAT released no model '{name}' "
            "(its names: HAT_<task>_<hw>@<latency>_bleu@<bleu>, HAT_<task>_super_space<N>)"
        )
    return f"{DROPBOX}/{MODEL_IDS[name]}/{name}.pt?dl=1"


def fetch_model(name: str, out: str | os.PathLike, sha256: str | None = None, url: str | None = None) -> str:
    """Download HAT's `name` to `out` (resuming a partial download; an existing `out` is reused),
    check the pinned sha256 when given; returns the file's sha256."""
    from hat.data.download import _fetch as fetch_resumable  # the data stage's resumable fetcher

    out = Path(out)
    url = url or model_url(name)
    if not out.is_file():
        fetch_resumable(url, out.parent / ".partial" / out.name, out)
    actual = sha256_file(out)
    if sha256 is not None and actual != sha256.lower():
        raise HatError(
            f"{out}: sha256 {actual} does not match the pinned {sha256} (from {url}); delete it and re-run, "
            "or place the right file there"
        )
    return actual
