from sluice import col

from schemas import CustomerSchema, PhoneSchema


def phone_list(customers: CustomerSchema = customers) -> PhoneSchema:
    return customers.select(col("customer_id"), col("phone"))
