"""PURE reconciliation core: what the exchange says (``types``; each venue's trading client in
``marketdata/exchanges/<venue>/trading.py`` answers it, the paper book in ``paper``), and how its truth
differs from our rows (``plan``). No Django: the shell is
``bots/services/reconcile.py``."""
