"""Storage of the loan book: each lender's row of loan slots, in borrower order.

A borrower holds at most one loan at each lender. Row ``j`` of every column
(:data:`LOAN_FIELDS`) holds lender ``j``'s slots: the first ``n_slots[j]`` entries, each
keyed by a borrower (``borrower``, strictly increasing along the row) and either holding
that borrower's open loan (``open``) or free; ``slot_of[j, i]`` is borrower ``i``'s slot
(-1 if the row has none). A loan that closes leaves its slot free, its balances, DPD
and flags zeroed (:data:`_CLEARED`; its terms and the month's ``paid`` stay until the
slot is reused); a borrower who borrows again takes it back in place.

A row is *dense*, a slot per borrower (slot ``i`` is borrower ``i``'s, as in a
``(lenders, borrowers)`` array), or *short*: its loans, each followed by up to
:data:`ROOM` free slots. Once a month (:meth:`LoanBook.tidy`, after the month's rules) a
row where fewer than one slot in :data:`SPARSE` has held a loan for
:data:`SPARSE_MONTHS` months is rebuilt short, and a short row where at least one
borrower in :data:`DENSE` holds a loan is rebuilt dense. A new borrower in a short row
takes a free neighbouring slot (re-keyed) or shifts the slots up to the nearest free
one; the row is rebuilt when none is within :data:`MAX_SHIFT`. So a lender's monthly
passes cost about its loans, not the population, while opening and closing loans writes
a few slots.

The monthly rules run over a row's slots in order and skip free ones
(:meth:`LoanBook.slots`), so every sum runs in borrower order, and
:meth:`LoanBook.total` is bit for bit ``np.sum`` of the dense row: no result depends on
the layout (tested). For inspection and hand-made test books, ``book.<field>`` is a
:class:`DenseView`: the field as a ``(lenders, borrowers)`` array, 0 where a borrower
holds no loan (built on each read; the rules never use it).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import njit

#: The columns of the book: one value per slot (``borrower`` is its key).
LOAN_FIELDS: dict[str, type] = {
    "borrower": np.int64,
    "open": np.bool_,
    "loan_id": np.int64,
    "balance": np.float64,
    "arrears": np.float64,
    "fees_due": np.float64,
    "principal": np.float64,
    "rate": np.float64,
    "instalment": np.float64,
    "due": np.float64,
    "paid": np.float64,
    "term": np.int16,
    "months_left": np.int16,
    "dpd": np.int16,
    "age": np.int16,
    "vintage": np.int32,
    "tier": np.int8,
    "relieved": np.bool_,
    "forborne": np.bool_,
    "regular": np.int16,
    "redefaulted": np.bool_,
    "relief_month": np.int32,
}
#: The fields a closing loan's slot resets (to 0; ``loan_id`` to -1).
_CLEARED = ("open", "loan_id", "balance", "arrears", "fees_due", "due", "dpd", "months_left",
            "forborne")  # fmt: skip
#: The fields :meth:`LoanBook.total` sums (free slots hold them at 0).
_TOTALS = ("balance", "arrears", "fees_due", "due", "paid")
#: What a dense view shows where a borrower holds no loan (0 for the other fields).
_NO_LOAN = {"loan_id": -1}
#: A row is rebuilt shorter when fewer than one slot in ``SPARSE`` has held an open loan
#: for ``SPARSE_MONTHS`` months running (a row sparse for a month or two keeps its layout).
SPARSE = 8
SPARSE_MONTHS = 4
#: A row is rebuilt dense (a slot per borrower) when at least one borrower in ``DENSE``
#: holds a loan there.
DENSE = 6
#: Free slots a short row keeps after each loan when it is rebuilt.
ROOM = 2
#: Farthest a new loan shifts slots to reach a free one before the row is rebuilt.
MAX_SHIFT = 64
#: The dtypes of the column blocks (one 3-d array each: fields x lenders x slots).
_BLOCK_DTYPES = tuple(dict.fromkeys(np.dtype(t) for t in LOAN_FIELDS.values()))
#: Each field's place: its block's dtype and its index in the block (fields in order).
_PLACES = {
    name: (
        np.dtype(t),
        [n for n, u in LOAN_FIELDS.items() if np.dtype(u) == np.dtype(t)].index(name),
    )
    for name, t in LOAN_FIELDS.items()
}


@njit(cache=True, nogil=True)
def _clear(slots, is_open, loan_id, balance, arrears, fees_due, due, dpd, months_left, forborne):
    """Free ``slots``: the fields of :data:`_CLEARED` reset (``paid`` stays: the month's)."""
    for s in slots:
        is_open[s] = forborne[s] = False
        loan_id[s] = -1
        balance[s] = arrears[s] = fees_due[s] = due[s] = 0.0
        dpd[s] = months_left[s] = 0


@njit(cache=True, nogil=True)
def _shift(block, j, first, last, step):
    """Move slots ``first .. last - 1`` of row ``j`` one slot right (``step`` 1) or left (-1)."""
    for f in range(block.shape[0]):
        if step > 0:
            for s in range(last, first, -1):
                block[f, j, s] = block[f, j, s - 1]
        else:
            for s in range(first - 1, last - 1):
                block[f, j, s] = block[f, j, s + 1]


@njit(cache=True, nogil=True)
def _shift_all(b_int64, b_bool, b_float64, b_int16, b_int32, b_int8, j, first, last, step):
    """:func:`_shift` in every column block."""
    _shift(b_int64, j, first, last, step)
    _shift(b_bool, j, first, last, step)
    _shift(b_float64, j, first, last, step)
    _shift(b_int16, j, first, last, step)
    _shift(b_int32, j, first, last, step)
    _shift(b_int8, j, first, last, step)


@njit(cache=True, nogil=True, inline="always")
def _first_at_least(keys, lo, hi, i):
    """``lo + np.searchsorted(keys[lo:hi], i)``, searching from ``lo`` in growing steps.

    Near ``lo`` the search reads few slots, close together: the next new borrower's
    place is usually a few loans past the previous one's.
    """
    step, bound = 1, lo
    while bound < hi and keys[bound] < i:
        lo = bound + 1
        bound = lo + step
        step *= 2
    return lo + np.searchsorted(keys[lo : min(bound, hi)], i)


@njit(cache=True, nogil=True)
def _place(b_int64, b_bool, b_float64, b_int16, b_int32, b_int8, slot_of, j, n_slots, new,
           max_shift, out):  # fmt: skip
    """Choose a slot in row ``j`` for each new borrower of ``new`` (sorted); mark it open.

    Reuses the borrower's own free slot or a free neighbour (re-keyed), else shifts the
    slots between its place and the nearest free slot, left or right, or up to the end of
    the row (every column; at most ``max_shift`` slots). Writes the slots to ``out``.

    Returns:
        ``(n_slots, placed)``: the row's new length, and how many were placed (fewer than
        ``new.size`` when no free slot was in reach: the caller rebuilds the row).
    """
    keys, is_open = b_int64[0, j], b_bool[0, j]  # the first int64 and bool columns
    lo = 0  # keys before ``lo`` are below the next borrower's (``new`` is sorted)
    for t in range(new.size):
        i = new[t]
        p = -1 if slot_of[i] >= 0 else _first_at_least(keys, lo, n_slots, i)
        if p < 0:
            slot = slot_of[i]  # the borrower's own free slot
        elif p > 0 and not is_open[p - 1]:
            slot = p - 1  # a free slot just before takes the borrower's key
            slot_of[keys[slot]] = -1
        elif p < n_slots and not is_open[p]:
            slot = p  # ... or one just after
            slot_of[keys[slot]] = -1
        else:
            q = p  # the nearest free slot to the right (or the row's end) ...
            while q < n_slots and is_open[q] and q - p <= max_shift:
                q += 1
            r = p - 1  # ... and to the left
            while r >= 0 and is_open[r] and p - 1 - r <= max_shift:
                r -= 1
            left = r >= 0 and not is_open[r] and p - 1 - r < q - p
            if not left and (q - p > max_shift or (q == n_slots and n_slots == keys.size)):
                return n_slots, t
            if left:  # slots r + 1 .. p - 1 move one left; the new loan takes p - 1
                slot_of[keys[r]] = -1
                _shift_all(b_int64, b_bool, b_float64, b_int16, b_int32, b_int8, j, r + 1, p, -1)
                for s in range(r, p - 1):
                    slot_of[keys[s]] = s
                back = t - 1  # loans placed earlier in the moved range moved too
                while back >= 0 and out[back] > r:
                    out[back] -= 1
                    back -= 1
                slot = p - 1
            else:  # slots p .. q - 1 move one right; the new loan takes p
                if q == n_slots:
                    n_slots += 1
                else:
                    slot_of[keys[q]] = -1  # the free slot reached is overwritten
                _shift_all(b_int64, b_bool, b_float64, b_int16, b_int32, b_int8, j, p, q, 1)
                for s in range(p + 1, q + 1):
                    slot_of[keys[s]] = s
                slot = p
        keys[slot] = i
        slot_of[i] = slot
        is_open[slot] = True
        out[t] = slot
        lo = slot + 1
    return n_slots, new.size


@functools.lru_cache(maxsize=8)
def _pairwise_plan(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How ``np.sum`` adds ``size`` float64 values: numpy's pairwise summation.

    Ranges of more than 128 values split in halves at a multiple of 8 until the leaves
    (blocks of at most 128, summed in 8 lanes) are reached. Returns the leaves' starts
    and lengths, and the post-order program combining them: ``k >= 0`` pushes leaf
    ``k``'s sum, ``-1`` replaces the top two sums by ``first + second``.
    """
    starts: list[int] = []
    lengths: list[int] = []
    program: list[int] = []

    def split(lo: int, n: int) -> None:
        if n <= 128:
            program.append(len(starts))
            starts.append(lo)
            lengths.append(n)
            return
        half = n // 2
        half -= half % 8
        split(lo, half)
        split(lo + half, n - half)
        program.append(-1)

    split(0, size)
    plan = (np.array(starts, np.int64), np.array(lengths, np.int64), np.array(program, np.int64))
    for array in plan:  # cached: shared by every caller
        array.flags.writeable = False
    return plan


@njit(cache=True, nogil=True)
def _planned_sum(pos, val, starts, lengths, program):
    """The pairwise sum (``_pairwise_plan``) of the zeros holding ``val`` at sorted ``pos``.

    Each leaf adds its nonzeros as numpy adds the block (8 lanes, then the tail in
    order); the zeros are skipped, as adding 0.0 changes no sum.
    """
    sums = np.zeros(starts.size)
    lanes = np.empty(8)
    t = 0
    for k in range(starts.size):
        lo, end = starts[k], starts[k] + lengths[k]
        if t == pos.size or pos[t] >= end:
            continue  # an empty leaf sums to 0
        res = 0.0
        if lengths[k] >= 8:
            lanes[:] = 0.0
            main_end = end - lengths[k] % 8
            while t < pos.size and pos[t] < main_end:
                lanes[(pos[t] - lo) % 8] += val[t]
                t += 1
            res = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + (
                (lanes[4] + lanes[5]) + (lanes[6] + lanes[7])
            )
        while t < pos.size and pos[t] < end:
            res += val[t]
            t += 1
        sums[k] = res
    stack = np.empty(64)  # depth: log2(size / 128) + 2
    top = 0
    for op in program:
        if op >= 0:
            stack[top] = sums[op]
            top += 1
        else:
            top -= 1
            stack[top - 1] = stack[top - 1] + stack[top]
    return stack[0]


def dense_sum(positions: np.ndarray, values: np.ndarray, size: int) -> float:
    """``np.sum`` of the array of ``size`` zeros holding ``values`` at sorted ``positions``.

    Bit for bit (tested): a lender's totals do not depend on how its loans are stored.
    """
    values = np.asarray(values, float)
    return float(0.0 + _planned_sum(positions, values, *_pairwise_plan(int(size))))


class LoanBook:
    """Every lender's loan slots, in borrower order (see the module docstring).

    Args:
        n_lenders: Number of lenders (rows).
        n_borrowers: Number of borrowers.

    Attributes:
        n_lenders: Number of lenders.
        n_borrowers: Number of borrowers.
        n_open: Open loans per lender.
        n_slots: Slots in use per lender (open or free).
        slot_of: Each borrower's slot in each lender's row, ``(lenders, borrowers)``
            (-1 where the row keeps none).
        columns: Each field of :data:`LOAN_FIELDS` as an array ``(lenders, borrowers)``,
            of which row ``j``'s first ``n_slots[j]`` entries are in use.
    """

    def __init__(self, n_lenders: int, n_borrowers: int) -> None:
        self.n_lenders, self.n_borrowers = int(n_lenders), int(n_borrowers)
        self.n_open = np.zeros(self.n_lenders, np.int64)
        self.n_slots = np.full(self.n_lenders, self.n_borrowers, np.int64)
        self._sparse_months = np.zeros(self.n_lenders, np.int64)
        self._held = np.zeros((self.n_lenders, self.n_borrowers), bool)
        self.slot_of = np.tile(np.arange(self.n_borrowers, dtype=np.int32), (self.n_lenders, 1))
        self._allocate(max(self.n_borrowers, 1))
        self.columns["borrower"][:, : self.n_borrowers] = np.arange(self.n_borrowers)
        self.columns["loan_id"][:] = -1

    @classmethod
    def from_dense(cls, active: np.ndarray, **fields: np.ndarray) -> LoanBook:
        """A book holding a loan where ``active`` (``(lenders, borrowers)``) is True.

        ``fields`` give loan fields as ``(lenders, borrowers)`` arrays (read where a loan
        is held); the others start at 0 (``loan_id`` at -1). For hand-made books.
        """
        active = np.atleast_2d(np.asarray(active, bool))
        book = cls(*active.shape)
        for j in range(active.shape[0]):
            held = np.flatnonzero(active[j])
            values = {name: np.broadcast_to(v, active.shape)[j, held] for name, v in fields.items()}
            book.insert(j, held, **values)
        return book

    def _allocate(self, capacity: int) -> None:
        """Zeroed column blocks of ``capacity`` slots per row, one per dtype, and their views."""
        counts = {dtype: sum(d == dtype for d, _ in _PLACES.values()) for dtype in _BLOCK_DTYPES}
        self._blocks = {
            dtype: np.zeros((n, self.n_lenders, capacity), dtype) for dtype, n in counts.items()
        }
        self._bind_columns()

    def _bind_columns(self) -> None:
        """``columns``: each field's view into its block."""
        self.columns = {name: self._blocks[dtype][k] for name, (dtype, k) in _PLACES.items()}

    def __setattr__(self, name: str, value: Any) -> None:
        if name in LOAN_FIELDS:  # e.g. ``book.balance += x``: write by index instead
            raise AttributeError(f"book.{name} is a view: write book.{name}[...] = values")
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> DenseView:
        if name in LOAN_FIELDS and "columns" in self.__dict__:
            return DenseView(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_columns()  # (copies rebind the views to the copied blocks)

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "columns"}

    @property
    def active(self) -> np.ndarray:
        """Whether borrower ``i`` holds an open loan at lender ``j``: ``(lenders, borrowers)``.

        Read-only: loans open with :meth:`insert` and close with :meth:`remove`.
        """
        view = self._held.view()
        view.flags.writeable = False
        return view

    def is_dense(self, lender: int) -> bool:
        """Whether ``lender``'s row has a slot per borrower (borrower ``i``'s is slot ``i``)."""
        return bool(self.n_slots[lender] == self.n_borrowers)

    def slots(self, name: str, lender: int) -> np.ndarray:
        """Field ``name`` of ``lender``'s slots in use, open or free (a view)."""
        return self.columns[name][lender, : self.n_slots[lender]]

    def dense_flags(self) -> np.ndarray:
        """:meth:`is_dense` of every lender."""
        return self.n_slots == self.n_borrowers

    def borrowers_at(self, lender: int, slots: np.ndarray) -> np.ndarray:
        """The borrowers keying ``lender``'s ``slots`` (a new array)."""
        if self.is_dense(lender):
            return np.array(slots, np.int64)
        return self.slots("borrower", lender)[slots]

    def where(self, lender: int, mask: np.ndarray) -> np.ndarray:
        """The borrowers of ``lender``'s slots where ``mask`` (over :meth:`slots`) holds."""
        if self.is_dense(lender):
            return np.flatnonzero(mask)
        return self.slots("borrower", lender)[mask]

    def row(self, name: str, lender: int) -> np.ndarray:
        """Field ``name`` of ``lender``'s open loans, in borrower order (a copy)."""
        return self.slots(name, lender)[self.slots("open", lender)]

    def borrowers(self, lender: int) -> np.ndarray:
        """The borrowers holding an open loan at ``lender``, sorted."""
        return self.row("borrower", lender)

    def positions(self, lender: int, borrowers: np.ndarray | int) -> np.ndarray:
        """Slots at ``lender`` of the open loans of ``borrowers``.

        Raises:
            KeyError: Naming a borrower without an open loan at ``lender``.
        """
        index = as_index(borrowers, self.n_borrowers)
        flat = index.ravel()
        if not self._held[lender, flat].all():
            missing = int(flat[~self._held[lender, flat]][0])
            raise KeyError(f"borrower {missing} holds no open loan at lender {lender}")
        if self.is_dense(lender):
            return index
        return self.slot_of[lender, index].astype(np.intp)

    def insert(self, lender: int, borrowers: np.ndarray, **values: Any) -> np.ndarray:
        """Open loans at ``lender`` for ``borrowers`` (who hold none there) with ``values``.

        Fields not given start at 0 (``loan_id`` at -1); values are scalars or one per
        borrower. Returns the new loans' slots.

        Raises:
            ValueError: If a borrower already holds a loan at ``lender``, or one is given
                twice, or a field is unknown.
        """
        unknown = set(values) - (set(LOAN_FIELDS) - {"borrower", "open"})
        if unknown:
            raise ValueError(
                f"unknown loan field(s) {sorted(unknown)}; allowed: {list(LOAN_FIELDS)[2:]}"
            )
        index = as_index(borrowers, self.n_borrowers).ravel()
        order = None
        if index.size > 1 and not (index[1:] > index[:-1]).all():
            order = np.argsort(index, kind="stable")
            index = index[order]
        slot = self.open_slots(lender, index)
        given = {"loan_id": -1, **values}
        for name, col in self.columns.items():
            if name in ("borrower", "open"):
                continue
            value = np.asarray(given.get(name, 0))
            if order is not None and value.ndim:
                value = np.broadcast_to(value.ravel(), index.shape)[order]
            col[lender, slot] = value
        return slot

    def open_slots(self, lender: int, index: np.ndarray) -> np.ndarray:
        """Open slots at ``lender`` for the sorted new borrowers ``index``; return them.

        The slots' fields other than ``borrower`` and ``open`` are left as they were: the
        caller sets them all (:meth:`insert` does). Shifts slots, or rebuilds the row,
        as the module docstring says.
        """
        if index.size > 1 and not (index[1:] > index[:-1]).all():
            raise ValueError(
                f"borrowers opening loans at lender {lender} must be sorted and unique"
            )
        if self._held[lender, index].any():
            taken = int(index[self._held[lender, index]][0])
            raise ValueError(f"borrower {taken} already holds a loan at lender {lender}")
        self.n_open[lender] += index.size
        self._held[lender, index] = True
        if self.n_slots[lender] == self.n_borrowers:  # dense: a borrower's slot is its index
            self.columns["open"][lender, index] = True
            return index
        slot = np.empty(index.size, np.int64)
        done, reach = 0, MAX_SHIFT
        blocks = [self._blocks[np.dtype(t)] for t in (np.int64, np.bool_, np.float64, np.int16,
                                                      np.int32, np.int8)]  # fmt: skip
        while done < index.size:
            rest = index[done:]
            n, placed = _place(*blocks, self.slot_of[lender], lender, self.n_slots[lender], rest,
                               reach, slot[done:])  # fmt: skip
            self.n_slots[lender] = n
            done += placed
            if done < index.size:  # no free slot in reach: spread the row, then reach far
                self._rebuild(lender)
                reach = self.n_borrowers
        if reach != MAX_SHIFT:  # the rebuild moved the slots placed before it
            slot = np.searchsorted(self.slots("borrower", lender), index)
        return slot

    def _rebuild(self, lender: int) -> None:
        """Rewrite ``lender``'s row: dense, or its open loans each followed by free slots.

        Dense (a slot per borrower) when at least one borrower in :data:`DENSE` holds a
        loan here; else borrower ``b``'s loan is followed by up to :data:`ROOM` free
        slots keyed ``b + 1, b + 2, ...`` (borrowers without a loan here, before the next
        loan's). Loans keep their order and values.
        """
        open_slots = np.flatnonzero(self.slots("open", lender))
        keys = self.slots("borrower", lender)[open_slots]
        dense = keys.size * DENSE >= self.n_borrowers
        gaps = np.minimum(ROOM, np.append(keys[1:], self.n_borrowers) - keys - 1)
        new_slot = np.arange(keys.size) + np.cumsum(gaps) - gaps
        values = {name: self.slots(name, lender)[open_slots] for name in LOAN_FIELDS}
        used = slice(0, max(self.n_slots[lender], self.n_borrowers if dense else 0))
        for col in self.columns.values():
            col[lender, used] = 0
        self.columns["loan_id"][lender, used] = -1
        slot_of = self.slot_of[lender]
        if dense:
            new_slot = keys
            self.columns["borrower"][lender] = slot_of[:] = np.arange(self.n_borrowers)
        for name, col in self.columns.items():
            col[lender, new_slot] = values[name]
        if dense:
            self.n_slots[lender] = self.n_borrowers
            return
        owner = np.repeat(np.arange(keys.size), gaps)  # the loan each free slot follows
        step = np.arange(owner.size) - np.repeat(np.cumsum(gaps) - gaps, gaps) + 1
        slot_of[:] = -1
        slot_of[keys] = new_slot
        self.columns["borrower"][lender, new_slot[owner] + step] = keys[owner] + step
        slot_of[keys[owner] + step] = new_slot[owner] + step
        self.n_slots[lender] = keys.size + int(gaps.sum())

    def remove(self, lender: int, borrowers: np.ndarray) -> None:
        """Close the loans of ``borrowers`` at ``lender`` (repaid or written off)."""
        index = as_index(borrowers, self.n_borrowers).ravel()
        if index.size > 1 and not (index[1:] > index[:-1]).all():
            index = np.unique(index)  # (a repeat closes once)
        if index.size == 0:
            return
        self.free(lender, self.positions(lender, index), index)

    def free(self, lender: int | np.ndarray, slots: np.ndarray, borrowers: np.ndarray) -> None:
        """Close the open loans in ``lender``'s ``slots`` (unique), held by ``borrowers``.

        :meth:`remove` for a caller that has found the loans' slots already; ``lender``
        is one lender for all the loans, or one per loan (several lenders' at once).
        """
        _clear(self.flat(lender, slots), *(self.columns[name].reshape(-1) for name in _CLEARED))
        if np.ndim(lender):
            self.n_open -= np.bincount(lender, minlength=self.n_lenders)
        else:
            self.n_open[lender] -= slots.size
        self._held[lender, borrowers] = False

    def flat(self, lender: int | np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Positions of ``lender``'s ``slots`` in a column's flattened array (``reshape(-1)``)."""
        return np.asarray(lender, np.int64) * self.columns["open"].shape[1] + slots

    def tidy(self) -> None:
        """Rebuild the rows whose layout no longer fits (once a month; no loan changes).

        A row where fewer than one slot in :data:`SPARSE` has held a loan for
        :data:`SPARSE_MONTHS` tidies running is rebuilt short, a short row where one
        borrower in :data:`DENSE` holds a loan dense (:meth:`_rebuild`).
        """
        sparse = self.n_open * SPARSE < self.n_slots
        self._sparse_months = np.where(sparse, self._sparse_months + 1, 0)
        for j in range(self.n_lenders):
            crowded = self.n_slots[j] < self.n_borrowers <= self.n_open[j] * DENSE
            if self._sparse_months[j] >= SPARSE_MONTHS or crowded:
                self._rebuild(j)
                self._sparse_months[j] = 0

    def total_at_most(self, name: str, lender: int) -> float:
        """A bound no smaller than :meth:`total` (fast: any summation order, plus its error).

        For a field of non-negative values.
        """
        total = float(self.slots(name, lender).sum())
        return total * (1.0 + 1e-9) + 1e-6

    def total(self, name: str, lender: int) -> float:
        """Sum of field ``name`` over ``lender``'s loans, as ``np.sum`` of its dense row.

        ``name`` is a field free slots hold at 0 (:data:`_TOTALS`); for ``paid``, between
        the month's payment and the closing of the loans it repaid.

        Raises:
            ValueError: For another field (free slots keep it: the sum would count them).
        """
        if name not in _TOTALS:
            raise ValueError(f"total: {name!r} cannot be summed; one of {list(_TOTALS)}")
        if self.n_slots[lender] == self.n_borrowers:  # the row is the dense row
            return float(self.slots(name, lender).sum())
        return dense_sum(self.slots("borrower", lender), self.slots(name, lender), self.n_borrowers)

    def dense(self, name: str, lender: int | None = None) -> np.ndarray:
        """Field ``name`` as a dense array: ``(lenders, borrowers)``, or one lender's row."""
        if lender is not None and self.n_slots[lender] == self.n_borrowers and name in _CLEARED:
            return self.slots(name, lender).copy()  # the row is the dense row
        rows = range(self.n_lenders) if lender is None else [lender]
        out = np.full((len(rows), self.n_borrowers), _NO_LOAN.get(name, 0), LOAN_FIELDS[name])
        for k, j in enumerate(rows):
            held = self.slots("open", j)
            out[k, self.slots("borrower", j)[held]] = self.slots(name, j)[held]
        return out if lender is None else out[0]

    def loans_of(self, borrower: int) -> list[tuple[int, int]]:
        """``(lender, slot)`` of each open loan of ``borrower``, in lender order."""
        out = []
        for j in np.flatnonzero(self._held[:, borrower]).tolist():
            out.append((j, int(self.positions(j, borrower))))
        return out


def as_index(borrowers: Any, n_borrowers: int) -> np.ndarray:
    """Borrower indices as an integer array (a mask or a slice selects, as in numpy)."""
    if isinstance(borrowers, slice):
        return np.arange(n_borrowers)[borrowers]
    index = np.asarray(borrowers)
    if index.dtype == bool:
        return np.flatnonzero(index)
    return index.astype(np.intp, copy=False)


class DenseView(np.lib.mixins.NDArrayOperatorsMixin):
    """One loan field seen as a ``(lenders, borrowers)`` array (0 where there is no loan).

    Reading builds the array (``numpy`` indexing, operators and functions apply), so
    index once to write: ``book.balance[0, 1] = v`` (``book.balance[0][1] = v`` changes
    a copy). Writing sets the field of the loans the key selects and refuses values
    other than the no-loan value (0; -1 for ``loan_id``) where a borrower holds none.
    """

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if any(isinstance(x, DenseView) for x in kwargs.get("out", ())):
            raise TypeError("a loan field is written by index: book.<field>[...] = values")
        arrays = [np.asarray(x) if isinstance(x, DenseView) else x for x in inputs]
        return getattr(ufunc, method)(*arrays, **kwargs)

    def __init__(self, book: LoanBook, name: str) -> None:
        self._book, self._name = book, name

    @property
    def shape(self) -> tuple[int, int]:
        """``(lenders, borrowers)``."""
        return self._book.n_lenders, self._book.n_borrowers

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self._book.dense(self._name)
        return out if dtype is None else out.astype(dtype)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._book.dense(self._name), name)  # sum, max, tolist, copy, ...

    def __getitem__(self, key: Any) -> Any:
        book = self._book
        scalar = (int, np.integer)
        if isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, scalar) for k in key):
            j, i = (int(k) for k in key)
            if not book._held[j, i]:
                return LOAN_FIELDS[self._name](_NO_LOAN.get(self._name, 0))
            return book.columns[self._name][j, int(book.positions(j, i))]
        if isinstance(key, scalar):
            return book.dense(self._name, int(key))
        return book.dense(self._name)[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        book = self._book
        lenders, borrowers = key if isinstance(key, tuple) else (key, slice(None))
        rows = np.arange(book.n_lenders)[lenders]
        index = as_index(borrowers, book.n_borrowers)
        shape = (*np.shape(rows), *index.shape)
        values = np.broadcast_to(np.asarray(value), shape).reshape(np.size(rows), -1)
        for row_values, j in zip(values, np.atleast_1d(rows).tolist(), strict=True):
            flat = index.ravel()
            held = book._held[j, flat]
            if np.any(row_values[~held] != _NO_LOAN.get(self._name, 0)):
                raise KeyError(
                    f"lender {j} holds no loan of borrower {int(flat[~held][0])}: "
                    "insert it before setting its fields"
                )
            book.columns[self._name][j, book.positions(j, flat[held])] = row_values[held]
