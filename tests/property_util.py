"""What the property tests of layers against torch share (test_vocab_vs_torch.py, test_layers_extra_vs_torch.py).

The hypothesis settings (``VOCAB_EXAMPLES`` examples per test, 60 by default, the same examples
every run), the strategy for tiny input shapes, and the draw of a Transformer layer's fields that
the single layers and the stacks both use. Not a conftest: import it explicitly.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=int(os.environ.get("VOCAB_EXAMPLES", "60")),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def shape_st(lo_rank: int, hi_rank: int, hi: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes of ``lo_rank`` to ``hi_rank`` dims, each of size 1 to ``hi``."""
    return st.lists(st.integers(1, hi), min_size=lo_rank, max_size=hi_rank).map(tuple)


def transformer_layer(
    data: st.DataObject, lo_rank: int, hi_rank: int
) -> tuple[bool, int, tuple[int, ...], dict[str, Any], int | None]:
    """A TransformerEncoderLayer's or TransformerDecoderLayer's fields, drawn from ``data``.

    Returns ``(batch_first, e, shape, fields, d_model)``: the input ``shape`` has ``lo_rank`` to
    ``hi_rank`` leading dims of size 1 to 3 and ``e`` features last; ``d_model`` is the size the
    fields give (left out, ``e``, or a wrong ``e + 2``), None when left out for archcheck to infer.
    """
    bf = data.draw(st.booleans())
    e = data.draw(st.sampled_from([4, 6]))
    shape = data.draw(shape_st(lo_rank, hi_rank, hi=3)) + (e,)
    fields: dict[str, Any] = {
        "nhead": data.draw(st.sampled_from([1, 2, 4])),
        "dim_feedforward": data.draw(st.integers(1, 8)),
        "activation": data.draw(st.sampled_from(["relu", "gelu"])),
        "batch_first": bf,
        "norm_first": data.draw(st.booleans()),
        "bias": data.draw(st.booleans()),
    }
    give = data.draw(st.sampled_from([None, e, e + 2]))
    if give is not None:
        fields["d_model"] = give
    return bf, e, shape, fields, give
