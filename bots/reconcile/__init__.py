"""PURE reconciliation core: what the exchange says (``types``), how to ask it (``binance``,
``paper``), and how its truth differs from our rows (``plan``). No Django: the shell is
``bots/services/reconcile.py``."""
