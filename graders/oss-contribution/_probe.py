"""Run inside the sandbox: feed each case's chunks to the library of one tree, write the events.

usage: python _probe.py TREE CASES.json OUT.json
"""

import json
import sys
import traceback

tree, cases_path, out_path = sys.argv[1:4]
sys.path.insert(0, f"{tree}/src")
results = []
try:
    from ssekit import SSEDecoder
except Exception as exc:  # the import itself is the learner's failure
    json.dump({"import_error": f"{type(exc).__name__}: {exc}"}, open(out_path, "w"))
    raise SystemExit(0) from None

for case in json.load(open(cases_path)):
    decoder = SSEDecoder()
    per_feed = []
    try:
        for chunk in case["chunks"]:
            events = decoder.feed(bytes.fromhex(chunk))
            per_feed.append([[e.data, e.event, e.id] for e in events])
        results.append({"per_feed": per_feed})
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        results.append({"error": f"{type(exc).__name__}: {exc} (at {where.filename.split('/')[-1]}:{where.lineno})",
                        "per_feed": per_feed})
json.dump({"results": results}, open(out_path, "w"))
