"""The record of the running broker in STATE_FILE, and the lock that serialises up and down."""

import contextlib
import json
from dataclasses import asdict, dataclass

from stack.apache_kafka.paths import LOCK_FILE, STATE_FILE
from stack.processes import locked


@dataclass(frozen=True)
class BrokerState:
    pid: int
    bootstrap: str
    controller: str
    version: str
    data_dir: str
    log: str
    started_at: str

    @property
    def port(self) -> int:
        return int(self.bootstrap.rpartition(":")[2])

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def load_state() -> BrokerState | None:
    try:
        return BrokerState(**json.loads(STATE_FILE.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def save_state(state: BrokerState) -> None:
    partial = STATE_FILE.with_suffix(".json.partial")
    partial.write_text(state.to_json())
    partial.replace(STATE_FILE)


def state_lock() -> contextlib.AbstractContextManager[None]:
    """Serialise up/down, e.g. when several test sessions start at once."""
    return locked(LOCK_FILE, wait=True)
