"""The device flags of the `hat` commands, one meaning each (not a command group):

* `--device cpu|cuda`: where the command's own work runs (training, candidate scoring, the
  inherited-weight loss, beam search, latency timing); cpu unless given.
* `--measure-latency cpu|cuda` (`hat search`, `hat profile`): also time the resulting model here
  with HAT's protocol (spec §3) on that device, with `--measure-threads` torch CPU threads. It
  names a device rather than being a switch because the hardware a latency is for need not be
  where the work runs: the workflow scores candidates on the task's GPU and times the result on
  the CPU of a `cpu` hardware.
"""

from __future__ import annotations

from hat.latency.measure import DEVICES  # torch-free at import


def add_device(parser, work: str) -> None:
    parser.add_argument("--device", choices=DEVICES, default="cpu", help=f"{work} (default: cpu)")


def add_measure_latency(parser, model: str) -> None:
    parser.add_argument(
        "--measure-latency", choices=DEVICES, metavar="DEVICE",
        help=f"also time {model} on DEVICE here with HAT's protocol (spec §3); default: not timed",
    )  # fmt: skip
    parser.add_argument(
        "--measure-threads", type=int, help="torch CPU threads of that timing (match the latency dataset's --threads)"
    )
