#!/usr/bin/env python3
"""Generate the PyTorch fixtures (test-models/torch_*/): small seeded PyTorch models exported
by a real exporter, torch.onnx.export, so the ONNX translator sees what PyTorch writes
(Conv with BatchNorm folded in, `/layer/Conv` node names, `onnx::` initializers, Shape/Gather
arithmetic for `view`, Resize for nn.Upsample, a dynamic batch dimension).

Run with the PyTorch venv (torch, onnx, onnxruntime; `bash scripts/setup.sh --onnx` creates it):

    ~/.cache/tf2h5/venv-torch/bin/python test-models/generate_torch.py [--out test-models]

Export: the TorchScript-based exporter (`dynamo=False`, still in torch 2.15 although
deprecated), opset 17, constant folding on, the model in eval() mode, input `x` and output `y`
with a dynamic batch dimension `N`. For every case it writes `<out>/<case>/`:

* `model.onnx` - the exported model (checked with onnx.checker, full_check);
* `x.npy`      - 4 seeded standard-normal samples, NCHW float32;
* `y.npy`      - onnxruntime's output for it, asserted equal to PyTorch's own (eval mode)
  within 1e-5; onnxruntime is also run on one sample to check the batch dimension is dynamic;
* `meta.json`  - as generate_onnx.py's (`"format": "onnx"`, `"layout": "NCHW"`) plus
  `"source"` (torch version and exporter).

Weights: torch's default initialisation under `torch.manual_seed`, then every BatchNorm's
gamma, beta, running mean and running variance (0.05..1.0) set from a seeded
numpy.random.RandomState, so folding BatchNorm into the convolutions (which the exporter does
for a BatchNorm right after a Conv) changes the weights, and a wrong epsilon shows.
Deterministic: running it twice gives byte-identical files. `--cases a b` regenerates a subset.
"""

import argparse
import collections
import io
import json
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn
from torch.nn import functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 4
OPSET = 17
ATOL = 1e-5


class BasicBlock(nn.Module):
    """ResNet's BasicBlock without downsampling: two 3x3 conv + BN, residual add, ReLU."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class ResNetBlock(nn.Module):
    """torchvision ResNet's stem (with a 3x3 stride-2 conv) + one BasicBlock + head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = BasicBlock(16)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class SqueezeExcite(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, r, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(r, c, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))


class MobileBlock(nn.Module):
    """MobileNetV3 pieces, a U-Net-like upsample + skip concat and a `view` flatten."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(8), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False),
                                nn.BatchNorm2d(8), nn.ReLU())
        self.se = SqueezeExcite(8, 4)
        self.project = nn.Sequential(nn.Conv2d(8, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU6())
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fc = nn.Linear(12 * 12 * 12, 10)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        skip = self.stem(x)                                     # 8 x 12 x 12
        t = self.project(self.se(self.dw(skip)))                # 4 x 6 x 6
        t = torch.cat([self.up(t), skip], dim=1)                # 12 x 12 x 12
        t = t.view(t.size(0), -1)                               # NCHW (channel-major) order
        return self.softmax(self.fc(t))


class DenseBlock(nn.Module):
    """DenseNet pieces: pre-activation BatchNorm (not after a Conv, so it stays a
    BatchNormalization node), concat growth, transition with average pooling; SiLU, Dropout."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layer = nn.Sequential(nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 1, bias=False),
                                   nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1, bias=False))
        self.transition = nn.Sequential(nn.BatchNorm2d(12), nn.ReLU(), nn.Conv2d(12, 8, 1, bias=False),
                                        nn.AvgPool2d(2, stride=2))
        self.act = nn.SiLU()
        self.dropout = nn.Dropout(0.2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)                                        # 8 x 16 x 16
        x = torch.cat([x, self.layer(x)], dim=1)                # 12 x 16 x 16
        x = self.dropout(self.act(self.transition(x)))          # 8 x 8 x 8
        return self.fc(self.flatten(self.pool(x)))


class GroupedBlock(nn.Module):
    """ResNeXt/GoogLeNet/MNASNet pieces: a grouped convolution with several channels per group,
    a ceil_mode max pool with a partial last window, and a mean over H and W (ReduceMean)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.grouped = nn.Sequential(nn.Conv2d(16, 24, 3, padding=1, groups=4, bias=False), nn.BatchNorm2d(24), nn.ReLU())
        self.fc = nn.Linear(24, 6)

    def forward(self, x):
        x = self.pool(self.stem(x))                             # 16 x 8 x 8 (floor mode: 7)
        x = self.grouped(x)                                     # 24 x 8 x 8, 4 groups of 4 -> 6
        return self.fc(x.mean([2, 3]))


class ConvNeXtBlock(nn.Module):
    """torchvision ConvNeXt pieces: patchify stem + channels-first LayerNorm (permute, LN,
    permute), a block (depthwise 7x7, permute to NHWC, LayerNorm, Linear, exact GELU, Linear,
    layer scale, permute back, residual), and a head LayerNorm on (N, C)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.stem_norm = nn.LayerNorm(16, eps=1e-6)
        self.dwconv = nn.Conv2d(16, 16, 7, padding=3, groups=16)
        self.norm = nn.LayerNorm(16, eps=1e-6)
        self.pwconv1 = nn.Linear(16, 64)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(64, 16)
        self.layer_scale = nn.Parameter(torch.rand(16) + 0.5)
        self.head_norm = nn.LayerNorm(16, eps=1e-6)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.stem(x)                                                      # 16 x 4 x 4
        x = self.stem_norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        y = self.dwconv(x).permute(0, 2, 3, 1)                                # N, 4, 4, 16
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        x = x + (self.layer_scale * y).permute(0, 3, 1, 2)
        return self.fc(self.head_norm(x.mean([2, 3])))


