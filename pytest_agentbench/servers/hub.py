"""GGUF files fetched from the Hugging Face hub for a managed llama-server (``hf_model``).

The hub's own client does the work, so its cache (``HF_HOME``, ``HF_HUB_CACHE``), a mirror
(``HF_ENDPOINT``), a token (``HF_TOKEN``) and ``HF_HUB_OFFLINE`` behave as in every other tool
that uses it, and a file already downloaded by one of them is not downloaded again. It is an
optional dependency (the ``hub`` extra), imported only when a file has to be resolved: most runs
serve a local file or a server the user runs.
"""

from __future__ import annotations

import inspect
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_agentbench.servers.managed import ServerStartError
from pytest_agentbench.servers.memory import human

HUB_HINT = "pip install 'pytest-agentbench[hub]'"
DEFAULT_ENDPOINT = "https://huggingface.co"
# A multi-gigabyte download takes minutes: say how far it got now and then, not only at the end.
PROGRESS_EVERY = 60.0
_HF_MODEL = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+):(?P<file>[^:\s]+)$")
_TRUE = {"1", "ON", "YES", "TRUE"}  # how huggingface_hub reads its boolean variables


@dataclass(frozen=True)
class HubFile:
    """One file of a model repository on the hub, at a branch, tag or commit."""

    repo: str
    filename: str
    revision: str = "main"

    @classmethod
    def parse(cls, value: str, revision: str | None = None) -> HubFile:
        """``owner/repo:path/in/repo.gguf`` → a :class:`HubFile`; ValueError says what is wrong."""
        match = _HF_MODEL.match(value.strip())
        if not match:
            raise ValueError(f"{value!r}: give the repository and the file, as "
                             "'owner/repo:file.gguf'")
        filename = match.group("file")
        if not filename.endswith(".gguf"):
            # llama.cpp's -hf also takes a quantization tag (repo:Q4_K_M); the file name is what
            # pins one download, so that is what is asked for.
            raise ValueError(f"{value!r}: {filename!r} is not a .gguf file name (give the file, "
                             "e.g. 'owner/repo:model-Q4_K_M.gguf', not a quantization tag)")
        return cls(match.group("repo"), filename, revision or "main")

    def __str__(self) -> str:
        at = "" if self.revision == "main" else f"@{self.revision}"
        return f"{self.repo}:{self.filename}{at}"


def hub_endpoint() -> str:
    """Where the hub is: ``HF_ENDPOINT`` (a mirror, a local stand-in), else huggingface.co. Read
    when a download starts, not when huggingface_hub was imported."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in _TRUE


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _why(exc: BaseException, target: HubFile) -> str:
    """What went wrong, in a phrase: the hub client's errors carry request ids and URLs over
    several lines, which say less to the user than the kind of failure."""
    from huggingface_hub.utils import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return "the repository is gated: accept its terms on the hub, then set HF_TOKEN"
    if isinstance(exc, RepositoryNotFoundError):
        return "no such repository (or it is private: set HF_TOKEN)"
    if isinstance(exc, RevisionNotFoundError):
        return f"the repository has no revision {target.revision!r}"
    if isinstance(exc, EntryNotFoundError):
        return f"the repository has no file {target.filename!r} at revision {target.revision!r}"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, HfHubHTTPError) and status is not None:
        return f"the hub answered HTTP {status}: {_first_line(exc)}"
    return f"cannot reach the hub ({_first_line(exc)})"


def _cached(target: HubFile, cache: str, revision: str | None = None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(target.repo, target.filename, cache_dir=cache,
                                   revision=revision or target.revision)
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def _progress_bars(notice: Callable[[str], None], name: str) -> type:
    """A tqdm class for the hub client that draws nothing (under pytest its bar would only fill
    the captured output) and says how far the download got every ``PROGRESS_EVERY`` seconds."""
    from huggingface_hub.utils import tqdm

    class Progress(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.total_bytes = kwargs.get("total")
            self.done = 0
            self.said = time.monotonic()

        def update(self, n: float | None = 1) -> bool | None:
            self.done += int(n or 0)
            if time.monotonic() - self.said >= PROGRESS_EVERY:
                self.said = time.monotonic()
                of = f" of {human(self.total_bytes)}" if self.total_bytes else ""
                notice(f"downloading {name}: {human(self.done)}{of} so far")
            return super().update(n)

    return Progress


def fetch_gguf(target: HubFile, notice: Callable[[str], None] = lambda line: None) -> Path:
    """The local path of ``target``: from the hub client's cache, downloaded into it first when
    it is not there (or the revision moved). ``notice`` is told when a download starts, how far it
    got now and then, and when it ends. Raises :class:`ServerStartError` saying what to do."""
    try:
        from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
    except ImportError:
        raise ServerStartError(f"hf_model {target}: downloading it needs the huggingface_hub "
                               f"package: {HUB_HINT}") from None
    endpoint = hub_endpoint()
    # Named explicitly, in every call: the cache the messages name is the one used, whatever
    # the installed client's version binds its default to.
    cache = constants.HF_HUB_CACHE
    where = f"{target.filename} of {target.repo} (revision {target.revision}) from {endpoint}"
    cached = _cached(target, cache)
    if hub_offline():
        if cached is not None:
            return cached
        raise ServerStartError(f"cannot download {where}: HF_HUB_OFFLINE is set and the file is not "
                               f"in the Hugging Face cache ({cache}); download it once online, or set "
                               "gguf to a local copy")
    # One HEAD first: it tells whether a download is due (a new file, or the revision moved) and
    # its size, for the line that says a long wait begins.
    url = hf_hub_url(target.repo, target.filename, revision=target.revision, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url)
    except Exception as exc:  # noqa: BLE001 (the hub client's errors differ by version: all are described)
        if cached is not None:  # what huggingface_hub itself does: the cached copy serves
            notice(f"{target}: {_why(exc, target)}; using the cached {cached}")
            return cached
        raise ServerStartError(f"cannot download {where}: {_why(exc, target)}; it is not in the "
                               f"Hugging Face cache ({cache}) either. Check the network and "
                               "HF_ENDPOINT, or set gguf to a local copy") from None
    due = metadata.commit_hash is None or _cached(target, cache, metadata.commit_hash) is None
    options: dict[str, Any] = {}
    if due:
        notice(f"downloading {target} ({human(metadata.size) if metadata.size else 'size unknown'}) "
               f"from {endpoint} into {cache}")
        if "tqdm_class" in inspect.signature(hf_hub_download).parameters:  # huggingface_hub >= 1.0
            options["tqdm_class"] = _progress_bars(notice, target.filename)
    started = time.monotonic()
    try:
        path = Path(hf_hub_download(target.repo, target.filename, revision=target.revision,
                                    cache_dir=cache, endpoint=endpoint, **options))
    except Exception as exc:  # noqa: BLE001 (as above)
        if cached is not None:  # an older revision, downloaded before, still serves
            notice(f"{target}: {_why(exc, target)}; using the cached {cached}")
            return cached
        raise ServerStartError(f"cannot download {where}: {_why(exc, target)}") from None
    if due:
        notice(f"downloaded {target.filename} ({human(path.stat().st_size)}) in "
               f"{time.monotonic() - started:.0f} s: {path}")
    return path
