"""Merge trees checked exactly against independent oracles (gudhi, scipy, brute force)."""

from __future__ import annotations

import itertools

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from losstopo.errors import LosstopoError
from losstopo.topology import mergetree
from losstopo.topology.mergetree import MINIMUM, ROOT, SADDLE, merge_tree
from losstopo.topology.neighbors import knn_graph

GRID = ("full", "freudenthal", "axis")
SHAPES = [(17,), (6, 6), (5, 4, 5), (4, 4, 4, 4)]


@pytest.fixture(autouse=True, scope="module", params=["interpreted", "compiled"])
def sweep_kernel(request):
    """Every test of this module runs on both kernels of the one sweep source (module
    scope: hypothesis tests take no function-scoped fixture)."""
    if request.param == "compiled":
        chosen = mergetree.compiled_kernels()
    else:
        chosen = (mergetree._sweep, mergetree._subtree_sizes)
    original = mergetree.kernels
    mergetree.kernels = lambda visits: chosen
    yield request.param
    mergetree.kernels = original


# ---------------------------------------------------------------------------- oracles


def oracle_offsets(dims: int, connectivity: str) -> list[tuple[int, ...]]:
    """Neighbour offsets, written independently of ``neighbors.grid_offsets``."""
    if connectivity == "full":
        return [o for o in itertools.product((-1, 0, 1), repeat=dims) if any(o)]
    if connectivity == "freudenthal":
        pos = [o for o in itertools.product((0, 1), repeat=dims) if any(o)]
        return pos + [tuple(-c for c in o) for o in pos]
    if connectivity == "axis":
        eye = np.eye(dims, dtype=int)
        return [tuple(int(c) for c in s * e) for e in eye for s in (1, -1)]
    raise AssertionError(connectivity)


def grid_edges(shape: tuple[int, ...], connectivity: str) -> np.ndarray:
    """All undirected edges (u < v) of a grid connectivity, by array slicing."""
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    edges = []
    for off in oracle_offsets(len(shape), connectivity):
        src = tuple(slice(max(0, -o), s - max(0, o)) for o, s in zip(off, shape, strict=True))
        dst = tuple(slice(max(0, o), s - max(0, -o)) for o, s in zip(off, shape, strict=True))
        a, b = idx[src].ravel(), idx[dst].ravel()
        edges.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    if not edges:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(edges), axis=0)


def csr_edges(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    keep = rows < indices
    return np.stack([rows[keep], indices[keep]], axis=1)


def adjacency(n: int, edges: np.ndarray):
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    rows = np.concatenate([e[:, 0], e[:, 1]])
    cols = np.concatenate([e[:, 1], e[:, 0]])
    return coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()


def as_inf(a) -> np.ndarray:
    flat = np.asarray(a, dtype=np.float64).ravel()
    return np.where(np.isfinite(flat), flat, np.inf)


def sweep_rank(values: np.ndarray) -> np.ndarray:
    """Position of each vertex in the (value, index) order."""
    order = np.lexsort((np.arange(len(values)), values))
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values))
    return rank


def finite_pairs(pairs) -> list[tuple[float, float]]:
    out = [(float(b), float(d)) for b, d in np.asarray(pairs, dtype=np.float64).reshape(-1, 2)]
    return sorted((b, d) for b, d in out if np.isfinite(d) and d > b)


def essential_count(pairs) -> int:
    return int(np.count_nonzero(np.isinf(np.asarray(pairs, dtype=np.float64).reshape(-1, 2)[:, 1])))


def tree_pairs(t) -> list[tuple[float, float]]:
    return finite_pairs(np.stack([t.birth, t.death], axis=1))


def cubical_intervals(a: np.ndarray, connectivity: str) -> np.ndarray:
    if connectivity == "full":
        cc = gudhi.CubicalComplex(top_dimensional_cells=a)
    else:
        cc = gudhi.CubicalComplex(vertices=a)
    cc.compute_persistence()
    return cc.persistence_intervals_in_dimension(0)


