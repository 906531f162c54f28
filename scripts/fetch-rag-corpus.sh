#!/usr/bin/env bash
# The retrieval benchmark's corpus and reference, pinned, under target/ (not committed):
# - Sphinx 8.1.3's own documentation (155 reStructuredText files), from its source
#   distribution on PyPI, into target/rag-corpus/sphinx-doc;
# - rank-bm25 0.2.2 (PyPI), the reference BM25 the benchmark compares charla's search with, in
#   the venv target/rag-py.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/rag-corpus
if [ ! -d "$OUT/sphinx-doc" ]; then
  mkdir -p "$OUT"
  python3 -m venv target/rag-py
  target/rag-py/bin/pip install --quiet --disable-pip-version-check "rank-bm25==0.2.2" >&2
  target/rag-py/bin/pip download --quiet --disable-pip-version-check --no-binary :all: --no-deps \
    "sphinx==8.1.3" -d "$OUT" >&2
  tar xzf "$OUT/sphinx-8.1.3.tar.gz" -C "$OUT" sphinx-8.1.3/doc
  mv "$OUT/sphinx-8.1.3/doc" "$OUT/sphinx-doc"
  rm -rf "$OUT/sphinx-8.1.3"
fi
if ! target/rag-py/bin/python -c "import rank_bm25" 2>/dev/null; then
  python3 -m venv target/rag-py
  target/rag-py/bin/pip install --quiet --disable-pip-version-check "rank-bm25==0.2.2" >&2
fi
