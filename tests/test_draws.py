"""Random-access uniforms: the same draw whichever borrowers ask, and good uniforms."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from model.draws import RandomAccessUniform, normal_quantile


def _draw(seed=1, n=1000, first_month=-60):
    return RandomAccessUniform(np.random.SeedSequence(seed), n, first_month=first_month)


def test_matches_the_published_splitmix64_sequence():
    """Key 0: outputs 1-3 of SplitMix64 seeded with 0 (Vigna's reference implementation)."""
    draw = _draw(n=3, first_month=0)
    draw._key = np.uint64(0)
    expected = np.array([0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F], np.uint64)
    assert np.array_equal(draw(0, np.arange(3)), (expected >> np.uint64(11)) * 2.0**-53)


@settings(max_examples=50, deadline=None)
@given(
    month=st.integers(-60, 200),
    subset=st.lists(st.integers(0, 999), min_size=0, max_size=50),
)
def test_a_borrowers_draw_does_not_depend_on_who_else_asks(month, subset):
    draw = _draw()
    everyone = draw(month, np.arange(1000))
    index = np.array(subset, dtype=np.intp)
    assert np.array_equal(draw(month, index), everyone[index])
    assert np.array_equal(draw.for_month(month)(index), everyone[index])


def test_draws_are_reproducible_and_differ_by_seed_month_and_borrower():
    a, b = _draw(seed=1), _draw(seed=1)
    idx = np.arange(1000)
    assert np.array_equal(a(5, idx), b(5, idx))
    assert not np.array_equal(a(5, idx), _draw(seed=2)(5, idx))
    months = np.stack([a(m, idx) for m in range(-60, 40)])
    assert np.unique(months).size == months.size  # no draw repeats across months or borrowers


def test_draws_are_uniform_and_uncorrelated():
    n = 200_000
    a, b = _draw(seed=3, n=n), _draw(seed=4, n=n)
    idx = np.arange(n)
    u, u_next_month, v = a(0, idx), a(1, idx), b(0, idx)
    assert ((u >= 0) & (u < 1)).all()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert stats.kstest(u_next_month, "uniform").pvalue > 1e-3
    bound = 5 / np.sqrt(n)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < bound  # neighbouring borrowers
    assert abs(np.corrcoef(u, u_next_month)[0, 1]) < bound  # the same borrower next month
    assert abs(np.corrcoef(u, v)[0, 1]) < bound  # another stream
    # Pairs of neighbours fill the unit square evenly (10 x 10 cells, chi-square).
    cells = np.histogram2d(u[0::2], u[1::2], bins=10, range=[[0, 1], [0, 1]])[0]
    assert stats.chisquare(cells.ravel()).pvalue > 1e-3


def test_months_before_the_first_are_refused():
    with pytest.raises(ValueError, match="month must be >= -60"):
        _draw()(-61, np.arange(3))


def test_normal_quantile_gives_standard_normals():
    z = normal_quantile(_draw(n=100_000)(0, np.arange(100_000)))
    assert np.isfinite(normal_quantile(np.array([0.0, 1.0]))).all()
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_indices_outside_the_population_are_refused():
    draw = _draw(n=10)
    for bad in ([10], [-1], [3, 12]):
        with pytest.raises(ValueError, match=r"borrower indices must be in \[0, 9\]"):
            draw(0, np.array(bad))
    assert draw(0, 3).shape == (1,)  # a scalar index gives one draw, without warnings


def test_fast_normals_are_numpys_and_advance_the_generator_alike():
    from model.draws import standard_normal

    ours, theirs = np.random.default_rng(11), np.random.default_rng(11)
    for n in (1, 1000, 100_001):
        assert np.array_equal(standard_normal(ours, n), theirs.standard_normal(n))
    assert ours.random() == theirs.random()


def test_streams_are_seeded_by_name_and_independent_of_the_others():
    from model.draws import STREAMS, named_streams, stream_key, stream_seed

    seq = np.random.SeedSequence(5)
    streams = named_streams(seq)
    assert list(streams) == list(STREAMS)
    alone = np.random.default_rng(stream_seed(np.random.SeedSequence(5), "income"))
    assert streams["income"].random() == alone.random()  # however many other streams
    assert len({stream_key(name) for name in STREAMS}) == len(STREAMS)
    assert stream_key("income") == stream_key("income")  # stable: a hash of the name
    assert seq.n_children_spawned == 0  # nothing was spawned from the caller's sequence


def test_compiled_code_computes_a_keyed_draw_from_the_streams_address():
    from model.draws import uniform_at

    draw = _draw(5, 50, first_month=-3)
    for month in (-3, 0, 7):
        key, offset, width = draw.address(month)
        assert width == draw.n_draws == 50
        cells = np.array([0, 1, 17, 49])
        assert [uniform_at(key, offset, int(c)) for c in cells] == draw(month, cells).tolist()
    with pytest.raises(ValueError, match="month must be >= -3"):
        draw.address(-4)


def test_a_rules_draws_as_an_address_are_the_streams_draws_as_an_array():
    from model.draws import draw_at, kernel_draws

    draw = _draw(3, 40, first_month=-2)
    values = draw(5, np.arange(40))
    from_address = kernel_draws(draw.address(5), 40)
    from_array = kernel_draws(values, 40)
    assert from_address[0].size == 0 and np.array_equal(from_array[0], values)
    for cell in (0, 9, 39):
        assert draw_at(*from_address, cell) == draw_at(*from_array, cell) == values[cell]
    with pytest.raises(ValueError, match=r"draws: one value per borrower \(40\)"):
        kernel_draws(values[:39], 40)
    with pytest.raises(ValueError, match=r"draws: a stream of 40 cells a month, expected one"):
        kernel_draws(draw.address(5), 39)  # e.g. a stream with a cell per loan slot


def test_keyed_draws_keep_the_shape_of_the_index():
    draw = _draw(2, 50)
    grid = np.arange(12).reshape(3, 4)
    assert draw(0, grid).shape == (3, 4)
    assert np.array_equal(draw(0, grid).ravel(), draw(0, grid.ravel()))


def test_fast_normals_fill_a_given_array_with_the_same_draws():
    from model.draws import standard_normal

    out = np.full(1000, np.nan)
    ours, theirs = np.random.default_rng(12), np.random.default_rng(12)
    assert standard_normal(ours, 1000, out=out) is out
    assert np.array_equal(out, theirs.standard_normal(1000))
