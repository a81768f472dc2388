"""Certified screening: bfloat16 products pick a provable superset of the float32 top-k.

Exact propagation scores every (query, candidate) pair in float32 and keeps the top-k. On a CPU
with native bfloat16 dot products (AVX512-BF16, AMX) a bfloat16 matrix product is about twice
as fast, but its rounding can reorder close candidates. This mode uses the bfloat16 scores
only to *exclude* candidates that provably cannot reach the float32 top-k, then scores every
remaining one in float32 and takes the top-k among them, so it returns the candidates that
scoring all of them in float32 returns (up to the float32 rounding of the products
themselves, which differs between any two matrix-product kernels).

The bound. The screen multiplies bfloat16 copies ``q~ = q + dq`` and ``k~ = k + dk`` (with the
offset column of :func:`~vprop.propagation.affinity.screen_features`, so the result is
``S = q~ . k~ - 1``, accumulated in float32 and rounded once to bfloat16). For real dot
products ``c = q . k``::

    |(S + 1) - c| <= |dq| |k~| + |q| |dk|             (input rounding: exact identity
                                                        q~.k~ - q.k = dq.k~ + q.dk, Cauchy-Schwarz)
                   + 2 (D + 2) u32 (|q~| |k~| + 1)      (float32 accumulation, any order)
                   + r |S|                             (final rounding, r = u16 / (1 - u16))

with ``u16 = 2**-8`` (bfloat16) and ``u32 = 2**-24`` unit roundoffs; the first two terms,
maximised over the context, form the per-query bound ``A``, and ``2 D u32 |q| |k|`` more covers
the float32 rounding of the exact scores. If ``S_k`` is the k-th best screened score of a query,
``k`` distinct candidates have ``c >= L = S_k + 1 - A - r |S_k|``, so the float32 top-k all have
``c >= L - (float32 error)``. A candidate with ``S + 1 + A + r |S| < L`` is therefore excluded
safely; solving for ``S`` gives the per-query threshold ``tau`` of :func:`screen_threshold`.
The bound needs products accumulated in float32 (oneDNN, PyTorch's own CPU kernels and cuBLAS
all do); ``tests/propagation/test_certified.py`` checks it on adversarial inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vprop.propagation.affinity import Candidates, candidate_ids, score_candidates

UNIT_BF16 = 2.0**-8  # unit roundoff of bfloat16 (8 significant bits)
UNIT_FP32 = 2.0**-24
OUTPUT_ROUNDING = UNIT_BF16 / (1 - UNIT_BF16)  # |S - v| <= r |S| for S = bf16(v)


def context_norms(keys: torch.Tensor, screen_keys: torch.Tensor) -> torch.Tensor:
    """Norms of one context frame that the error bound needs.

    Args:
        keys: (M, D) float32 features.
        screen_keys: (M, D + 1) bfloat16 screening copies (last column: the -1 offset).

    Returns:
        (3,) float32: max |k~|, max |k~ - k| and max |k| over the frame's cells.
    """
    rounded = screen_keys[:, :-1].float()  # (M, D)
    return torch.stack([rounded.norm(dim=1).max(), (rounded - keys.float()).norm(dim=1).max(),
                        keys.float().norm(dim=1).max()])


def query_bound(query: torch.Tensor, screen_query: torch.Tensor,
                norms: torch.Tensor) -> torch.Tensor:
    """Per-query bound ``A`` on the screening error, without the final rounding term.

    Args:
        query: (n, D) float32 query features.
        screen_query: (n, D + 1) their bfloat16 screening copies.
        norms: (E, 3) :func:`context_norms` of the context frames.

    Returns:
        (n,) float32 bound, float32 rounding of the exact scores included.
    """
    rounded = screen_query[:, :-1].float()  # (n, D)
    dim = query.shape[1]
    key_norm, key_error, exact_key_norm = norms.amax(dim=0)
    query_norm = query.float().norm(dim=1)
    inputs = (rounded - query.float()).norm(dim=1) * key_norm + query_norm * key_error
    accumulation = 2 * (dim + 2) * UNIT_FP32 * (rounded.norm(dim=1) * key_norm + 1)
    exact_rounding = 2 * dim * UNIT_FP32 * query_norm * exact_key_norm
    return inputs + accumulation + exact_rounding


def screen_threshold(kth_screened: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
    """Screened score below which a candidate cannot be in the float32 top-k.

    Args:
        kth_screened: (n,) k-th best screened score ``S_k`` (bfloat16 or float32), or a lower
            bound of it; ``-inf`` when fewer than k candidates exist.
        bound: (n,) :func:`query_bound`.

    Returns:
        (n,) bfloat16 thresholds, rounded down (a candidate is kept iff ``S >= tau``).
    """
    kth = kth_screened.float()
    lower = kth - OUTPUT_ROUNDING * kth.abs() - bound  # L - 1: k candidates have c - 1 >= it
    # Excluded iff S + r|S| < lower - bound =: x, i.e. S < x / (1 - r) if x <= 0 (S < 0 there)
    # and S < x / (1 + r) if x > 0.
    x = lower - bound
    tau = torch.where(x > 0, x / (1 + OUTPUT_ROUNDING), x / (1 - OUTPUT_ROUNDING))
    tau = tau - 4 * UNIT_FP32 * tau.abs()  # this float32 arithmetic's own rounding
    rounded = tau.to(torch.bfloat16)  # to nearest: one bfloat16 step too high at most
    down = torch.nextafter(rounded, torch.full_like(rounded, float("-inf")))
    return torch.where(rounded.float() > tau, down, rounded)


def kth_lower_bound(scores: torch.Tensor, free_width: int, restricted: int,
                    count: int) -> torch.Tensor:
    """A lower bound of each row's ``count``-th best score, cheaper than a full top-k.

    The best score of every band cell over the restricted slots (one strided maximum) and the
    free frame-0 columns are distinct candidates, so the ``count``-th best of them is at most
    the row's ``count``-th best score.

    Args:
        scores: (n, L) screened scores: ``free_width`` frame-0 columns, then ``restricted``
            slots of the band.
        free_width: Leading frame-0 columns.
        restricted: Restricted slots after them.
        count: Which best score to bound.

    Returns:
        (n,) lower bounds (``-inf`` where fewer than ``count`` candidates exist).
    """
    parts = [scores[:, :free_width]]
    if restricted:
        parts.append(scores[:, free_width:].unflatten(1, (restricted, -1)).amax(dim=1))
    pool = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]  # (n, P)
    if pool.shape[1] < count:
        return torch.full(pool.shape[:1], float("-inf"), device=scores.device)
    return pool.topk(count, dim=1).values[:, -1].float()


def certified_candidates(
    query: torch.Tensor,
    screen_query: torch.Tensor,
    keys: torch.Tensor,
    screen_keys: torch.Tensor,
    first_free: int,
    band: slice,
    bias: torch.Tensor,
    count: int,
    bound: torch.Tensor,
) -> Candidates:
    """The ``count`` best float32 candidates of a query chunk, screened in bfloat16.

    Args:
        query: (n, D) float32 query features.
        screen_query: (n, D + 1) their bfloat16 screening copies.
        keys: (E, M, D) float32 context features, slot 0 = frame 0.
        screen_keys: (E, M, D + 1) bfloat16 screening copies of ``keys``.
        first_free: Copies of frame 0 that ignore the radius (see
            :func:`~vprop.propagation.affinity.band_candidates`).
        band: Context cells that can be in the neighbourhood of a query of the chunk.
        bias: (n, B) bfloat16 band mask (0 inside the radius, -inf outside).
        count: Candidates kept per query.
        bound: (n,) :func:`query_bound` of the chunk's queries.

    Returns:
        (n, count) candidates with float32 affinities, best first.
    """
    band_width = band.stop - band.start
    scores, free_width = score_candidates(screen_query, screen_keys, first_free, band, bias)
    restricted = (scores.shape[1] - free_width) // band_width
    tau = screen_threshold(kth_lower_bound(scores, free_width, restricted, count), bound)
    # A column is re-scored when it may be in the top-k of any query of the chunk.
    kept = (scores >= tau[:, None]).view(torch.uint8).amax(dim=0).nonzero().squeeze(1)  # (U,)
    ids = candidate_ids(kept, free_width, first_free, band, keys.shape[1])  # (U,)
    # F.embedding is a far faster row gather than indexing on CPU.
    exact = query @ F.embedding(ids, keys.flatten(0, 1)).T  # (n, U) float32
    band_cell = (kept - free_width).clamp(min=0) % band_width
    column_bias = bias.index_select(1, band_cell).float()
    exact += torch.where(kept < free_width, 0.0, column_bias)
    if exact.shape[1] < count:  # tiny grids: pad with impossible (-inf) candidates
        exact = F.pad(exact, (0, count - exact.shape[1]), value=float("-inf"))
        ids = F.pad(ids, (0, count - ids.shape[0]), value=0)
    values, order = exact.topk(count, dim=1)
    return Candidates(values, ids[order])