class VitStem(nn.Module):
    """A ViT stem without attention: patch Conv2d, tokens (flatten, transpose), a learned
    position embedding (1, 16, 32), LayerNorm over the channels and over (tokens, channels),
    an exact-GELU MLP with residual, softmax over the tokens."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 4, stride=4)
        self.position = nn.Parameter(torch.randn(1, 16, 32) * 0.5)
        self.norm = nn.LayerNorm(32, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))
        self.token_norm = nn.LayerNorm([16, 32], eps=1e-5)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2) + self.position         # N, 16, 32
        x = x + self.mlp(self.norm(x))
        return torch.softmax(self.token_norm(x), dim=1)


class Attention(nn.Module):
    """Multi-head self-attention as Hugging Face BERT/ViT and timm write it, batch first:
    query/key/value Linears, view(N, S, heads, dim).transpose(1, 2), softmax(q @ k^T * scale),
    (p @ v).transpose(1, 2).reshape(N, S, C), the output Linear."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        n, s, c = x.shape
        split = lambda t: t.view(n, s, self.heads, c // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        p = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)
        return self.out((p @ v).transpose(1, 2).reshape(n, s, c))


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder block: attention and an exact-GELU MLP, each residual."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1, self.attention = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VitTiny(nn.Module):
    """A ViT-tiny: patch Conv2d, a learned class token (expanded over the batch, concatenated
    first), learned positions, 2 encoder blocks, the final LayerNorm and a head on the class
    token."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 4, stride=4)
        self.token = nn.Parameter(torch.randn(1, 1, 32) * 0.5)
        self.position = nn.Parameter(torch.randn(1, 17, 32) * 0.5)
        self.blocks = nn.Sequential(EncoderBlock(32, 2, 64), EncoderBlock(32, 2, 64))
        self.norm = nn.LayerNorm(32, eps=1e-6)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)                          # N, 16, 32
        x = torch.cat([self.token.expand(x.shape[0], -1, -1), x], 1) + self.position
        return self.head(self.norm(self.blocks(x))[:, 0])


class Decoder(nn.Module):
    """A convolutional autoencoder's decoder side: ConvTranspose2d in three paddings."""

    def __init__(self):
        super().__init__()
        self.encode = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
                                    nn.BatchNorm2d(8), nn.ReLU())
        # DCGAN's upsampling step: k4 s2 p1 doubles the size (TF SAME's padding).
        self.up1 = nn.Sequential(nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1, bias=False),
                                 nn.BatchNorm2d(6), nn.LeakyReLU(0.2))
        # k3 s2 p1 output_padding 1: also doubles, but with the extra cell at the start.
        self.up2 = nn.Sequential(nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1),
                                 nn.ReLU())
        self.out = nn.Sequential(nn.ConvTranspose2d(4, 3, 3, padding=2, dilation=2), nn.Tanh())

    def forward(self, x):
        return self.out(self.up2(self.up1(self.encode(x))))


class UNet(nn.Module):
    """A two-level U-Net: ConvTranspose2d and bilinear upsampling back to skip connections."""

    def __init__(self):
        super().__init__()

        def double_conv(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU())

        self.down1, self.down2, self.bottleneck = double_conv(3, 8), double_conv(8, 12), double_conv(12, 16)
        self.up2 = nn.ConvTranspose2d(16, 12, 2, stride=2)
        self.up2_conv = double_conv(24, 12)
        self.up1_proj = nn.Conv2d(12, 8, 1)
        self.up1_conv = double_conv(16, 8)
        self.mask = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        skip1 = self.down1(x)
        skip2 = self.down2(F.max_pool2d(skip1, 2))
        x = self.bottleneck(F.max_pool2d(skip2, 2))
        x = self.up2_conv(torch.cat([self.up2(x), skip2], 1))
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = self.up1_conv(torch.cat([self.up1_proj(x), skip1], 1))
        return torch.sigmoid(self.mask(x))


