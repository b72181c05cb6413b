"""Loading what training needs from a base or DaS checkpoint, and exporting the result.

- A **base** CogVideoX-5B-I2V folder has a plain ``CogVideoXTransformer3DModel``: the tracking
  branch is built with :meth:`CogVideoXTransformer3DModelTracking.from_base` (copies of the first
  base blocks, zero combine layers — SPEC §4).
- A **DaS** checkpoint (ours or ``EXCAI/Diffusion-As-Shader``) already has the branch; training
  continues from it.

The export is a complete checkpoint folder: the trained transformer is saved, the frozen
components (``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``) are copied byte for byte
from the base, and ``model_index.json`` is written by :class:`DiffusionAsShaderPipeline`, so
``DiffusionAsShaderPipeline.from_pretrained(OUT)`` and ``python webui.py --checkpoint OUT`` load it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from core.checkpoints import (
    TINY_INDEX_KEY,
    TINY_MARKER_FILE,
    check_das_checkpoint,
    find_model,
    is_tiny_checkpoint,
    is_tracking_transformer,
)
from core.errors import CheckpointError

logger = logging.getLogger(__name__)

FROZEN_COMPONENTS = ("vae", "text_encoder", "tokenizer", "scheduler")
"""Component folders copied unchanged from the base into the exported checkpoint."""
TRANSFORMER_DIR = "transformer"
MODEL_INDEX = "model_index.json"
FROZEN_COMPONENT_CLASSES = {
    "vae": ("diffusers", "AutoencoderKLCogVideoX"),
    "text_encoder": ("transformers", "T5EncoderModel"),
    "tokenizer": ("transformers", "T5Tokenizer"),
    "scheduler": ("diffusers", "CogVideoXDPMScheduler"),
}
"""model_index.json entries of DaS's frozen components, for a base folder without an index."""
MAX_SHARD_SIZE = "5GB"


class TrainingCheckpointError(CheckpointError):
    """The ``--base`` folder cannot be trained from; the message says what is missing."""


@dataclass
class TrainingComponents:
    """The five pipeline components, loaded for training.

    ``from_base`` is True when the tracking branch was just built from a plain CogVideoX
    transformer (False: it came with a DaS checkpoint).
    """

    tokenizer: Any
    text_encoder: Any
    vae: Any
    transformer: Any
    scheduler: Any
    base_dir: Path
    from_base: bool


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TrainingCheckpointError(f"{path} is missing or unreadable ({error})") from error


def _is_das_checkpoint(folder: Path) -> bool:
    """Whether ``folder/transformer`` is DaS's tracking transformer (its config says so, or its
    weights hold tracking blocks); reads only the config and the safetensors header or index."""
    try:
        return is_tracking_transformer(folder / TRANSFORMER_DIR)
    except (OSError, ValueError, KeyError) as error:
        raise TrainingCheckpointError(f"{folder / TRANSFORMER_DIR} is unreadable ({error})") from error


def resolve_base(base: str | Path) -> Path:
    """A local folder with ``transformer/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``:
    ``base`` itself, or the Hub-cache copy of the Hub id ``base`` (never downloaded).

    Raises:
        TrainingCheckpointError: naming every missing folder.
    """
    folder = find_model(base)
    if folder is None:
        raise TrainingCheckpointError(
            f"--base {base} is not a folder (nor a Hub model in the local Hugging Face cache). "
            "Give a local CogVideoX-5B-I2V folder (e.g. "
            "`hf download THUDM/CogVideoX-5b-I2V --local-dir checkpoints/CogVideoX-5b-I2V`) "
            "or a Diffusion-as-Shader checkpoint folder (`python -m core.download`)."
        )
    missing = [name for name in (TRANSFORMER_DIR, *FROZEN_COMPONENTS) if not (folder / name).is_dir()]
    if missing:
        raise TrainingCheckpointError(f"--base {folder} lacks the component folder(s) {', '.join(missing)}")
    return folder


