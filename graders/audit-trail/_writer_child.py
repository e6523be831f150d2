"""Child process of the crash check: appends records to an audit log in a loop and prints each
seq once append() has returned, until the grader kills it with SIGKILL.

The grader runs this file's source in the learner's sandbox (graders/ is not visible there),
with the learner's lab copy as the working directory:

usage: python -c "$(cat _writer_child.py)" LOG_PATH SEED
"""

from __future__ import annotations

import os
import random
import sys

log_path, seed = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, os.environ.get("WORKBENCH_LAB_DIR") or os.getcwd())

import audit  # noqa: E402 - the learner's module, from their folder

rng = random.Random(seed)
log = audit.AuditLog(log_path)
alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "
chunk = "".join(rng.choice(alphabet) for _ in range(4096))
i = 0
while True:
    # a long conversation: many small strings, so a writer that streams JSON into a buffered file
    # issues many write calls per record, and a kill can land between them
    turns = rng.choice([4, 64, 256, 1024])
    start = rng.randrange(3900)
    entry = {"event": "crash-test", "writer": seed, "i": i,
             "input": [{"role": "user", "content": chunk[(start + 7 * j) % 3900:][:100]} for j in range(turns)]}
    record = log.append(entry)
    sys.stdout.write(f"{record['seq']}\n")
    sys.stdout.flush()
    i += 1
