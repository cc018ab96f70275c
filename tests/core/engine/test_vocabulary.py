"""One vocabulary: order statuses, their final/open/unconfirmed sets, the client order id format and
each venue's status map are defined once, and every other module uses those definitions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bots.engine import types as core
from marketdata.exchanges.binance.status import ORDER_STATUS, order_status

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [p for d in ("bots", "marketdata", "botplatform") for p in (ROOT / d).rglob("*.py")
           if "migrations" not in p.parts]
# Binance's documented rule for newClientOrderId.
BINANCE_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def test_every_status_is_either_final_or_open_and_unconfirmed_ones_are_open():
    assert core.FINAL_STATUSES | core.OPEN_STATUSES == set(core.ORDER_STATUSES)
    assert not core.FINAL_STATUSES & core.OPEN_STATUSES
    assert core.UNCONFIRMED_STATUSES <= core.OPEN_STATUSES


def test_client_order_ids_name_the_bot_fit_binance_and_do_not_repeat():
    ids = {core.new_client_order_id(7) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("bp7-") and BINANCE_CLIENT_ID.match(i) for i in ids)
    assert BINANCE_CLIENT_ID.match(core.new_client_order_id(10**12))
    assert re.fullmatch(r"bp-[0-9a-f]{20}", core.new_client_order_id())  # a row made without a bot


def test_binance_statuses_map_into_our_vocabulary_and_anything_else_is_unknown():
    assert set(ORDER_STATUS.values()) <= set(core.ORDER_STATUSES)
    assert order_status("EXPIRED_IN_MATCH") == "expired"
    assert order_status("SOMETHING_NEW") == order_status(None) == "unknown"


def _string_set(node: ast.AST) -> frozenset[str] | None:
    """The strings of a set, list or tuple literal (also inside ``frozenset(...)``); None otherwise."""
    if isinstance(node, ast.Set | ast.List | ast.Tuple) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return frozenset(e.value for e in node.elts)  # type: ignore[attr-defined]
    return None


def _definitions() -> dict[str, list[str]]:
    """Where the final set, a client order id generator and a Binance status map are written."""
    found: dict[str, list[str]] = {"final set": [], "client id": [], "binance map": []}
    for path in SOURCES:
        name = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), filename=name)):
            if _string_set(node) == core.FINAL_STATUSES:
                found["final set"].append(name)
            if isinstance(node, ast.FunctionDef) and node.name == "new_client_order_id":
                found["client id"].append(name)
            # The simulator renders each venue's own wire statuses and may import nothing of ours.
            if "simulator" not in path.parts and isinstance(node, ast.Dict) and {"NEW", "FILLED"} <= {
                    k.value for k in node.keys if isinstance(k, ast.Constant)}:
                found["binance map"].append(name)
    return found


def test_the_vocabulary_is_written_once():
    assert _definitions() == {
        "final set": ["bots/engine/types.py"],
        "client id": ["bots/engine/types.py"],
        "binance map": ["marketdata/exchanges/binance/status.py"],
    }
