from sluice import Source

from schemas import OrderSchema

orders = Source(OrderSchema)
