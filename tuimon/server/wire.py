"""The control socket's encoding: the messages of :mod:`tuimon.server.protocol` pickled, and
unpickled with a closed list of classes.

The daemon (``tuimon serve``) and its clients (``tuimon attach``, ``tuimon ctl``) exchange
the same dataclasses as the app and its engine process, over a local Unix socket
(:mod:`multiprocessing.connection`, whose frames carry bytes). Plain ``pickle.loads`` would
run whatever a peer sends, so neither side uses it:

* the daemon unpickles **requests** with :func:`loads_request`, which builds only the request
  classes of ``protocol.py`` (and pickle's own plain types: numbers, text, bytes, tuples,
  lists, dicts, sets); anything else is refused, so a member of the socket's group can ask
  what the app asks, and nothing more;
* a client unpickles **replies** with :func:`loads_reply`: tuimon's own classes only (the
  rows of ``core/model.py``, the counters' rows, the protocol's replies).
"""

from __future__ import annotations

import dataclasses
import io
import pickle

from tuimon.errors import TuimonError

# What a client may ask the daemon: the app's requests and ctl's.
REQUEST_CLASSES = frozenset({
    "Query", "CheckFilter", "Save", "Ping", "Speed", "Hold", "Stop", "Packets", "Dissect",
    "WritePcap", "HistoryOf", "ResetCounters",
})
PROTOCOL = "tuimon.server.protocol"
MAX_MESSAGE = 64 << 20  # a reply page is far smaller; a bigger frame is refused


class BadMessage(TuimonError):
    """A frame on the control socket that is not one of tuimon's messages."""


class _Closed(pickle.Unpickler):
    def __init__(self, data: bytes, allowed) -> None:
        super().__init__(io.BytesIO(data))
        self.allowed = allowed

    def find_class(self, module: str, name: str):
        if self.allowed(module, name):
            return super().find_class(module, name)
        raise BadMessage(f"refused on the control socket: {module}.{name}")


def _request_class(module: str, name: str) -> bool:
    return module == PROTOCOL and name in REQUEST_CLASSES


def _reply_class(module: str, name: str) -> bool:
    return module.split(".")[0] == "tuimon" or (module, name) in {
        ("builtins", "set"), ("builtins", "frozenset"), ("collections", "OrderedDict")}


def dumps(message) -> bytes:
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def _loads(data: bytes, allowed):
    try:
        return _Closed(data, allowed).load()
    except BadMessage:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged frame is one line, never a traceback
        raise BadMessage(f"a damaged message on the control socket: {type(err).__name__}") \
            from None


def loads_request(data: bytes):
    """A request from a client, its fields checked, or :class:`BadMessage`: a field of the
    wrong type (a view that does not exist, a number that is text) would otherwise fail
    in the daemon's counting loop."""
    message = _loads(data, _request_class)
    if type(message).__name__ not in REQUEST_CLASSES or \
            type(message).__module__ != PROTOCOL:
        raise BadMessage(f"not a request: {type(message).__name__}")
    check_request(message)
    return message


_PLAIN = (str, int, float, bool, bytes, type(None), tuple)
_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
          "None": (type(None),), "tuple": (tuple,), "Hashable": _PLAIN}


def _plain(value, depth: int = 0) -> bool:
    if isinstance(value, tuple):
        return depth < 4 and all(_plain(v, depth + 1) for v in value)
    return isinstance(value, _PLAIN)


def check_request(message) -> None:
    """Every field of ``message`` of its declared type (plain values only), no other
    attribute, and the names a query or a history request uses known."""
    from tuimon.server.protocol import COLUMNS, HISTORY_KINDS, SPANS, HistoryOf, Query

    name = type(message).__name__
    fields = {f.name: f.type for f in dataclasses.fields(message)}
    extra = set(vars(message)) - set(fields)
    if extra:
        raise BadMessage(f"{name}: unknown fields {sorted(extra)}")
    for field, annotation in fields.items():
        value = getattr(message, field)
        allowed = tuple(t for part in str(annotation).split("|")
                        for t in _TYPES.get(part.strip(), _PLAIN))
        if not isinstance(value, allowed) or not _plain(value):
            raise BadMessage(f"{name}.{field}: not a {annotation}")
    if isinstance(message, Query) and message.view not in COLUMNS:
        raise BadMessage(f"Query: no view {message.view!r}")  # an unknown sort: by bytes
    if isinstance(message, HistoryOf) and (message.kind not in HISTORY_KINDS.values() or
                                           message.span not in SPANS):
        raise BadMessage(f"HistoryOf: no {message.kind!r} over {message.span!r}")


def loads_reply(data: bytes):
    """A reply from the daemon, or :class:`BadMessage`."""
    return _loads(data, _reply_class)
