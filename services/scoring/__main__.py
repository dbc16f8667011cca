from services.scoring.config import ScoringSettings
from services.scoring.main import create_app
from shared.service import serve

settings = ScoringSettings()
serve(create_app(settings), settings)
