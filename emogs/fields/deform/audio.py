"""Audio branch input: a window of per-frame audio features -> one attended audio code (shared by the
face and mouth nets)."""

from __future__ import annotations

import torch
from torch import nn

from emogs.fields.mlp import MLP


def _audio_window(audio: torch.Tensor, audio_dim: int, window: int) -> torch.Tensor:
    """[2W+1, D] or [D] -> [S, D] (S = window or 1), with errors that name the fix."""
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    if audio.dim() != 2:
        raise ValueError(
            "audio must be one frame's window [2W+1, D] or a single frame [D], "
            f"got shape {tuple(audio.shape)}"
        )
    if audio.shape[1] != audio_dim:
        raise ValueError(
            f"audio features have D={audio.shape[1]} but the net was built with audio_dim={audio_dim}; "
            "build it "
            "with audio_dim = the dataset's manifest['audio_features']['dim']"
        )
    if audio.shape[0] not in (1, window):
        raise ValueError(
            f"audio window has {audio.shape[0]} frames but the net was built for {window} (2W+1); pass "
            "window=2W+1 of the dataset reader"
        )
    return audio


class AudioAttention(nn.Module):
    """Learned attention over a window of per-frame audio codes: [S, C] -> [C].

    A small 1-D convolution along time scores every frame, a linear layer mixes the S scores and a
    softmax turns them into weights (the smoothing window of AD-NeRF / TalkingGaussian). A window of one
    frame passes through unchanged.
    """

    def __init__(self, channels: int, window: int = 9):
        super().__init__()
        widths = [channels, 16, 8, 4, 2, 1]
        convs: list[nn.Module] = []
        for i in range(len(widths) - 1):
            convs.append(nn.Conv1d(widths[i], widths[i + 1], kernel_size=3, padding=1))
            if i < len(widths) - 2:
                convs.append(nn.LeakyReLU(0.02))
        self.score = nn.Sequential(*convs)
        self.mix = nn.Linear(window, window)
        self.window = window

    def weights(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [S, C] -> attention weights [S] (sum to 1)."""
        s = self.score(codes.t().unsqueeze(0)).reshape(-1)  # [S]
        return torch.softmax(self.mix(s), dim=0)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        if codes.dim() != 2:
            raise ValueError(f"AudioAttention expects codes [S, C], got shape {tuple(codes.shape)}")
        if codes.shape[0] == 1:
            return codes[0]
        if codes.shape[0] != self.window:
            raise ValueError(f"AudioAttention was built for {self.window} frames, got {codes.shape[0]}")
        return self.weights(codes) @ codes  # [C]


class AudioEncoder(nn.Module):
    """Per-frame audio features [S, D] -> one attended code [C] (frame MLP, then AudioAttention)."""

    def __init__(self, audio_dim: int, code_dim: int = 32, window: int = 9):
        super().__init__()
        if audio_dim < 1:
            raise ValueError(f"audio_dim must be >= 1, got {audio_dim}")
        self.audio_dim, self.code_dim, self.window = audio_dim, code_dim, window
        self.frame = MLP(audio_dim, code_dim, hidden=64, layers=2, activation=nn.LeakyReLU)
        self.attention = AudioAttention(code_dim, window)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.attention(self.frame(_audio_window(audio, self.audio_dim, self.window)))
