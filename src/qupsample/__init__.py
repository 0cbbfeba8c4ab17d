"""qupsample: quality-upsampling data-mixing configs for olmix.

`qupsample.render(...)` and `qupsample.generate(...)` make launch configs from the specs;
`qupsample.resolve.resolve(...)` computes a config's per-path mixture weights.
"""

from qupsample.generate import generate
from qupsample.render import render

__all__ = ["generate", "render"]
