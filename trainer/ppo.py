"""PPO for two-player self-play: rollout storage, GAE across alternating movers, the clipped update.

Sign convention: every value is from the view of the player to move in that state, and every reward
from the view of the player who just moved. In self-play the state after a move belongs to the
opponent, so its value enters the TD error negated; `next_sign[t]` is -1 there and +1 where the same
player moves again (a curriculum env where a scripted opponent's reply happens inside the step).
Termination uses no bootstrap; truncation bootstraps from the value of the final position.

Reward shaping is potential-based (Ng et al. 1999): the shaped reward is r + gamma * phi(s') - phi(s)
with phi = 0 at a terminal state, so the shaped return telescopes to the plain discounted return minus
phi(s), and the shaped value is exactly V(s) - phi(s). Two ways to use it (`exact_potential`):
- False (the default): the value head learns the shaped value V - phi, as GAE's baseline. What the
  pages show as a winning chance is that value plus phi (`trainer.insight`), the expected result.
- True: the value head learns V itself and the baseline is V - phi with phi computed exactly. Then
  the shaping cancels out of every TD error (gamma V(s') - V(s) is left), i.e. it no longer teaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from trainer.model import legal_entropy, masked_logits

# Fixed histogram bins for advantages, so the dashboard can compare updates.
ADV_HIST_EDGES = np.linspace(-3.0, 3.0, 25)


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    next_sign: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over (T, N) tensors; returns (advantages, returns).

    `next_values[t]` is the value of the state reached by step t, from the view of whoever moves
    there (ignored where terminated); `next_sign[t]` turns it into the mover's view. A done step
    (terminated or truncated) cuts the recursion: the next row belongs to a new game.
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    for t in reversed(range(T)):
        not_terminal = 1.0 - terminated[t].float()
        carry_on = not_terminal * (1.0 - truncated[t].float())
        delta = rewards[t] + gamma * next_sign[t] * next_values[t] * not_terminal - values[t]
        last = delta + gamma * gae_lambda * next_sign[t] * carry_on * last
        advantages[t] = last
    return advantages, advantages + values


@dataclass
class Rollout:
    """(T, N, ...) storage for one rollout; filled by the collector step by step."""

    obs: torch.Tensor  # (T, N, 80, 9, 9)
    masks: torch.Tensor  # (T, N, 13527) bool
    actions: torch.Tensor  # (T, N) long
    logprobs: torch.Tensor  # (T, N)
    values: torch.Tensor  # (T, N)
    rewards: torch.Tensor  # (T, N)
    next_values: torch.Tensor  # (T, N)
    next_sign: torch.Tensor  # (T, N) +1 or -1
    terminated: torch.Tensor  # (T, N) bool
    truncated: torch.Tensor  # (T, N) bool
    potentials: torch.Tensor  # (T, N) phi(s_t) from the mover's view (0 without shaping)
    next_potentials: torch.Tensor  # (T, N) phi of the state reached, from whoever moves there

    @classmethod
    def empty(cls, steps: int, envs: int, n_planes: int, n_actions: int) -> Rollout:
        f = dict(dtype=torch.float32)
        return cls(
            obs=torch.zeros(steps, envs, n_planes, 9, 9, **f),
            masks=torch.zeros(steps, envs, n_actions, dtype=torch.bool),
            actions=torch.zeros(steps, envs, dtype=torch.long),
            logprobs=torch.zeros(steps, envs, **f),
            values=torch.zeros(steps, envs, **f),
            rewards=torch.zeros(steps, envs, **f),
            next_values=torch.zeros(steps, envs, **f),
            next_sign=torch.full((steps, envs), -1.0),
            terminated=torch.zeros(steps, envs, dtype=torch.bool),
            truncated=torch.zeros(steps, envs, dtype=torch.bool),
            potentials=torch.zeros(steps, envs, **f),
            next_potentials=torch.zeros(steps, envs, **f),
        )

    @property
    def size(self) -> int:
        return self.actions.numel()

    def advantages(
        self, gamma: float, gae_lambda: float, *, exact_potential: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE over this rollout: (advantages, value targets). With `exact_potential` the value head
        learns the unshaped V and the baseline is V - phi (shaped return + phi(s) = advantage + V(s));
        otherwise the head's values are the shaped baseline itself."""
        if not exact_potential:
            return gae(
                self.rewards,
                self.values,
                self.next_values,
                self.next_sign,
                self.terminated,
                self.truncated,
                gamma,
                gae_lambda,
            )
        advantages, _ = gae(
            self.rewards,
            self.values - self.potentials,
            self.next_values - self.next_potentials,
            self.next_sign,
            self.terminated,
            self.truncated,
            gamma,
            gae_lambda,
        )
        return advantages, advantages + self.values


