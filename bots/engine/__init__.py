"""The trading core: plain Python, no Django (see README.md in this folder).

Public API: ``engine.Engine`` / ``engine.EngineConfig`` (host bots), ``ports`` (the Protocols a host
implements), ``types`` (BotSpec, RiskSettings, MarketRules, Order, Fill, OrderUpdate),
``strategies`` (``validate_params``, ``describe_strategies``, ``build_strategy``), ``risk.check``,
``positions.Position``, ``brokers.PaperBroker`` and ``brokers.live.LiveGateways``,
``history.KlineHistory``.
"""
