"""One home for the defaults the published DaS checkpoint and its users rely on (SPEC §3–§4).

Torch-free, so the CLI, the studio and the docs can read them without loading a model. Code
that knows the loaded checkpoint reads the working size from its transformer config instead
(``sample_frames``, ``sample_height``·8, ``sample_width``·8); these values are the fallbacks
and the DaS-size defaults.
"""

from __future__ import annotations

NUM_FRAMES = 49
"""Frames of a DaS clip (13 latent frames)."""
HEIGHT = 480
WIDTH = 720
"""Working size in pixels (H × W) of the DaS checkpoint."""
FPS = 8.0
"""Frame rate DaS was trained at; source videos are sampled at this rate."""
NATIVE_SIZE = (NUM_FRAMES, HEIGHT, WIDTH)
"""``(T, H, W)`` of the DaS checkpoint."""
VAE_SPATIAL_FACTOR = 8
"""Pixels per latent cell along each side."""

GRID_SIZE = 70
"""Tracks per side of the grid laid over frame 0 (DaS: 70 × 70)."""
FOV_DEG = 55.0
"""Horizontal field of view assumed when a depth model gives no intrinsics."""

NUM_INFERENCE_STEPS = 50
GUIDANCE_SCALE = 6.0
USE_DYNAMIC_CFG = True
MAX_SEQUENCE_LENGTH = 226
"""T5 tokens of the prompt (CogVideoX)."""
SEED = 42
RANDOM_SEED = -1
"""A seed of -1 asks for a fresh random seed; the seed used is reported."""
MAX_SEED = 2**31 - 1
"""Upper bound of drawn seeds: small enough to round-trip through JSON and every UI number box."""
MAX_USER_SEED = 2**63 - 1
"""Largest seed a user may pass (torch generators take 64-bit seeds)."""

NEGATIVE_PROMPT = (
    "The video is not of a high quality, it has a low resolution. Watermark present in each frame. "
    "The background is solid. Strange body and strange trajectory. Distortion."
)
"""DaS's negative prompt (SPEC §4)."""

RESIZE_MODES = ("crop", "stretch", "pad")
"""How a source is fitted to the working size; ``crop`` is the default (SPEC §8)."""
DEFAULT_RESIZE_MODE = "crop"

DAS_HUB_ID = "EXCAI/Diffusion-As-Shader"
"""The published DaS checkpoint on the Hugging Face Hub."""
DAS_LOCAL_NAME = "Diffusion-As-Shader"
"""Its folder name under ``checkpoints/``."""
