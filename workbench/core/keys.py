"""Who signed a bundle: the learner's Ed25519 key and display name, and the lead's two ways of
binding keys to learner ids.

- `--trusted-keys FILE`: one `PUBLIC_KEY LEARNER_ID [DISPLAY NAME]` per line. Only bound keys
  count; a key without an id, or a bundle claiming another id than its key's, is rejected.
- Otherwise the lead's *ledger* (`--ledger FILE`, default `<config dir>/team-ledger.json`,
  created on first use) records each key -> learner id the first time the lead sees it, on the
  lead's own clock. A later bundle under a known key must claim the same id; a new key claiming
  an id the ledger already gives to another key is rejected; two new keys claiming one id in the
  same run are both rejected until the lead binds one (the signer's `exported_at` decides nothing).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DataError
from .resources import config_dir

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = "signing-key.pem"
IDENTITY_FILE = "identity.toml"
LEDGER_FILE = "team-ledger.json"


def public_key_b64(private_key: Ed25519PrivateKey) -> str:
    """The raw public key of a private key, base64."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def fingerprint(public_key: str) -> str:
    """Short, stable name of a public key: 'ed25519:' + 16 hex digits of its SHA-256."""
    try:
        raw = base64.b64decode(public_key, validate=True)
    except ValueError:
        raw = public_key.encode()
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def load_or_create_key(directory: Path | None = None) -> tuple[Ed25519PrivateKey, bool]:
    """The learner's Ed25519 key (created, mode 0600, on first use); (key, created now?)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        load_pem_private_key,
    )

    path = (directory or config_dir()) / KEY_FILE
    if path.is_file():
        try:
            key = load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise DataError(path, f"cannot read the signing key ({exc})",
                            hint="move it away; the next export creates a new key (your lead must trust the new one)") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise DataError(path, "is not an Ed25519 private key", hint="move it away; the next export creates a new key")
        return key, False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another export created it first: use that one
        return load_or_create_key(directory)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key, True


def resolve_display_name(name: str | None = None) -> str:
    """--name (remembered for next time), else the remembered name, else `git config user.name`,
    else the login name."""
    path = config_dir() / IDENTITY_FILE
    if name is not None and name.strip():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(f"# Remembered by 'workbench export --name'\ndisplay_name = {json.dumps(name.strip(), ensure_ascii=False)}\n",
                        encoding="utf-8")
        return name.strip()
    if path.is_file():
        from .tomlfile import read_toml

        remembered = read_toml(path)[0].get("display_name")
        if isinstance(remembered, str) and remembered.strip():
            return remembered.strip()
    try:
        git = subprocess.run(["git", "config", "--get", "user.name"], capture_output=True, text=True, timeout=2)
        if git.returncode == 0 and git.stdout.strip():
            return git.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "anonymous"


# -- the lead's side: which key speaks for which learner ------------------------------------------

@dataclass(frozen=True)
class Binding:
    """A key bound to one learner id (and, from a trusted-keys file, the name the lead knows)."""

    learner_id: str | None
    name: str | None = None
    first_seen: str | None = None


TrustedKeys = dict[str, Binding]


def _valid_key(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) == 32
    except ValueError:
        return False


def load_trusted_keys(path: Path) -> TrustedKeys:
    """Parse a trusted-keys file: `PUBLIC_KEY LEARNER_ID [DISPLAY NAME]` per line, '#' starts a
    comment. PUBLIC_KEY is the base64 key `workbench export` prints. A line with a key only is
    read, but that key binds no learner, so its bundles are rejected ('unbound-key')."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(path, f"cannot read the trusted-keys file ({exc.strerror})") from exc
    keys: TrustedKeys = {}
    owners: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if not _valid_key(fields[0]):
            raise DataError(path, f"expected 'PUBLIC_KEY LEARNER_ID [NAME]', got {line.strip()!r}", line=number,
                            hint="PUBLIC_KEY is the base64 Ed25519 key 'workbench export' prints")
        learner_id = fields[1] if len(fields) > 1 else None
        if fields[0] in keys:
            raise DataError(path, f"key {fingerprint(fields[0])} is listed twice", line=number)
        if learner_id is not None and learner_id in owners:
            raise DataError(path, f"learner id {learner_id} is bound to two keys", line=number,
                            hint=f"keep one line for {learner_id} (the other key is {fingerprint(owners[learner_id])})")
        if learner_id is not None:
            owners[learner_id] = fields[0]
        keys[fields[0]] = Binding(learner_id, " ".join(fields[2:]) or None)
    return keys


def default_ledger_path() -> Path:
    """The lead's ledger when --ledger is not given."""
    return config_dir() / LEDGER_FILE


@dataclass
class Ledger:
    """key -> learner id, recorded on the lead's clock the first time the lead sees the key."""

    path: Path
    keys: dict[str, Binding] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Ledger:
        """Read the ledger (an absent file is an empty ledger, created on save)."""
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            keys = {key: Binding(entry["learner_id"], entry.get("name"), entry["first_seen"])
                    for key, entry in data["keys"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(path, f"cannot read the ledger ({exc})",
                            hint="restore it from a backup; deleting it forgets every key the lead has seen") from exc
        return cls(path, keys)

    def owner_of(self, learner_id: str) -> str | None:
        """The key the ledger gives this learner id to, if any."""
        return next((key for key, binding in self.keys.items() if binding.learner_id == learner_id), None)

    def add(self, public_key: str, learner_id: str, name: str, now: datetime | None = None) -> None:
        """Record a key seen for the first time (saved by `save`)."""
        when = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        self.keys[public_key] = Binding(learner_id, name, when)
        self.added.append(public_key)

    def save(self) -> None:
        """Write the ledger atomically (only when it learned something)."""
        if not self.added and self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data: dict[str, Any] = {"format": "workbench-team-ledger", "format_version": 1, "keys": {
            key: {"learner_id": b.learner_id, "name": b.name, "first_seen": b.first_seen,
                  "fingerprint": fingerprint(key)} for key, b in sorted(self.keys.items(), key=lambda kv: kv[1].first_seen or "")}}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


__all__ = ["Binding", "IDENTITY_FILE", "KEY_FILE", "Ledger", "TrustedKeys", "config_dir", "default_ledger_path",
           "fingerprint", "load_or_create_key", "load_trusted_keys", "public_key_b64", "resolve_display_name"]
