"""Installed by the ray-serve grader as `sitecustomize` for every Python process of the Ray
cluster it starts in the learner sandbox. It records, per process, the size of every batch
that Ray Serve's `@serve.batch` machinery hands to the decorated method ("S n") and of every
call into the workbench's MiniLM embedder ("E n"), one line each in $WB_CALL_LOG/<pid>.log,
so that the grader sees real batch sizes, not ones the service reports about itself."""

import importlib.abc
import importlib.util
import os
import sys

_LOG_DIR = os.environ.get("WB_CALL_LOG", "")


def _record(kind, size):
    try:
        fd = os.open(os.path.join(_LOG_DIR, f"{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, f"{kind} {int(size)}\n".encode())
        finally:
            os.close(fd)
    except (OSError, TypeError, ValueError):
        pass


def _patch_batching(module):
    queue_cls = getattr(module, "_BatchQueue", None)
    inner = getattr(queue_cls, "_process_batch_inner", None)
    if inner is None or getattr(inner, "_wb_wrapped", False):
        return

    async def _process_batch_inner(self, func, batch):
        _record("S", sum(1 for item in batch if not item.future.cancelled()))
        return await inner(self, func, batch)

    _process_batch_inner._wb_wrapped = True
    queue_cls._process_batch_inner = _process_batch_inner


def _patch_embeddings(module):
    embedder_cls = getattr(module, "Embedder", None)
    encode = getattr(embedder_cls, "encode", None)
    if encode is None or getattr(encode, "_wb_wrapped", False):
        return

    def wrapped(self, texts, *args, **kwargs):
        _record("E", 1 if isinstance(texts, str) else len(texts))
        return encode(self, texts, *args, **kwargs)

    wrapped._wb_wrapped = True
    embedder_cls.encode = wrapped


_PATCHES = {"ray.serve.batching": _patch_batching, "workbench.llm.embeddings": _patch_embeddings}


class _Loader(importlib.abc.Loader):
    def __init__(self, loader, patch):
        self._loader, self._patch = loader, patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader, patch)
                return spec
        return None


if _LOG_DIR:
    sys.meta_path.insert(0, _Finder())
