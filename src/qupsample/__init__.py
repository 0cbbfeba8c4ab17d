"""qupsample: quality-upsampling data-mixing configs for olmix.

`qupsample.render(...)` and `qupsample.generate(...)` make launch configs from the specs;
`qupsample.resolve.resolve(...)` computes a config's per-path mixture weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qupsample.generator import generate
    from qupsample.renderer import render

    __version__: str

__all__ = ["__version__", "generate", "render"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `qupsample --help` does not pay for pydantic and Jinja.
    if name == "__version__":
        from importlib.metadata import version

        return version("qupsample")
    if name == "render":
        from qupsample.renderer import render

        return render
    if name == "generate":
        from qupsample.generator import generate

        return generate
    raise AttributeError(f"module 'qupsample' has no attribute {name!r}")
