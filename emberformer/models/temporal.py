"""The temporal stage: one token per (patch, time step), a transformer along time per patch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from emberformer.contract import InputSpec, step_rasters
from emberformer.errors import ConfigError


class TemporalEncoder(nn.Module):
    """Fire history -> one feature vector per patch, taken at the last observed step.

    Inputs are already padded to a multiple of `patch_size`: fire [B, T, H, W], dynamic
    [B, T, D, H, W], static [B, C, H, W], wind [B, T, F], time_mask [B, T] (True = real step,
    padding on the left). Returns [B, d_model, H/p, W/p]. A token is one patch at one step: its
    fire pixels and dynamic bands, the patch's static bands, the step's wind and how far back it is.

    With `skip_quiet_patches`, patch sequences where nothing can happen (no fire in the
    patch's history nor in its 3x3 patch neighbourhood) skip the transformer and take a
    learned `quiet` vector: fires cover a small part of a landscape, so most of the
    transformer's work would go to empty patches.

    With `checkpoint`, each block's activations are recomputed in the backward pass instead of
    kept: memory B*N*T*d per block instead of ~25x that, for one more forward of this stage.
    """

    def __init__(
        self,
        inputs: InputSpec,
        patch_size: int,
        d_model: int,
        nhead: int,
        num_layers: int,
        dim_feedforward: int,
        dropout: float,
        max_history: int,
        skip_quiet_patches: bool,
        checkpoint: bool,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.max_history = max_history
        # A linear map of the p x p pixels of each step's rasters (a strided conv is exactly that):
        # the shape of the front inside the patch survives, which a patch mean would throw away.
        # (Named for the fire mask, its first channel, which is all a simulator's export has.)
        self.fire_embed = nn.Conv2d(inputs.step_channels, d_model, patch_size, stride=patch_size)
        # Terrain is embedded once per patch and added to every step.
        self.static_embed = nn.Conv2d(inputs.static_channels, d_model, patch_size, stride=patch_size)
        self.wind_embed = nn.Linear(inputs.wind_features, d_model) if inputs.wind_features else None
        # Index 0 = the last (current) step, so left-padding never shifts a step's position.
        self.steps_back_embed = nn.Embedding(max_history, d_model)
        self.blocks = nn.ModuleList(
            TemporalBlock(d_model, nhead, dim_feedforward, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.quiet = nn.Parameter(torch.zeros(d_model)) if skip_quiet_patches else None
        self.checkpoint = checkpoint

    def forward(
        self,
        fire: torch.Tensor,
        dynamic: torch.Tensor,
        static: torch.Tensor,
        wind: torch.Tensor,
        time_mask: torch.Tensor,
    ) -> torch.Tensor:
        batch, steps, height, width = fire.shape
        if steps > self.max_history:
            raise ConfigError(
                f"model.max_history={self.max_history} is shorter than the {steps}-step history "
                f"in the batch; raise model.max_history to at least {steps}"
            )
        p = self.patch_size
        grid_h, grid_w = height // p, width // p
        n_patches = grid_h * grid_w
        d = self.steps_back_embed.embedding_dim

        rasters = step_rasters(fire, dynamic).flatten(0, 1)  # [B*T, 1 + D, H, W]
        fire_tok = self.fire_embed(rasters).reshape(batch, steps, d, n_patches).permute(0, 3, 1, 2)  # [B, N, T, d]
        static_tok = self.static_embed(static).flatten(2).transpose(1, 2)  # [B, N, d]
        steps_back = torch.arange(steps - 1, -1, -1, device=fire.device)
        per_step = self.steps_back_embed(steps_back).expand(batch, -1, -1)  # [B, T, d]
        if self.wind_embed is not None:
            per_step = per_step + self.wind_embed(wind)
        tokens = (fire_tok + static_tok[:, :, None] + per_step[:, None]).reshape(batch * n_patches, steps, d)

        # Attention mask over keys (True = a real step), None when nothing is padded (cheaper path).
        time_mask = time_mask.to(torch.bool)  # a float mask would be added to the scores by SDPA
        valid = None if bool(time_mask.all()) else time_mask.repeat_interleave(n_patches, dim=0)

        if self.quiet is None:
            last = self._encode(tokens, valid)
        else:
            active = self._active_patches(fire).reshape(batch * n_patches)
            index = active.nonzero().squeeze(1)
            last = self.quiet.to(tokens.dtype).expand(batch * n_patches, d)
            if index.numel():
                encoded = self._encode(tokens[index], None if valid is None else valid[index])
                last = last.to(encoded.dtype).index_put((index,), encoded)
        return last.reshape(batch, grid_h, grid_w, d).permute(0, 3, 1, 2)

    def _encode(self, tokens: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """[S, T, d] sequences -> [S, d], the output at the last step."""
        mask = None if valid is None else valid[:, None, None, :]  # broadcast over heads and queries
        recompute = self.checkpoint and self.training and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            last_only = i == len(self.blocks) - 1
            if recompute:
                tokens = torch.utils.checkpoint.checkpoint(block, tokens, mask, last_only, use_reentrant=False)
            else:
                tokens = block(tokens, mask, last_only)
        return self.norm(tokens[:, -1])

    def _active_patches(self, fire: torch.Tensor) -> torch.Tensor:
        """[B, gh, gw] True where the patch or a neighbour has burned at any observed step."""
        burned = fire.amax(dim=1, keepdim=True)  # [B, 1, H, W]
        per_patch = F.max_pool2d(burned, self.patch_size)
        neighbourhood = F.max_pool2d(per_patch, 3, stride=1, padding=1)
        return neighbourhood[:, 0] > 0


class TemporalBlock(nn.Module):
    """A pre-norm transformer encoder layer (the math of nn.TransformerEncoderLayer with
    norm_first=True, activation="gelu") that can compute the last step's output alone.

    Written out because only the last step of the final layer is used: computing that one
    query, projection and feed-forward instead of T of them saves ~1/4 of the temporal
    stage's time and activation memory at 4 layers, which nn.TransformerEncoder can't do.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.nhead = nhead
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.feedforward = nn.Sequential(
            nn.Linear(d_model, dim_feedforward),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(dim_feedforward, d_model),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, last_only: bool = False) -> torch.Tensor:
        seqs, steps, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(seqs, steps, 3, self.nhead, d // self.nhead)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [S, heads, T, d/heads]
        if last_only:
            q, x = q[:, :, -1:], x[:, -1:]
        drop = self.dropout if self.training else 0.0
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        x = x + F.dropout(self.proj(attn.transpose(1, 2).reshape(seqs, -1, d)), drop, self.training)
        return x + F.dropout(self.feedforward(self.norm2(x)), drop, self.training)
