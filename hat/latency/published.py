"""HAT's published latency CSVs (spec §3.5), fetched from its repository at a pinned commit.

Files are `latency_dataset/{task}_{cpu|gpu}_{device}_all.csv` in mit-han-lab/hardware-aware-transformers
at commit 70e5a279…; each download is checked against the pinned sha256 before it is written.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request

from hat.errors import HatError
from hat.io import atomic_path

HAT_REPOSITORY = "mit-han-lab/hardware-aware-transformers"
HAT_COMMIT = "70e5a279d080670208249fdd98ed731fa9bcc466"
DEFAULT_URL_BASE = f"https://raw.githubusercontent.com/{HAT_REPOSITORY}/{HAT_COMMIT}/latency_dataset"
HARDWARE_KIND = {"raspberrypi": "cpu", "xeon": "cpu", "titanxp": "gpu"}

# (task, hardware) -> sha256 of the file at HAT_COMMIT.
PUBLISHED_SHA256 = {
    ("iwslt14deen", "titanxp"): "96448ac6ab174e5fccbc668614acc279f842b182fe035c05c3940ad46a5c2f86",
    ("wmt14ende", "raspberrypi"): "28d7d0557b545ceefe0234fedad81b4c503edc211a10a9b3a08ba19523ca7cdb",
    ("wmt14ende", "xeon"): "78c0cef3a590b0efce13f2c5cb338453644d09c056359cbdaed606c513657d60",
    ("wmt14ende", "titanxp"): "7ce39663e513a90ab56cf2911c43977e2b4f426c787a25acaeb5e346fa913e1f",
    ("wmt14enfr", "raspberrypi"): "3e83a13c0b662afa7e24203f929c6a710934e051b43a8e81b99b61286f909cf2",
    ("wmt14enfr", "xeon"): "b79b1719197294ac89a2d995400fdef459b16a95b1085713e512fa0a434e08b0",
    ("wmt14enfr", "titanxp"): "842136bae56cdbd490a49daa03a100202fe9b926d1ddcfd2e005a9a35dcc6cb2",
    ("wmt19ende", "titanxp"): "04d84a44fc2727091586b3fef4b4bc32feef3c3c425734e08f4327549a0bbf2b",
}


def published_filename(task: str, hardware: str) -> str:
    """HAT's file name, e.g. wmt14ende_cpu_raspberrypi_all.csv; unpublished pairs are HatErrors."""
    if (task, hardware) not in PUBLISHED_SHA256:
        available = ", ".join(f"{t}/{h}" for t, h in PUBLISHED_SHA256)
        raise HatError(f"HAT published no latency data for task {task} on {hardware} (available: {available})")
    return f"{task}_{HARDWARE_KIND[hardware]}_{hardware}_all.csv"


def fetch_published(task: str, hardware: str, out: str | os.PathLike, url_base: str = DEFAULT_URL_BASE) -> str:
    """Download, verify the sha256, write `out` atomically; returns the URL fetched."""
    url = f"{url_base.rstrip('/')}/{published_filename(task, hardware)}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise HatError(f"{url}: download failed ({getattr(err, 'reason', err)})") from None
    digest = hashlib.sha256(payload).hexdigest()
    expected = PUBLISHED_SHA256[(task, hardware)]
    if digest != expected:
        raise HatError(f"{url}: sha256 {digest} does not match the pinned {expected}; nothing written")
    with atomic_path(out) as tmp:
        tmp.write_bytes(payload)
    return url
