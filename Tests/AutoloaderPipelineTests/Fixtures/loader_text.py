"""Values as the loader writes them, for the fixture scripts' expected files: dates and times as ISO text (a `Z` for
UTC, only the fraction digits that carry information), bytes not declared text as base64, UUIDs canonical,
decimals as numbers (JSON) or exact text, maps as objects."""
import base64, datetime, decimal, uuid


def as_loaded(v, decimal_text=False):
    if isinstance(v, datetime.datetime):
        s = v.strftime("%Y-%m-%d %H:%M:%S")
        if v.microsecond:
            s += ("." + f"{v.microsecond:06d}").rstrip("0")
        return s + ("Z" if v.tzinfo else "")
    if isinstance(v, datetime.time):
        s = v.strftime("%H:%M:%S")
        return s + (("." + f"{v.microsecond:06d}").rstrip("0") if v.microsecond else "")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v) if decimal_text else float(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if hasattr(v, "to_pydatetime"):
        return as_loaded(v.to_pydatetime())
    if isinstance(v, dict):
        return {k: as_loaded(x, decimal_text) for k, x in v.items()}
    if isinstance(v, list):
        return [as_loaded(x, decimal_text) for x in v]
    return v
