"""Console lines for a person at a terminal, JSON lines everywhere else, unless told otherwise."""

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from shared.logging import configure_logging, get_logger, use_json
from shared.settings import BaseServiceSettings
from stack.run import child_log_env


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def logged_line(monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, json: bool | None) -> str:
    monkeypatch.setattr(sys, "stdout", stream)
    configure_logging(service="test", json=json)
    get_logger("test").info("fan scored", score=7)
    return stream.getvalue().strip()


def is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


class TestChoice:
    def test_terminal_gets_console_lines(self) -> None:
        assert use_json(None, Terminal()) is False

    def test_pipe_or_file_gets_json_lines(self) -> None:
        assert use_json(None, io.StringIO()) is True

    @pytest.mark.parametrize("stream", [Terminal(), io.StringIO()])
    @pytest.mark.parametrize("explicit", [True, False])
    def test_explicit_choice_wins(self, stream: io.StringIO, explicit: bool) -> None:
        assert use_json(explicit, stream) is explicit


class TestConfiguredOutput:
    def test_terminal_reads_as_text(self, monkeypatch: pytest.MonkeyPatch) -> None:
        line = logged_line(monkeypatch, Terminal(), json=None)
        assert "fan scored" in line
        assert not is_json(line)

    def test_pipe_gets_one_json_object_a_line(self, monkeypatch: pytest.MonkeyPatch) -> None:
        line = logged_line(monkeypatch, io.StringIO(), json=None)
        assert json.loads(line) | {"timestamp": None} == {
            "event": "fan scored", "score": 7, "service": "test", "level": "info",
            "logger": "test", "timestamp": None,
        }  # fmt: skip

    def test_json_forced_on_a_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert is_json(logged_line(monkeypatch, Terminal(), json=True))

    def test_console_forced_into_a_pipe(self, monkeypatch: pytest.MonkeyPatch) -> None:
        line = logged_line(monkeypatch, io.StringIO(), json=False)
        assert "fan scored" in line
        assert not is_json(line)

    def test_console_traceback_shows_no_local_variables(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        terminal = Terminal()
        monkeypatch.setattr(sys, "stdout", terminal)
        configure_logging(service="test", json=False)
        token = "tok-4f9a"
        try:
            raise RuntimeError("send failed")
        except RuntimeError:
            get_logger("test").exception("reply not sent")
        output = terminal.getvalue()
        assert "RuntimeError: send failed" in output
        assert token not in output


class TestSetting:
    def settings(self) -> BaseServiceSettings:
        return BaseServiceSettings(
            kafka_bootstrap_servers="127.0.0.1:9092",
            database_url="postgresql+asyncpg://scrm@127.0.0.1/scrm",
        )

    def test_unset_means_decide_by_the_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("SCRM_LOG_JSON", raising=False)
        assert self.settings().log_json is None

    @pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
    def test_environment_forces_either(
        self, monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
    ) -> None:
        monkeypatch.setenv("SCRM_LOG_JSON", value)
        assert self.settings().log_json is expected


class TestMakeRunServices:
    """The services write into pipes make run relays, so they are told what the terminal is."""

    def test_asked_for_console_lines_when_make_run_writes_to_a_terminal(self) -> None:
        assert child_log_env({}, terminal=True) == {"SCRM_LOG_JSON": "false"}

    def test_left_to_json_when_make_run_writes_elsewhere(self) -> None:
        assert child_log_env({}, terminal=False) == {}

    def test_an_explicit_setting_is_left_alone(self) -> None:
        assert child_log_env({"SCRM_LOG_JSON": "true"}, terminal=True) == {}
