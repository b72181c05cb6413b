"""Fine-tuning the DaS tracking branch (SPEC §12) with ``accelerate``.

- :mod:`core.training.config` — :class:`~core.training.config.TrainConfig` and its command line;
- :mod:`core.training.objective` — the conditioning and the loss, as pure tensor functions;
- :mod:`core.training.data` — the dataset reader, the deterministic sample order, precomputed latents;
- :mod:`core.training.models` — loading a base or DaS checkpoint, freezing, exporting a checkpoint;
- :mod:`core.training.trainer` — the training loop (:func:`~core.training.trainer.train`).

``python -m core.train`` (:mod:`core.train`) is the command-line entry point; see docs/TRAINING.md.
"""
