"""Step caching for the DaS transformer: reuse the block stack's residual on quiet steps.

TeaCache-style (Liu et al., 2024): during sampling, the timestep-modulated input of the first
transformer block changes little between neighbouring steps over long stretches of the
schedule, and so does what the whole block stack adds to its input. On a step whose modulated
input has barely moved since the last fully computed step, the stack is not run: its output is
the step's block-stack input plus the *residual* (stack output − stack input) of the last
computed step.

Why not diffusers' ``FirstBlockCache``: it hooks only the ``transformer_blocks`` list, so on a
skipped step DaS's tracking blocks (``transformer_blocks_copy``) and their ``combine_linears``
would still run and add their contribution on top of a residual that already contains it.
Here every stage of the stack that DaS adds is covered:

.. code-block:: text

    transformer forward          StepCacheTimestepHook   new generation? (timestep went up) → reset
    transformer_blocks[0]        StepCacheHeadHook       decide; on skip return input + residual
    transformer_blocks[1:]       StepCachePassHook       on skip: return the input unchanged
    transformer_blocks_copy[*]   StepCachePassHook       on skip: return the input unchanged
    combine_linears[*]           StepCacheZeroHook       on skip: add nothing to the main stream
    norm_final                   StepCacheTailHook       on a computed step: store the residual

The residual is taken at ``norm_final``'s input, i.e. after the last tracking contribution, so
it includes the tracking stream exactly as computed on that step. On computed steps every hook
calls the original module unchanged, so with ``threshold=0`` (nothing is ever skipped) the
output is bit-identical to a transformer without hooks.

Decision rule (TeaCache, without its model-specific polynomial rescaling, which was fitted for
other models): ``accumulated += Σ|m_t − m_prev| / Σ|m_prev|`` where ``m`` is the video
part of block 0's modulated input (``norm1(hidden, text, temb)``); the step is skipped while
``accumulated < threshold`` and computed (and ``accumulated`` reset to 0) otherwise. The first
call of a generation is always computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from diffusers.hooks import HookRegistry, ModelHook

from core.acceleration import AccelerationError

STEP_CACHE_HOOK_NAME = "das_step_cache"
BLOCK_ARGUMENT_NAMES = ("hidden_states", "encoder_hidden_states", "temb")
"""Leading positional parameters of ``CogVideoXBlock.forward``."""
TIMESTEP_ARGUMENT_INDEX = 2
"""Position of ``timestep`` in the transformer's forward (hidden_states, encoder_hidden_states, timestep, ...)."""
CHANGE_DENOMINATOR_FLOOR = 1e-12
"""Keeps the relative change finite for an all-zero previous input."""


@dataclass
class StepCacheConfig:
    """Settings of :func:`apply_step_cache`.

    Attributes:
        threshold: accumulated relative change of the modulated input below which a step
            reuses the cached residual. ``0`` never skips (output identical to no caching);
            TeaCache uses roughly 0.1–0.3 on CogVideoX (larger = more skips, lower fidelity).
    """

    threshold: float = 0.1

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, (int, float)) and math.isfinite(self.threshold) and self.threshold >= 0):
            raise AccelerationError(f"step-cache threshold must be a number >= 0; got {self.threshold!r}")


@dataclass
class StepCacheState:
    """What the hooks share during one generation (plus counters that survive resets)."""

    skip: bool = False
    accumulated: float = 0.0
    previous_modulated: torch.Tensor | None = None
    stack_input: torch.Tensor | None = None
    residual: torch.Tensor | None = None
    last_timestep: float | None = None
    computed_calls: int = 0
    skipped_calls: int = 0
    skipped_per_generation: list[int] = field(default_factory=list)
    all_reduce_sum: Callable[[torch.Tensor], torch.Tensor] | None = None
    """Sums a tensor over the processes sharing one video (set by context parallelism)."""

    def clear(self) -> None:
        """Forget the cached tensors; the next call starts a new generation."""
        self.skip = False
        self.accumulated = 0.0
        self.previous_modulated = None
        self.stack_input = None
        self.residual = None
        self.last_timestep = None

    def start_generation(self) -> None:
        self.clear()
        self.skipped_per_generation.append(0)


