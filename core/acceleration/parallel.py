"""One video over several GPUs: sequence ("context") parallelism through diffusers.

Every process holds the whole pipeline; only the transformer's token sequences are split.
diffusers' context-parallel hooks cut the text and video tokens of both DaS streams into one
share per process where the transformer's ``_cp_plan`` (:mod:`core.transformer`) says, and its
Ulysses attention (``native`` backend, PyTorch SDPA) exchanges them with an all-to-all so that
each process attends over the *whole* sequence for ``heads / N`` of the heads. The output head
gathers the shares again, so every process ends each step with the same full latents.

Processes. ``--parallel N`` starts N processes on this machine with the environment that
``torchrun`` sets (:func:`launch`); ``torchrun --nproc-per-node N`` or ``accelerate launch
--num_processes N`` with ``--parallel N`` work the same. Process 0, the *leader*, runs the CLI,
the studio or a Python script exactly as a single process would. The others, the *followers*,
run :func:`follow`: they repeat the leader's engine commands (load, unload, the frames of one
window), which the leader broadcasts before doing each itself, so every collective operation
lines up. Only the leader writes results. On GPUs the processes use ``cuda:<local rank>`` and
NCCL; on the CPU (tests) gloo.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator, Optional, Sequence

from core.acceleration import AccelerationError

logger = logging.getLogger(__name__)

PARALLEL_OFFLOAD_MODES = ("none", "model")
"""Memory modes that keep whole modules on one device (the context-parallel hooks need that)."""
CONTROL_TIMEOUT = timedelta(days=30)
"""How long followers wait for the leader's next command (a studio may sit idle for days)."""
COLLECTIVE_TIMEOUT = timedelta(minutes=30)
"""Longest any single split/gather/attention exchange may take before the run fails."""
FOLLOWER_EXIT_GRACE_S = 30.0
"""After the leader exits, how long the launcher lets followers finish before stopping them."""
LAUNCH_POLL_S = 0.2
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM
WORLD_SIZE_ENV = "WORLD_SIZE"


class ParallelError(AccelerationError):
    """``--parallel`` asked for something this machine or these options cannot do."""


# --------------------------------------------------------------------------------------------
# Commands the leader sends
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One engine step the followers repeat. ``kind`` is one of the ``*_COMMAND`` names."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


STOP_COMMAND = "stop"


# --------------------------------------------------------------------------------------------
# The process group
# --------------------------------------------------------------------------------------------


@dataclass
class ParallelGroup:
    """This process's place among the processes that share one video.

    Attributes:
        rank: 0 for the leader.
        world_size: processes in the group (= ``--parallel``).
        device: ``"cuda:<local rank>"`` or ``"cpu"``.
        control: a gloo group for the leader's commands (CPU objects, long timeout).
        mesh: the ``("ring", "ulysses")`` device mesh diffusers' context parallelism reads.
    """

    rank: int
    world_size: int
    device: str
    control: Any
    mesh: Any
    parallel_configs: dict[bool, Any] = field(default_factory=dict)
    """diffusers ``ParallelConfig`` per ``ulysses_anything`` value, set up once (it creates groups)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held by the engine through each command (announce and run), and by :func:`leave` around
    the goodbye, so that "stop" never interleaves with a generation's exchanges."""

    @property
    def is_leader(self) -> bool:
        return self.rank == 0

    def announce(self, kind: str, payload: Optional[dict[str, Any]] = None) -> None:
        """Leader: hand a command to every follower (returns once they all have it)."""
        self._broadcast(Command(kind, payload or {}))

    def receive(self) -> Command:
        """Follower: wait for the leader's next command."""
        return self._broadcast(None)

    def _broadcast(self, command: Optional[Command]) -> Command:
        import torch.distributed as dist

        box = [command]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def share_flag(self, value: bool) -> bool:
        """Every process calls this at the same point; all return the leader's ``value``."""
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if value else 0], dtype=torch.uint8)
        dist.broadcast(flag, src=0, group=self.control)
        return bool(flag.item())

    def agree(self, ok: bool) -> bool:
        """Every process calls this at the same point; all return whether every one was ``ok``."""
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if ok else 0], dtype=torch.uint8)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN, group=self.control)
        return bool(flag.item())

    def all_reduce_sum(self, tensor):
        """Sum ``tensor`` over the processes (on its own device); returns the sum."""
        import torch.distributed as dist

        total = tensor.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)  # the world group: these processes, nothing else
        return total


