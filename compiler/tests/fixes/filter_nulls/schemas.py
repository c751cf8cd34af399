from sluice import Schema, Source


class CustomerSchema(Schema):
    customer_id: int
    region: str
    phone: str | None
    email: str | None


class PhoneSchema(Schema):
    customer_id: int
    phone: str


class EmailSchema(Schema):
    email: str


class RegionPhoneSchema(Schema):
    region: str
    mobile: str
    customers: int


customers = Source(CustomerSchema)
