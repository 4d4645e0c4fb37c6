"""Which input drives a score: attention read-outs and Captum attributions over tokens, summed
per input group and compared with a planted truth (Chapter 8).

:mod:`~mmrs.attribution.attention`  raw last-layer attention and attention rollout.
:mod:`~mmrs.attribution.methods`    integrated gradients (with its completeness check), token
occlusion and modality ablation, through Captum.
:mod:`~mmrs.attribution.groups`     token importances → group shares → rank correlation with
the planted weights.
"""

from .attention import last_layer, rollout
from .groups import group_shares, rank_agreement
from .methods import integrated_gradients, modality_ablation, token_occlusion

__all__ = ["group_shares", "integrated_gradients", "last_layer", "modality_ablation",
           "rank_agreement", "rollout", "token_occlusion"]