@contextmanager
def together(group: Optional[ParallelGroup], what: str) -> Iterator[None]:
    """Run a step that may fail on one process only (reading weights, encoding) so that every
    process learns of a failure before the next exchange, instead of waiting on it forever.

    With no group this is a plain block. Otherwise all processes agree at the end: a process
    that failed re-raises its own error; the others raise :class:`ParallelError`.
    """
    if group is None:
        yield
        return
    try:
        yield
    except Exception:
        group.agree(False)
        raise
    if not group.agree(True):
        raise ParallelError(f"another process failed while {what} (its log says why); nothing was generated")


_GROUP: Optional[ParallelGroup] = None
"""This process's group: the process group is process-wide in torch.distributed, so is this."""


def launched_world_size() -> int:
    """Processes started together by ``torchrun`` / ``accelerate launch`` / :func:`launch` (1 if none)."""
    try:
        return max(1, int(os.environ.get(WORLD_SIZE_ENV, "1") or 1))
    except ValueError:
        return 1


def check_parallel(processes: int, offload: str, device: Optional[str]) -> None:
    """Refuse ``--parallel`` settings that cannot run, before anything is started.

    Raises:
        ParallelError: ``processes`` < 1; an offload mode that moves single layers; a fixed
            ``cuda:N`` device (each process uses the GPU of its local rank); more processes
            than GPUs.
    """
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise ParallelError(f"--parallel must be a whole number of processes >= 1; got {processes!r}")
    if processes == 1:
        return
    if offload not in PARALLEL_OFFLOAD_MODES:
        raise ParallelError(f"--parallel works with --offload none or model, not {offload}")
    if device not in (None, "", "auto", "cuda", "cpu"):
        raise ParallelError(
            f"--parallel {processes} gives process k the GPU cuda:k; leave --device empty (or 'cpu' to try it "
            f"without a GPU) instead of {device!r}; choose GPUs with CUDA_VISIBLE_DEVICES"
        )
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ParallelError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu to try --parallel on CPU processes")
    wants_cuda = device in (None, "", "auto", "cuda") and torch.cuda.is_available()
    if wants_cuda and torch.cuda.device_count() < processes:
        raise ParallelError(
            f"--parallel {processes} needs {processes} GPUs; this machine shows {torch.cuda.device_count()}"
        )


def join(processes: int, device: Optional[str] = None) -> ParallelGroup:
    """Join the group of ``processes`` processes this one was launched in (once per process).

    Sets up ``torch.distributed`` (NCCL on GPUs, gloo on the CPU), this process's device, the
    gloo group for commands and the device mesh. Every process must call it.

    Raises:
        ParallelError: the process was not started as one of ``processes`` processes.
    """
    global _GROUP
    if _GROUP is not None:
        if _GROUP.world_size != processes:
            raise ParallelError(f"this process already belongs to a group of {_GROUP.world_size}, not {processes}")
        return _GROUP
    world_size = launched_world_size()
    if world_size != processes:
        raise ParallelError(
            f"--parallel {processes} needs {processes} processes but this one was started as one of {world_size}: "
            f"run `python -m core ... --parallel {processes}` (it starts them) or "
            f"`torchrun --nproc-per-node {processes} -m core ... --parallel {processes}`"
        )
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    use_cuda = device != "cpu" and torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", timeout=COLLECTIVE_TIMEOUT)
    control = dist.new_group(backend="gloo", timeout=CONTROL_TIMEOUT)
    mesh = init_device_mesh("cuda" if use_cuda else "cpu", (1, processes), mesh_dim_names=("ring", "ulysses"))
    _GROUP = ParallelGroup(
        rank=dist.get_rank(),
        world_size=processes,
        device=f"cuda:{local_rank}" if use_cuda else "cpu",
        control=control,
        mesh=mesh,
    )
    return _GROUP


def current_group() -> Optional[ParallelGroup]:
    """The group :func:`join` set up in this process, if any."""
    return _GROUP


def leave(stop_followers: bool = True) -> None:
    """Leader: tell the followers (:func:`follow`) to stop. Every process: leave ``torch.distributed``.

    ``stop_followers=False`` when no process follows (all of them ran the same code, as
    ``bench/gpu_parallel.py`` does).
    """
    global _GROUP
    import torch.distributed as dist

    group = _GROUP
    if group is None:
        return
    if group.is_leader and stop_followers:
        with group.lock:  # a generation still running in a studio thread finishes first
            try:
                group.announce(STOP_COMMAND)
            except RuntimeError as error:  # a follower already gone (Ctrl+C reaches every process)
                logger.info("could not tell every follower to stop: %s", error)
    _GROUP = None
    if dist.is_initialized():
        dist.destroy_process_group()


