"""Sharded jobs: what ``python -m core batch`` and ``python -m core.dataset prepare`` share.

Both run a list of independent jobs over the processes that ``accelerate launch`` (or
``torchrun``) started: job ``i`` runs on process ``i % count``, each job records its outcome in
a small JSON file written atomically (a reader never sees half a file; a rerun skips what is
done), and the processes meet at the end so one of them can write the summary.

Torch and accelerate are imported only when several processes were launched.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

Job = TypeVar("Job")

BARRIER_TIMEOUT = timedelta(days=7)
"""How long a process waits at the end for the others: one may wait there for hours while
another finishes its last jobs, far beyond the process group's default timeout."""


def _temporary_name(path: Path) -> Path:
    """A hidden sibling unique to this process and call, so concurrent writers never collide."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it (creating the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_name(path)
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON to ``path`` atomically (values JSON cannot hold,
    such as paths, are written as strings)."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str))


def read_json(path: str | Path) -> Optional[dict[str, Any]]:
    """The JSON object in ``path``, or ``None`` when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def use_cpu() -> bool:
    """Whether to run on the CPU: no CUDA device, or ``accelerate launch --cpu`` / ``ACCELERATE_USE_CPU``.

    Telling accelerate explicitly matters for several CPU processes (``accelerate launch
    --multi_gpu --num_processes N`` on a machine without GPUs): only then does it join them
    into one gloo process group instead of running N independent single-process jobs.
    """
    import torch
    from accelerate.utils import parse_flag_from_env

    return not torch.cuda.is_available() or parse_flag_from_env("ACCELERATE_USE_CPU")


@dataclass(frozen=True)
class Shard:
    """This process's place among the processes sharing the jobs.

    Attributes:
        index, count: this process and how many there are.
        device: the CUDA device of this process (``"cuda:N"``), ``None`` on the CPU.
        wait: blocks until every process reached the same call.
    """

    index: int
    count: int
    device: Optional[str]
    wait: Callable[[], None]

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def share(self, jobs: Sequence[Job]) -> list[Job]:
        """This process's jobs: ``index, index + count, …`` (round robin, in order)."""
        return list(jobs[self.index :: self.count])

    def owns(self, position: int) -> bool:
        """Whether job number ``position`` (0-based) runs on this process."""
        return position % self.count == self.index


def single_process() -> Shard:
    """The shard of a process that runs every job itself."""
    return Shard(0, 1, None, lambda: None)


def current_shard() -> Shard:
    """The process index/count from ``accelerate launch`` / ``torchrun`` (a single process otherwise).

    On a machine without CUDA, ``accelerate launch --multi_gpu --num_processes N`` (or
    ``torchrun --nproc_per_node N``) starts N CPU processes that synchronise over gloo.
    """
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return single_process()
    from accelerate import PartialState

    state = PartialState(cpu=use_cpu(), timeout=BARRIER_TIMEOUT)
    device = str(state.device) if state.device is not None and state.device.type == "cuda" else None
    return Shard(state.process_index, state.num_processes, device, state.wait_for_everyone)
