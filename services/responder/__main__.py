from services.responder.config import ResponderSettings
from services.responder.main import create_app
from shared.service import serve

settings = ResponderSettings()
serve(create_app(settings), settings)