@dataclass
class PPOSettings:
    """The update's knobs (a view of the config's `ppo` section)."""

    update_epochs: int = 4
    minibatch_size: int = 256
    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    norm_adv: bool = True
    target_kl: float | None = None
    amp: bool = False  # bfloat16 autocast for the forward pass
    device: str = "cpu"  # where the network lives; storage stays on the CPU


def histogram(x: torch.Tensor) -> list[int]:
    """Counts in the fixed ADV_HIST_EDGES bins; values outside are clamped into the end bins."""
    clipped = np.clip(x.detach().cpu().numpy(), ADV_HIST_EDGES[0], ADV_HIST_EDGES[-1])
    counts, _ = np.histogram(clipped, bins=ADV_HIST_EDGES)
    return counts.tolist()


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 - Var[returns - values] / Var[returns]; NaN when the returns do not vary."""
    var_returns = returns.var(unbiased=False)
    if var_returns == 0:
        return float("nan")
    return float(1 - (returns - values).var(unbiased=False) / var_returns)


def policy_stats(new_logprob: torch.Tensor, old_logprob: torch.Tensor, clip_coef: float):
    """(ratio, approx_kl k3, clipfrac). k3 = (r - 1) - log r is an unbiased, never-negative KL estimate."""
    logratio = new_logprob - old_logprob
    ratio = logratio.exp()
    approx_kl = ((ratio - 1) - logratio).mean()
    clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean()
    return ratio, approx_kl, clipfrac


def ppo_update(
    forward,
    optimizer: torch.optim.Optimizer,
    parameters: list[torch.nn.Parameter],
    rollout: Rollout,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    settings: PPOSettings,
    generator: torch.Generator,
    usage=None,
    dist=None,
) -> dict[str, float | list[int]]:
    """Epochs of shuffled minibatches with the clipped objective; returns the update's metrics.

    `forward(obs, mask) -> (masked logits, value)` is the (possibly compiled) training-mode forward.
    `usage` (trainer/usage.py BufferUsage) counts, per minibatch, which samples were clipped, by game
    phase and side; its metrics join the update's.
    `dist` (trainer/distributed.py) under torchrun: `rollout` is this rank's share and
    `settings.minibatch_size` its share of the minibatch; gradients are averaged over the ranks after
    every backward, advantages normalised over the global minibatch, and the metrics are the global
    batch's.
    """
    if dist is None:
        from trainer.distributed import Dist

        dist = Dist()
    b_obs = rollout.obs.flatten(0, 1)
    b_masks = rollout.masks.flatten(0, 1)
    b_actions = rollout.actions.flatten()
    b_logprobs = rollout.logprobs.flatten()
    b_values = rollout.values.flatten()
    b_adv = advantages.flatten()
    b_returns = returns.flatten()
    batch = b_actions.numel()
    mb = settings.minibatch_size
    assert batch % mb == 0, f"batch {batch} must be a multiple of the minibatch size {mb}"

    sums = {k: 0.0 for k in ("policy", "value", "entropy", "approx_kl", "clipfrac", "grad_norm")}
    n_minibatches = 0
    stopped_early = False
    for _epoch in range(settings.update_epochs):
        order = torch.randperm(batch, generator=generator)
        for start in range(0, batch, mb):
            idx = order[start : start + mb]
            dev = settings.device
            mask = b_masks[idx].to(dev, non_blocking=True)
            with torch.autocast(torch.device(dev).type, dtype=torch.bfloat16, enabled=settings.amp):
                logits, new_value = forward(b_obs[idx].to(dev, non_blocking=True), mask)
            logits = masked_logits(logits.float(), mask)
            new_value = new_value.float()
            logp_all = torch.log_softmax(logits, dim=-1)
            new_logprob = logp_all.gather(1, b_actions[idx, None].to(dev)).squeeze(1)
            entropy = legal_entropy(logits, mask)

            ratio, approx_kl, clipfrac = policy_stats(
                new_logprob, b_logprobs[idx].to(dev), settings.clip_coef
            )
            if usage is not None:
                usage.visit(idx, (ratio - 1.0).abs() > settings.clip_coef, entropy)
            adv = b_adv[idx].to(dev)
            if settings.norm_adv:
                mean, std = _mean_std(adv, dist)
                adv = (adv - mean) / (std + 1e-8)
            pg_loss = torch.max(
                -adv * ratio, -adv * torch.clamp(ratio, 1 - settings.clip_coef, 1 + settings.clip_coef)
            ).mean()
            if settings.clip_vloss:
                v_clipped = b_values[idx] + torch.clamp(
                    new_value - b_values[idx], -settings.clip_coef, settings.clip_coef
                )
                v_loss = (
                    0.5
                    * torch.max((new_value - b_returns[idx]) ** 2, (v_clipped - b_returns[idx]) ** 2).mean()
                )
            else:
                v_loss = 0.5 * ((new_value - b_returns[idx]) ** 2).mean()
            entropy_mean = entropy.mean()
            loss = pg_loss - settings.ent_coef * entropy_mean + settings.vf_coef * v_loss

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            dist.average_gradients(parameters)  # the global minibatch's gradient, on every rank
            grad_norm = torch.nn.utils.clip_grad_norm_(parameters, settings.max_grad_norm)

            optimizer.step()
            n_minibatches += 1
            sums["policy"] += pg_loss.item()
            sums["value"] += v_loss.item()
            sums["entropy"] += entropy_mean.item()
            sums["approx_kl"] += approx_kl.item()
            sums["clipfrac"] += clipfrac.item()
            sums["grad_norm"] += grad_norm.item()
        if settings.target_kl is not None:
            kl = float(dist.sum(torch.tensor([sums["approx_kl"]]))[0]) / dist.world
            if kl / n_minibatches > settings.target_kl:  # every rank decides alike
                stopped_early = True
                break

    keys = list(sums)
    reduced = dist.sum(torch.tensor([sums[k] for k in keys], dtype=torch.float64)) / dist.world
    mean = {k: float(v) / n_minibatches for k, v in zip(keys, reduced, strict=True)}
    adv_mean, adv_std = _mean_std(b_adv, dist)
    adv_norm = (b_adv - adv_mean) / (adv_std + 1e-8)
    if usage is not None:
        usage.reduce(dist)
    extra = usage.metrics() if usage is not None else {}
    hist_raw, hist_norm = histogram(b_adv), histogram(adv_norm)
    if dist.active:
        counts = dist.sum(torch.tensor(hist_raw + hist_norm, dtype=torch.float64)).long().tolist()
        hist_raw, hist_norm = counts[: len(hist_raw)], counts[len(hist_raw) :]
    return {
        **extra,
        "losses/policy": mean["policy"],
        "losses/value": mean["value"],
        "losses/entropy": mean["entropy"],
        "ppo/approx_kl": mean["approx_kl"],
        "ppo/clipfrac": mean["clipfrac"],
        "ppo/grad_norm": mean["grad_norm"],
        "ppo/explained_variance": _explained_variance(b_values, b_returns, dist),
        "ppo/epochs_run": _epoch + 1,
        "ppo/early_stop": float(stopped_early),
        "adv/hist_raw": hist_raw,
        "adv/hist_norm": hist_norm,
        "adv/mean": float(adv_mean),
        "adv/std": float(adv_std),
    }


def _mean_std(x: torch.Tensor, dist) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) standard deviation of `x`, over every rank's `x` under torchrun."""
    if not dist.active:
        return x.mean(), x.std()
    s = dist.sum(torch.stack([x.sum(), (x * x).sum(), torch.tensor(float(x.numel()))]).double().cpu())
    n = s[2]
    mean = s[0] / n
    var = (s[1] - n * mean * mean) / (n - 1)
    return mean.to(x.dtype).to(x.device), var.clamp_min(0).sqrt().to(x.dtype).to(x.device)


def _explained_variance(values: torch.Tensor, returns: torch.Tensor, dist) -> float:
    if not dist.active:
        return explained_variance(values, returns)
    r, e = returns.double(), (returns - values).double()
    n = torch.tensor(float(r.numel()), dtype=torch.float64)
    s = dist.sum(torch.stack([r.sum(), (r * r).sum(), e.sum(), (e * e).sum(), n]))
    n = s[4]
    var_returns = s[1] / n - (s[0] / n) ** 2
    var_error = s[3] / n - (s[2] / n) ** 2
    if var_returns <= 0:
        return float("nan")
    return float(1 - var_error / var_returns)


def lr_at(schedule: str, base_lr: float, progress: float) -> float:
    """Learning rate at `progress` in [0, 1] of the planned updates: constant, linear or cosine."""
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "constant":
        return base_lr
    if schedule == "linear":
        return base_lr * (1.0 - progress)
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr schedule {schedule!r}; expected constant, linear or cosine")
