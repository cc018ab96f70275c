import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[3] / "bots" / "engine"


def test_the_engine_core_imports_no_django_channels_or_celery():
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [(path.name, n) for n in names if n.split(".")[0] in {"django", "channels", "celery"}
                          or n.startswith("bots.") and not n.startswith("bots.engine")]
    assert offenders == []
