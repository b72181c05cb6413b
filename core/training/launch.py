"""Helpers for running under ``accelerate launch`` (shared by dataset preparation and training)."""

from __future__ import annotations

import torch


def use_cpu() -> bool:
    """Whether to run on the CPU: no CUDA device, or ``accelerate launch --cpu`` / ``ACCELERATE_USE_CPU``.

    Telling accelerate explicitly matters for several CPU processes (``accelerate launch
    --multi_gpu --num_processes N`` on a machine without GPUs): only then does it join them
    into one gloo process group instead of running N independent single-process trainings.
    """
    from accelerate.utils import parse_flag_from_env

    return not torch.cuda.is_available() or parse_flag_from_env("ACCELERATE_USE_CPU")
