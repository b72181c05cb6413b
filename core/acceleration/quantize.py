"""Weight-only quantisation of the DaS transformer (both streams) and the T5 encoder (torchao).

Modes (:data:`QUANTIZE_MODES`):

- ``none``: weights stay in the pipeline dtype (bfloat16 on a GPU, float32 on the CPU);
- ``int8``: every ``nn.Linear`` weight becomes int8 with one scale per output row
  (torchao ``Int8WeightOnlyConfig``); activations stay in the pipeline dtype. Runs anywhere;
- ``fp8``: every ``nn.Linear`` weight becomes float8 e4m3 with one scale per output row
  (torchao ``Float8WeightOnlyConfig``); needs a CUDA GPU with FP8 support (compute
  capability ≥ 8.9: Ada, Hopper, Blackwell).

Only linear layers are quantised: they hold 99.9 % of the transformer's weights and 97 % of T5's. Norms,
biases, the patch-embedding convolution/projection, positional embeddings and the VAE keep their
dtype. The VAE is not quantised: it is small (0.2 B parameters) and its decoder sets image
quality directly.

:func:`parameter_memory` computes (does not measure) what the weights of each component need
in each mode, from a model's own parameter shapes, for the docs' "fits in N GB" table.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch
from torch import nn

from core.acceleration import QUANTIZE_MODES, AccelerationError

QUANTIZED_COMPONENTS = ("transformer", "text_encoder")
FP8_MIN_COMPUTE_CAPABILITY = (8, 9)
"""FP8 tensor cores: Ada Lovelace (8.9), Hopper (9.0) and later."""
QUANTIZED_WEIGHT_BYTES = 1
"""int8 and float8 e4m3 both store one byte per weight."""
FP8_SCALE_BYTES = 4
"""torchao's fp8 weights keep one float32 scale per output row."""
INT8_ZERO_POINT_BYTES = 1
"""torchao's int8 weights keep, per output row, a scale in the weight's own dtype and an int8 zero point."""


class QuantizationError(AccelerationError):
    """A quantisation mode that cannot run here (unknown, torchao missing, no FP8 support)."""


def fp8_supported(device: str | torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU with FP8 (e4m3) support."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(device) >= FP8_MIN_COMPUTE_CAPABILITY


def check_quantize_mode(mode: str, device: str | torch.device | None = None) -> None:
    """Raise :class:`QuantizationError` unless ``mode`` can run (on ``device`` when given)."""
    if mode not in QUANTIZE_MODES:
        raise QuantizationError(f"quantize must be one of {', '.join(QUANTIZE_MODES)}; got {mode!r}")
    if mode == "none":
        return
    if importlib.util.find_spec("torchao") is None:
        raise QuantizationError(f"--quantize {mode} needs torchao: pip install -r requirements-quantize.txt")
    if mode == "fp8" and device is not None and not fp8_supported(device):
        raise QuantizationError(
            f"--quantize fp8 needs a CUDA GPU with compute capability >= "
            f"{'.'.join(map(str, FP8_MIN_COMPUTE_CAPABILITY))} (Ada, Hopper or newer); "
            f"this device is {device}. Use --quantize int8 instead."
        )


def _torchao_config(mode: str):
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig

    return Int8WeightOnlyConfig() if mode == "int8" else Float8WeightOnlyConfig()


def quantize_module(module: nn.Module, mode: str) -> None:
    """Quantise every ``nn.Linear`` weight of ``module`` in place (``mode`` "int8" or "fp8")."""
    from torchao.quantization import quantize_

    check_quantize_mode(mode)
    if mode == "none":
        return
    quantize_(module, _torchao_config(mode), filter_fn=lambda child, _name: isinstance(child, nn.Linear))


def quantize_pipeline(pipe, mode: str, device: str | torch.device | None = None, keep_on_device: bool = True) -> None:
    """Quantise the pipeline's transformer (main and tracking blocks) and T5 encoder in place.

    Call it once, before memory placement (``configure_pipeline`` does); the VAE is untouched.
    On a CUDA ``device`` each component is moved there and quantised on the GPU (fast), one at a
    time, so the bf16 weights of the whole pipeline never sit on the GPU together: the peak is
    the quantised transformer plus the bf16 encoder (≈ 16.5 GiB at full size, computed). With
    ``keep_on_device=False`` (model offload) each component goes back to the CPU afterwards.
    """
    check_quantize_mode(mode, device)
    if mode == "none":
        return
    on_gpu = device is not None and torch.device(device).type == "cuda"
    for name in QUANTIZED_COMPONENTS:
        component = getattr(pipe, name, None)
        if component is None:
            continue
        if on_gpu:
            component.to(device)
        quantize_module(component, mode)
        if on_gpu and not keep_on_device:
            component.to("cpu")


def parameter_bytes(module: nn.Module) -> int:
    """Bytes the module's parameters occupy now (quantised weights with their scales)."""
    return sum(_tensor_bytes(parameter) for parameter in module.parameters())


def _tensor_bytes(tensor: torch.Tensor) -> int:
    # torchao tensor subclasses keep their data in inner tensors (qdata, scale, ...).
    if hasattr(tensor, "__tensor_flatten__") and type(tensor) not in (torch.Tensor, nn.Parameter):
        names, _ = tensor.__tensor_flatten__()
        return sum(_tensor_bytes(getattr(tensor, name)) for name in names)
    return tensor.numel() * tensor.element_size()


@dataclass(frozen=True)
class ParameterMemory:
    """Computed weight memory of one component (bytes) per quantisation mode."""

    linear_weights: int
    """Elements in ``nn.Linear`` weights (what quantisation shrinks)."""
    linear_rows: int
    """Output rows of those weights (one scale each)."""
    other: int
    """Every other parameter element (norms, biases, embeddings, convolutions)."""

    def bytes(self, mode: str, dtype_bytes: int = 2) -> int:
        """Weight bytes in ``mode`` when unquantised tensors take ``dtype_bytes`` (2: bf16, 4: fp32)."""
        if mode == "none":
            return (self.linear_weights + self.other) * dtype_bytes
        row_bytes = FP8_SCALE_BYTES if mode == "fp8" else dtype_bytes + INT8_ZERO_POINT_BYTES
        return self.linear_weights * QUANTIZED_WEIGHT_BYTES + self.linear_rows * row_bytes + self.other * dtype_bytes


def parameter_memory(module: nn.Module, quantized: bool = True) -> ParameterMemory:
    """Count ``module``'s linear-weight and other parameter elements (works on the meta device).

    ``quantized=False`` counts everything as "other" (a component the modes leave alone).
    """
    linear_weights = linear_rows = 0
    linear_weight_ids = set()
    if quantized:
        for child in module.modules():
            if isinstance(child, nn.Linear):
                linear_weights += child.weight.numel()
                linear_rows += child.weight.shape[0]
                linear_weight_ids.add(id(child.weight))
    other = sum(p.numel() for p in module.parameters() if id(p) not in linear_weight_ids)
    return ParameterMemory(linear_weights=linear_weights, linear_rows=linear_rows, other=other)
