"""Watch the audit trail work against the embedded model: python try_it.py

Starts the model server if it is not running (it stays up; 'workbench backend down' stops it),
makes two calls with personal data in them, then prints the log and what verify() says.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from audit import AuditLog
from audit_callback import as_user, install, uninstall

from workbench.llm import chat

PATH = Path("try_audit.jsonl")


def main() -> None:
    PATH.unlink(missing_ok=True)
    log = AuditLog(PATH)
    logger = install(log)
    try:
        with as_user("alice"):
            chat([{"role": "user", "content": "My email is alice.martin@example.com, card 4111 1111 1111 1111. Say OK."}],
                 max_tokens=16)
        with as_user("bob"):
            chat([{"role": "user", "content": "Refund order ORD-2026-004512 to DE89 3704 0044 0532 0130 00."}],
                 max_tokens=16)
        time.sleep(0.5)  # litellm runs success callbacks on a thread of its own, just after the call
    finally:
        uninstall(logger)
    for record in log.records():
        print(json.dumps(record, ensure_ascii=False)[:300])
    print("callback errors:", getattr(logger, "errors", []))
    print("verify():", log.verify(), "(None = the chain verifies)")


if __name__ == "__main__":
    main()