# --------------------------------------------------------------------------------------------
# The transformer
# --------------------------------------------------------------------------------------------


def context_parallel_plan(transformer) -> dict[str, Any]:
    """The transformer's ``_cp_plan`` without the entries for modules it lacks
    (``transformer_blocks_copy.0`` of a model with no tracking blocks)."""
    plan = {}
    for name, entry in transformer._cp_plan.items():
        try:
            transformer.get_submodule(name)
        except AttributeError:
            continue
        plan[name] = entry
    return plan


def splits_evenly(transformer_config, processes: int) -> bool:
    """Whether the text tokens, the video tokens and the heads of a native-size video all divide
    by ``processes`` (then the plain Ulysses exchange runs, which ``torch.compile`` can trace;
    otherwise diffusers' uneven "anything" variant, which it cannot)."""
    config = transformer_config  # the model's config or its config.json as a dict
    frames = (config["sample_frames"] - 1) // config["temporal_compression_ratio"] + 1
    if config.get("patch_size_t"):
        frames = -(-frames // config["patch_size_t"])
    patch = config["patch_size"]
    video_tokens = frames * (config["sample_height"] // patch) * (config["sample_width"] // patch)
    counts = (config["max_text_seq_length"], video_tokens, config["num_attention_heads"])
    return all(count % processes == 0 for count in counts)


def check_compiled_split(transformer_config, processes: int) -> None:
    """Refuse ``torch.compile`` with a split into unequal shares (see :func:`splits_evenly`).

    Raises:
        ParallelError: ``processes`` does not divide the token and head counts.
    """
    if not splits_evenly(transformer_config, processes):
        raise ParallelError(
            f"--compile with --parallel {processes} needs the text tokens, video tokens and heads to divide by "
            f"{processes} (torch.compile cannot trace uneven shares); use --parallel 2 or drop --compile"
        )


def enable_context_parallel(transformer, group: ParallelGroup) -> None:
    """Split ``transformer``'s token sequences over ``group`` (diffusers' context-parallel hooks).

    Every attention layer must use :class:`core.acceleration.attention.DispatchingCogVideoXAttnProcessor`
    (installed here with the ``native`` backend when the model still has diffusers' own
    processor, which bypasses the dispatcher). A step cache on the transformer gets the group's
    sum, so that every process takes the same skip decision.

    Raises:
        ParallelError: the attention backend cannot run context-parallel (only backends that
            diffusers marks as such can: native, flash, sage, ...).
    """
    from diffusers.hooks.context_parallel import apply_context_parallel
    from diffusers.models._modeling_parallel import ContextParallelConfig, ParallelConfig
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry
    from diffusers.models.attention_processor import Attention

    from core.acceleration.attention import DEFAULT_ATTENTION_BACKEND, DispatchingCogVideoXAttnProcessor

    import torch

    processors = []
    for module in transformer.modules():
        if isinstance(module, Attention):
            if not isinstance(module.processor, DispatchingCogVideoXAttnProcessor):
                module.set_processor(DispatchingCogVideoXAttnProcessor(DEFAULT_ATTENTION_BACKEND))
            processors.append(module.processor)
    for processor in processors:
        backend = AttentionBackendName(processor._attention_backend or DEFAULT_ATTENTION_BACKEND)
        if not _AttentionBackendRegistry._is_context_parallel_available(backend):
            supported = ", ".join(sorted(name.value for name in _AttentionBackendRegistry._supports_context_parallel))
            raise ParallelError(f"attention backend {backend.value!r} cannot split a video over processes; use one of {supported}")

    # Uneven shares need diffusers' "anything" exchange (226 text tokens do not split in 4),
    # whose final gather of unequal shares NCCL supports and gloo does not.
    uneven = not splits_evenly(transformer.config, group.world_size)
    if uneven and group.device == "cpu":
        raise ParallelError(
            f"CPU processes (gloo) can only split a video into equal shares, and {group.world_size} does not divide "
            f"this model's text tokens, video tokens and heads; use GPUs, or --parallel 2"
        )
    config = group.parallel_configs.get(uneven)
    if config is None:
        config = ParallelConfig(
            context_parallel_config=ContextParallelConfig(ulysses_degree=group.world_size, ulysses_anything=uneven)
        )
        config.setup(group.rank, group.world_size, torch.device(group.device), mesh=group.mesh)
        group.parallel_configs[uneven] = config
    transformer._parallel_config = config
    for processor in processors:
        processor._parallel_config = config
    apply_context_parallel(transformer, config.context_parallel_config, context_parallel_plan(transformer))
    step_cache = getattr(transformer, "_das_step_cache_state", None)
    if step_cache is not None:
        step_cache.all_reduce_sum = group.all_reduce_sum


# --------------------------------------------------------------------------------------------
# Followers
# --------------------------------------------------------------------------------------------


def follow(engine, group: ParallelGroup) -> int:
    """Follower: repeat the leader's engine commands until it says stop; returns exit code 0.

    A command that fails here is logged and the follower waits for the next one (the steps that
    can fail on one process only run :func:`together`, so the leader hears of it); a cancelled
    generation is cancelled here too.
    """
    from core.engine import FRAMES_COMMAND, LOAD_COMMAND, UNLOAD_COMMAND
    from core.errors import UserError
    from core.progress import Cancelled

    while True:
        try:
            command = group.receive()
        except RuntimeError as error:  # the leader is gone (killed, or stopped by the launcher)
            logger.info("process %d: the leader is gone (%s); stopping", group.rank, error)
            return 0
        if command.kind == STOP_COMMAND:
            return 0
        try:
            if command.kind == LOAD_COMMAND:
                engine.load()
            elif command.kind == UNLOAD_COMMAND:
                engine.unload()
            elif command.kind == FRAMES_COMMAND:
                engine.follow_frames(**command.payload)
            else:
                logger.error("unknown command %r from the leader", command.kind)
        except Cancelled:
            logger.info("process %d: the leader cancelled the generation", group.rank)
        except UserError as error:
            logger.warning("process %d: %s", group.rank, error)
        except Exception:  # noqa: BLE001 - a bug or an out-of-memory here must not end the group
            logger.exception("process %d: %r failed", group.rank, command.kind)


def run_as_group(processes: int, device: Optional[str], lead: Callable[[], Any], make_engine: Callable[[], Any]) -> Any:
    """Join the group; run ``lead()`` on the leader (its result is returned) and :func:`follow`
    with ``make_engine()`` on the others (0 is returned); everyone leaves together.

    ``make_engine`` must build an engine with the leader's :class:`core.engine.EngineConfig`.
    """
    group = join(processes, device)
    try:
        if group.is_leader:
            return lead()
        return follow(make_engine(), group)
    finally:
        leave()


# --------------------------------------------------------------------------------------------
# Starting the processes
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(processes: int, command: Sequence[str]) -> int:
    """Start ``command`` (e.g. ``[python, -m, core, ...]``) ``processes`` times as one group.

    Each copy gets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``,
    ``MASTER_ADDR`` and ``MASTER_PORT`` as ``torchrun --standalone`` sets them. Returns the
    leader's exit code (so the CLI's codes survive); if any process fails first, the others are
    stopped and its code is returned. Ctrl+C reaches every process (same process group); a
    SIGTERM to this launcher stops them all.
    """
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm) if on_main_thread else None
    try:
        return _run_children(processes, command)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)