def simplex_intervals(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    st_ = gudhi.SimplexTree()
    for v, x in enumerate(values):
        st_.insert([int(v)], filtration=float(x))
    for u, v in np.asarray(edges).reshape(-1, 2):
        st_.insert([int(u), int(v)], filtration=float(max(values[u], values[v])))
    st_.compute_persistence(min_persistence=-1.0, persistence_dim_max=True)
    return st_.persistence_intervals_in_dimension(0)


def oracle_intervals(a: np.ndarray, connectivity: str) -> np.ndarray:
    if connectivity in ("full", "axis"):
        return cubical_intervals(a, connectivity)
    return simplex_intervals(as_inf(a), grid_edges(a.shape, connectivity))


def check_against_gudhi(a: np.ndarray, connectivity: str) -> None:
    t = merge_tree(a, connectivity=connectivity)
    gi = oracle_intervals(a, connectivity)
    assert tree_pairs(t) == finite_pairs(gi)
    assert essential_count(gi) == t.n_components == 1


def brute_critical(values: np.ndarray, adj) -> tuple[set[int], set[int]]:
    """Minima and join saddles by recomputing components of every sub-level set."""
    rank = sweep_rank(values)
    minima, saddles = set(), set()
    for v in range(len(values)):
        earlier = rank < rank[v]
        lower = [u for u in adj.indices[adj.indptr[v] : adj.indptr[v + 1]] if earlier[u]]
        if not lower:
            minima.add(v)
            continue
        sub = np.flatnonzero(earlier)
        _, labels = connected_components(adj[sub][:, sub], directed=False)
        pos = np.searchsorted(sub, lower)
        if len(set(labels[pos].tolist())) >= 2:
            saddles.add(v)
    return minima, saddles


def component_size(adj, mask: np.ndarray, vertex: int) -> int:
    sub = np.flatnonzero(mask)
    _, labels = connected_components(adj[sub][:, sub], directed=False)
    lab = labels[np.searchsorted(sub, vertex)]
    return int(np.count_nonzero(labels == lab))


def check_tree(t, adj) -> None:
    """Structural invariants plus brute-force sizes, critical points and arcs."""
    values = t.values
    n = len(values)
    n_nodes = len(t.node_vertex)
    rank = sweep_rank(values)
    kind, parent, nv = t.node_kind, t.node_parent, t.node_vertex
    roots = np.flatnonzero(kind == ROOT)
    n_comp, comp_labels = connected_components(adj, directed=False)

    assert t.n_components == n_comp == len(roots)
    assert set(np.unique(kind).tolist()) <= {MINIMUM, SADDLE, ROOT}
    assert np.all(parent[roots] == -1)
    assert np.all((parent >= 0) == (kind != ROOT))
    assert np.count_nonzero(parent >= 0) == n_nodes - t.n_components
    assert np.all(parent < n_nodes)

    # segmentation: every vertex in exactly one non-root arc
    seg = t.segmentation
    assert seg.shape == (n,)
    assert np.all((seg >= 0) & (seg < n_nodes))
    assert np.all(kind[seg] != ROOT)
    assert np.array_equal(t.arc_size, np.bincount(seg, minlength=n_nodes))
    assert t.arc_size.sum() == n
    assert np.all(t.arc_size[roots] == 0)
    assert np.all(t.arc_size[kind != ROOT] >= 1)
    assert np.all(seg[nv[kind != ROOT]] == np.flatnonzero(kind != ROOT))

    # children counts
    children = np.bincount(parent[parent >= 0], minlength=n_nodes)
    assert np.all(children[kind == MINIMUM] == 0)
    assert np.all(children[kind == SADDLE] >= 2)
    assert np.all(children[kind == ROOT] == 1)
    assert int((children[kind == SADDLE] - 1).sum()) == t.n_minima - t.n_components
    assert len(t.pair_min) == len(t.pair_saddle) == t.n_minima - t.n_components

    # order along the tree: parents come later in the sweep (a root may share its child's vertex)
    for node in np.flatnonzero(parent >= 0):
        p = parent[node]
        if kind[p] == ROOT:
            assert rank[nv[p]] >= rank[nv[node]]
            # the root sits at the highest vertex of its component
            comp = comp_labels == comp_labels[nv[p]]
            assert rank[nv[p]] == rank[comp].max()
        else:
            assert rank[nv[p]] > rank[nv[node]]

    # node sizes vs brute-force components of the sub-level set below the parent
    for node in np.flatnonzero(kind != ROOT):
        p = parent[node]
        mask = rank <= rank[nv[p]] if kind[p] == ROOT else rank < rank[nv[p]]
        assert t.node_size[node] == component_size(adj, mask, nv[node]), node
    for r in roots:
        assert t.node_size[r] == np.count_nonzero(comp_labels == comp_labels[nv[r]])

    # critical points
    minima, saddles = brute_critical(values, adj)
    assert set(nv[kind == MINIMUM].tolist()) == minima
    assert set(nv[kind == SADDLE].tolist()) == saddles
    assert len(set(nv[kind != ROOT].tolist())) == int(np.count_nonzero(kind != ROOT))

    # pairs: every minimum but the global one of each component dies exactly once, at a saddle
    comp_min = {int(comp_labels[v]): v for v in sorted(minima, key=lambda v: rank[v])[::-1]}
    assert sorted(t.pair_min.tolist()) == sorted(minima - set(comp_min.values()))
    assert set(t.pair_saddle.tolist()) <= saddles
    assert np.all(rank[t.pair_saddle] > rank[t.pair_min])

    # arcs: vertex v lies on the arc of node m iff m is below v and v is below m's parent
    for v in range(n):
        m = seg[v]
        p = parent[m]
        assert rank[nv[m]] <= rank[v]
        assert rank[v] <= rank[nv[p]] if kind[p] == ROOT else rank[v] < rank[nv[p]]
        if v != nv[m]:
            mask = rank <= rank[v]
            sub = np.flatnonzero(mask)
            _, labels = connected_components(adj[sub][:, sub], directed=False)
            pos = np.searchsorted(sub, [v, nv[m]])
            assert labels[pos[0]] == labels[pos[1]]

    # arc means
    for node in range(n_nodes):
        if t.arc_size[node]:
            expected = values[seg == node].sum() / t.arc_size[node]
            assert t.arc_mean_loss[node] == pytest.approx(expected, rel=1e-12)
        else:
            assert np.isnan(t.arc_mean_loss[node])


def grid_adj(shape, connectivity):
    return adjacency(int(np.prod(shape)), grid_edges(shape, connectivity))


# ------------------------------------------------------------- 1. pairs against gudhi


@pytest.mark.parametrize("connectivity", GRID)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("seed", [0, 1])
def test_pairs_match_gudhi_random(connectivity, shape, seed):
    a = np.random.default_rng(seed).random(shape)
    check_against_gudhi(a, connectivity)


@pytest.mark.parametrize("connectivity", GRID)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("seed", [2, 3])
def test_pairs_match_gudhi_ties(connectivity, shape, seed):
    a = np.random.default_rng(seed).integers(0, 4, size=shape).astype(np.float64)
    check_against_gudhi(a, connectivity)


def test_connectivities_differ_on_a_diagonal():
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    full = merge_tree(a, connectivity="full")
    axis = merge_tree(a, connectivity="axis")
    assert tree_pairs(full) == [] and full.n_minima == 1
    assert tree_pairs(axis) == [(0.0, 1.0)]
    assert axis.pair_min.tolist() == [3] and axis.pair_saddle.tolist() == [1]
    fr = merge_tree(a, connectivity="freudenthal")  # diagonal (0,0)-(1,1) is a Kuhn edge
    assert tree_pairs(fr) == [] and fr.n_minima == 1
    fr_anti = merge_tree(a[:, ::-1], connectivity="freudenthal")  # anti-diagonal is not
    assert tree_pairs(fr_anti) == [(0.0, 1.0)]


_elements = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.integers(0, 3).map(float),
)


