from fastapi import APIRouter, HTTPException

from services.coupons import service
from services.coupons.schemas import OrderOut
from shared.deps import IdInPath, SessionDep

router = APIRouter(prefix="/v1", tags=["orders"])


@router.get("/accounts/{account}/orders/{order_id}", response_model=OrderOut)
async def read_order(account: IdInPath, order_id: IdInPath, session: SessionDep) -> OrderOut:
    order = await service.get_order(session, account=account, order_id=order_id)
    if order is None:
        raise HTTPException(status_code=404, detail=f"no order {order_id} for {account}")
    return OrderOut.model_validate(order)
