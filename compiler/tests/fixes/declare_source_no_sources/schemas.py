from sluice import Schema


class EventSchema(Schema):
    event_id: int
    kind: str