class BilinearHead(nn.Module):
    """A segmentation head resized bilinearly in PyTorch's two modes and to a pooled branch."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.pool_proj = nn.Conv2d(8, 4, 1)
        self.fuse = nn.Conv2d(12, 6, 3, padding=1)
        self.classes = nn.Conv2d(9, 4, 1)

    def forward(self, x):
        feats = self.stem(x)  # 5x7
        pooled = torch.relu(self.pool_proj(F.adaptive_avg_pool2d(feats, 1)))
        pooled = F.interpolate(pooled, size=feats.shape[2:], mode="bilinear", align_corners=False)
        y = torch.relu(self.fuse(torch.cat([feats, pooled], 1)))
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)  # 10x14
        y = F.interpolate(y, size=(9, 13), mode="bilinear", align_corners=True)  # shrink
        x = F.interpolate(x, size=(9, 13), mode="bilinear", align_corners=False)
        return self.classes(torch.cat([y, x], 1))


class Conv1dBlock(nn.Module):
    """A 1-D audio front end: Conv1d with padding, dilation and stride, then a mean over time."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(3, 8, 5, padding=2, bias=False), nn.BatchNorm1d(8), nn.ReLU())
        self.dilated = nn.Sequential(nn.Conv1d(8, 8, 3, padding=2, dilation=2), nn.ReLU())
        self.strided = nn.Conv1d(8, 6, 3, stride=2, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = self.strided(self.dilated(self.stem(x)))            # 6 x 12
        return self.fc(x.mean(2))


class Pool1dBlock(nn.Module):
    """1-D pools and grouped 1-D convolutions: max and average pools with and without pads,
    a grouped Conv1d, a depthwise Conv1d (multiplier 2, dilated), global max and average."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3, padding=1)
        self.grouped = nn.Conv1d(6, 6, 3, padding=1, groups=2)
        self.depthwise = nn.Conv1d(6, 12, 3, padding=2, dilation=2, groups=6)
        self.fc = nn.Linear(42, 3)

    def forward(self, x):
        y = torch.relu(self.conv(x))                                          # 6 x 12
        a = F.max_pool1d(y, 3, stride=2, padding=1)                           # 6 x 6
        b = F.avg_pool1d(a, 2)                                                # 6 x 3
        c = F.avg_pool1d(y, 3, stride=1, padding=1, count_include_pad=False)  # 6 x 12
        d = self.depthwise(torch.relu(self.grouped(c)))                       # 12 x 12
        pooled = [b.flatten(1), F.adaptive_max_pool1d(d, 1).flatten(1), F.adaptive_avg_pool1d(d, 1).flatten(1)]
        return self.fc(torch.cat(pooled, 1))


class Pool3dBlock(nn.Module):
    """A 3-D conv block with every 3-D pool: Conv3d, max and average pools (VALID, SAME with
    pads excluded, pads that are SAME only at stride 1), global max and average."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(2, 4, 3, padding=1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y = torch.relu(self.conv(x))                                          # 4 x 6x8x8
        a = F.max_pool3d(y, 2)                                                # 4 x 3x4x4
        b = F.avg_pool3d(a, 3, stride=1, padding=1, count_include_pad=False)  # 4 x 3x4x4
        c = F.max_pool3d(y, 3, stride=2, padding=1)                           # 4 x 3x4x4
        pooled = [F.adaptive_avg_pool3d(b + c, 1).flatten(1), F.adaptive_max_pool3d(y, 1).flatten(1)]
        return self.fc(torch.cat(pooled, 1))


class GroupedDecoder(nn.Module):
    """Grouped transposed convolutions: ConvTranspose2d with groups 2 (k4 s2 p1: TF's SAME) and
    groups 3 (k3 s2 p1 output_padding 1: VALID, then a crop)."""

    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2)
        self.up2 = nn.ConvTranspose2d(6, 6, 3, stride=2, padding=1, output_padding=1, groups=3, bias=False)
        self.head = nn.Conv2d(6, 3, 1)

    def forward(self, x):
        return self.head(torch.relu(self.up2(torch.relu(self.up1(x)))))


class Deconv1dBlock(nn.Module):
    """1-D transposed convolutions: grouped, with output_padding (VALID, then a crop), and
    k4 s2 p1 (TF's SAME)."""

    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.up2 = nn.ConvTranspose1d(6, 3, 4, stride=2, padding=1)

    def forward(self, x):
        return self.up2(torch.relu(self.up1(x)))


class Deconv3dBlock(nn.Module):
    """A 3-D decoder step: ConvTranspose3d k3 s2 p1 output_padding 1 (VALID, then a crop),
    ConvTranspose3d k2 s2 (no pads), Conv3d."""

    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose3d(2, 4, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose3d(4, 3, 2, stride=2, bias=False)
        self.head = nn.Conv3d(3, 2, 1)

    def forward(self, x):
        return self.head(torch.relu(self.up2(torch.relu(self.up1(x)))))


def channel_shuffle(x, groups):
    """torchvision ShuffleNetV2's shuffle: view as (N, groups, C/groups, H, W), swap, flatten."""
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, -1, h, w)


class FocusBlock(nn.Module):
    """YOLOX's Focus stem (every other row and column, four ways, concatenated on the channels:
    Slices with steps 2), a Conv + SiLU, then strided slices of the channels (step 3) and of
    H and W with bounds (rows 0, 3; columns 1, 3)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(12, 8, 3, padding=1), nn.SiLU())

    def forward(self, x):
        x = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)
        y = self.conv(x)                                          # 8 x 5 x 5
        channels = y[:, 1::3]                                     # 3 x 5 x 5
        corners = y[:, :, 0:4:3, 1::2]                            # 8 x 2 x 2
        return torch.cat([channels.flatten(1), corners.flatten(1)], 1)


class ShuffleBlock(nn.Module):
    """ShuffleNetV2 pieces: a channel split (x.chunk(2, dim=1): Slices whose bounds are shape
    arithmetic with Div), a branch (1x1 conv, depthwise 3x3, 1x1 conv), concat, and the
    channel shuffle (5-D view, transpose, view)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 12, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(6, 6, 1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
                                    nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False), nn.BatchNorm2d(6),
                                    nn.Conv2d(6, 6, 1, bias=False), nn.BatchNorm2d(6), nn.ReLU())
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        x = self.stem(x)                                        # 12 x 6 x 6
        kept, branched = x.chunk(2, dim=1)
        x = channel_shuffle(torch.cat((kept, self.branch(branched)), dim=1), 2)
        return self.fc(x.mean([2, 3]))


