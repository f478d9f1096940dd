"""Fully connected network with a softmax or sigmoid output: forward pass and gradients.

Layout is row-major: a batch is an (m, features) array and layer l computes
``a_l = f(a_{l-1} @ W_l + b_l)`` with ``W_l`` of shape (fan_in, fan_out). This is
the write-ups' maths (z = W a + b, delta_out = y_hat - y, delta_l = (W^T delta) * f'(z))
transposed so that samples are rows, which keeps every matmul contiguous.

Forward and backward run on a :class:`Workspace` of preallocated arrays: a training step
allocates no arrays per batch. :meth:`MLP.gradients` hands the gradients of the loss to an
optimizer (:mod:`nnexp.optim`): the biases' in the workspace, each weight's as the product
``a.T @ delta`` of factors the workspace holds (:class:`~nnexp.model.gradient.ProductGradient`),
formed by an optimizer that needs it whole, subtracted inside its BLAS call by plain SGD. It
takes the batch's forward pass when the caller has done it already (:meth:`MLP.forward`): its
logits then serve for the training metrics too (:mod:`nnexp.training.loop`).

Dropout (inverted): the caller passes one mask per hidden layer, (m, n_l) with entries 0 or
1 / (1 - p); the layer's outputs are multiplied by it, and so are the deltas flowing back.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from nnexp.model.activations import make_activation
from nnexp.model.activations.base import Activation
from nnexp.model.blas import one_blas_thread
from nnexp.model.gradient import Gradient, ProductGradient, formed
from nnexp.model.init import initial_biases, initial_weights
from nnexp.model.loss import DeltaBuffers, make_output

Masks = list[np.ndarray] | None  # dropout masks of the hidden layers, (m, n_l) each


class Workspace(DeltaBuffers):
    """Buffers for batches of up to ``rows`` samples: activations ``acts[l]`` (rows, n_l), deltas and
    scratch of the hidden layers, their outputs before dropout (``kept``) and, for an activation that uses
    them, their pre-activations (``pre``), gradients shaped like the
    parameters (``grad_w``, ``grad_b``), and the small arrays the output layer
    and the bias gradients need (see :class:`nnexp.model.loss.DeltaBuffers`). A hidden layer's delta stays in
    ``deltas`` and the output layer's in ``acts[-1]`` until the next batch: the weight gradients are their
    products."""

    def __init__(self, model: MLP, rows: int, first: Mapping[str, np.ndarray] | None = None) -> None:
        """``first``: the first layer's arrays, by attribute name (``acts``, ``grad_w``, ...), when they are views
        of a pack's (:class:`nnexp.model.pack.PackWorkspace`); new arrays otherwise."""
        sizes, dtype = model.layer_sizes, model.dtype
        super().__init__(rows, sizes[-1], dtype)

        def per_layer(name: str, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
            return [first[name] if first and not l else np.empty(shape, dtype) for l, shape in enumerate(shapes)]

        outputs, hidden = [(rows, n) for n in sizes[1:]], [(rows, n) for n in sizes[1:-1]]
        self.acts = per_layer("acts", outputs)
        self.deltas = per_layer("deltas", hidden)
        self.scratch = per_layer("scratch", hidden)
        self.kept = per_layer("kept", hidden)
        # the hidden layers' pre-activations, for an activation whose derivative needs them
        self.pre = per_layer("pre", hidden) if model.activation_fn.uses_input else []
        self.grad_w = per_layer("grad_w", [w.shape for w in model.weights])
        self.grad_b = per_layer("grad_b", [b.shape for b in model.biases])
        self.ones = np.ones(rows, dtype)  # ones @ delta sums the rows: the bias gradient, as one BLAS call


class MLP:
    """A multi-layer perceptron: hidden layers with one activation, then the output layer.

    One output unit means a binary task (sigmoid output, labels 0/1); more are one unit per class,
    ``output`` softmax or sigmoid. ``loss`` is ``cross_entropy`` or (sigmoid outputs) ``mse``
    (see :mod:`nnexp.model.loss`). ``weights[l]`` is (n_l, n_{l+1}) and ``biases[l]`` (n_{l+1},)
    for ``layer_sizes`` n_0 .. n_L.
    """

    def __init__(
        self,
        weights: list[np.ndarray],
        biases: list[np.ndarray],
        activation: str,
        leaky_slope: float = 0.01,
        loss: str = "cross_entropy",
        output: str = "softmax",
    ):
        self.weights = weights
        self.biases = biases
        self.activation = activation
        self.leaky_slope = leaky_slope
        self.loss = loss
        self.output_kind = output
        self.activation_fn = make_activation(activation, leaky_slope)
        self.output = make_output(output, loss, weights[-1].shape[1])

    @classmethod
    def initialise(
        cls,
        layer_sizes: list[int],
        activation: str,
        init: str,
        rng: np.random.Generator,
        dtype: np.dtype | str = np.float32,
        init_scale: float = 0.01,
        leaky_slope: float = 0.01,
        loss: str = "cross_entropy",
        output: str = "softmax",
        bias_init: str = "zeros",
    ) -> MLP:
        """A new network of ``layer_sizes`` [n_in, hidden..., n_out], weights drawn by ``init`` (in float64,
        then cast to ``dtype``), biases by ``bias_init`` after all the weights (so the weights do not depend on it)."""
        pairs = list(itertools.pairwise(layer_sizes))
        weights = [initial_weights(init, n_in, n_out, rng, init_scale).astype(dtype) for n_in, n_out in pairs]
        biases = [initial_biases(bias_init, init, n_in, n_out, rng, init_scale).astype(dtype) for n_in, n_out in pairs]
        return cls(weights, biases, activation, leaky_slope, loss, output)

    def copy(self) -> MLP:
        """The same network with copies of its parameters."""
        weights, biases = [w.copy() for w in self.weights], [b.copy() for b in self.biases]
        return MLP(weights, biases, self.activation, self.leaky_slope, self.loss, self.output_kind)

    @property
    def layer_sizes(self) -> list[int]:
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0].dtype

    @property
    def n_params(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    @property
    def params(self) -> list[np.ndarray]:
        """Weights, then biases: the arrays an optimizer updates (in place)."""
        return [*self.weights, *self.biases]

    def forward(self, x: np.ndarray, ws: Workspace, masks: Masks = None, first_done: bool = False) -> list[np.ndarray]:
        """Activations of every layer for batch ``x`` (m, n_in): views (m, n_l) into ``ws``; the last are the logits.

        With dropout ``masks``, a hidden layer's output before its mask is kept in ``ws.kept``; for an activation
        that uses them, its pre-activations in ``ws.pre``. ``first_done``: ``ws.acts[0][:m]`` holds the first layer's
        output already (a pack computes it for all its members at once: :mod:`nnexp.model.pack`).
        """
        m, last = len(x), len(self.weights) - 1
        acts = [ws.acts[0][:m]] if first_done else []
        for l in range(len(acts), last + 1):
            z = ws.acts[l][:m]
            np.matmul(acts[-1] if l else x, self.weights[l], out=z)
            if l < last:
                pre = ws.pre[l][:m] if ws.pre else None
                mask = None if masks is None else masks[l]
                hidden_output_(z, self.biases[l], self.activation_fn, ws.scratch[l][:m], pre, ws.kept[l][:m], mask)
            else:
                z += self.biases[l]
            acts.append(z)
        return acts

    def backward(
        self,
        x: np.ndarray,
        y: np.ndarray,
        acts: list[np.ndarray],
        ws: Workspace,
        scale: float = 1.0,
        masks: Masks = None,
        first_layer: bool = True,
        printed: bool = False,
    ) -> list[Gradient]:
        """Gradients of the mean loss, times ``scale``, from the batch's forward pass ``acts`` (:meth:`forward` of
        ``x`` (m, n_in) in ``ws``, with the same dropout ``masks``) and its labels ``y`` (m,): the weights', in layer
        order, returned (each a :class:`~nnexp.model.gradient.ProductGradient` of factors in ``ws``, to be formed in
        ``ws.grad_w``); the biases' written into ``ws.grad_b``. ``printed``: the output layer's weight gradient as
        write-up 000 prints it (:func:`printed_output_gradients_`; with a hidden layer only), an array.

        Overwrites the logits in ``acts[-1]`` with the output deltas (e.g. softmax - one-hot). Without
        ``first_layer`` the first layer is left to the caller, with ``delta @ W_1.T`` in ``ws.deltas[0]`` (before the
        activation's derivative), or with no hidden layer the output deltas in ``acts[0]`` (a pack does the first
        layer of all its members at once: :mod:`nnexp.model.pack`).
        """
        m, last = len(y), len(self.weights) - 1
        delta = acts[-1]
        if printed:
            np.copyto(ws.out_scratch[:m], delta)  # the logits z, before they become the deltas
        self.output.delta_(delta, y, scale / m, ws)
        ones = ws.ones[:m]
        grads: list[Gradient] = []
        for l in range(last, -1 if first_layer else 0, -1):
            below = None
            if l > 0:
                below = ws.deltas[l - 1][:m]
                np.matmul(delta, self.weights[l].T, out=below)
                if l > 1 or first_layer:
                    outputs = acts[l - 1] if masks is None else ws.kept[l - 1][:m]  # before dropout
                    pre = ws.pre[l - 1][:m] if ws.pre else None
                    mask = None if masks is None else masks[l - 1]
                    hidden_delta_(below, outputs, pre, ws.scratch[l - 1][:m], self.activation_fn, mask)
            if printed and l == last:
                z = ws.out_scratch[:m]
                grads.append(printed_output_gradients_(z, delta, ones, ws.grad_w[l], ws.grad_b[l]))
            else:
                grads.append(layer_gradients_(x if l == 0 else acts[l - 1], delta, ones, ws.grad_w[l], ws.grad_b[l]))
            delta = below
        return grads[::-1]

    def workspace(self, rows: int) -> Workspace:
        """Buffers for batches of up to ``rows`` samples (see :class:`Workspace`)."""
        return Workspace(self, rows)

    def gradients(
        self, x: np.ndarray, y: np.ndarray, ws: Workspace, masks: Masks = None, acts: list[np.ndarray] | None = None
    ) -> list[Gradient]:
        """The gradients of the mean loss on the batch ``x`` (m, n_in), ``y`` (m,) in the order of :attr:`params`
        (:meth:`backward`; the forward pass done here unless given as ``acts``, with the same dropout ``masks``):
        what an optimizer's ``step`` takes."""
        acts = self.forward(x, ws, masks) if acts is None else acts
        return [*self.backward(x, y, acts, ws, masks=masks), *ws.grad_b]

    def penalty(self, weight_decay: float) -> float:
        """The L2 penalty weight_decay / 2 * sum of the squared weights (biases are not penalised)."""
        if not weight_decay:
            return 0.0
        return 0.5 * weight_decay * sum(float(np.vdot(w, w)) for w in self.weights)

    def loss_and_gradients(
        self, x: np.ndarray, y: np.ndarray, weight_decay: float = 0.0, masks: Masks = None
    ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """Mean loss (plus the L2 penalty) on ``x`` (m, n_in), ``y`` (m,) and its gradients (copies), shaped like
        weights and biases; with dropout ``masks`` as in training."""
        ws = self.workspace(len(x))
        acts = self.forward(x, ws, masks)
        loss = self.output.loss_sum(acts[-1], y) / len(x) + self.penalty(weight_decay)
        grads = self.backward(x, y, acts, ws, masks=masks)
        grad_w = [formed(g) + weight_decay * w for g, w in zip(grads, self.weights)]
        return loss, grad_w, [g.copy() for g in ws.grad_b]

    def layer_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """The output of every layer for ``x`` (m, n_in): new arrays (m, n_l); the last are the logits. On one BLAS
        thread, as :meth:`evaluate`."""
        with one_blas_thread():
            return [a.copy() for a in self.forward(x, self.workspace(len(x)))]

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Output logits (m, n_out) for ``x`` (m, n_in), a new array."""
        return self.layer_outputs(x)[-1]

    def evaluate(self, x: np.ndarray, y: np.ndarray, chunk: int = 2048) -> tuple[float, float]:
        """Mean loss (without the penalty) and accuracy on ``x`` (m, n_in), ``y`` (m,), computed in chunks of
        ``chunk`` rows (a chunk's activations stay in cache; docs/performance.md) on one BLAS thread: the same
        figures to the last bit whatever the thread settings of the caller (training, a saved model)."""
        ws = self.workspace(min(chunk, len(x)))
        loss_sum, correct = 0.0, 0
        with one_blas_thread():
            for start in range(0, len(x), chunk):
                xc, yc = x[start : start + chunk], y[start : start + chunk]
                logits = self.forward(xc, ws)[-1]
                loss_sum += self.output.loss_sum(logits, yc)
                correct += int(np.count_nonzero(self.output.predict(logits) == yc))
        return loss_sum / len(x), correct / len(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class (m,) of every row of ``x`` (m, n_in)."""
        return self.output.predict(self.logits(x))


def hidden_output_(
    z: np.ndarray,
    bias: np.ndarray,
    activation: Activation,
    scratch: np.ndarray,
    pre: np.ndarray | None,
    kept: np.ndarray,
    mask: np.ndarray | None,
) -> None:
    """A hidden layer's ``z`` = a @ W (m, n) -> its output f(z + b), in place, times the dropout ``mask`` if any (the
    output before it copied to ``kept``); z + b copied to ``pre`` for an activation whose derivative needs it."""
    z += bias
    if pre is not None:
        pre[...] = z
    activation.forward_(z, scratch)
    if mask is not None:
        kept[...] = z
        z *= mask


def hidden_delta_(
    below: np.ndarray,
    outputs: np.ndarray,
    pre: np.ndarray | None,
    scratch: np.ndarray,
    activation: Activation,
    mask: np.ndarray | None,
) -> None:
    """``below`` = delta @ W.T from the layer above (m, n) -> the hidden layer's delta, in place: times f'(z) (from its
    ``outputs`` before dropout, or ``pre``) and the dropout ``mask`` if any."""
    activation.backprop_(below, outputs if pre is None else pre, scratch)
    if mask is not None:
        below *= mask


def layer_gradients_(
    a_prev: np.ndarray, delta: np.ndarray, ones: np.ndarray, grad_w: np.ndarray, grad_b: np.ndarray
) -> ProductGradient:
    """A layer's gradients from its input ``a_prev`` (m, n_in) and ``delta`` (m, n_out) (``ones`` (m,)): the bias's
    into ``grad_b`` (n_out,); the weight's returned as the product ``a_prev.T @ delta``, formed into ``grad_w``
    (n_in, n_out) when an optimizer asks."""
    np.matmul(ones, delta, out=grad_b)
    return ProductGradient(a_prev, delta, grad_w)


def printed_output_gradients_(
    z: np.ndarray, delta: np.ndarray, ones: np.ndarray, grad_w: np.ndarray, grad_b: np.ndarray
) -> np.ndarray:
    """The output layer's gradients as write-up 000 prints them, dJ/dw_kj = (y_hat - y) z_k and dJ/db_k = y_hat - y,
    from its logits ``z`` (m, n_out) and ``delta`` (m, n_out) (``ones`` (m,)): the weight gradient's row j is the
    same for every input j, the sum over the batch of delta * z; into ``grad_w`` (n_in, n_out), returned, and
    ``grad_b`` (n_out,). Overwrites ``z``."""
    np.matmul(ones, delta, out=grad_b)
    z *= delta
    np.matmul(ones, z, out=grad_w[0])
    grad_w[1:] = grad_w[0]
    return grad_w
