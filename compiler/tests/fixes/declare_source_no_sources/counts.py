from sluice import col

from schemas import EventSchema


def clicks(events: EventSchema = events) -> EventSchema:
    return events.filter(col("kind") == "click")
