"""Meta's ``segment-anything`` checkpoints (``sam_vit_b_01ec64.pth``, ``sam_vit_l_0b3195.pth``,
``sam_vit_h_4b8939.pth``) loaded into transformers' ``SamModel`` offline, without the segment-anything package (which
needs torchvision). The parameter names are renamed as in transformers' own converter (``convert_sam_to_hf.py``);
the image processor is SAM's standard one (1024 px, ImageNet mean/std).
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from transformers import SamConfig, SamModel, SamVisionConfig

#: Meta name fragment -> transformers name fragment, applied in this order.
RENAMES = (
    ("iou_prediction_head.layers.0", "iou_prediction_head.proj_in"),
    ("iou_prediction_head.layers.1", "iou_prediction_head.layers.0"),
    ("iou_prediction_head.layers.2", "iou_prediction_head.proj_out"),
    ("mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"),
    ("mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"),
    ("mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"),
    ("mask_downscaling.0", "mask_embed.conv1"),
    ("mask_downscaling.1", "mask_embed.layer_norm1"),
    ("mask_downscaling.3", "mask_embed.conv2"),
    ("mask_downscaling.4", "mask_embed.layer_norm2"),
    ("mask_downscaling.6", "mask_embed.conv3"),
    ("point_embeddings", "point_embed"),
    ("pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"),
    ("image_encoder", "vision_encoder"),
    ("neck.0", "neck.conv1"),
    ("neck.1", "neck.layer_norm1"),
    ("neck.2", "neck.conv2"),
    ("neck.3", "neck.layer_norm2"),
    ("patch_embed.proj", "patch_embed.projection"),
    (".norm", ".layer_norm"),
    ("blocks", "layers"),
)
#: The hypernetwork MLPs' three linear layers: layers.0 / layers.1 / layers.2 -> proj_in / layers.0 / proj_out.
_HYPERNETWORK = re.compile(r"(.*output_hypernetworks_mlps\.\d+\.)layers\.(\d)(\..*)")
_HYPERNETWORK_NAMES = {"0": "proj_in", "1": "layers.0", "2": "proj_out"}
#: ViT image encoders by width: layers, heads, global-attention layers.
VARIANTS = {768: (12, 12, [2, 5, 8, 11]), 1024: (24, 16, [5, 11, 17, 23]), 1280: (32, 16, [7, 15, 23, 31])}


def rename_meta_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A segment-anything state dict -> the transformers ``SamModel`` names (pixel mean/std are dropped)."""
    out = {}
    for key, value in state.items():
        if key in ("pixel_mean", "pixel_std"):
            continue
        for old, new in RENAMES:
            key = key.replace(old, new)
        match = _HYPERNETWORK.match(key)
        if match:
            key = f"{match[1]}{_HYPERNETWORK_NAMES[match[2]]}{match[3]}"
        out[key] = value
    out["shared_image_embedding.positional_embedding"] = out["prompt_encoder.shared_embedding.positional_embedding"]
    return out


def meta_config(state: dict[str, torch.Tensor]) -> SamConfig:
    """The SamConfig of a ViT-B/L/H checkpoint, read from its patch-embedding width."""
    width = state["image_encoder.patch_embed.proj.weight"].shape[0]
    if width not in VARIANTS:
        raise ValueError(f"unknown SAM image encoder width {width} (ViT-B/L/H have {sorted(VARIANTS)})")
    layers, heads, global_attention = VARIANTS[width]
    return SamConfig(vision_config=SamVisionConfig(hidden_size=width, num_hidden_layers=layers,
                                                   num_attention_heads=heads, global_attn_indexes=global_attention))


def load_meta_checkpoint(path: str | Path, config: SamConfig | None = None) -> SamModel:
    """A Meta ``.pth`` checkpoint -> ``SamModel`` (every parameter must match; ``config`` defaults to the variant's)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = SamModel(config or meta_config(state))
    model.load_state_dict(rename_meta_state(state), strict=True)
    return model.eval()
