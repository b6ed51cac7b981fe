#!/usr/bin/env bash
# Set up a virtual environment (CPU torch, with the optional onnx extra so its tests run) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q "torch==2.13.0" -e ".[dev,onnx]"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
