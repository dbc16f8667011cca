from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from shared.service import serve

settings = IngestSettings()
serve(create_app(settings), settings)
