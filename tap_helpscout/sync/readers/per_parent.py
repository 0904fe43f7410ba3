"""Child items whose listing gives a summary only (saved replies: previews, no full text).

The full item costs one request per item, so it is read only when the config asks for it
(`Stream.detail_setting`, e.g. `fetch_saved_reply_text`); the listing's fields are kept and the
stream's `detail_fields` are taken from the full item.
"""
from tap_helpscout.errors import ApiError, MalformedAnswer
from tap_helpscout.logs import get_logger

LOGGER = get_logger()


def child_rows(engine, child, parent_id):
    """The child listing of one parent (`Fetcher.children`), its items completed from their
    own resources when the stream has details and the config asks for them."""
    listing = engine.fetcher.children(child, parent_id)
    if child.detail_path and engine.config.get(child.detail_setting):
        completed = (detailed(engine, child, parent_id, item) for item in listing.items)
        listing.items = [item for item in completed if item is not None]
    return listing


def detailed(engine, stream, parent_id, item):
    """`item` with the stream's detail fields of its full version; None when it was deleted
    since it was listed. An item without an id is left as it is: the engine skips it."""
    ident = item.get(stream.item_id) if isinstance(item, dict) else None
    if ident is None:
        return item
    path = stream.detail_path.format(parent_id=parent_id, id=ident)
    try:
        full = engine.client.get(path, {}, endpoint=stream.name).json
    except ApiError as exc:
        if exc.status != 404:
            raise
        LOGGER.info("%s: %s was deleted during the sync; left out", stream.name, ident)
        return None
    if not isinstance(full, dict):
        raise MalformedAnswer(f"{stream.name}: the answer to {path} is not a JSON object", endpoint=path)
    return {**item, **{name: full.get(name) for name in stream.detail_fields}}
