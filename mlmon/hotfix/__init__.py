"""Hot fixes: answer some requests without the model, switched on and off by editing a file.

``HotfixLayer("hotfix.yaml").wrap(predict)`` (README "Hot fixes"). Like :mod:`mlmon.logging`,
importing this package loads neither Polars, typer nor rich: it runs inside the model server.
"""

from mlmon.hotfix.config import Hotfix, HotfixSet, hotfixes_from_text, load_hotfixes
from mlmon.hotfix.layer import Answer, HotfixLayer

__all__ = ["Answer", "Hotfix", "HotfixLayer", "HotfixSet", "hotfixes_from_text", "load_hotfixes"]