def _argument(name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[BLOCK_ARGUMENT_NAMES.index(name)]


class StepCacheTimestepHook(ModelHook):
    """On the transformer: a timestep that does not decrease starts a new generation."""

    _is_stateful = True

    def __init__(self, state: StepCacheState) -> None:
        super().__init__()
        self.state = state

    def pre_forward(self, module, *args, **kwargs):
        positional = args[TIMESTEP_ARGUMENT_INDEX] if len(args) > TIMESTEP_ARGUMENT_INDEX else None
        timestep = kwargs.get("timestep", positional)
        value = float(torch.as_tensor(timestep).flatten()[0]) if timestep is not None else None
        if self.state.last_timestep is None or value is None or value >= self.state.last_timestep:
            self.state.start_generation()
        self.state.last_timestep = value
        return args, kwargs

    def reset_state(self, module):
        self.state.clear()
        return module


class StepCacheHeadHook(ModelHook):
    """On ``transformer_blocks[0]``: decide whether this call runs the block stack."""

    def __init__(self, state: StepCacheState, threshold: float) -> None:
        super().__init__()
        self.state = state
        self.threshold = threshold

    @torch.no_grad()
    def _modulated_input(self, module, args, kwargs) -> torch.Tensor:
        hidden, text, temb = (_argument(name, args, kwargs) for name in BLOCK_ARGUMENT_NAMES)
        return module.norm1(hidden, text, temb)[0]

    def new_forward(self, module, *args, **kwargs):
        state = self.state
        modulated = self._modulated_input(module, args, kwargs)
        previous = state.previous_modulated
        state.previous_modulated = modulated
        can_reuse = previous is not None and state.residual is not None and previous.shape == modulated.shape
        if can_reuse:
            # Sums rather than means, so that processes holding a share of the tokens each
            # (core.acceleration.parallel) add theirs up and all take the same decision.
            sums = torch.stack([(modulated - previous).abs().float().sum(), previous.abs().float().sum()])
            if state.all_reduce_sum is not None:
                sums = state.all_reduce_sum(sums)
            change = (sums[0] / sums[1].clamp_min(CHANGE_DENOMINATOR_FLOOR)).item()
            state.accumulated += change
            can_reuse = state.accumulated < self.threshold
        hidden = _argument("hidden_states", args, kwargs)
        if can_reuse:
            state.skip = True
            state.skipped_calls += 1
            state.skipped_per_generation[-1] += 1
            return hidden + state.residual, _argument("encoder_hidden_states", args, kwargs)
        state.skip = False
        state.accumulated = 0.0
        state.computed_calls += 1
        state.stack_input = hidden
        return self.fn_ref.original_forward(*args, **kwargs)


class StepCachePassHook(ModelHook):
    """On every other main and tracking block: on a skipped call, hand the input through."""

    def __init__(self, state: StepCacheState) -> None:
        super().__init__()
        self.state = state

    def new_forward(self, module, *args, **kwargs):
        if not self.state.skip:
            return self.fn_ref.original_forward(*args, **kwargs)
        return _argument("hidden_states", args, kwargs), _argument("encoder_hidden_states", args, kwargs)


class StepCacheZeroHook(ModelHook):
    """On every ``combine_linears[i]``: on a skipped call the tracking stream adds nothing
    (its contribution is already inside the cached residual)."""

    def __init__(self, state: StepCacheState) -> None:
        super().__init__()
        self.state = state

    def new_forward(self, module, tokens, *args, **kwargs):
        if not self.state.skip:
            return self.fn_ref.original_forward(tokens, *args, **kwargs)
        return torch.zeros_like(tokens)


class StepCacheTailHook(ModelHook):
    """On ``norm_final``: after a computed call, store stack output − stack input."""

    def __init__(self, state: StepCacheState) -> None:
        super().__init__()
        self.state = state

    def pre_forward(self, module, tokens, *args, **kwargs):
        if not self.state.skip and self.state.stack_input is not None:
            self.state.residual = tokens - self.state.stack_input
            self.state.stack_input = None
        return (tokens, *args), kwargs


def apply_step_cache(transformer: torch.nn.Module, config: StepCacheConfig) -> StepCacheState:
    """Register the step-cache hooks on a DaS (or plain CogVideoX) transformer.

    Args:
        transformer: a :class:`core.transformer.CogVideoXTransformer3DModelTracking`.
        config: the threshold.

    Returns:
        The shared state; ``state.skipped_calls`` / ``state.computed_calls`` count transformer
        calls since the hooks were applied, ``state.skipped_per_generation`` per generation.
    """
    if hasattr(transformer, "_das_step_cache_state"):
        raise AccelerationError("the step cache is already applied to this transformer; call remove_step_cache first")
    state = StepCacheState()
    blocks = list(transformer.transformer_blocks)
    hooks: list[tuple[torch.nn.Module, ModelHook]] = [
        (transformer, StepCacheTimestepHook(state)),
        (blocks[0], StepCacheHeadHook(state, float(config.threshold))),
        *[(block, StepCachePassHook(state)) for block in blocks[1:]],
        *[(block, StepCachePassHook(state)) for block in getattr(transformer, "transformer_blocks_copy", [])],
        *[(linear, StepCacheZeroHook(state)) for linear in getattr(transformer, "combine_linears", [])],
        (transformer.norm_final, StepCacheTailHook(state)),
    ]
    for module, hook in hooks:
        HookRegistry.check_if_exists_or_initialize(module).register_hook(hook, STEP_CACHE_HOOK_NAME)
    # cache_context() walks a cached list of child registries; it must see the new ones.
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()
    transformer._das_step_cache_state = state
    return state


def remove_step_cache(transformer: torch.nn.Module) -> None:
    """Remove every hook :func:`apply_step_cache` registered (the transformer runs as before)."""
    registry = HookRegistry.check_if_exists_or_initialize(transformer)
    registry.remove_hook(STEP_CACHE_HOOK_NAME, recurse=True)
    registry.invalidate_child_registries_cache()
    if hasattr(transformer, "_das_step_cache_state"):
        del transformer._das_step_cache_state
