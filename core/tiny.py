"""A tiny, random, offline DaS checkpoint for tests, CI and demos without weights (SPEC §11).

``write_tiny_checkpoint(DIR)`` (or ``python -m core.tiny DIR``) writes a complete checkpoint
folder with the real layout — ``transformer/``, ``vae/``, ``text_encoder/``, ``tokenizer/``,
``scheduler/``, ``model_index.json`` — holding seeded random weights, loaded through exactly the
same code path as ``EXCAI/Diffusion-As-Shader``. Its videos are noise; a ``TINY_MODEL`` marker
file (and a ``_das_tiny_test_model`` key in ``model_index.json``) lets the UI say so
(:func:`core.checkpoints.is_tiny_checkpoint`).

The sizes keep every structural property the real model has — 16 latent channels, ×8 spatial
and ×4 temporal VAE compression, I2V channel concatenation (``in_channels = 2·16``), patch 2,
rotary *and* learned position embeddings, 226 text tokens, more base blocks than tracking
blocks — while a full generation takes about a second on a 2-core CPU. Nothing is downloaded:
the tokenizer is a SentencePiece model trained in-process on a generated corpus.
"""

from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path

import sentencepiece
import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler
from transformers import T5Config, T5EncoderModel, T5Tokenizer

from core.checkpoints import TINY_INDEX_KEY, TINY_MARKER_FILE
from core.pipeline import DiffusionAsShaderPipeline
from core.transformer import CogVideoXTransformer3DModelTracking


# --- Video size: the checkpoint's native size is 9 frames of 64×96 pixels. ------------------
TINY_NUM_FRAMES = 9  # 1 + 2·4: the smallest count that keeps the ×4 temporal VAE stages busy (3 latent frames)
TINY_LATENT_HEIGHT = 8  # 64 px / 8; with patch 2 → 4 token rows
TINY_LATENT_WIDTH = 12  # 96 px / 8; 2:3 like 480×720, and width ≠ height so transposed axes show up as errors

# --- Shared widths --------------------------------------------------------------------------
LATENT_CHANNELS = 16  # as CogVideoX's VAE; the transformer sees 2·16 = 32 (I2V concatenation)
TEXT_EMBED_DIM = 16  # T5 d_model == transformer text_embed_dim
MAX_TEXT_TOKENS = 226  # the real value: the pipeline's default max_sequence_length works unchanged

# --- Transformer ----------------------------------------------------------------------------
TINY_HEADS = 2  # > 1 head, so head splitting is exercised
TINY_HEAD_DIM = 16  # smallest size the 3D rotary embedding splits evenly (t: 4, h: 6, w: 6)
TINY_TIME_EMBED_DIM = 16
TINY_BASE_BLOCKS = 2
TINY_TRACKING_BLOCKS = 1  # fewer than base blocks: the "no tracking block after block i" path runs too
TRACKING_INIT_STD = 0.2  # non-zero combine layers (DaS starts from zero) so the tracking video matters

# --- VAE ------------------------------------------------------------------------------------
VAE_BLOCK_CHANNELS = (4, 4, 4, 4)  # four levels = three ×2 downsamplings = ×8 spatial, as the real VAE;
# 4 channels because CPU conv3d at full resolution dominates the run time (8 channels: ~2× slower)
VAE_NORM_GROUPS = 2  # must divide the block channels
VAE_SCALING_FACTOR = 0.7  # CogVideoX-5B's VAE value
VAE_TILING_FACTOR = 2  # VAE "sample size" = 2 × native, so tiling never splits a tiny frame (see _tiny_vae)

# --- Text encoder ---------------------------------------------------------------------------
T5_LAYERS = 1
T5_HEADS = 2
T5_HEAD_DIM = 8
T5_FF_DIM = 32
TOKENIZER_VOCAB_SIZE = 48  # enough pieces for the generated corpus; SentencePiece refuses more than it can fill

# --- Scheduler: CogVideoX-5B's training noise schedule ---------------------------------------
SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": True,
    "steps_offset": 0,
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "snr_shift_scale": 1.0,
    "timestep_spacing": "trailing",
}

_CORPUS_WORDS = (
    "a the of and in on with video camera moves left right up down forward back slowly quickly "
    "red green blue white black cat dog car ball person robot tree house road mountain sky water "
    "walks runs rolls drives flies turns spins . , high quality low resolution watermark strange"
).split()
_CORPUS_SENTENCES = 400
_CORPUS_SENTENCE_WORDS = 10


def _train_tokenizer_model(seed: int) -> bytes:
    """A T5-style SentencePiece unigram model (pad 0, eos 1, unk 2, no bos) as bytes."""
    rng = random.Random(seed)
    corpus = [" ".join(rng.choices(_CORPUS_WORDS, k=_CORPUS_SENTENCE_WORDS)) for _ in range(_CORPUS_SENTENCES)]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        vocab_size=TOKENIZER_VOCAB_SIZE,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        num_threads=1,  # single-threaded training is deterministic
        minloglevel=2,  # silence SentencePiece's progress log
    )
    return model.getvalue()