class LstmClassifier(nn.Module):
    """A sequence classifier: the LSTM's last hidden state (h_n[-1]) through a Linear."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(6, 12, batch_first=True)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        _, (h, _) = self.rnn(x)
        return self.fc(h[-1])


class SequenceTagger(nn.Module):
    """A recurrent layer returning every step, then a Linear on each step."""

    def __init__(self, rnn, features):
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(features, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y)


class Crnn(nn.Module):
    """ddddocr's recognizer in small: conv features (N, C, H, W) permuted to (W, N, C, H) and
    reshaped to a time-major (W, N, C*H) sequence, a bidirectional LSTM (batch_first=False),
    a Linear on every time-major step, then back to batch-first."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.rnn = nn.LSTM(16, 6, bidirectional=True)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        f = self.conv(x)                                        # N x 4 x 4 x 6
        n, c, h, w = f.shape
        y, _ = self.rnn(f.permute(3, 0, 1, 2).reshape(w, n, c * h))
        return self.fc(y).permute(1, 0, 2)


def case_torch_crnn():
    desc = ("CRNN like ddddocr's, (N, 1, 8, 12): Conv2d + BatchNorm + ReLU + MaxPool, then the batch moved "
            "off axis 0: Transpose (3, 0, 1, 2) of (N, C, H, W) and Reshape to a time-major (W, N, C*H) "
            "sequence (its batch size from Shape arithmetic), a bidirectional nn.LSTM(16, 6) (Y Transposed "
            "(0, 2, 1, 3) and Reshaped to (W, N, 12)), Linear(12, 5) on the time-major steps, Transpose "
            "(1, 0, 2) back to batch-first.")
    return Crnn(), (1, 8, 12), desc


class TimeMajorEncoder(nn.Module):
    """A sequence-first encoder (batch_first=False) on batch-first data: the graph input keeps
    the batch first, the encoder runs time-major inside."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x):
        return self.encoder(x.transpose(0, 1)).transpose(0, 1)


def transformer_encoder(batch_first):
    layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0, batch_first=batch_first)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


def case_torch_transformer_encoder():
    desc = ("nn.TransformerEncoder (2 post-norm layers, d_model 32, 4 heads, ReLU feed-forward 64, "
            "batch_first=True), (N, 7, 32): nn.MultiheadAttention transposes to (T, N, E), reshapes q, k, v "
            "to (T, N*4, 8) (the batch merged with the heads) and transposes them to (N*4, T, 8), MatMul, "
            "Softmax, MatMul, back to (T*N, 32) for the output Gemm, then (T, N, 32); LayerNormalization.")
    return transformer_encoder(True), (7, 32), desc


def case_torch_transformer_encoder_seq_first():
    desc = ("nn.TransformerEncoder (2 post-norm layers, d_model 32, 4 heads, ReLU feed-forward 64) with "
            "batch_first=False, run on batch-first (N, 7, 32) data transposed to (T, N, E) and back: the "
            "whole encoder time-major (Linear, LayerNormalization and residuals on a batch on axis 1; the "
            "attention's q, k, v reshaped to (T, N*4, 8)).")
    return TimeMajorEncoder(transformer_encoder(False)), (7, 32), desc


def case_torch_lstm_classifier():
    desc = ("LSTM sequence classifier, (N, 8, 6) batch_first: nn.LSTM(6, 12) (Transpose to time-major, "
            "LSTM with zero initial states from ConstantOfShape), h_n[-1] (Gather on Y_h), Linear(12, 4).")
    return LstmClassifier(), (8, 6), desc


def case_torch_gru_bidirectional():
    desc = ("Stacked bidirectional GRU tagger, (N, 7, 6) batch_first: nn.GRU(6, 8, num_layers=2, "
            "bidirectional=True) (two GRU nodes, linear_before_reset=1; between them Y is Transposed "
            "(0,2,1,3) and Reshaped to (T, N, 16)), back to batch-first, Linear(16, 3) on every step.")
    return SequenceTagger(nn.GRU(6, 8, num_layers=2, bidirectional=True, batch_first=True), 16), (7, 6), desc


def case_torch_rnn_relu():
    desc = ("Elman RNN tagger, (N, 6, 5) batch_first: nn.RNN(5, 7, nonlinearity='relu') (an ONNX RNN "
            "node with Relu activation; Y Squeezed and Transposed back), Linear(7, 3) on every step.")
    return SequenceTagger(nn.RNN(5, 7, nonlinearity="relu", batch_first=True), 7), (6, 5), desc


class DynamicFCN(nn.Module):
    """A fully convolutional net for images of any size: no layer depends on H or W."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU6())
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return torch.sigmoid(self.head(self.dw(self.pool(self.stem(x)))))