@st.composite
def _grid_arrays(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6))
    if draw(st.booleans()):
        elements = st.integers(0, 3).map(float)
    else:
        elements = _elements
    return draw(hnp.arrays(np.float64, shape, elements=elements))


@settings(max_examples=40, deadline=None)
@given(a=_grid_arrays(), connectivity=st.sampled_from(GRID))
def test_pairs_match_gudhi_property(a, connectivity):
    check_against_gudhi(a, connectivity)


@settings(max_examples=15, deadline=None)
@given(a=_grid_arrays(), connectivity=st.sampled_from(GRID))
def test_tree_invariants_property(a, connectivity):
    check_tree(merge_tree(a, connectivity=connectivity), grid_adj(a.shape, connectivity))


# ------------------------------------------------------------------------ 2. generators


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generators_match_gudhi_cofaces(shape, seed):
    a = np.random.default_rng(seed).random(shape)
    assert len(np.unique(a)) == a.size
    cc = gudhi.CubicalComplex(top_dimensional_cells=a)
    cc.compute_persistence()
    regular, essential = cc.cofaces_of_persistence_pairs()

    def to_c(idx):
        return int(np.ravel_multi_index(np.unravel_index(int(idx), shape, order="F"), shape))

    reg0 = np.asarray(regular[0]).reshape(-1, 2) if len(regular) else np.zeros((0, 2), int)
    expected = {(to_c(b), to_c(d)) for b, d in reg0}
    t = merge_tree(a, connectivity="full")
    got = set(zip(t.pair_min.tolist(), t.pair_saddle.tolist(), strict=True))
    assert got == expected
    assert len(got) == len(t.pair_min)
    # the essential class is born at the global minimum
    assert [to_c(i) for i in np.asarray(essential[0]).ravel()] == [int(np.argmin(a))]


