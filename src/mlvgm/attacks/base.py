"""The interface every adversarial attack implements.

An attack takes a model, a batch of clean images and their labels and returns
an :class:`AttackResult`. The model is any callable from images in [0, 1] to
logits; it may be a whole randomised defence (purifier, classifier, EoT
averaging), and attacks differentiate through all of it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from mlvgm._checks import check_images
from mlvgm.errors import InputError

Model = Callable[[torch.Tensor], torch.Tensor]
"""Maps (B, C, H, W) images in [0, 1] to (B, K) logits."""


@dataclass(frozen=True)
class AttackResult:
    """What an attack returns for a batch of B images.

    Attributes:
        x_adv: (B, C, H, W) the adversarial images, in [0, 1]. For an image the
            attack did not fool, the best attempt (for APGD, the highest-loss point).
        success: (B,) bool, True where the model's prediction on ``x_adv`` differs
            from the label, judged on a fresh forward pass after the attack (for a
            randomised model, one more random draw).
        l2: (B,) ``||x_adv - x||_2`` per image, given for every image, fooled or
            not; select with ``success`` before reading it as a minimal norm.
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    l2: torch.Tensor


class Attack(abc.ABC):
    """Base class of the attacks.

    Calling an attack checks its inputs and runs :meth:`_run`, which subclasses
    implement. For the duration of the call an ``nn.Module`` model is put in eval
    mode and its parameters' ``requires_grad`` is switched off (gradients are only
    taken with respect to the images, and autograd then skips the weight
    gradients); every submodule's mode and every parameter's flag are restored
    afterwards, also on error. Attacks differentiate through the whole model,
    detach nothing inside it, never change its parameters' values and never
    write their ``.grad``. A model that is not an ``nn.Module`` (a function that
    closes over modules) is called as it is.
    """

    def __call__(self, model: Model, x: torch.Tensor, y: torch.Tensor) -> AttackResult:
        """Attack a batch of images.

        Args:
            model: maps (B, C, H, W) images in [0, 1] to (B, K) logits.
            x: (B, C, H, W) clean images in [0, 1].
            y: (B,) integer labels in [0, K), on the device of ``x``.

        Returns:
            The adversarial images, their success and their L2 distance to ``x``.

        Raises:
            InputError: if ``x`` is not a non-empty image batch in [0, 1], ``y`` is
                not a (B,) integer tensor of non-negative labels on the same device,
                or the model's output is not (B, K) logits with K above every label.
            ConfigError: if the attack's settings do not suit the model (for
                example a loss that needs more classes).
        """
        if isinstance(x, torch.Tensor) and x.ndim >= 1 and x.shape[0] == 0:
            raise InputError("x holds no images; pass a batch with B >= 1")
        check_images(x)
        _check_labels(y, x)
        with torch.no_grad(), _attack_mode(model):
            return self._run(model, x.detach(), y.long())

    @abc.abstractmethod
    def _run(self, model: Model, x: torch.Tensor, y: torch.Tensor) -> AttackResult:
        """Attack checked inputs; runs under ``torch.no_grad``, enable grad where needed.

        Args:
            model: maps (B, C, H, W) images in [0, 1] to (B, K) logits, in eval mode.
            x: (B, C, H, W) clean images in [0, 1], detached.
            y: (B,) int64 labels.

        Returns:
            The attack's result.
        """

    @staticmethod
    def _result(
        model: Model, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor
    ) -> AttackResult:
        """Judge final adversarial images on a fresh forward pass.

        Args:
            model: the attacked model.
            x: (B, C, H, W) clean images.
            x_adv: (B, C, H, W) adversarial images.
            y: (B,) labels.

        Returns:
            The result, with ``success`` from the fresh pass and ``l2`` per image.
        """
        with torch.no_grad():
            success = model(x_adv).argmax(dim=1) != y  # (B,)
        l2 = (x_adv - x).flatten(1).norm(dim=1)  # (B,)
        return AttackResult(x_adv=x_adv, success=success, l2=l2)


def check_logits(logits: torch.Tensor, y: torch.Tensor) -> None:
    """Check a model's output on a batch against the batch's labels.

    Args:
        logits: what the model returned, expected (B, K).
        y: (B,) labels.

    Raises:
        InputError: if ``logits`` is not a (B, K) float tensor with K above every label.
    """
    if not isinstance(logits, torch.Tensor) or logits.shape[:1] != y.shape:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)
        raise InputError(f"the model must return (B, K) logits with B = {y.shape[0]}, got {got}")
    if logits.ndim != 2 or not logits.dtype.is_floating_point:
        raise InputError(
            f"the model must return (B, K) float logits, got shape {tuple(logits.shape)} "
            f"and dtype {logits.dtype}"
        )
    n_classes = logits.shape[1]
    if int(y.max()) >= n_classes:
        raise InputError(f"y holds label {int(y.max())} but the model has {n_classes} classes")


def _check_labels(y: torch.Tensor, x: torch.Tensor) -> None:
    """Check that ``y`` holds one non-negative integer label per image of ``x``.

    Raises:
        InputError: if it does not.
    """
    if not isinstance(y, torch.Tensor):
        raise InputError(f"y must be a torch.Tensor of labels, got {type(y).__name__}")
    if y.shape != (x.shape[0],):
        raise InputError(
            f"y must have shape (B,) = ({x.shape[0]},) to match x, got {tuple(y.shape)}"
        )
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise InputError(f"y must hold integer class labels, got dtype {y.dtype}; use y.long()")
    if y.device != x.device:
        raise InputError(f"y is on {y.device} but x is on {x.device}; move both to one device")
    if bool((y < 0).any()):
        raise InputError(f"y must hold labels >= 0, got a minimum of {int(y.min())}")


@contextmanager
def _attack_mode(model: Model) -> Iterator[None]:
    """Put an ``nn.Module`` in eval mode with frozen parameters, restoring both on exit."""
    if not isinstance(model, nn.Module):
        yield
        return
    modes = [(module, module.training) for module in model.modules()]
    flags = [(param, param.requires_grad) for param in model.parameters()]
    model.eval()
    for param, _ in flags:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
        for param, requires_grad in flags:
            param.requires_grad_(requires_grad)