class DynamicSequence(nn.Module):
    """A per-step MLP with layer norm over a sequence of any length, then the mean over time."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.norm(torch.relu(self.embed(x))).mean(1))


def case_torch_resnet_block():
    desc = ("ResNet stem + BasicBlock, NCHW 3x32x32: Conv2d(3,16,3,stride 2,padding 1,no bias) + "
            "BatchNorm2d + ReLU, MaxPool2d(3,2,padding 1), BasicBlock (two 3x3 Conv2d + BatchNorm2d, "
            "residual add, ReLU), AdaptiveAvgPool2d(1), torch.flatten(x, 1), Linear(16,10).")
    return ResNetBlock(), (3, 32, 32), desc


def case_torch_mobile_block():
    desc = ("MobileNetV3-like block, NCHW 3x24x24: Conv2d(3,8,3,stride 2) + BatchNorm2d + Hardswish "
            "(the skip, 8x12x12); depthwise Conv2d(8,8,3,stride 2,groups 8) + BatchNorm2d + ReLU; "
            "squeeze-excite (AdaptiveAvgPool2d(1), 1x1 Conv2d 8->4, ReLU, 1x1 Conv2d 4->8, "
            "Hardsigmoid, broadcasting multiply); 1x1 project Conv2d 8->4 + BatchNorm2d + ReLU6; "
            "nn.Upsample(scale_factor=2, nearest) to 4x12x12; torch.cat with the skip on channels "
            "(12x12x12); x.view(x.size(0), -1) (Shape/Gather/Unsqueeze/Concat -> Reshape, "
            "channel-major order); Linear(1728,10); Softmax(dim=1).")
    return MobileBlock(), (3, 24, 24), desc


def case_torch_dense_block():
    desc = ("DenseNet-like block, NCHW 3x16x16: Conv2d(3,8,3,padding 1) with bias; dense layer "
            "BatchNorm2d + ReLU (pre-activation: the BatchNorm has no Conv before it to fold into, so "
            "it stays a BatchNormalization) + 1x1 Conv2d 8->8 + BatchNorm2d + ReLU + 3x3 Conv2d 8->4, "
            "torch.cat with its input (12x16x16); transition BatchNorm2d + ReLU + 1x1 Conv2d 12->8 + "
            "AvgPool2d(2); SiLU (Sigmoid, Mul); Dropout (gone in eval); AdaptiveAvgPool2d(1), "
            "nn.Flatten, Linear(8,5).")
    return DenseBlock(), (3, 16, 16), desc


def case_torch_grouped_block():
    desc = ("Grouped convolution block, NCHW 3x16x16: Conv2d(3,16,3,padding 1) + BatchNorm2d + ReLU; "
            "MaxPool2d(3, stride 2, ceil_mode=True) (16 -> 8 windows, the last one partial); grouped "
            "Conv2d(16,24,3,padding 1,groups 4) (4 input channels per group, as ResNeXt) + BatchNorm2d "
            "+ ReLU; x.mean([2, 3]) (ReduceMean, keepdims 0); Linear(24,6).")
    return GroupedBlock(), (3, 16, 16), desc


def case_torch_convnext_block():
    desc = ("ConvNeXt block, NCHW 3x16x16: Conv2d(3,16,4,stride 4) patchify; LayerNorm over channels "
            "between two permutes (Transpose, LayerNormalization eps 1e-6, Transpose); depthwise "
            "Conv2d(16,16,7,padding 3,groups 16); permute to NHWC, LayerNorm, Linear(16,64) on the "
            "last axis (MatMul of a 4-D tensor), exact GELU (Div, Erf, Add, Mul, Mul), Linear(64,16), "
            "layer scale (Mul by a (16,) parameter), permute back, residual Add; x.mean([2, 3]) "
            "(ReduceMean), LayerNorm on (N, 16), Linear(16,5).")
    return ConvNeXtBlock(), (3, 16, 16), desc


def case_torch_shuffle_block():
    desc = ("ShuffleNetV2 block, NCHW 3x12x12: Conv2d(3,12,3,stride 2) + BatchNorm2d + ReLU; x.chunk(2, "
            "dim=1) (two Slices of the channels, their bounds Shape/Gather/Add/Div/Mul arithmetic); "
            "the second half through 1x1 Conv, depthwise 3x3 Conv, 1x1 Conv (BatchNorms folded); "
            "torch.cat; channel shuffle (view to 5-D (N, 2, 6, H, W), transpose(1, 2), view back: "
            "Reshape, Transpose, Reshape with shape arithmetic); x.mean([2, 3]); Linear(12,4).")
    return ShuffleBlock(), (3, 12, 12), desc


def case_torch_focus_block():
    desc = ("YOLOX Focus stem, NCHW 3x10x10: x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], "
            "x[..., 1::2, 1::2] (Slices with steps 2 on H and W) concatenated on the channels; "
            "Conv2d(12,8,3,padding 1) + SiLU; y[:, 1::3] (step 3 on the channels) and y[:, :, 0:4:3, "
            "1::2] (steps on H and W with bounds), each flattened, concatenated.")
    return FocusBlock(), (3, 10, 10), desc


def case_torch_vit_stem():
    desc = ("ViT stem without attention, NCHW 3x16x16: Conv2d(3,32,4,stride 4) patches, flatten(2) and "
            "transpose(1, 2) to 16 tokens, + a learned (1, 16, 32) position embedding (Add of a 3-D "
            "initializer), LayerNormalization(32, eps 1e-6), Linear(32,64) + exact GELU + Linear(64,32) "
            "with residual, LayerNormalization over (16, 32) (axis -2, eps 1e-5), Softmax over the "
            "tokens (axis 1).")
    return VitStem(), (3, 16, 16), desc


def case_torch_vit_tiny():
    desc = ("ViT-tiny, NCHW 3x16x16: Conv2d(3,32,4,stride 4) patches, flatten(2).transpose(1, 2) to 16 "
            "tokens, a learned (1, 1, 32) class token expanded over the batch (Shape/Gather/Expand) and "
            "concatenated first, + learned (1, 17, 32) positions, 2 pre-norm encoder blocks: LayerNorm, "
            "attention as Hugging Face BERT/ViT write it (query/key/value Linears, view to (N, 17, 2, 16) "
            "and transpose(1, 2), MatMul of q by k transposed, * 16^-0.5, Softmax, MatMul by v, "
            "transpose back and reshape, output Linear), residual, LayerNorm, Linear(32,64) + exact "
            "GELU + Linear(64,32), residual; LayerNorm(eps 1e-6), Linear(32,5) on the class token.")
    return VitTiny(), (3, 16, 16), desc


def case_torchvision_vit():
    from torchvision.models import VisionTransformer

    desc = ("torchvision.models.VisionTransformer (image 16, patch 4, 2 layers, 2 heads, hidden 32, MLP 64, "
            "5 classes), NCHW 3x16x16: conv_proj patches, a class token expanded and concatenated, learned "
            "positions, pre-norm encoder blocks whose nn.MultiheadAttention (batch_first) reshapes q, k, v "
            "to (T, N*2, 16) (the batch merged with the heads), exact GELU MLP, LayerNorm, head on the "
            "class token. torchvision zero-initialises the head: drawn from N(0, 0.2) here.")
    model = VisionTransformer(image_size=16, patch_size=4, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                              num_classes=5)
    with torch.no_grad():
        model.heads.head.weight.normal_(0, 0.2)
        model.heads.head.bias.normal_(0, 0.2)
    return model, (3, 16, 16), desc


def case_torch_decoder_block():
    desc = ("Autoencoder decoder, NCHW 3x8x8: Conv2d(3,8,3,stride 2,padding 1,no bias) + BatchNorm2d + "
            "ReLU (8x4x4); ConvTranspose2d(8,6,4,stride 2,padding 1,no bias) + BatchNorm2d + "
            "LeakyReLU(0.2) (6x8x8, TF SAME's padding); ConvTranspose2d(6,4,3,stride 2,padding 1,"
            "output_padding 1) + ReLU (4x16x16: the first cell of the full output is cropped, which "
            "TF SAME would keep); ConvTranspose2d(4,3,3,padding 2,dilation 2) + Tanh (3x16x16).")
    return Decoder(), (3, 8, 8), desc


def case_torch_unet():
    desc = ("A two-level U-Net, NCHW 3x16x12: per level Conv2d 3x3 (no bias) + BatchNorm2d + ReLU + "
            "Conv2d 3x3 + ReLU, max_pool2d(2) down to 4x3; ConvTranspose2d(16,12,2,stride 2) -> "
            "torch.cat with the 8x6 skip -> double conv; F.interpolate(scale_factor=2, bilinear) -> "
            "1x1 Conv2d -> torch.cat with the 16x12 skip -> double conv -> 1x1 Conv2d(8,2) -> Sigmoid.")
    return UNet(), (3, 16, 12), desc


def case_torch_bilinear_head():
    desc = ("Bilinear resizes, NCHW 3x10x14: Conv2d(3,8,3,stride 2,padding 1) + ReLU (8x5x7); image "
            "pooling (adaptive_avg_pool2d 1, 1x1 Conv2d, ReLU) brought back by F.interpolate(size, "
            "bilinear) from 1x1; torch.cat, Conv2d(12,6,3,padding 1) + ReLU; F.interpolate("
            "scale_factor=2, bilinear, align_corners=False) (Resize linear, pytorch_half_pixel, "
            "scales) to 10x14; F.interpolate(size=(9,13), align_corners=True) (a shrink, sizes); the "
            "input shrunk to 9x13 with align_corners=False; torch.cat, 1x1 Conv2d(9,4).")
    return BilinearHead(), (3, 10, 14), desc


def case_torch_conv1d_block():
    desc = ("1-D front end, NCW 3x24: Conv1d(3,8,5,padding 2,no bias) + BatchNorm1d (folded) + ReLU; "
            "Conv1d(8,8,3,padding 2,dilation 2) + ReLU; Conv1d(8,6,3,stride 2,padding 1) (6x12); "
            "x.mean(2) (ReduceMean over time); Linear(6,4).")
    return Conv1dBlock(), (3, 24), desc


def case_torch_pool1d_block():
    desc = ("1-D pools and grouped 1-D convolutions, NCW 4x12: Conv1d(4,6,3,padding 1) + ReLU; "
            "max_pool1d(3, stride 2, padding 1) (6x6); avg_pool1d(2) (6x3); avg_pool1d(3, stride 1, "
            "padding 1, count_include_pad=False) of the conv output (6x12); Conv1d(6,6,3,padding 1,"
            "groups 2) + ReLU; depthwise Conv1d(6,12,3,padding 2,dilation 2,groups 6); "
            "adaptive_max_pool1d(1) and adaptive_avg_pool1d(1) (GlobalMaxPool, GlobalAveragePool); "
            "flattened, concatenated, Linear(42,3).")
    return Pool1dBlock(), (4, 12), desc


def case_torch_pool3d_block():
    desc = ("3-D pools, NCDHW 2x6x8x8: Conv3d(2,4,3,padding 1) + ReLU; max_pool3d(2) (4x3x4x4); "
            "avg_pool3d(3, stride 1, padding 1, count_include_pad=False) of it; max_pool3d(3, stride 2, "
            "padding 1) of the conv output (4x3x4x4: pads TF's SAME has only at stride 1); their sum "
            "through adaptive_avg_pool3d(1) (GlobalAveragePool), adaptive_max_pool3d(1) of the conv "
            "output (GlobalMaxPool); concatenated, Linear(8,3).")
    return Pool3dBlock(), (2, 6, 8, 8), desc


def case_torch_grouped_deconv():
    desc = ("Grouped transposed convolutions, NCHW 4x5x5: ConvTranspose2d(4,6,4,stride 2,padding 1,"
            "groups 2) + ReLU (10x10); ConvTranspose2d(6,6,3,stride 2,padding 1,output_padding 1,"
            "groups 3,no bias) + ReLU (20x20); 1x1 Conv2d(6,3).")
    return GroupedDecoder(), (4, 5, 5), desc


def case_torch_deconv1d_block():
    desc = ("1-D transposed convolutions, NCW 4x7: ConvTranspose1d(4,6,3,stride 2,padding 1,"
            "output_padding 1,groups 2) + ReLU (6x14); ConvTranspose1d(6,3,4,stride 2,padding 1) (3x28).")
    return Deconv1dBlock(), (4, 7), desc


def case_torch_deconv3d_block():
    desc = ("3-D transposed convolutions, NCDHW 2x2x3x3: ConvTranspose3d(2,4,3,stride 2,padding 1,"
            "output_padding 1) + ReLU (4x4x6x6); ConvTranspose3d(4,3,2,stride 2,no bias) + ReLU "
            "(3x8x12x12); 1x1x1 Conv3d(3,2).")
    return Deconv3dBlock(), (2, 2, 3, 3), desc


def case_torch_dynamic_fcn():
    desc = ("Fully convolutional net with dynamic H and W (dynamic_axes N, H, W on input and output), "
            "NCHW 3xHxW: Conv2d(3,8,3,padding 1,no bias) + BatchNorm2d + ReLU, MaxPool2d(2), depthwise "
            "Conv2d(8,8,3,padding 1,groups 8) + ReLU6, 1x1 Conv2d(8,4), Sigmoid; output 4 x H/2 x W/2. "
            "x.npy at 16x12; runs[0] at 10x22, both by onnxruntime.")
    return DynamicFCN(), (3, 16, 12), desc, {"axes": {2: "H", 3: "W"}, "runs": [(3, 10, 22)]}


def case_torch_dynamic_sequence():
    desc = ("Sequence model with a dynamic time axis (dynamic_axes N, T on the input), (N, T, 4): "
            "Linear(4,8) on every step (MatMul of a 3-D tensor), ReLU, LayerNorm(8), mean over T "
            "(ReduceMean), Linear(8,3). x.npy at 7 steps; runs[0] at 19, both by onnxruntime.")
    return DynamicSequence(), (7, 4), desc, {"axes": {1: "T"}, "output_axes": {}, "runs": [(19, 4)]}


CASES = {"torch_resnet_block": case_torch_resnet_block, "torch_mobile_block": case_torch_mobile_block,
         "torch_dense_block": case_torch_dense_block, "torch_grouped_block": case_torch_grouped_block,
         "torch_convnext_block": case_torch_convnext_block, "torch_shuffle_block": case_torch_shuffle_block,
         "torch_focus_block": case_torch_focus_block,
         "torch_lstm_classifier": case_torch_lstm_classifier, "torch_crnn": case_torch_crnn,
         "torch_transformer_encoder": case_torch_transformer_encoder,
         "torch_transformer_encoder_seq_first": case_torch_transformer_encoder_seq_first,
         "torch_gru_bidirectional": case_torch_gru_bidirectional, "torch_rnn_relu": case_torch_rnn_relu,
         "torch_decoder_block": case_torch_decoder_block,
         "torch_bilinear_head": case_torch_bilinear_head, "torch_unet": case_torch_unet,
         "torch_vit_stem": case_torch_vit_stem,
         "torch_vit_tiny": case_torch_vit_tiny,
         "torchvision_vit": case_torchvision_vit,
         "torch_conv1d_block": case_torch_conv1d_block, "torch_pool1d_block": case_torch_pool1d_block,
         "torch_pool3d_block": case_torch_pool3d_block, "torch_grouped_deconv": case_torch_grouped_deconv,
         "torch_deconv1d_block": case_torch_deconv1d_block, "torch_deconv3d_block": case_torch_deconv3d_block,
         "torch_dynamic_fcn": case_torch_dynamic_fcn, "torch_dynamic_sequence": case_torch_dynamic_sequence}


def seed_of(case):
    return sum(map(ord, case))


def randomize_batchnorm(model, rs):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(rs.uniform(0.5, 1.5, c).astype(np.float32)))
                m.bias.copy_(torch.from_numpy(rs.uniform(-0.5, 0.5, c).astype(np.float32)))
                m.running_mean.copy_(torch.from_numpy(rs.uniform(-0.5, 0.5, c).astype(np.float32)))
                m.running_var.copy_(torch.from_numpy(rs.uniform(0.05, 1.0, c).astype(np.float32)))


def export(model, x, axes=None, output_axes=None):
    """`axes`: further dynamic axes {index: name} of the input besides the batch, and of the
    output too unless `output_axes` gives the output's."""
    dynamic = {0: "N", **(axes or {})}
    dynamic_out = dynamic if output_axes is None else {0: "N", **output_axes}
    f = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated (but present) in torch 2.15.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.from_numpy(x),), f, dynamo=False, opset_version=OPSET,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": dynamic, "y": dynamic_out}, do_constant_folding=True)
    return f.getvalue()