# --------------------------------------------------------------------- 3. invariants


@pytest.mark.parametrize("connectivity", GRID)
@pytest.mark.parametrize("shape", [(20,), (6, 7), (4, 5, 4), (3, 3, 3, 3)], ids=str)
@pytest.mark.parametrize("ties", [False, True])
def test_tree_invariants(connectivity, shape, ties):
    rng = np.random.default_rng(len(shape) + 10 * ties)
    a = rng.integers(0, 4, size=shape).astype(float) if ties else rng.random(shape)
    t = merge_tree(a, connectivity=connectivity)
    assert t.shape == shape
    assert t.connectivity == connectivity
    check_tree(t, grid_adj(shape, connectivity))


def test_constant_and_single_vertex():
    t = merge_tree(np.full((3, 4), 2.5))
    assert t.n_minima == 1 and t.n_saddles == 0 and t.n_components == 1
    assert t.node_vertex.tolist() == [0, 11] and t.node_kind.tolist() == [MINIMUM, ROOT]
    assert t.node_parent.tolist() == [1, -1]
    assert t.node_size.tolist() == [12, 12] and t.arc_size.tolist() == [12, 0]
    assert np.all(t.segmentation == 0)
    one = merge_tree(np.array([7.0]))
    assert one.node_vertex.tolist() == [0, 0]
    assert one.node_kind.tolist() == [MINIMUM, ROOT]
    assert one.node_size.tolist() == [1, 1] and len(one.pair_min) == 0
    scalar = merge_tree(np.float64(3.0))
    assert scalar.shape == (1,) and scalar.n_minima == 1 and scalar.n_components == 1


# ---------------------------------------------------------------------- 4. invariance


@pytest.mark.parametrize("connectivity", GRID)
@pytest.mark.parametrize("shape", [(15,), (6, 6), (4, 5, 4)], ids=str)
@pytest.mark.parametrize("ties", [False, True])
def test_monotone_transform_invariance(connectivity, shape, ties):
    rng = np.random.default_rng(7)
    a = rng.integers(0, 4, size=shape).astype(float) if ties else rng.random(shape)
    t = merge_tree(a, connectivity=connectivity)
    for b in (np.exp(a), 3 * a + 1):
        assert len(np.unique(b)) == len(np.unique(a))
        u = merge_tree(b, connectivity=connectivity)
        for field in ("node_vertex", "node_kind", "node_parent", "pair_min", "pair_saddle"):
            assert np.array_equal(getattr(t, field), getattr(u, field)), field
        assert np.array_equal(t.segmentation, u.segmentation)
        assert np.array_equal(t.node_size, u.node_size)


def test_monotone_transform_invariance_knn():
    rng = np.random.default_rng(8)
    a = rng.random((5, 6))
    t = merge_tree(a, connectivity="knn", k=4)
    u = merge_tree(np.exp(a), connectivity="knn", k=4)
    for field in ("node_vertex", "node_kind", "node_parent", "pair_min", "pair_saddle"):
        assert np.array_equal(getattr(t, field), getattr(u, field)), field
    assert np.array_equal(t.segmentation, u.segmentation)


# ---------------------------------------------------------------- 5. non-finite, hand


