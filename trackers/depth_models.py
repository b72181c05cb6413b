"""Depth models with weights: the Hugging Face ``transformers`` ones (Depth Anything V2, Depth
Pro, ZoeDepth, any DPT-style model) and MoGe, where their weights are found
(``checkpoints/depth`` or the Hub cache) and how they are downloaded. Registered by
:mod:`trackers.depth`, whose module doc lists the methods.

**Relative depth** (Depth Anything V2 and other DPT-style models predict affine-invariant
inverse depth, i.e. disparity up to an unknown scale and shift) becomes depth through
:func:`disparity_to_depth`: the 2nd percentile of the disparity is mapped to the assumed far
depth ``RELATIVE_FAR_DEPTH`` and the 98th percentile to the near depth ``RELATIVE_NEAR_DEPTH``,
linearly in inverse depth. The absolute scale is meaningless and does not matter downstream:
the camera language expresses translations in units of the scene's median depth (SPEC §6).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from core import checkpoints, geometry
from core.checkpoints import CHECKPOINTS_DIR, announce_download, find_in_hub_cache, is_offline
from core.progress import ProgressFn
from trackers.depth_result import (
    RELATIVE_FAR_DEPTH,
    RELATIVE_NEAR_DEPTH,
    DepthError,
    DepthEstimator,
    DepthFactory,
    DepthResult,
    positive_depth,
)

CHECKPOINTS_ENV = "DAS_DEPTH_CHECKPOINTS"
"""Environment variable that overrides the folder holding depth checkpoints."""

DEFAULT_DEPTH_CHECKPOINTS = CHECKPOINTS_DIR / "depth"
"""``checkpoints/depth`` of this repository: one sub-folder per model (see :mod:`trackers.depth`)."""

DEPTH_ANYTHING_FOLDERS = ("depth-anything-v2-large", "depth-anything-v2-base", "depth-anything-v2-small")
"""Folder names tried in this order under the depth checkpoint folder (best model first)."""
DEPTH_ANYTHING_HUB_ID = "depth-anything/Depth-Anything-V2-Small-hf"
DEPTH_PRO_FOLDER = "depth-pro"
DEPTH_PRO_HUB_ID = "apple/DepthPro-hf"
ZOEDEPTH_FOLDER = "zoedepth"
ZOEDEPTH_HUB_ID = "Intel/zoedepth-nyu-kitti"
MOGE_FOLDER = "moge"
MOGE_CHECKPOINT_FILE = "model.pt"
MOGE_HUB_ID = "Ruicheng/moge-vitl"

DEPTH_ANYTHING_SMALL_APPROX_GB = 0.1
"""Approximate download size of Depth Anything V2 Small (GB; ~25 M parameters in float32)."""
DEPTH_PRO_APPROX_GB = 1.9
"""Approximate download size of Depth Pro (GB)."""
ZOEDEPTH_APPROX_GB = 1.4
"""Approximate download size of ZoeDepth NYU+KITTI (GB)."""
MOGE_APPROX_GB = 1.3
"""Approximate download size of MoGe ViT-L (GB)."""
HUB_DOWNLOAD_PATTERNS = ("*.json", "*.safetensors", "*.txt")
"""What a depth-model download fetches: configs and safetensors weights (not the duplicate
``.bin`` / ``.pt`` copies some repositories also hold)."""
DISPARITY_LOW_PERCENTILE = 2.0
DISPARITY_HIGH_PERCENTILE = 98.0

MIN_DEPTH = 1e-4
"""Floor for metric predictions (same clamp as the Depth Pro reference post-processing)."""
MAX_DEPTH = 1e4

ZOEDEPTH_PADDING_FACTOR = 3
"""ZoeDepth's processor pads each side by ``int(sqrt(size / 2) * 3)`` px (reflect) before
resizing; the prediction covers the padded image and is cropped back."""

# --------------------------------------------------------------------------------------------
# Relative → depth
# --------------------------------------------------------------------------------------------


def disparity_to_depth(
    disparity: np.ndarray,
    near: float = RELATIVE_NEAR_DEPTH,
    far: float = RELATIVE_FAR_DEPTH,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a relative (affine-invariant) inverse-depth map into positive depth.

    With ``lo`` / ``hi`` the 2nd / 98th percentiles of the positive disparities,
    ``n = max((d - lo) / (hi - lo), 0)`` and ``depth = 1 / (1/far + n · (1/near - 1/far))``:
    ``lo`` maps to ``far``, ``hi`` to ``near``, inverse depth stays affine in the disparity
    (what the model predicts), pixels beyond ``lo`` (e.g. sky) are clamped to ``far`` and the
    nearest 2% may come a little nearer than ``near``. A flat map becomes a constant
    ``sqrt(near · far)``.

    Args:
        disparity: ``(..., H, W)`` relative inverse depth (larger = nearer).

    Returns:
        ``depth`` float32 (same shape, > 0) and ``valid`` bool (finite and > 0 disparity).
    """
    if not 0 < near < far:
        raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
    disparity = np.asarray(disparity, dtype=np.float64)
    valid = np.isfinite(disparity) & (disparity > 0)
    if not valid.any():
        return np.full(disparity.shape, math.sqrt(near * far), dtype=np.float32), valid
    lo, hi = np.percentile(disparity[valid], [DISPARITY_LOW_PERCENTILE, DISPARITY_HIGH_PERCENTILE])
    if hi - lo <= 1e-12 * max(abs(hi), 1.0):
        return np.full(disparity.shape, math.sqrt(near * far), dtype=np.float32), valid
    normalised = np.maximum((np.where(np.isfinite(disparity), disparity, lo) - lo) / (hi - lo), 0.0)
    inverse = 1.0 / far + normalised * (1.0 / near - 1.0 / far)
    return (1.0 / inverse).astype(np.float32), valid


