"""Validates an order with pydantic, a package from the environment, not from kfn."""

import json

from pydantic import BaseModel, Field, ValidationError


class Order(BaseModel):
    item: str = Field(min_length=1)
    quantity: int = Field(gt=0, le=1000)
    unit_price: float = Field(gt=0, alias="unitPrice")


def handler(event, context):
    try:
        order = Order.model_validate_json(event.get("body") or "{}")
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return {"statusCode": 400, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"errors": errors})}
    total = round(order.quantity * order.unit_price, 2)
    return {"orderId": context.aws_request_id, "item": order.item, "total": total}
