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
column band, so ``band`` is a contiguous range that skips far columns). The joint top-k is the
top-k of the per-slot top-k lists, so no (queries x all candidates) matrix is ever built.
"""

from __future__ import annotations

import torch


def _merge_topk(
    values: torch.Tensor, cells: torch.Tensor, slots: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Joint top-k of per-slot top-k lists: (n, L) each -> (n, k) values, cells, slots."""
    best, where = values.topk(min(k, values.shape[1]), dim=1)  # (n, k)
    return best, cells.gather(1, where), slots.gather(1, where)


def topk_label_transfer(
    query: torch.Tensor,
    keys: torch.Tensor,
    labels: torch.Tensor,
    first_free: int,
    first_restricted: int,
    inradius: torch.Tensor,
    band: slice,
    topk: int,
    temperature: float,
) -> torch.Tensor:
    """Predict soft labels of query cells from their top-k most similar context cells.

    Args:
        query: (n, D) L2-normalised features of the query cells.
        keys: (E, M, D) L2-normalised features of the E distinct context frames, slot 0 = frame 0.
        labels: (E, M, C) soft labels of the context cells.
        first_free: Copies of frame 0 that ignore the radius (long-term memory).
        first_restricted: Copies of frame 0 restricted by the radius (queue padding).
        inradius: (n, M) bool, whether context cell j lies in the neighbourhood of query i.
        band: Context cells that can be in the neighbourhood of any query (superset).
        topk: Number of (expanded) candidates kept per query.
        temperature: Softmax temperature on the cosine affinities.

    Returns:
        (n, C) soft labels, each row a convex combination of context labels.
    """
    num_slots, cells, _ = keys.shape
    outside = ~inradius[:, band]  # (n, B)
    band_cells = torch.arange(cells, device=query.device)[band]  # (B,)
    k_band = min(topk, band_cells.numel())
    parts_values, parts_cells, parts_slots = [], [], []
    first_slot = 0
    if first_free > 0:  # frame 0 scored on every cell: all of them are candidates
        affinity = (query @ keys[0].T).float()  # (n, M)
        values, index = affinity.topk(min(topk, cells), dim=1)
        parts_values.append(values)
        parts_cells.append(index)
        parts_slots.append(torch.zeros_like(index))
        first_slot = 1
    if first_slot < num_slots:  # restricted slots: only the band, outside the radius -> -inf
        band_keys = keys[first_slot:, band]  # (E', B, D) view, no copy
        affinity = torch.matmul(query, band_keys.transpose(1, 2)).float()  # (E', n, B)
        affinity.masked_fill_(outside, float("-inf"))
        values, index = affinity.topk(k_band, dim=2)  # (E', n, k)
        slots = torch.arange(first_slot, num_slots, device=query.device)
        parts_values.append(values.permute(1, 0, 2).flatten(1))  # (n, E'*k)
        parts_cells.append(band_cells[index].permute(1, 0, 2).flatten(1))
        parts_slots.append(slots[:, None, None].expand_as(index).permute(1, 0, 2).flatten(1))
    values, cell_of, slot_of = _merge_topk(
        torch.cat(parts_values, 1), torch.cat(parts_cells, 1), torch.cat(parts_slots, 1), topk
    )  # (n, k) each, values sorted descending

    free = torch.zeros(num_slots, dtype=torch.long, device=query.device)
    restricted = torch.ones(num_slots, dtype=torch.long, device=query.device)
    free[0], restricted[0] = first_free, first_restricted
    multiplicity = free[slot_of] + restricted[slot_of] * inradius.gather(1, cell_of)  # (n, k)
    taken_before = multiplicity.cumsum(dim=1) - multiplicity
    count = (topk - taken_before).clamp(min=0).minimum(multiplicity)  # (n, k) copies kept
    logits = (values - values[:, :1]) / temperature  # (n, k); max-shift for stability
    weights = count * logits.exp()
    weights = weights / weights.sum(dim=1, keepdim=True)  # (n, k)

    picked = labels[slot_of, cell_of]  # (n, k, C)
    return (weights.unsqueeze(-1) * picked).sum(dim=1)  # (n, C)
