"""fairseq extension points for HAT, and all of the project's code that uses fairseq.

Load it with `--user-dir <this directory>` (`runtime.task_argv` adds it); importing the package
registers

* the model `hat_transformer` (arch `hat_transformer`): a thin adapter around the plain-PyTorch
  `hat.supernet.SuperTransformer` (`model.py`);
* the task `hat_translation`: fairseq's `translation` plus HAT's per-update SubTransformer
  sampling and two-config validation (`task.py`).

The other modules are the fairseq-facing halves of hat's stages: `runtime` (fairseq configs,
tasks and dictionaries from hat's inputs), `trainer` (fairseq's epoch loop with `HatTrainer`, run
by `hat.train`), `distributed` (its workers), `fitness` (the inherited loss, the search's
fitness) and `ort_model` (fairseq's beam search over ONNX Runtime sessions).

fairseq is used only through these registries and its public classes; nothing in fairseq is
patched (`trainer` only clears the best loss fairseq remembers on two of its functions).
"""

import sys
from pathlib import Path

from hat.fairseq_plugin import model, task  # noqa: F401  (registration side effects)

USER_DIR = str(Path(__file__).resolve().parent)
# fairseq imports `--user-dir` by its directory name; alias it so that it finds this package
# instead of putting hat/ on sys.path and importing (and registering) a second copy.
sys.modules.setdefault(Path(USER_DIR).name, sys.modules[__name__])