def load_components(
    base: str | Path,
    num_tracking_blocks: Optional[int],
    dtype: torch.dtype,
) -> TrainingComponents:
    """Load tokenizer, text encoder, VAE, scheduler and the tracking transformer for training.

    Args:
        base: base CogVideoX-5B-I2V folder or DaS checkpoint folder.
        num_tracking_blocks: blocks to build from a base model (default 18); for a DaS
            checkpoint ``None`` or its own count.
        dtype: dtype every weight is loaded in (the trainer upcasts the trainable ones).

    Raises:
        TrainingCheckpointError: missing folders, a DaS checkpoint whose transformer weights do
            not match the model (missing or unexpected keys), or ``num_tracking_blocks``
            disagreeing with a DaS checkpoint.
    """
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
    from transformers import AutoTokenizer, T5EncoderModel

    from core.pipeline import load_tracking_transformer
    from core.transformer import DEFAULT_NUM_TRACKING_BLOCKS, CogVideoXTransformer3DModelTracking

    folder = resolve_base(base)
    _read_json(folder / TRANSFORMER_DIR / "config.json")  # a clear message for a missing or broken config
    if _is_das_checkpoint(folder):
        try:
            # The app's own loader: the same checks (no missing or unexpected key) and the
            # tracking-block count from the weights when the config lacks it.
            transformer = load_tracking_transformer(folder, torch_dtype=dtype)
        except CheckpointError as error:  # the loader's message, as a --base problem
            raise TrainingCheckpointError(f"--base {folder}: {error}") from error
        existing = transformer.config.num_tracking_blocks
        if num_tracking_blocks is not None and num_tracking_blocks != existing:
            raise TrainingCheckpointError(
                f"--base {folder} is a DaS checkpoint with {existing} tracking blocks; "
                f"--num-tracking-blocks {num_tracking_blocks} cannot change that (leave it out)"
            )
        from_base = False
    else:
        base_transformer = CogVideoXTransformer3DModel.from_pretrained(
            folder, subfolder=TRANSFORMER_DIR, torch_dtype=dtype
        )
        num_layers = int(base_transformer.config.num_layers)
        if num_tracking_blocks is None:
            # DaS's 18 for CogVideoX-5B-I2V's 42 blocks; a smaller base cannot have more than its own.
            num_tracking_blocks = min(DEFAULT_NUM_TRACKING_BLOCKS, num_layers)
        elif num_tracking_blocks > num_layers:
            raise TrainingCheckpointError(
                f"--num-tracking-blocks {num_tracking_blocks} exceeds the base transformer's {num_layers} blocks"
            )
        transformer = CogVideoXTransformer3DModelTracking.from_base(base_transformer, num_tracking_blocks)
        del base_transformer
        from_base = True
    vae = AutoencoderKLCogVideoX.from_pretrained(folder, subfolder="vae", torch_dtype=dtype)
    text_encoder = T5EncoderModel.from_pretrained(folder, subfolder="text_encoder", dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(folder, subfolder="tokenizer")
    # The training noise schedule is the checkpoint's own (DaS trains with its DPM scheduler config).
    scheduler = CogVideoXDPMScheduler.from_pretrained(folder, subfolder="scheduler")
    return TrainingComponents(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=scheduler,
        base_dir=folder,
        from_base=from_base,
    )


TRAINABLE_PREFIXES = ("transformer_blocks_copy.", "combine_linears.", "initial_combine_linear.")
"""State-dict prefixes of the tracking branch — the only weights training may change (SPEC §12)."""


def freeze_for_training(components: TrainingComponents) -> list[torch.nn.Parameter]:
    """Freeze the text encoder, the VAE and the base transformer; return the trainable parameters.

    The text encoder and VAE are also put in eval mode. Raises ``RuntimeError`` if anything but
    the tracking branch would be trained (a guard against a model change slipping through).
    """
    from core.transformer import set_tracking_trainable

    components.text_encoder.requires_grad_(False).eval()
    components.vae.requires_grad_(False).eval()
    trainable = set_tracking_trainable(components.transformer)
    unexpected = [
        name
        for name, parameter in components.transformer.named_parameters()
        if parameter.requires_grad and not name.startswith(TRAINABLE_PREFIXES)
    ]
    if unexpected:
        raise RuntimeError(f"only the tracking branch may be trained, but these are trainable too: {unexpected[:5]}")
    return trainable


def trainable_state_dict(transformer: Any) -> dict[str, torch.Tensor]:
    """The tracking-branch weights of a (unwrapped) tracking transformer, detached, on the CPU."""
    return {
        name: tensor.detach().cpu().clone()
        for name, tensor in transformer.state_dict().items()
        if name.startswith(TRAINABLE_PREFIXES)
    }


def load_trainable_state_dict(transformer: Any, state: dict[str, torch.Tensor]) -> None:
    """Put tracking-branch weights back (keeping each parameter's dtype and device).

    Raises:
        TrainingCheckpointError: the saved weights do not cover exactly the tracking branch.
    """
    expected = {name for name in transformer.state_dict() if name.startswith(TRAINABLE_PREFIXES)}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise TrainingCheckpointError(
            f"checkpoint does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]} "
            "(was it saved with another --num-tracking-blocks?)"
        )
    parameters = dict(transformer.named_parameters())
    buffers = dict(transformer.named_buffers())
    with torch.no_grad():
        for name, value in state.items():
            target = parameters.get(name, buffers.get(name))
            target.copy_(value.to(device=target.device, dtype=target.dtype))


def _copy_component(source: Path, destination: Path, link: bool) -> None:
    """Copy a component folder (following symlinks, e.g. of a Hub cache); hard-link if asked and possible."""
    if destination.exists():
        shutil.rmtree(destination)

    def copy_file(src: str, dst: str) -> str:
        if link:
            try:
                os.link(os.path.realpath(src), dst)
                return dst
            except OSError:
                pass  # another file system, or links not allowed: fall back to a copy
        return shutil.copy2(src, dst)

    shutil.copytree(source, destination, symlinks=False, copy_function=copy_file)


def export_checkpoint(
    output_dir: str | Path,
    transformer: Any,
    components: TrainingComponents,
    save_dtype: torch.dtype,
    *,
    link_frozen: bool = False,
) -> Path:
    """Write a complete DaS checkpoint folder: trained transformer + frozen components + index.

    Args:
        output_dir: destination (created; existing component folders are replaced).
        transformer: the trained (unwrapped) tracking transformer; saved in ``save_dtype``.
        components: what was loaded; the frozen components are copied from ``components.base_dir``.
        save_dtype: dtype of the saved transformer weights.
        link_frozen: hard-link the frozen component files instead of copying when possible.

    Returns:
        ``output_dir`` as a Path.
    """
    from core.pipeline import DiffusionAsShaderPipeline

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    transformer_dir = output / TRANSFORMER_DIR
    if transformer_dir.exists():
        shutil.rmtree(transformer_dir)
    # Training keeps frozen weights in half precision and trainable ones in float32: cast each
    # parameter for saving and put its own dtype back afterwards, so the model is unchanged.
    # Buffers (e.g. learned position embeddings) keep the dtype they were loaded with.
    tensors = list(transformer.parameters())
    original_dtypes = [tensor.dtype for tensor in tensors]
    try:
        with torch.no_grad():
            for tensor in tensors:
                if tensor.is_floating_point():
                    tensor.data = tensor.data.to(save_dtype)
        transformer.save_pretrained(transformer_dir, safe_serialization=True, max_shard_size=MAX_SHARD_SIZE)
    finally:
        with torch.no_grad():
            for tensor, dtype in zip(tensors, original_dtypes):
                tensor.data = tensor.data.to(dtype)
    for name in FROZEN_COMPONENTS:
        _copy_component(components.base_dir / name, output / name, link_frozen)

    # model_index.json as the pipeline writes it (the class names from_pretrained expects).
    pipeline = DiffusionAsShaderPipeline(
        tokenizer=components.tokenizer,
        text_encoder=components.text_encoder,
        vae=components.vae,
        transformer=transformer,
        scheduler=components.scheduler,
    )
    pipeline.save_config(output)
    index_path = output / MODEL_INDEX
    index = json.loads(index_path.read_text(encoding="utf-8"))
    # A component freed during training (the text encoder after --precompute) is recorded as
    # [null, null]; its folder was copied all the same, so record its class as the base does,
    # or generic loaders (DiffusionPipeline.from_pretrained, Hub tooling) would skip it.
    base_index_path = components.base_dir / MODEL_INDEX
    base_index = json.loads(base_index_path.read_text(encoding="utf-8")) if base_index_path.is_file() else {}
    for name in FROZEN_COMPONENTS:
        if index.get(name) in (None, [None, None]):
            index[name] = base_index.get(name) or list(FROZEN_COMPONENT_CLASSES[name])
    if is_tiny_checkpoint(components.base_dir):
        # Fine-tuning a random test model still gives a test model: keep the UI's warning.
        index[TINY_INDEX_KEY] = True
        shutil.copy2(components.base_dir / TINY_MARKER_FILE, output / TINY_MARKER_FILE)
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True), encoding="utf-8")
    check_das_checkpoint(output)
    return output