# --------------------------------------------------------------------------------------------
# Checkpoint resolution
# --------------------------------------------------------------------------------------------


def depth_checkpoints_dir() -> Path:
    """Folder holding depth checkpoints: ``$DAS_DEPTH_CHECKPOINTS`` or ``checkpoints/depth``."""
    override = os.environ.get(CHECKPOINTS_ENV)
    return Path(override) if override else DEFAULT_DEPTH_CHECKPOINTS


_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json")


def missing_model_files(folder: Path) -> list[str]:
    """What a Hugging Face depth-model folder lacks (empty list = complete)."""
    missing = []
    for required in ("config.json", "preprocessor_config.json"):
        if not (folder / required).is_file():
            missing.append(required)
    if not any(any(folder.glob(pattern)) for pattern in _WEIGHT_PATTERNS):
        missing.append("model weights (*.safetensors or pytorch_model.bin)")
    return missing


def _local_folder(folder_names: tuple[str, ...]) -> Optional[Path]:
    root = depth_checkpoints_dir()
    for name in folder_names:
        candidate = root / name
        if candidate.is_dir() and not missing_model_files(candidate):
            return candidate
    return None


_HUB_REQUIRED_FILES = ("config.json", "preprocessor_config.json")


@dataclass(frozen=True)
class _HubModelSpec:
    method: str
    folders: tuple[str, ...]
    hub_id: str
    title: str
    approx_gb: float


_HUB_MODELS = {
    "depth-anything-v2": _HubModelSpec(
        "depth-anything-v2", DEPTH_ANYTHING_FOLDERS, DEPTH_ANYTHING_HUB_ID,
        "Depth Anything V2 Small (video depth)", DEPTH_ANYTHING_SMALL_APPROX_GB,
    ),
    "depth-pro": _HubModelSpec(
        "depth-pro", (DEPTH_PRO_FOLDER,), DEPTH_PRO_HUB_ID, "Depth Pro (depth + field of view)", DEPTH_PRO_APPROX_GB
    ),
    "zoedepth": _HubModelSpec("zoedepth", (ZOEDEPTH_FOLDER,), ZOEDEPTH_HUB_ID, "ZoeDepth NYU+KITTI", ZOEDEPTH_APPROX_GB),
}


def _transformers_importable() -> bool:
    return importlib.util.find_spec("transformers") is not None and importlib.util.find_spec("torch") is not None