def export_checked(model, x, want, label, atol, axes=None, output_axes=None):
    """Exports `model` (see `export`), checks the file (onnx.checker, a dynamic batch `N` and
    `axes`, the input shape of `x` elsewhere), runs it in onnxruntime on `x` and on its first sample, and asserts
    both match PyTorch's output `want` within `atol`. Returns (bytes, the ModelProto,
    onnxruntime's output, its max abs difference from PyTorch's). Also used by
    scripts/zoo_onnx.py."""
    data = export(model, x, axes, output_axes)
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    dynamic = {0: "N", **(axes or {})}
    want_dims = [dynamic.get(i, size) for i, size in enumerate(x.shape)]
    assert [d.dim_param or d.dim_value for d in dims] == want_dims, dims
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (y,) = session.run(["y"], {"x": x})
    np.testing.assert_allclose(y, want, rtol=0, atol=atol, err_msg=f"{label}: onnxruntime vs torch")
    (y1,) = session.run(["y"], {"x": x[:1]})  # the batch dimension is dynamic
    np.testing.assert_allclose(y1, y[:1], rtol=0, atol=atol, err_msg=f"{label}: batch of 1")
    return data, proto, y, float(np.max(np.abs(y - want)))


def op_histogram(model):
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def write_case(out_dir, case):
    seed = seed_of(case)
    torch.manual_seed(seed)
    rs = np.random.RandomState(seed)
    model, in_shape, desc, *dynamic = CASES[case]()
    dynamic = dynamic[0] if dynamic else {"axes": {}, "runs": []}
    randomize_batchnorm(model, rs)
    model.eval()
    x = rs.standard_normal((BATCH, *in_shape)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()

    data, proto, y, max_diff = export_checked(model, x, want, case, ATOL, dynamic["axes"],
                                              dynamic.get("output_axes"))
    # Models with dynamic axes: onnxruntime's outputs at further sizes, checked against PyTorch.
    runs = []
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for k, shape in enumerate(dynamic["runs"], start=1):
        xk = rs.standard_normal((BATCH, *shape)).astype(np.float32)
        (yk,) = session.run(["y"], {"x": xk})
        with torch.no_grad():
            np.testing.assert_allclose(yk, model(torch.from_numpy(xk)).numpy(), rtol=0, atol=ATOL)
        runs.append((f"x_{k}.npy", xk, f"y_{k}.npy", yk.astype(np.float32)))

    d = os.path.join(out_dir, case)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(data)
    np.save(os.path.join(d, "x.npy"), x)
    np.save(os.path.join(d, "y.npy"), y.astype(np.float32))
    for x_file, xk, y_file, yk in runs:
        np.save(os.path.join(d, x_file), xk)
        np.save(os.path.join(d, y_file), yk)
    hist = op_histogram(proto)
    in_dims = [None if i + 1 in dynamic["axes"] else size for i, size in enumerate(in_shape)]
    meta = {
        "name": case,
        "model": "model.onnx",
        "format": "onnx",
        "layout": "NCHW",
        "inputs": [{"name": "x", "file": "x.npy", "shape": [None, *in_dims]}],
        "outputs": [{"name": "y", "file": "y.npy"}],
        "source": f"torch {torch.__version__} torch.onnx.export (TorchScript exporter, dynamo=False, "
                  f"opset {OPSET}, do_constant_folding, eval mode, dynamic batch 'N'"
                  + "".join(f", dynamic {name} (axis {axis})" for axis, name in dynamic["axes"].items()) + ")",
        "description": (f"PyTorch {desc} Seeded weights, BatchNorm statistics random (variance "
                        f"0.05..1.0; the exporter folds a BatchNorm after a Conv into its weights). Exported "
                        f"with the TorchScript exporter (dynamo=False), opset {OPSET}. Outputs by "
                        f"onnxruntime {ort.__version__}, equal to PyTorch's within {ATOL} (max abs "
                        f"diff {max_diff:.1e}). ONNX ops: "
                        + ", ".join(f"{k} {v}" for k, v in hist.items()) + "."),
    }
    if runs:
        meta["runs"] = [{"inputs": [x_file], "outputs": [y_file]} for x_file, _, y_file, _ in runs]
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"== {case}: {len(proto.graph.node)} nodes, model.onnx {len(data)} bytes, opset "
          f"{[(o.domain, o.version) for o in proto.opset_import]}, ir {proto.ir_version}, producer "
          f"{proto.producer_name} {proto.producer_version}; output {list(y.shape)}; "
          f"max |onnxruntime - torch| {max_diff:.3g}")
    print("   ops " + json.dumps(hist))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    for case in args.cases:
        write_case(args.out, case)


if __name__ == "__main__":
    main()
