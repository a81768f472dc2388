"""Top-k affinity label transfer over a multiset of context frames.

Reference implementations (CRW, CropMAE) pad the start of a video with copies of frame 0, so
one context frame can appear many times in the candidate set of the joint top-k, and the copies
differ only in whether the spatial radius applies to them. Recomputing identical affinities per
copy is wasteful; here each *distinct* context frame is scored once. Frame 0 (slot 0) carries
two multiplicities, ``first_free`` copies that every query may attend to and
``first_restricted`` copies limited to the radius; every other slot is one restricted copy.
A candidate (slot ``e``, cell ``j``) for query ``i`` therefore appears
``free[e] + restricted[e] * inradius[i, j]`` times. The top-k of the expanded multiset equals
the top-k distinct candidates with their cumulative multiplicity clipped at k, and the softmax
over the expanded k values weights each distinct candidate by its count.

Restricted slots are only scored on ``band``, the context cells that can lie within the radius
of some query of the chunk (the propagator orders cells column-major and chunks queries by
column band, so ``band`` is a contiguous range that skips far columns). All candidates of a
chunk are scored into one (n, L) matrix, one matrix product per slot, and a single joint top-k
picks the winners (:func:`band_candidates`); the labels of all chunks' winners are then mixed
in one pass (:func:`transfer_labels`).

Screening (optional): the candidates can be scored with low-precision copies of the features
(:func:`screen_features`, bfloat16 with a -1 offset column so that the product's rounding is
relative to ``cos - 1``, near zero for good matches). The best ``candidates`` of that screen are
re-scored exactly in float32 and the top-k is taken among them, so the weights and labels are
always float32; only which candidates enter the re-scoring is decided in low precision.
``candidates`` is :data:`~vprop.propagation.presets.SCREEN_FACTOR` times the top-k.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

SCREEN_DTYPE = torch.bfloat16
# bfloat16 products on a CPU run as oneDNN kernels, JIT-compiled and cached per shape, output
# row stride included: screening rows are padded to a multiple of this many elements so that a
# growing context does not compile (and keep, ~1 MB each) a kernel for every context size.
ROW_QUANTUM = 8192


class FirstFrameCopies(NamedTuple):
    """How many times frame 0 (context slot 0) stands in the expanded candidate multiset.

    Attributes:
        free: Copies every query may attend to, whatever the distance (long-term memory).
        restricted: Copies limited to the radius (queue padding, and the long-term copy when
            the preset restricts it).
    """

    free: int
    restricted: int


class Rescore(NamedTuple):
    """Screening only: the float32 features the screened candidates are re-scored with.

    Attributes:
        query: (n, D) float32 query features of the chunk.
        keys: (E, M, D) float32 context features.
        keep: Candidates returned after the exact re-ranking (the preset's top-k).
    """

    query: torch.Tensor
    keys: torch.Tensor
    keep: int


class Candidates(NamedTuple):
    """The best distinct candidates of a set of queries.

    Attributes:
        values: (n, K) affinities, sorted descending (-inf: outside the radius / padding).
        ids: (n, K) candidate ids ``slot * M + cell``.
    """

    values: torch.Tensor
    ids: torch.Tensor

    @staticmethod
    def cat(chunks: list[Candidates]) -> Candidates:
        """Stack the candidates of consecutive query chunks (rows in chunk order)."""
        return Candidates(torch.cat([chunk.values for chunk in chunks]),
                          torch.cat([chunk.ids for chunk in chunks]))


def screen_features(features: torch.Tensor, offset: float) -> torch.Tensor:
    """Low-precision screening copy of (..., D) features with an offset column appended.

    Args:
        features: (..., D) float32 features.
        offset: Value of the appended column: ``1`` for queries, ``-1`` for keys, so that the
            screened product is ``q . k - 1`` accumulated before the single rounding.

    Returns:
        (..., D + 1) bfloat16 tensor.
    """
    column = torch.full((*features.shape[:-1], 1), offset, dtype=features.dtype,
                        device=features.device)
    return torch.cat([features, column], dim=-1).to(SCREEN_DTYPE)


def band_bias(inradius: torch.Tensor, band: slice, dtype: torch.dtype) -> torch.Tensor:
    """(n, B) additive mask of a query chunk on its context band: 0 inside, -inf outside."""
    inside = inradius[:, band]
    bias = torch.zeros(inside.shape, dtype=dtype, device=inradius.device)
    return bias.masked_fill_(~inside, float("-inf"))


def score_candidates(
    query: torch.Tensor, keys: torch.Tensor, first_free: int, band: slice, bias: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """Score every candidate of a query chunk into one (n, L) matrix.

    Columns ``[0, M)`` hold frame 0 on all cells when ``first_free`` (else none); then each
    restricted slot follows on the band, with ``bias`` added (-inf outside the radius).

    Returns:
        The (n, L) scores and the number of leading frame-0 columns.
    """
    num_slots, cells, _ = keys.shape
    first_slot = 1 if first_free > 0 else 0
    free_width = cells if first_free > 0 else 0
    band_width = band.stop - band.start
    restricted = num_slots - first_slot
    width = free_width + restricted * band_width
    stride = width
    if query.dtype == SCREEN_DTYPE:  # see ROW_QUANTUM
        stride = -(-width // ROW_QUANTUM) * ROW_QUANTUM
    scores = torch.empty(query.shape[0], stride, dtype=query.dtype,
                         device=query.device)[:, :width]  # (n, L)
    if first_free > 0:
        torch.mm(query, keys[0].T, out=scores[:, :cells])
    for index in range(restricted):
        start = free_width + index * band_width
        torch.mm(query, keys[first_slot + index, band].T,
                 out=scores[:, start:start + band_width])
    if restricted:
        scores[:, free_width:].view(-1, restricted, band_width).add_(bias[:, None, :])
    return scores, free_width


def candidate_ids(columns: torch.Tensor, free_width: int, first_free: int, band: slice,
                  cells: int) -> torch.Tensor:
    """Candidate ids ``slot * M + cell`` of columns of a :func:`score_candidates` matrix.

    Args:
        columns: Column indices into the (n, L) score matrix (any shape).
        free_width: Its leading frame-0 columns (every cell).
        first_free: Copies of frame 0 that ignore the radius (> 0: slot 0 is those columns).
        band: The context cells each restricted slot was scored on.
        cells: Cells per context frame (M).

    Returns:
        Ids of the same shape as ``columns``.
    """
    band_width = band.stop - band.start
    restricted_pos = (columns - free_width).clamp(min=0)
    first_slot = 1 if first_free > 0 else 0
    restricted_id = ((first_slot + restricted_pos // band_width) * cells
                     + band.start + restricted_pos % band_width)
    return torch.where(columns < free_width, columns, restricted_id)


def band_candidates(
    query: torch.Tensor,
    keys: torch.Tensor,
    first_free: int,
    band: slice,
    bias: torch.Tensor,
    count: int,
    rescore: Rescore | None = None,
) -> Candidates:
    """The ``count`` best-scoring distinct candidates of a chunk of query cells.

    Args:
        query: (n, D) query features in the scoring dtype (float32, or screening copies).
        keys: (E, M, D) context features in the same dtype, slot 0 = frame 0.
        first_free: Copies of frame 0 that ignore the radius; when > 0 frame 0 is scored on
            every cell, otherwise it is one more restricted slot.
        band: Contiguous context cells that can be in the neighbourhood of a query of the chunk.
        bias: (n, B) additive mask of the band (see :func:`band_bias`), in the scoring dtype.
        count: Candidates kept per query.
        rescore: Screening only: the ``count`` screened candidates are re-scored exactly with
            these float32 features and the best ``rescore.keep`` returned.

    Returns:
        (n, count) or (n, keep) candidates, best first.
    """
    scores, free_width = score_candidates(query, keys, first_free, band, bias)
    scored, cells = scores.shape[1], keys.shape[1]
    if scored < count:  # tiny grids: pad with impossible (-inf) candidates
        scores = F.pad(scores, (0, count - scored), value=float("-inf"))
    values, flat = scores.topk(count, dim=1)  # (n, count)
    flat = flat.clamp(max=scored - 1)  # padding -> any real candidate; its -inf value stays
    candidate = candidate_ids(flat, free_width, first_free, band, cells)
    if rescore is None:
        return Candidates(values, candidate)
    return _rescored(Candidates(values, candidate), Rescore(*rescore))


def _rescored(screened: Candidates, rescore: Rescore) -> Candidates:
    """Exact float32 affinities of screened candidates, re-ranked; the best ``keep`` kept."""
    # F.embedding is a far faster row gather than index_select/indexing on CPU.
    picked = F.embedding(screened.ids, rescore.keys.flatten(0, 1))  # (n, count, D)
    exact = (picked.float() * rescore.query.float().unsqueeze(1)).sum(-1)  # (n, count)
    exact.masked_fill_(screened.values.isneginf(), float("-inf"))  # outside radius / padding
    values, order = exact.topk(min(rescore.keep, exact.shape[1]), dim=1)  # (n, k) sorted
    return Candidates(values, screened.ids.gather(1, order))


def transfer_labels(
    candidates: Candidates,
    labels: torch.Tensor,
    copies: FirstFrameCopies,
    inradius: torch.Tensor,
    topk: int,
    temperature: float,
) -> torch.Tensor:
    """Soft labels of query cells from their best candidates, counting frame-0 copies.

    Args:
        candidates: (n, K) exact affinities, sorted descending, and their ids (from
            :func:`band_candidates`).
        labels: (E, M, C) soft labels of the E distinct context frames, slot 0 = frame 0.
        copies: Multiplicity of frame 0 (every other slot is one restricted copy).
        inradius: (n, M) bool, whether context cell j lies in the neighbourhood of query i.
        topk: Number of (expanded) candidates kept per query.
        temperature: Softmax temperature on the cosine affinities.

    Returns:
        (n, C) soft labels, each row a convex combination of context labels.
    """
    slots, cells = labels.shape[:2]
    slot_of, cell_of = candidates.ids // cells, candidates.ids % cells
    free = torch.zeros(slots, dtype=torch.long, device=labels.device)
    restricted = torch.ones(slots, dtype=torch.long, device=labels.device)
    free[0], restricted[0] = copies.free, copies.restricted
    multiplicity = free[slot_of] + restricted[slot_of] * inradius.gather(1, cell_of)  # (n, K)
    values = candidates.values.float()

    taken_before = multiplicity.cumsum(dim=1) - multiplicity
    count = (topk - taken_before).clamp(min=0).minimum(multiplicity)  # (n, k) copies kept
    logits = (values - values[:, :1]) / temperature  # (n, k); max-shift for stability
    weights = count * logits.exp()
    weights = weights / weights.sum(dim=1, keepdim=True)  # (n, k)

    picked = F.embedding(candidates.ids, labels.flatten(0, 1))  # (n, k, C)
    return (weights.unsqueeze(-1) * picked).sum(dim=1)  # (n, C)