def _hub_model_source(spec: _HubModelSpec, allow_download: bool) -> Optional[tuple[str, bool]]:
    """``(folder or Hub id, local_only)`` to load from, or ``None`` when not usable. A model
    in the Hub cache is loaded from its snapshot folder (the cache this process looks in now,
    see :func:`core.checkpoints.hub_cache_dir`)."""
    if not _transformers_importable():
        return None
    folder = _local_folder(spec.folders)
    if folder is not None:
        return str(folder), True
    snapshot = find_in_hub_cache(spec.hub_id, required_files=_HUB_REQUIRED_FILES)
    if snapshot is not None:
        return str(snapshot), True
    if allow_download and not is_offline():
        return spec.hub_id, False
    return None


def missing_weights_message(method: str) -> str:
    root = depth_checkpoints_dir()
    if method in _HUB_MODELS:
        spec = _HUB_MODELS[method]
        if not _transformers_importable():
            return f"depth method {method!r} needs the 'torch' and 'transformers' packages"
        details = []
        for name in spec.folders:
            folder = root / name
            if folder.is_dir():
                details.append(f"{folder} is incomplete (missing: {', '.join(missing_model_files(folder))})")
        folders = " or ".join(str(root / name) for name in spec.folders)
        hint = (
            f"depth method {method!r} has no weights here: put the Hugging Face files of "
            f"{spec.hub_id} in {folders} (e.g. `hf download {spec.hub_id} --local-dir "
            f"{root / spec.folders[-1]}`), or allow downloading from the Hub"
        )
        return hint + (f" ({'; '.join(details)})" if details else "")
    if method == MOGE_METHOD:
        if importlib.util.find_spec("moge") is None:
            return "depth method 'moge' needs the 'moge' package (pip install from its repository)"
        return (
            f"depth method 'moge' has no weights here: put the checkpoint at "
            f"{root / MOGE_FOLDER / MOGE_CHECKPOINT_FILE}, or allow downloading {MOGE_HUB_ID}"
        )
    return f"depth method {method!r} is not available on this machine"


# --------------------------------------------------------------------------------------------
# Hugging Face transformers models (Depth Anything V2, Depth Pro, ZoeDepth, any DPT-style one)
# --------------------------------------------------------------------------------------------


class _ResizeNormalizePreprocessor:
    """Stand-in for an image processor whose class needs torchvision (Depth Pro's does): the
    settings come from ``preprocessor_config.json``; rescale and normalise first, then resize
    (Depth Pro's order, which keeps negative values well interpolated)."""

    def __init__(self, settings: dict):
        size = settings.get("size") or {}
        self.height = int(size.get("height", 0)) or None
        self.width = int(size.get("width", 0)) or None
        self.do_resize = bool(settings.get("do_resize", True)) and self.height and self.width
        do_rescale = bool(settings.get("do_rescale", True))
        self.rescale_factor = float(settings.get("rescale_factor", 1.0 / 255.0)) if do_rescale else 1.0
        self.do_normalize = bool(settings.get("do_normalize", True))
        self.mean = np.asarray(settings.get("image_mean", [0.5, 0.5, 0.5]), dtype=np.float32)
        self.std = np.asarray(settings.get("image_std", [0.5, 0.5, 0.5]), dtype=np.float32)
        self.do_pad = False

    def __call__(self, images: np.ndarray, return_tensors: str = "pt") -> dict:
        import torch

        pixels = images.astype(np.float32) * self.rescale_factor
        if self.do_normalize:
            pixels = (pixels - self.mean) / self.std
        tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None]
        if self.do_resize:
            tensor = torch.nn.functional.interpolate(
                tensor, size=(self.height, self.width), mode="bilinear", align_corners=False
            )
        return {"pixel_values": tensor}


def _load_preprocessor(source: str, local_only: bool):
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(source, local_files_only=local_only)
    except (ValueError, ImportError) as error:
        # The registered processor class needs an optional backend (torchvision) we do not
        # depend on; its settings are still plain JSON.
        settings_path = _preprocessor_config_path(source, local_only)
        if settings_path is None:
            raise DepthError(f"cannot load the image processor of {source}: {error}") from error
        return _ResizeNormalizePreprocessor(json.loads(Path(settings_path).read_text()))


def _preprocessor_config_path(source: str, local_only: bool) -> Optional[str]:
    folder_file = Path(source) / "preprocessor_config.json"
    if folder_file.is_file():
        return str(folder_file)
    from huggingface_hub import hf_hub_download

    return hf_hub_download(source, "preprocessor_config.json", local_files_only=local_only)


