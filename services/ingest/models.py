from sqlalchemy.orm import DeclarativeBase

from shared.db import service_metadata

SCHEMA = "ingest"
metadata, infrastructure = service_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata
