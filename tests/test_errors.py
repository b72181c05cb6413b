"""One error type for user mistakes (core.errors.UserError) and the boundaries that catch only it:
the studio's ``user_errors``, ``python -m core`` and ``webui.py``. A ``ValueError`` raised
inside numpy is a bug there: a generic message and a logged traceback, never its text."""

from __future__ import annotations

import logging

import gradio as gr
import numpy as np
import pytest

import webui
from core import cli
from core.camera import CameraMotionError
from core.engine import EngineConfigError, GenerationInputError
from core.errors import CheckpointError, UserError
from core.export import ExportError
from core.media import MediaError
from core.object_motion import ObjectMotionError
from core.repaint import RepaintError
from core.training.config import TrainConfigError
from core.training.models import TrainingCheckpointError
from trackers.depth import DepthError
from trackers.mesh import MeshError
from trackers.points import PointTrackingError
from ui.errors import user_errors

ACTION = "Building the tracking video"


def numpy_bug() -> None:
    """A genuine numpy ValueError, as a bug in a handler would raise it."""
    np.zeros(3).reshape(2, 2)


@pytest.mark.parametrize(
    "error_type",
    [
        CameraMotionError,
        CheckpointError,
        DepthError,
        EngineConfigError,
        ExportError,
        GenerationInputError,
        MediaError,
        MeshError,
        ObjectMotionError,
        PointTrackingError,
        RepaintError,
        TrainConfigError,
        TrainingCheckpointError,
    ],
)
def test_every_domain_error_is_a_user_error(error_type):
    assert issubclass(error_type, UserError)


def test_a_training_checkpoint_error_is_a_checkpoint_problem():
    assert issubclass(TrainingCheckpointError, CheckpointError)


# --------------------------------------------------------------------------------------------
# The studio's handlers
# --------------------------------------------------------------------------------------------


def test_a_user_error_in_a_handler_shows_its_message():
    with pytest.raises(gr.Error) as raised:
        with user_errors(ACTION):
            raise MeshError("scene.obj: the file holds no triangles")
    assert raised.value.message == "scene.obj: the file holds no triangles"
    assert raised.value.title == f"{ACTION} failed"


def test_a_numpy_value_error_in_a_handler_is_a_bug_with_a_generic_message(caplog):
    with caplog.at_level(logging.ERROR, logger="ui.errors"):
        with pytest.raises(gr.Error) as raised:
            with user_errors(ACTION):
                numpy_bug()
    message = raised.value.message
    assert message.startswith(f"{ACTION} failed unexpectedly (ValueError)")
    assert "reshape" not in message and "server log" in message
    logged = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert logged and logged[0].exc_info is not None and logged[0].exc_info[0] is ValueError


# --------------------------------------------------------------------------------------------
# python -m core
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error, code, shown",
    [
        (GenerationInputError("the prompt is empty"), cli.EXIT_USAGE, "error: the prompt is empty"),
        (CheckpointError("transformer/ is missing"), cli.EXIT_CHECKPOINT, "checkpoint problem: transformer/ is missing"),
        (TrainingCheckpointError("--base x lacks vae"), cli.EXIT_CHECKPOINT, "checkpoint problem: --base x lacks vae"),
    ],
)
def test_the_cli_reports_user_errors_with_their_exit_code(monkeypatch, capsys, error, code, shown):
    def dispatch(args):
        raise error

    monkeypatch.setattr(cli, "_dispatch", dispatch)
    assert cli.main(["tiny", "unused-folder"]) == code
    assert shown in capsys.readouterr().err


def test_the_cli_reports_a_numpy_value_error_as_a_bug(monkeypatch, capsys, caplog):
    monkeypatch.setattr(cli, "_dispatch", lambda args: numpy_bug())
    with caplog.at_level(logging.ERROR, logger="core.cli"):
        code = cli.main(["tiny", "unused-folder"])
    assert code == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "unexpected error (ValueError)" in err and "reshape" not in err.splitlines()[-1]
    assert any(record.exc_info and record.exc_info[0] is ValueError for record in caplog.records)


# --------------------------------------------------------------------------------------------
# webui.py
# --------------------------------------------------------------------------------------------


def test_webui_start_up_reports_user_errors_and_bugs_apart(monkeypatch, caplog):
    import ui.app

    monkeypatch.setattr(ui.app, "build_app", lambda *args, **kwargs: (_ for _ in ()).throw(EngineConfigError("no CUDA GPU is visible")))
    with pytest.raises(SystemExit) as stopped:
        webui.main([])
    assert stopped.value.code == "error: no CUDA GPU is visible"

    monkeypatch.setattr(ui.app, "build_app", lambda *args, **kwargs: numpy_bug())
    with caplog.at_level(logging.ERROR, logger="webui"):
        with pytest.raises(SystemExit) as stopped:
            webui.main([])
    assert stopped.value.code.startswith("error: the studio could not start (ValueError)")
    assert any(record.exc_info and record.exc_info[0] is ValueError for record in caplog.records)


def test_webui_refuses_a_bad_auth_value_as_a_user_error():
    with pytest.raises(UserError, match="expected USER:PASS"):
        webui.read_auth("no-colon")
