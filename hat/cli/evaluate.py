"""`hat evaluate`: translate a test split, write HAT's BLEU and SacreBLEU (hat.evaluate)."""

from __future__ import annotations

from hat.cli.devices import add_device


def register(subparsers) -> None:
    evaluate = subparsers.add_parser("evaluate", help="beam search + tokenized BLEU + SacreBLEU -> bleu.txt")
    evaluate.add_argument("--task", required=True, help="task name or task.yml")
    evaluate.add_argument(
        "--checkpoint", required=True,
        help="model checkpoint (e.g. SAVE_DIR/checkpoint.pt), or an ONNX export's model.json (runs in onnxruntime)",
    )  # fmt: skip
    evaluate.add_argument("--data", required=True, help="fairseq-binarized dir")
    evaluate.add_argument("--out", required=True, help="bleu.txt to write; hypotheses go beside it")
    evaluate.add_argument("--config", help="SubTransformer YAML, when --checkpoint is a supernet")
    evaluate.add_argument("--subset", default="test")
    evaluate.add_argument("--beam", type=int, help="beam size (default: the task's)")
    evaluate.add_argument("--lenpen", type=float, help="length penalty (default: the task's)")
    add_device(evaluate, "where beam search runs")
    evaluate.add_argument(
        "--precision", choices=["fp32", "int8"],
        help="int8: torch.ao dynamic quantization of a PyTorch checkpoint (default: fp32, or the ONNX export's own)",
    )  # fmt: skip
    evaluate.set_defaults(func=_evaluate)


def _evaluate(args) -> int:
    from hat.evaluate import evaluate
    from hat.tasks import load_task

    report = evaluate(
        load_task(args.task), args.checkpoint, args.data, args.out, subset=args.subset, beam=args.beam,
        lenpen=args.lenpen, config_path=args.config, device=args.device, precision=args.precision,
    )  # fmt: skip
    print(
        f"{args.out}: BLEU {report['bleu']}, SacreBLEU {report['sacrebleu']} ({report['sentences']} sentences, "
        f"{report['runtime']} {report['precision']})"
    )
    return 0
