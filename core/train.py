"""Fine-tune the DaS tracking branch: ``python -m core.train --base B --data D --output O``.

One GPU (or the CPU, slowly)::

    python -m core.train --base checkpoints/CogVideoX-5b-I2V --data data/my-set --output checkpoints/my-das

Several GPUs (one process per GPU; see docs/TRAINING.md for ``accelerate config``)::

    accelerate launch --multi_gpu --num_processes 8 -m core.train --base … --data … --output …

The output folder is a complete checkpoint: ``python webui.py --checkpoint OUT``. Every flag is
listed by ``python -m core.train --help``; the implementation lives in :mod:`core.training`.
"""

from __future__ import annotations

import logging
import sys
from typing import Optional, Sequence

from core.dataset import DatasetError
from core.errors import UserError
from core.progress import Cancelled
from core.training.config import TrainConfig, build_parser, parse_args
from core.training.trainer import TrainResult, train

logger = logging.getLogger("core.train")

__all__ = ["TrainConfig", "TrainResult", "build_parser", "main", "parse_args", "train"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m core.train``; returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = parse_args(argv)
        result = train(config)
    except (UserError, DatasetError) as error:  # TrainConfigError, TrainingCheckpointError, ...
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Cancelled as error:
        print(str(error), file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the training CLI boundary: anything else is a bug
        logger.exception("training failed unexpectedly")
        print(f"error: training failed unexpectedly ({type(error).__name__}); the traceback is above", file=sys.stderr)
        return 1
    if result.output_dir is not None:
        final = f"{result.losses[-1]:.4f}" if result.losses else "n/a"
        print(f"done: {result.global_step} steps, last loss {final}; checkpoint {result.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
