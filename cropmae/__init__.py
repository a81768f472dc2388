"""CropMAE / SiamMAE pretraining (``vprop pretrain``).

Modules: ``model`` (Siamese encoder + cross-attention decoder), ``masking``, ``pos_embed``,
``crops`` (view-pair strategies, boxes returned), ``video`` (PyAV / decord frame access),
``sources`` (images, videos, frame folders), ``data`` (seeded pair dataset, resumable
sampler), ``config`` (all options, paper defaults), ``factory``, ``schedule``, ``train``
(the engine), ``distributed`` (torchrun), ``checkpointing`` (vprop-pretrain format),
``recon_viz`` (Fig. 3 panel), ``davis_hook`` (J&F during training), ``bench``.
"""
