"""The reference BM25 (rank_bm25's BM25Okapi) over the passages charla made, for the retrieval
benchmark: reads {"passages": [{"id", "text"}], "queries": [{"q", "relevant": [id…]}]} and
prints the recall@5 it reaches. Tokens: lowercase runs of letters and digits, as charla's."""
import json
import re
import sys

from rank_bm25 import BM25Okapi

data = json.load(open(sys.argv[1]))
tok = lambda s: re.findall(r"[^\W_]+", s.lower())
ids = [p["id"] for p in data["passages"]]
bm25 = BM25Okapi([tok(p["text"]) for p in data["passages"]])
found = 0
for q in data["queries"]:
    scores = bm25.get_scores(tok(q["q"]))
    top = sorted(range(len(ids)), key=lambda i: -scores[i])[:5]
    if any(ids[i] in q["relevant"] for i in top):
        found += 1
print(f"{found / len(data['queries']):.4f}")