class TransformersDepthModel:
    """A ``transformers`` depth model with our pre/post-processing.

    The output kind follows the model's config, not the method name: Depth Pro predicts a
    canonical inverse depth plus a field of view (→ metric depth and intrinsics), ZoeDepth and
    Depth Anything "metric" variants predict metric depth, every other DPT-style model
    (Depth Anything V2 "relative") predicts relative inverse depth (→ :func:`disparity_to_depth`).
    """

    def __init__(self, method: str, source: str, device: str, local_only: bool = True, label: Optional[str] = None):
        import torch
        from transformers import AutoModelForDepthEstimation

        self.method = method
        self.source = label or source  # what DepthResult.model reports (a Hub id for a cached model)
        self.device = torch.device(device)
        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(source, local_files_only=local_only)
        except OSError as error:
            raise DepthError(f"cannot load depth model {method!r} from {source}: {error}") from error
        self.model.eval().to(self.device)
        self.processor = _load_preprocessor(source, local_only)
        config = self.model.config
        if config.model_type == "depth_pro":
            self.kind = "depth_pro"
        elif config.model_type == "zoedepth" or getattr(config, "depth_estimation_type", "relative") == "metric":
            self.kind = "metric"
        else:
            self.kind = "relative"

    def predict_raw(self, image: np.ndarray) -> tuple[np.ndarray, Optional[float]]:
        """Run the network on ``image (H, W, 3)`` uint8.

        Returns:
            the raw prediction resized to ``(H, W)`` float32 (disparity, depth or canonical
            inverse depth depending on :attr:`kind`) and the predicted horizontal field of view
            in degrees (Depth Pro with its FOV head) or ``None``.
        """
        import torch

        height, width = image.shape[:2]
        inputs = self.processor(images=image, return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device, dtype=next(self.model.parameters()).dtype)
        with torch.inference_mode():
            outputs = self.model(pixel_values=pixel_values)
        raw = outputs.predicted_depth.float()
        raw = raw.reshape((-1,) + tuple(raw.shape[-2:]))[:1][None]  # (1, 1, h, w)
        if getattr(self.processor, "do_pad", False) and self.model.config.model_type == "zoedepth":
            pad_h = int(math.sqrt(height / 2) * ZOEDEPTH_PADDING_FACTOR)
            pad_w = int(math.sqrt(width / 2) * ZOEDEPTH_PADDING_FACTOR)
            raw = torch.nn.functional.interpolate(
                raw, size=(height + 2 * pad_h, width + 2 * pad_w), mode="bilinear", align_corners=False
            )
            raw = raw[..., pad_h : pad_h + height, pad_w : pad_w + width]
        raw = torch.nn.functional.interpolate(raw, size=(height, width), mode="bilinear", align_corners=False)
        fov = getattr(outputs, "field_of_view", None)
        fov_deg = float(fov.reshape(-1)[0]) if fov is not None else None
        return raw[0, 0].cpu().numpy().astype(np.float32), fov_deg

    def __call__(self, image: np.ndarray) -> DepthResult:
        height, width = image.shape[:2]
        raw, fov_deg = self.predict_raw(image)
        intrinsics = None
        if self.kind == "relative":
            depth, valid = disparity_to_depth(raw)
            metric = False
        elif self.kind == "depth_pro":
            valid = np.isfinite(raw) & (raw > 0)
            if fov_deg is not None and 0.0 < fov_deg < 180.0:
                intrinsics = geometry.intrinsics_from_fov(width, height, fov_deg)
                focal = float(intrinsics[0, 0])
                # Canonical inverse depth × (W / f) is metric inverse depth (Depth Pro paper).
                inverse = np.clip(raw * (width / focal), 1.0 / MAX_DEPTH, 1.0 / MIN_DEPTH)
                metric = True
            else:
                inverse = np.clip(raw, 1.0 / MAX_DEPTH, 1.0 / MIN_DEPTH)
                metric = False
            depth = (1.0 / inverse).astype(np.float32)
        else:
            valid = np.isfinite(raw) & (raw > 0)
            depth = np.clip(raw, MIN_DEPTH, MAX_DEPTH).astype(np.float32)
            metric = True
        depth, finite = positive_depth(depth)
        return DepthResult(
            depth=depth,
            intrinsics=intrinsics,
            valid=valid & finite,
            source=self.method,
            approximate=False,
            metric=metric,
            model=self.source,
            ambiguity="scale_shift" if self.kind == "relative" else "scale",
        )


