"""Top-k affinity label transfer over a multiset of context frames.

Reference implementations (CRW, CropMAE) pad the start of a video with copies of frame 0, so
one context frame can appear many times in the candidate set of the joint top-k, and the copies
differ only in whether the spatial radius applies to them. Recomputing identical affinities per
copy is wasteful; here each *distinct* context frame is scored once and carries two
multiplicities:

* ``free[e]``: copies of frame ``e`` that every query may attend to (no radius), and
* ``restricted[e]``: copies that only queries within the radius may attend to.

A candidate (frame ``e``, cell ``j``) for query ``i`` therefore appears
``free[e] + restricted[e] * inradius[i, j]`` times. Taking the top-k of the expanded multiset
equals taking the top-k distinct candidates and clipping their cumulative multiplicity at k,
and the softmax over the expanded k values weights each distinct candidate by its count.
"""

from __future__ import annotations

import torch


def topk_label_transfer(
    query: torch.Tensor,
    keys: torch.Tensor,
    labels: torch.Tensor,
    free: torch.Tensor,
    restricted: torch.Tensor,
    inradius: torch.Tensor,
    topk: int,
    temperature: float,
) -> torch.Tensor:
    """Predict soft labels of query cells from their top-k most similar context cells.

    Args:
        query: (n, D) L2-normalised features of the query cells.
        keys: (E, M, D) L2-normalised features of the E distinct context frames.
        labels: (E, M, C) soft labels of the context cells.
        free: (E,) int copies of each frame not restricted by the radius.
        restricted: (E,) int copies of each frame restricted by the radius.
        inradius: (n, M) bool, whether context cell j lies in the neighbourhood of query i.
        topk: Number of (expanded) candidates kept per query.
        temperature: Softmax temperature on the cosine affinities.

    Returns:
        (n, C) soft labels, each row a convex combination of context labels.
    """
    num_frames, cells, _ = keys.shape
    affinity = query @ keys.reshape(num_frames * cells, -1).T  # (n, E*M)
    affinity = affinity.float().view(-1, num_frames, cells)  # (n, E, M)
    outside = ~inradius[:, None, :]  # (n, 1, M)
    only_restricted = (free == 0).nonzero().flatten().tolist()
    if len(only_restricted) == num_frames:
        affinity.masked_fill_(outside, float("-inf"))
    else:
        for frame in only_restricted:
            affinity[:, frame].masked_fill_(outside[:, 0], float("-inf"))
    affinity = affinity.view(affinity.shape[0], -1)  # (n, E*M)

    k = min(topk, affinity.shape[1])
    values, index = affinity.topk(k, dim=1)  # (n, k), sorted descending
    frame_of, cell_of = index // cells, index % cells  # (n, k)
    multiplicity = free[frame_of] + restricted[frame_of] * inradius.gather(1, cell_of)  # (n, k)
    taken_before = multiplicity.cumsum(dim=1) - multiplicity
    count = (topk - taken_before).clamp(min=0).minimum(multiplicity)  # (n, k) copies kept
    logits = (values - values[:, :1]) / temperature  # (n, k); max-shift for stability
    weights = count * logits.exp()
    weights = weights / weights.sum(dim=1, keepdim=True)  # (n, k)

    flat_labels = labels.reshape(num_frames * cells, -1)  # (E*M, C)
    picked = flat_labels[index]  # (n, k, C)
    return (weights.unsqueeze(-1).to(picked.dtype) * picked).sum(dim=1)  # (n, C)
