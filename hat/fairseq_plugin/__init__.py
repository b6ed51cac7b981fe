"""fairseq extension points for HAT (the only place that registers anything with fairseq).

Load it with `--user-dir <this directory>` (hat.train does so); importing the package registers

* the model `hat_transformer` (arch `hat_transformer`): a thin adapter around the plain-PyTorch
  `hat.supernet.SuperTransformer` (`model.py`);
* the task `hat_translation`: fairseq's `translation` plus HAT's per-update SubTransformer
  sampling and two-config validation (`task.py`).

fairseq is used only through these registries; nothing in fairseq is patched.
"""

import sys
from pathlib import Path

from hat.fairseq_plugin import model, task  # noqa: F401  (registration side effects)

USER_DIR = str(Path(__file__).resolve().parent)
# fairseq imports `--user-dir` by its directory name; alias it so that it finds this package
# instead of putting hat/ on sys.path and importing (and registering) a second copy.
sys.modules.setdefault(Path(USER_DIR).name, sys.modules[__name__])
