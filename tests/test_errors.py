"""Errors, warnings and events as data: stable codes, typed locations and hints with actions,
and JSON forms that keep numbers as numbers (what a panel and an editor read)."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path

import pytest

from pyx_server.engine import errors, progress
from pyx_server.engine.errors import Hint, Location, PyxError, PyxWarning

ENGINE = Path(errors.__file__).parent


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_no_error_is_raised_with_the_bare_code() -> None:
    bare = [
        f"{path.relative_to(ENGINE)}:{number}"
        for path in ENGINE.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bPyxError\(", line) and "class " not in line
    ]
    assert bare == []


def test_every_error_class_has_its_own_kebab_case_code() -> None:
    import pyx_server.engine.resolver  # noqa: F401 - defines ResolutionImpossible

    classes = _subclasses(PyxError)
    assert len(classes) > 30
    for cls in classes:
        assert cls.code != "pyx-error", cls
        assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", cls.code), (cls, cls.code)


def test_the_json_form_of_an_error_keeps_numbers_and_actions() -> None:
    error = errors.LockFileError(
        "`packages[0].name` must be a string",
        hints=[Hint("run `pyx lock`", "lock"), "plain"],
        location=Location("/p/pylock.toml", 3, 7, end_line=3, end_column=9),
    )
    data = json.loads(json.dumps(error.to_dict()))
    assert data["location"] == {"path": "/p/pylock.toml", "line": 3, "column": 7, "end_line": 3,
                                "end_column": 9, "cell": None}
    assert data["hints"] == [{"text": "run `pyx lock`", "action": "lock"}, {"text": "plain", "action": None}]


def test_a_warning_is_a_value_that_reads_as_its_message() -> None:
    warning = PyxWarning("gpu-unused", "the NVIDIA GPU will not be used", (Hint("set it", "set-torch-index"),),
                         Location("nb.ipynb", 2, cell=0))
    assert str(warning) == "the NVIDIA GPU will not be used"  # text renderers are unchanged
    assert json.loads(json.dumps(warning.to_dict())) == {
        "code": "gpu-unused", "message": "the NVIDIA GPU will not be used",
        "hints": [{"text": "set it", "action": "set-torch-index"}],
        "location": {"path": "nb.ipynb", "line": 2, "column": None, "end_line": None, "end_column": None, "cell": 0},
    }
    notice = progress.Notice.warning(warning)
    assert (notice.level, notice.code, notice.message) == ("warning", "gpu-unused", warning.message)
    assert notice.hints[0].action == "set-torch-index" and notice.location == warning.location


# -- events -----------------------------------------------------------------------------------


def _example(event_class: type):
    """An instance of ``event_class`` with a value of the right type in every field."""
    hints = typing.get_type_hints(event_class)
    values = {}
    for item in dataclasses.fields(event_class):
        kind = hints[item.name]
        text = str(kind)
        if item.name == "hints":
            values[item.name] = (Hint("run `pyx sync`", "sync"), "plain")
        elif item.name == "location":
            values[item.name] = Location("/p/nb.ipynb", 4, 2, cell=1)
        elif item.name == "operation":
            values[item.name] = "op-7"
        elif kind is bool:
            values[item.name] = True
        elif kind is float:
            values[item.name] = 0.25
        elif "int" in text:
            values[item.name] = 42
        else:
            values[item.name] = f"{item.name}-value"
    return event_class(**values)


EVENT_CLASSES = typing.get_args(progress.Event)


def test_the_event_union_lists_every_event_class() -> None:
    defined = {cls for cls in vars(progress).values()
               if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == progress.__name__}
    assert defined == set(EVENT_CLASSES)


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=lambda cls: cls.__name__)
def test_every_event_has_a_json_ready_form(event_class: type) -> None:
    event = _example(event_class)
    data = progress.event_to_dict(event)
    assert json.loads(json.dumps(data)) == data  # nothing json.dumps would refuse or change
    assert data["type"] == re.sub(r"(?<!^)([A-Z])", r"-\1", event_class.__name__).lower()
    assert data["operation"] == "op-7"
    for item in dataclasses.fields(event_class):
        value, wire = getattr(event, item.name), data[item.name]
        if isinstance(value, bool | int | float):
            assert wire == value and type(wire) is type(value), item.name  # numbers stay numbers
    if "hints" in data:
        assert data["hints"] == [{"text": "run `pyx sync`", "action": "sync"}, {"text": "plain", "action": None}]
    if "location" in data:
        assert data["location"]["line"] == 4 and data["location"]["cell"] == 1


def test_events_stamped_for_an_operation_keep_their_json_form() -> None:
    collected = progress.CollectingReporter()
    progress.for_operation(collected, "op-1").report(progress.Notice("hello", "warning", "code-x", (Hint("x", "lock"),)))
    data = progress.event_to_dict(collected.events[0])
    assert data["operation"] == "op-1" and data["hints"] == [{"text": "x", "action": "lock"}]


# -- hints with actions where the action is obvious --------------------------------------------


def test_a_missing_lock_offers_the_lock_action(tmp_path: Path) -> None:
    from pyx_server.engine.lock import read_lock

    with pytest.raises(errors.LockFileError) as info:
        read_lock(tmp_path / "pylock.toml")
    assert [h.action for h in info.value.hints] == ["lock"]
    assert info.value.location.path == str(tmp_path / "pylock.toml")


def test_a_missing_torch_index_offers_the_set_torch_index_action() -> None:
    from pyx_server.engine.gpu.variants import torch_index_base

    with pytest.raises(errors.TorchIndexNotConfigured) as info:
        torch_index_base({})
    assert [h.action for h in info.value.hints] == ["set-torch-index"]


def test_every_warning_notice_the_engine_reports_has_a_code() -> None:
    """A front keys on the code (a panel's icon, an editor's diagnostic code), never on text."""
    missing = []
    for path in ENGINE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"Notice\((?:[^()]|\([^()]*\))*\)", text):
            call = match.group(0)
            if '"warning"' in call and "code=" not in call:
                line = text.count("\n", 0, match.start()) + 1
                missing.append(f"{path.relative_to(ENGINE)}:{line}")
    assert missing == []


def test_context_values_keep_numbers_as_numbers() -> None:
    error = errors.InterpreterError("failed", context={"path": Path("/x/python"), "exit_code": 127, "ok": False})
    assert json.loads(json.dumps(error.to_dict()))["context"] == {"path": "/x/python", "exit_code": 127, "ok": False}