def hub_model_factory(method: str) -> DepthFactory:
    def _factory(device: str, allow_download: bool) -> DepthEstimator:
        resolved = _hub_model_source(_HUB_MODELS[method], allow_download)
        if resolved is None:
            raise DepthError(missing_weights_message(method))
        source, local_only = resolved
        spec = _HUB_MODELS[method]
        in_checkpoints = Path(source).parent == depth_checkpoints_dir()
        label = spec.hub_id if Path(source).is_dir() and not in_checkpoints else None
        return TransformersDepthModel(method, source, device, local_only=local_only, label=label)

    return _factory


def hub_model_available(method: str) -> Callable[[bool], bool]:
    return lambda allow_download: _hub_model_source(_HUB_MODELS[method], allow_download) is not None


def hub_model_fetch(method: str) -> Callable[[Optional[ProgressFn]], None]:
    """``fetch(progress)`` for a Hub depth model: announce, then download into the Hub cache
    (where :func:`_hub_model_source` finds it for a local-only load)."""

    def _fetch(progress: Optional[ProgressFn]) -> None:
        spec = _HUB_MODELS[method]
        announce_download(spec.title, spec.hub_id, spec.approx_gb, progress)
        checkpoints.download_snapshot(spec.hub_id, allow_patterns=HUB_DOWNLOAD_PATTERNS)

    return _fetch


# --------------------------------------------------------------------------------------------
# MoGe (optional package)
# --------------------------------------------------------------------------------------------

MOGE_METHOD = "moge"


def moge_source(allow_download: bool) -> Optional[str]:
    if importlib.util.find_spec("moge") is None or importlib.util.find_spec("torch") is None:
        return None
    local = depth_checkpoints_dir() / MOGE_FOLDER / MOGE_CHECKPOINT_FILE
    if local.is_file():
        return str(local)
    cached = find_in_hub_cache(MOGE_HUB_ID, required_files=(MOGE_CHECKPOINT_FILE,))
    if cached is not None:
        return str(cached / MOGE_CHECKPOINT_FILE)
    return MOGE_HUB_ID if allow_download and not is_offline() else None


def moge_fetch(progress: Optional[ProgressFn]) -> None:
    announce_download("MoGe ViT-L (geometry + intrinsics)", MOGE_HUB_ID, MOGE_APPROX_GB, progress)
    checkpoints.download_snapshot(MOGE_HUB_ID, allow_patterns=(MOGE_CHECKPOINT_FILE, "*.json"))


def moge_factory(device: str, allow_download: bool) -> DepthEstimator:
    import torch

    source = moge_source(allow_download)
    if source is None:
        raise DepthError(missing_weights_message(MOGE_METHOD))
    try:
        from moge.model.v1 import MoGeModel
    except ImportError:  # older releases expose the model at the package root
        from moge.model import MoGeModel
    model = MoGeModel.from_pretrained(source).to(torch.device(device)).eval()

    def _estimate(image: np.ndarray) -> DepthResult:
        height, width = image.shape[:2]
        tensor = torch.from_numpy(image).to(torch.device(device)).permute(2, 0, 1).float() / 255.0
        with torch.inference_mode():
            output = model.infer(tensor)
        depth = output["depth"].float().cpu().numpy()
        valid = output["mask"].cpu().numpy().astype(bool) if "mask" in output else np.isfinite(depth)
        # MoGe's intrinsics are normalised by the image width (row 0) and height (row 1).
        normalised = output["intrinsics"].float().cpu().numpy().astype(np.float64)
        intrinsics = np.diag([width, height, 1.0]) @ normalised
        depth, finite = positive_depth(np.where(valid, depth, np.nan))
        # MoGe-1 geometry is scale-invariant (one unknown scale), not metric.
        return DepthResult(
            depth,
            intrinsics,
            valid & finite,
            MOGE_METHOD,
            approximate=False,
            metric=False,
            model=source,
            ambiguity="scale",
        )

    return _estimate
