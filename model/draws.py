"""The economy's random draws: streams seeded by name, sequential or random-access.

Every monthly draw is tied to a borrower's position, never to what a policy did,
so two policies run on the same seed see the same shocks (common random numbers):

- Draws made in a fixed shape whatever happens (the population, the lenders' score
  errors, the month's common factor, every borrower's income shock) come from
  sequential numpy streams, one per purpose (``STREAMS``).
- Every other draw comes from a :class:`RandomAccessUniform` (``KEYED_STREAMS``): the
  draw of borrower ``i`` (or of a loan slot) in month ``m`` is a fixed function of the
  seed, ``m`` and ``i``, computed only where a rule needs it, without drawing a whole
  array; the same value comes back whichever subset asks. The compiled rules compute
  theirs inline from the stream's address (job loss and finding, illness onset,
  willingness to pay, the order of lenders paid, the decision to apply); the others are
  asked for the borrowers that need one (illness length, the lender tried, the loan
  wanted and its term, relief contact, strategic default, re-application).

Every stream is seeded by its name (:func:`stream_seed`): its seed sequence is the
economy's with a stable key of the name appended to the spawn key, so adding,
removing or reordering streams leaves every other stream's draws unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numba import njit
from scipy.special import ndtri

#: Sequential streams, one per purpose.
STREAMS = ("population", "screening", "macro", "income")
#: Random-access streams.
KEYED_STREAMS = (
    "labour",
    "illness",
    "illness_duration",
    "repayment",
    "payment_order",
    "applications",
    "lender_taste",
    "loan_need",
    "loan_term",
    "relief_contact",
    "strategic_default",
    "reapply",
)

#: Random-access streams with a draw per borrower and lender (the others: per borrower).
PER_LENDER_STREAMS = ("lender_taste", "repayment", "payment_order")


def stream_key(name: str) -> int:
    """A stable 32-bit key of a stream name (the first 4 bytes of its BLAKE2b digest)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "little")


def stream_seed(seeds: np.random.SeedSequence, name: str) -> np.random.SeedSequence:
    """The seed sequence of stream ``name``: ``seeds`` with the name's key appended.

    Independent of any other stream and of how many streams there are; ``seeds`` itself
    is not changed (nothing is spawned from it).
    """
    return np.random.SeedSequence(
        seeds.entropy,
        spawn_key=(*seeds.spawn_key, stream_key(name)),
        pool_size=seeds.pool_size,
    )


@njit(cache=True, nogil=True)
def _fill_standard_normal(rng, out):
    for i in range(out.size):
        out[i] = rng.standard_normal()