def _write_tokenizer(folder: Path, seed: int) -> int:
    """Write ``spiece.model`` + ``tokenizer_config.json`` (the real T5 layout); return the vocabulary size."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spiece.model").write_bytes(_train_tokenizer_model(seed))
    config = {"tokenizer_class": "T5Tokenizer", "extra_ids": 0, "model_max_length": MAX_TEXT_TOKENS}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return len(T5Tokenizer.from_pretrained(folder))


def _tiny_transformer(seed: int) -> CogVideoXTransformer3DModelTracking:
    torch.manual_seed(seed)
    transformer = CogVideoXTransformer3DModelTracking(
        num_attention_heads=TINY_HEADS,
        attention_head_dim=TINY_HEAD_DIM,
        in_channels=2 * LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        time_embed_dim=TINY_TIME_EMBED_DIM,
        text_embed_dim=TEXT_EMBED_DIM,
        num_layers=TINY_BASE_BLOCKS,
        sample_width=TINY_LATENT_WIDTH,
        sample_height=TINY_LATENT_HEIGHT,
        sample_frames=TINY_NUM_FRAMES,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=MAX_TEXT_TOKENS,
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=True,
        num_tracking_blocks=TINY_TRACKING_BLOCKS,
    )
    with torch.no_grad():
        for linear in [*transformer.combine_linears, transformer.initial_combine_linear]:
            torch.nn.init.normal_(linear.weight, std=TRACKING_INIT_STD)
            torch.nn.init.normal_(linear.bias, std=TRACKING_INIT_STD)
    return transformer


def _tiny_vae(seed: int) -> AutoencoderKLCogVideoX:
    torch.manual_seed(seed)
    levels = len(VAE_BLOCK_CHANNELS)
    return AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * levels,
        up_block_types=("CogVideoXUpBlock3D",) * levels,
        block_out_channels=VAE_BLOCK_CHANNELS,
        latent_channels=LATENT_CHANNELS,
        layers_per_block=1,
        norm_num_groups=VAE_NORM_GROUPS,
        temporal_compression_ratio=4,
        # The VAE tiles frames larger than half its sample size; diffusers' tiling miscounts
        # latent rows at toy sizes, so the sample size is twice the native size and VAE tiling
        # (which the engine turns on) is a no-op here, as intended for a memory-only setting.
        sample_height=VAE_TILING_FACTOR * TINY_LATENT_HEIGHT * 8,
        sample_width=VAE_TILING_FACTOR * TINY_LATENT_WIDTH * 8,
        scaling_factor=VAE_SCALING_FACTOR,
    )


def _tiny_text_encoder(seed: int, vocab_size: int) -> T5EncoderModel:
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=TEXT_EMBED_DIM,
        d_kv=T5_HEAD_DIM,
        d_ff=T5_FF_DIM,
        num_layers=T5_LAYERS,
        num_heads=T5_HEADS,
        feed_forward_proj="gated-gelu",  # T5 v1.1 (CogVideoX's t5-v1_1-xxl) style
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(config).eval()


def write_tiny_checkpoint(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a complete tiny random DaS checkpoint folder.

    Each component is seeded separately (``seed``, ``seed + 1``, …), so the folder's weights
    are a function of ``seed`` alone. Native size: 9 frames of 64×96.

    Args:
        out_dir: folder to create (or overwrite files in).
        seed: random seed for all weights and the tokenizer corpus.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = _write_tokenizer(folder / "tokenizer", seed)
    pipe = DiffusionAsShaderPipeline(
        tokenizer=T5Tokenizer.from_pretrained(folder / "tokenizer"),
        text_encoder=_tiny_text_encoder(seed + 1, vocab_size),
        vae=_tiny_vae(seed + 2),
        transformer=_tiny_transformer(seed + 3),
        scheduler=CogVideoXDPMScheduler(**SCHEDULER_CONFIG),
    )
    # The pipeline writes every model folder and model_index.json; the tokenizer folder it
    # would write is replaced by the SentencePiece layout the real checkpoint ships.
    pipe.save_pretrained(folder)
    for stray in (folder / "tokenizer").iterdir():
        if stray.name not in ("spiece.model", "tokenizer_config.json"):
            stray.unlink()
    _write_tokenizer(folder / "tokenizer", seed)

    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    index[TINY_INDEX_KEY] = True
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True), encoding="utf-8")
    (folder / TINY_MARKER_FILE).write_text(
        "Tiny random Diffusion-as-Shader test model written by `python -m core.tiny`.\n"
        "Its weights are random: generated videos are noise.\n",
        encoding="utf-8",
    )
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m core.tiny",
        description="Write a tiny random Diffusion-as-Shader checkpoint (offline; its output is noise).",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the checkpoint to")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the weights (default 0)")
    args = parser.parse_args(argv)
    folder = write_tiny_checkpoint(args.out_dir, seed=args.seed)
    print(f"tiny test checkpoint written to {folder}")


if __name__ == "__main__":
    main()