@pytest.mark.parametrize("connectivity", [*GRID, "knn"])
@pytest.mark.parametrize("shape", [(12,), (6, 6), (4, 4, 3)], ids=str)
def test_non_finite_as_plus_inf(connectivity, shape):
    rng = np.random.default_rng(11)
    a = rng.random(shape)
    flat = a.reshape(-1)
    pos = rng.choice(flat.size, size=max(3, flat.size // 4), replace=False)
    for j, p in enumerate(pos):
        flat[p] = (np.nan, np.inf, -np.inf)[j % 3]
    b = np.where(np.isfinite(a), a, 10.0)
    kw = {"k": 2 * len(shape)} if connectivity == "knn" else {}
    t = merge_tree(a, connectivity=connectivity, **kw)
    u = merge_tree(b, connectivity=connectivity, **kw)
    assert np.all(t.values[pos] == np.inf)
    assert np.array_equal(t.values[np.isfinite(a.ravel())], a.ravel()[np.isfinite(a.ravel())])
    for field in ("node_vertex", "node_kind", "node_parent", "pair_min", "pair_saddle"):
        assert np.array_equal(getattr(t, field), getattr(u, field)), field
    assert np.array_equal(t.segmentation, u.segmentation)
    assert np.array_equal(t.node_size, u.node_size)
    assert t.n_components == u.n_components
    if connectivity in ("full", "axis"):
        # gudhi sees the same infinities (NaN replaced by +inf for it)
        gi = cubical_intervals(as_inf(a).reshape(shape), connectivity)
        assert tree_pairs(t) == finite_pairs(gi)


def test_all_non_finite():
    t = merge_tree(np.array([np.nan, -np.inf, np.inf]), connectivity="axis")
    assert np.all(t.values == np.inf)
    assert t.node_vertex.tolist() == [0, 2] and t.node_kind.tolist() == [MINIMUM, ROOT]
    assert np.all(t.segmentation == 0) and len(t.pair_min) == 0


def test_hand_example_1d():
    a = np.array([3.0, 1.0, 4.0, 0.0, 5.0, 2.0])
    t = merge_tree(a, connectivity="axis")
    # sweep: v3(0) min, v1(1) min, v5(2) min, v0(3) joins v1, v2(4) merges v1|v3 -> v1 dies,
    # v4(5) merges v3|v5 -> v5 dies; root at the top vertex v4.
    assert t.node_vertex.tolist() == [3, 1, 5, 2, 4, 4]
    assert t.node_kind.tolist() == [MINIMUM, MINIMUM, MINIMUM, SADDLE, SADDLE, ROOT]
    assert t.node_parent.tolist() == [3, 3, 4, 4, 5, -1]
    assert t.segmentation.tolist() == [1, 1, 3, 0, 4, 2]
    assert t.arc_size.tolist() == [1, 2, 1, 1, 1, 0]
    assert t.node_size.tolist() == [1, 2, 1, 4, 6, 6]
    assert t.pair_min.tolist() == [1, 5] and t.pair_saddle.tolist() == [2, 4]
    assert t.birth.tolist() == [1.0, 2.0] and t.death.tolist() == [4.0, 5.0]
    assert t.persistence.tolist() == [3.0, 3.0]
    assert t.n_minima == 3 and t.n_saddles == 2 and t.n_components == 1
    assert t.node_value.tolist() == [0.0, 1.0, 2.0, 4.0, 5.0, 5.0]
    np.testing.assert_array_equal(t.arc_mean_loss[:5], [0.0, 2.0, 2.0, 4.0, 5.0])
    assert np.isnan(t.arc_mean_loss[5])
    # in 1-D every grid connectivity is the path graph
    for conn in ("full", "freudenthal"):
        u = merge_tree(a, connectivity=conn)
        assert u.node_vertex.tolist() == t.node_vertex.tolist()
        assert u.node_parent.tolist() == t.node_parent.tolist()
        assert u.segmentation.tolist() == t.segmentation.tolist()


def test_hand_example_ties_elder_by_index():
    # equal minima: the one earlier in the sweep (smaller index) is elder and survives
    t = merge_tree(np.array([0.0, 2.0, 0.0, 1.0, 0.0]), connectivity="axis")
    assert t.node_vertex[t.node_kind == MINIMUM].tolist() == [0, 2, 4]
    assert t.pair_min.tolist() == [4, 2] and t.pair_saddle.tolist() == [3, 1]
    assert t.birth.tolist() == [0.0, 0.0] and t.death.tolist() == [1.0, 2.0]


# ----------------------------------------------------------------------------- 6. knn


@pytest.mark.parametrize("symmetrize", ["mutual", "union"])
@pytest.mark.parametrize("shape", [(6, 6), (4, 4, 3)], ids=str)
@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("ties", [False, True])
def test_knn_grid_matches_simplex_tree(symmetrize, shape, k, ties):
    rng = np.random.default_rng(21)
    a = rng.integers(0, 4, size=shape).astype(float) if ties else rng.random(shape)
    t = merge_tree(a, connectivity="knn", k=k, symmetrize=symmetrize)
    k_used = 4 * len(shape) if k is None else k
    assert t.k == k_used and t.symmetrize == symmetrize
    points = np.indices(shape).reshape(len(shape), -1).T
    edges = csr_edges(*knn_graph(points, k_used, symmetrize))
    gi = simplex_intervals(a.ravel(), edges)
    assert tree_pairs(t) == finite_pairs(gi)
    assert essential_count(gi) == t.n_components
    check_tree(t, adjacency(a.size, edges))


@pytest.mark.parametrize("symmetrize", ["mutual", "union"])
def test_knn_scattered_points(symmetrize):
    rng = np.random.default_rng(5)
    pts = rng.normal(size=(60, 2))
    vals = rng.random(60)
    t = merge_tree(vals, connectivity="knn", k=3, symmetrize=symmetrize, points=pts)
    edges = csr_edges(*knn_graph(pts, 3, symmetrize))
    gi = simplex_intervals(vals, edges)
    assert tree_pairs(t) == finite_pairs(gi)
    assert essential_count(gi) == t.n_components
    check_tree(t, adjacency(60, edges))


def test_knn_1d_mutual_k2_is_the_path():
    # each interior point's two nearest are its neighbours; the end points' second choices
    # (0 -> 2, n-1 -> n-3) are not returned, so the mutual graph is the path = axis
    a = np.random.default_rng(3).random(15)
    t = merge_tree(a, connectivity="knn", k=2, symmetrize="mutual")
    u = merge_tree(a, connectivity="axis")
    for field in ("node_vertex", "node_kind", "node_parent", "pair_min", "pair_saddle"):
        assert np.array_equal(getattr(t, field), getattr(u, field)), field
    assert np.array_equal(t.segmentation, u.segmentation)


def test_knn_disconnected_clusters():
    rng = np.random.default_rng(9)
    # two chains of points on a line, far apart: each k=2 graph is connected within a chain
    x = np.concatenate([np.arange(6.0), 100.0 + np.arange(5.0)])
    pts = np.stack([x, 0.1 * rng.random(11)], axis=1)
    vals = rng.random(11)
    for symmetrize in ("mutual", "union"):
        t = merge_tree(vals, connectivity="knn", k=2, symmetrize=symmetrize, points=pts)
        assert t.n_components == 2
        roots = np.flatnonzero(t.node_kind == ROOT)
        assert len(roots) == 2
        assert sorted(t.node_size[roots].tolist()) == [5, 6]
        tops = {int(np.argmax(np.where(np.arange(11) < 6, vals, -1))), 6 + int(np.argmax(vals[6:]))}
        assert set(t.node_vertex[roots].tolist()) == tops
        edges = csr_edges(*knn_graph(pts, 2, symmetrize))
        gi = simplex_intervals(vals, edges)
        assert essential_count(gi) == 2
        assert tree_pairs(t) == finite_pairs(gi)
        check_tree(t, adjacency(11, edges))


# -------------------------------------------------------------------------- errors


def test_errors():
    with pytest.raises(LosstopoError):
        merge_tree(np.zeros((0, 3)))
    with pytest.raises(LosstopoError):
        merge_tree(np.zeros((3, 3)), connectivity="hex")
    with pytest.raises(LosstopoError):
        merge_tree(np.zeros((3, 3)), connectivity="knn", points=np.zeros((4, 2)))
    with pytest.raises(LosstopoError):
        merge_tree(np.zeros((3, 3)), connectivity="knn", k=9)
