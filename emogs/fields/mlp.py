"""A plain multilayer perceptron with an optionally zero-initialised output layer."""

from __future__ import annotations

from torch import nn


class MLP(nn.Module):
    """[..., in_dim] -> [..., out_dim] through `layers` linear layers (ReLU between them).

    `zero_init=True` zeroes the last layer's weight and bias, so the net outputs exactly 0 until trained
    (the first optimiser step moves the last layer; from then on gradients reach the earlier layers).
    `out_activation` is applied after the last layer when given.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: int = 64,
        layers: int = 3,
        zero_init: bool = False,
        activation: type[nn.Module] = nn.ReLU,
        out_activation: nn.Module | None = None,
    ):
        super().__init__()
        if layers < 1:
            raise ValueError(f"an MLP needs layers >= 1, got {layers}")
        if min(in_dim, out_dim, hidden) < 1:
            raise ValueError(f"MLP dims must be >= 1, got in={in_dim} out={out_dim} hidden={hidden}")
        dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        mods: list[nn.Module] = []
        for i in range(layers):
            mods.append(nn.Linear(dims[i], dims[i + 1]))
            if i < layers - 1:
                mods.append(activation())
        if out_activation is not None:
            mods.append(out_activation)
        self.net = nn.Sequential(*mods)
        self.in_dim, self.out_dim = in_dim, out_dim
        if zero_init:
            last = self.output_layer
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    @property
    def output_layer(self) -> nn.Linear:
        return [m for m in self.net if isinstance(m, nn.Linear)][-1]

    def forward(self, x):
        return self.net(x)
