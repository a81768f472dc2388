"""CropMAE / SiamMAE pretraining (``vprop pretrain``).

Modules: ``model`` (Siamese encoder + cross-attention decoder), ``masking``, ``pos_embed``,
``crops`` (view-pair strategies, boxes returned), ``video`` (PyAV / decord frame access),
``sources`` (images, videos, frame folders), ``data`` (seeded pair dataset, resumable
sampler), ``config`` (all options, paper defaults), ``factory``, ``schedule``, ``train``
(entry point: lock, resume point, data discovery), ``trainer`` (the engine), ``run_folder``
(checkpoint names, resume discovery), ``runlog`` (bar, logs, summaries), ``distributed``
(torchrun), ``checkpointing`` (training state <-> the vprop-pretrain format of
:mod:`vprop.checkpoints.vprop_format`), ``recon_viz`` (Fig. 3 panel), ``davis_hook`` (J&F
during training), ``bench``.
"""
