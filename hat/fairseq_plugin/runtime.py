"""Building fairseq configs and tasks from hat's inputs (argv in, fairseq objects out)."""

from pathlib import Path

from hat.errors import HatError
from hat.fairseq_plugin import USER_DIR
from hat.io import text_errors
from hat.tasks import Task


def task_argv(hat_task: Task, data_dir: str | Path) -> list[str]:
    """fairseq arguments selecting the `hat_translation` task on a binarized dir."""
    data_dir = Path(data_dir)
    if hat_task.path is None:
        raise HatError(f"task '{hat_task.name}' has no task.yml path")
    for name in (f"dict.{hat_task.source_lang}.txt", f"dict.{hat_task.target_lang}.txt"):
        if not (data_dir / name).is_file():
            raise HatError(f"{data_dir}: no {name} (expected a fairseq-binarized dir from `hat data prepare`)")
    return [
        str(data_dir), "--user-dir", USER_DIR, "--task", "hat_translation", "--hat-task", str(hat_task.path),
        "--source-lang", hat_task.source_lang, "--target-lang", hat_task.target_lang,
    ]  # fmt: skip


def dictionary_size(path: str | Path) -> int:
    """Entries of a fairseq dict.txt plus its 4 specials (<s>, <pad>, </s>, <unk>); pad index is 1."""
    from fairseq.data import Dictionary

    if not Path(path).is_file():
        raise HatError(f"{path}: dictionary not found")
    with text_errors(path):
        return len(Dictionary.load(str(path)))


def require_matching_dictionaries(vocab_sizes: tuple[int, int], checkpoint, hat_task: Task, data_dir) -> None:
    """A model's (source, target) embedding rows must equal the data dir's dictionary sizes: token
    ids mean nothing across two preparations, and a grown dictionary would otherwise be accepted."""
    for side, rows, lang in zip(("source", "target"), vocab_sizes, (hat_task.source_lang, hat_task.target_lang)):
        path = Path(data_dir) / f"dict.{lang}.txt"
        entries = dictionary_size(path)
        if entries != rows:
            raise HatError(
                f"{path}: {entries} entries (with 4 specials), but {checkpoint} has {rows} {side} embedding rows "
                "(data and model come from different preparations)"
            )


def parse(parser, argv: list[str]):
    """argv -> fairseq's omegaconf config; unknown options are HatErrors naming the option."""
    import warnings

    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    args, unknown = options.parse_args_and_arch(parser, input_args=argv, parse_known=True)
    if unknown:
        raise HatError(f"unknown fairseq option '{unknown[0]}' (from the task YAML or --override)")
    with warnings.catch_warnings():  # hydra's deprecation notices about fairseq's own config store
        warnings.simplefilter("ignore")
        return convert_namespace_to_omegaconf(args)


def setup_task(hat_task: Task, data_dir: str | Path, subsets: tuple[str, ...], extra: tuple[str, ...] = ()):
    """A `hat_translation` task with `subsets` loaded, plus its fairseq config (for inference)."""
    from fairseq import options, tasks

    cfg = parse(options.get_generation_parser(), task_argv(hat_task, data_dir) + list(extra))
    task = tasks.setup_task(cfg.task)
    for subset in subsets:
        try:
            task.load_dataset(subset, combine=False, epoch=1)
        except FileNotFoundError as err:
            raise HatError(f"{data_dir}: no '{subset}' split ({err})") from None
    return cfg, task
