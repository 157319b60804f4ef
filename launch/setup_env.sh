#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs genrec with its test and mips extras, if not done already.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import genrec, jax, flax, seqio, pytest" 2>/dev/null \
   || [ setup.py -nt .venv/.genrec-installed ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test,mips]"
  touch .venv/.genrec-installed
fi