def standard_normal(rng: np.random.Generator, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """``rng.standard_normal(n)``, drawn by numba's copy of numpy's ziggurat.

    The same numbers, and the generator left in the same state, as numpy's own method
    (tested), about three times faster: the income shocks are the month's largest draw.
    A stand-in generator (tests use one to record the draws) is asked by the method.
    ``out`` (``n`` float64 values) receives the draws if given.
    """
    if not isinstance(rng, np.random.Generator):
        draws = rng.standard_normal(n)
        if out is None:
            return draws
        out[:] = draws
        return out
    out = np.empty(n) if out is None else out
    _fill_standard_normal(rng, out[:n])
    return out


def named_streams(seeds: np.random.SeedSequence) -> dict[str, np.random.Generator]:
    """One generator per name of :data:`STREAMS`, each seeded by its name."""
    return {name: np.random.default_rng(stream_seed(seeds, name)) for name in STREAMS}


#: A month's draws for the given borrower indices (one U(0,1) each).
Draw = Callable[[np.ndarray], np.ndarray]

# SplitMix64 (Steele, Lea and Flood 2014, "Fast splittable pseudorandom number
# generators"): the k-th output of the generator seeded with ``key`` is
# mix(key + k * GAMMA), so any output can be computed directly.
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


class Address(NamedTuple):
    """A month of a random-access stream, for compiled code.

    Cell ``i`` (``0 <= i < width``) draws ``uniform_at(key, offset, i)``.
    """

    key: np.uint64
    offset: np.uint64
    width: int


class RandomAccessUniform:
    """U(0,1) draws addressed by (month, borrower), computed only where asked.

    The draw of borrower ``i`` in month ``m`` is SplitMix64 output number
    ``(m - first_month) * n_borrowers + i + 1`` of the generator keyed by ``seed``.

    Args:
        seed: Seed of this stream (its key is drawn from it).
        n_borrowers: Draws per month (cells): the borrowers, or borrowers x lenders for
            a stream with a draw per loan slot.
        first_month: Earliest month that will be asked for (the first burn-in month).

    Example:
        >>> draw = RandomAccessUniform(np.random.SeedSequence(1), 10, first_month=0)
        >>> all_ten = draw(3, np.arange(10))
        >>> bool(np.all(draw(3, np.array([2, 7])) == all_ten[[2, 7]]))
        True
    """

    def __init__(self, seed: np.random.SeedSequence, n_borrowers: int, first_month: int) -> None:
        self._key = seed.generate_state(1, np.uint64)[0]
        self._n = int(n_borrowers)
        self._first = int(first_month)

    @property
    def n_draws(self) -> int:
        """Draws per month (the borrowers, or the cells of a per-lender stream)."""
        return self._n

    def address(self, month: int) -> Address:
        """``month``'s draws for compiled code (:class:`Address`).

        The draw of cell ``i`` is ``uniform_at(key, offset, i)`` (:func:`uniform_at`),
        the same value as ``self(month, [i])``.
        """
        if month < self._first:
            raise ValueError(f"month must be >= {self._first}, got {month}")
        offset = np.uint64((month - self._first) * self._n + 1)
        return Address(np.uint64(self._key), offset, self._n)

    def __call__(self, month: int, index: np.ndarray) -> np.ndarray:
        """The draws of borrowers ``index`` in ``month``, as float64 in [0, 1)."""
        index = np.atleast_1d(np.asarray(index))
        out = np.empty(index.size)
        key, offset, _ = self.address(month)
        if not _uniforms(key, offset, index.ravel(), self._n, out):
            raise ValueError(f"borrower indices must be in [0, {self._n - 1}]")
        return out.reshape(index.shape)

    def for_month(self, month: int) -> Draw:
        """The draws of ``month`` as a function of the borrower indices."""
        return lambda index: self(month, index)


@njit(cache=True, nogil=True, inline="always")
def uniform_at(key: np.uint64, offset: np.uint64, cell: int) -> float:
    """Draw ``cell`` of a month of a :class:`RandomAccessUniform` (see ``address``).

    SplitMix64 output number ``offset + cell`` of the generator keyed by ``key``, as a
    float64 in [0, 1): one draw computed where compiled code needs it.
    """
    z = (np.uint64(cell) + offset) * _GAMMA + key
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return float(z >> np.uint64(11)) * 2.0**-53


@njit(cache=True, nogil=True)
def _uniforms(key, offset, index, n, out):
    """Fill ``out`` with the draws of cells ``index``; False if a cell is outside [0, n)."""
    for k in range(index.size):
        cell = index[k]
        if cell < 0 or cell >= n:
            return False
        out[k] = uniform_at(key, offset, cell)
    return True


#: A rule's U(0,1) draws: one value per borrower (a test's hand-made draws), or the
#: address of a month of a random-access stream (:meth:`RandomAccessUniform.address`),
#: from which the compiled rule computes only the draws it uses.
Uniforms = np.ndarray | Address

_NO_VALUES = np.empty(0)


def address_keys(address: Address, cells: int, name: str, per: str) -> tuple[np.uint64, ...]:
    """``(key, offset)`` of ``address``, checked to have ``cells`` cells a month.

    Raises:
        ValueError: Naming ``name`` and what a cell is (``per``), if the width differs.
    """
    if address.width != cells:
        raise ValueError(
            f"{name}: a stream of {address.width} cells a month, expected one per {per} ({cells})"
        )
    return np.uint64(address.key), np.uint64(address.offset)


def kernel_draws(draws: Uniforms, n: int) -> tuple[np.ndarray, np.uint64, np.uint64]:
    """``(values, key, offset)`` for :func:`draw_at` from a rule's draws.

    Raises:
        ValueError: If ``draws`` is not one value (or cell) per borrower (``n``).
    """
    if isinstance(draws, Address):
        return _NO_VALUES, *address_keys(draws, n, "draws", "borrower")
    values = np.ascontiguousarray(draws, float)
    if values.shape != (n,):
        raise ValueError(f"draws: one value per borrower ({n}), got shape {values.shape}")
    return values, np.uint64(0), np.uint64(0)


@njit(cache=True, nogil=True, inline="always")
def draw_at(values, key, offset, i):
    """Borrower ``i``'s draw: ``values[i]``, or computed from the address when none."""
    if values.size == 0:
        return uniform_at(key, offset, i)
    return values[i]


def keyed_streams(
    seeds: np.random.SeedSequence, n_borrowers: int, n_lenders: int, first_month: int
) -> dict[str, RandomAccessUniform]:
    """One random-access stream per name of :data:`KEYED_STREAMS`, each seeded by its name.

    Each stream has a draw per borrower and month, the per-lender streams
    (:data:`PER_LENDER_STREAMS`) one per borrower, lender and month (cell
    ``borrower * n_lenders + lender``); ``first_month`` is the first burn-in month.
    """
    width = {name: n_borrowers * n_lenders for name in PER_LENDER_STREAMS}
    return {
        name: RandomAccessUniform(
            stream_seed(seeds, name), width.get(name, n_borrowers), first_month
        )
        for name in KEYED_STREAMS
    }


def normal_quantile(uniform: np.ndarray) -> np.ndarray:
    """Standard normal draws from U(0,1) draws (the inverse normal CDF)."""
    return ndtri(np.clip(uniform, 1e-16, 1.0 - 1e-16))
