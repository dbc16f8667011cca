"""Where the broker's jars, state, data and logs live."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO / "deploy" / "kafka"
POM = DEPLOY_DIR / "pom.xml"
LOG_CONFIG = DEPLOY_DIR / "log4j2.yaml"

STATE_DIR = REPO / ".cache" / "kafka"
LIBS_DIR = STATE_DIR / "libs"
POM_HASH_FILE = LIBS_DIR / ".pom.sha256"
DATA_DIR = STATE_DIR / "data"
PROPERTIES_FILE = DATA_DIR / "server.properties"
STATE_FILE = STATE_DIR / "state.json"
LOCK_FILE = STATE_DIR / ".lock"
CONSOLE_LOG = STATE_DIR / "kafka.out"
SERVER_LOG = STATE_DIR / "server.log"
