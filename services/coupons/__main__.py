from services.coupons.config import CouponsSettings
from services.coupons.main import create_app
from shared.service import serve

settings = CouponsSettings()
serve(create_app(settings), settings)