def _run_children(processes: int, command: Sequence[str]) -> int:
    port = _free_port()
    children = []
    for rank in range(processes):
        environment = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            WORLD_SIZE_ENV: str(processes),
            "LOCAL_WORLD_SIZE": str(processes),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
        children.append(subprocess.Popen(list(command), env=environment))
    leader = children[0]
    try:
        while True:
            codes = [child.poll() for child in children]
            if codes[0] is not None:
                break
            failed = [code for code in codes[1:] if code not in (None, 0)]
            if failed:
                logger.error("a follower process exited with code %d; stopping the others", _exit_code(failed[0]))
                _stop(children)
                return _exit_code(failed[0])
            time.sleep(LAUNCH_POLL_S)
        deadline = time.monotonic() + FOLLOWER_EXIT_GRACE_S
        while time.monotonic() < deadline and any(child.poll() is None for child in children[1:]):
            time.sleep(LAUNCH_POLL_S)
        _stop(children[1:])
        return _exit_code(leader.returncode)
    except (KeyboardInterrupt, SystemExit):
        _stop(children)
        raise


def _exit_code(returncode: int) -> int:
    """A child's exit status as a shell reports it (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(SIGTERM_EXIT_CODE)


def _stop(children: Sequence[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=FOLLOWER_EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()


def relaunch_command(module_or_script: str, argv: Sequence[str]) -> list[str]:
    """The command that runs this program again: ``python -m core ...`` or ``python webui.py ...``."""
    if module_or_script.endswith(".py"):
        return [sys.executable, module_or_script, *argv]
    return [sys.executable, "-m", module_or_script, *argv]
