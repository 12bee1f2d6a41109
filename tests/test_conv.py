"""The NumPy references in gan_course.conv agree with PyTorch, and the size formulas with real shapes."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_course.notebook.conv import (
    batchnorm_numpy,
    conv2d_numpy,
    conv_output_size,
    conv_transpose2d_numpy,
    conv_transpose_output_size,
    pad_numpy,
    stamp_counts,
)

RNG = np.random.default_rng(0)


def _torch_conv(x, w, bias, stride, padding, mode):
    xt = torch.tensor(x, dtype=torch.float64)[None]  # (1, C, H, W)
    wt = torch.tensor(w, dtype=torch.float64)[None]  # (1, C, kh, kw)
    bt = torch.tensor([bias], dtype=torch.float64)
    if mode == "reflect" and padding:
        xt = F.pad(xt, (padding,) * 4, mode="reflect")
        padding = 0
    return F.conv2d(xt, wt, bt, stride=stride, padding=padding)[0, 0].numpy()


def test_book_conv_example():
    out = conv2d_numpy([[1, 1, 1], [0, 1, 2], [8, 7, 6]], [[1, 2], [3, 4]], bias=0)
    np.testing.assert_array_equal(out, [[7, 14], [54, 50]])


def test_book_conv_transpose_example():
    out = conv_transpose2d_numpy([[1, 0], [2, 3]], [[2, 3], [4, 5]], stride=2)
    np.testing.assert_array_equal(out, [[2, 3, 0, 0], [4, 5, 0, 0], [4, 6, 6, 9], [8, 10, 12, 15]])


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
@pytest.mark.parametrize("k,s,p", [(1, 1, 0), (2, 1, 0), (3, 1, 1), (3, 2, 1), (4, 2, 1),
                                   (5, 3, 2), (2, 2, 0), (3, 3, 0)])
@pytest.mark.parametrize("channels", [1, 3])
def test_conv2d_matches_torch(k, s, p, mode, channels):
    x = RNG.normal(size=(channels, 7, 6))
    w = RNG.normal(size=(channels, k, k))
    bias = float(RNG.normal())
    image, kernel = (x[0], w[0]) if channels == 1 else (x, w)
    ours = conv2d_numpy(image, kernel, bias=bias, stride=s, padding=p, padding_mode=mode)
    np.testing.assert_allclose(ours, _torch_conv(x, w, bias, s, p, mode), rtol=1e-10, atol=1e-10)


def test_reflect_differs_from_zeros_and_matches_torch_pad():
    x = np.arange(1, 10, dtype=float).reshape(3, 3)
    refl = pad_numpy(x, 1, "reflect")
    torch_refl = F.pad(torch.tensor(x)[None, None], (1, 1, 1, 1), mode="reflect")[0, 0].numpy()
    np.testing.assert_array_equal(refl, torch_refl)
    assert refl[0, 0] == 5 and pad_numpy(x, 1, "zeros")[0, 0] == 0


@pytest.mark.parametrize("k,s,p,op", [(2, 2, 0, 0), (3, 1, 0, 0), (3, 2, 1, 1), (4, 2, 1, 0),
                                      (4, 1, 0, 0), (5, 3, 2, 2), (4, 2, 1, 1)])
@pytest.mark.parametrize("channels", [1, 2])
def test_conv_transpose2d_matches_torch(k, s, p, op, channels):
    x = RNG.normal(size=(channels, 3, 4))
    w = RNG.normal(size=(channels, k, k))
    xin, kin = (x[0], w[0]) if channels == 1 else (x, w)
    ours = conv_transpose2d_numpy(xin, kin, stride=s, padding=p, output_padding=op)
    ref = F.conv_transpose2d(torch.tensor(x)[None], torch.tensor(w)[:, None], stride=s,
                             padding=p, output_padding=op)[0, 0].numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5), (2, 1, 3, 4)])
def test_batchnorm_matches_torch(shape):
    x = RNG.normal(loc=3.0, scale=2.0, size=shape)
    gamma, beta = RNG.normal(size=shape[1]), RNG.normal(size=shape[1])
    ref = F.batch_norm(torch.tensor(x), None, None, torch.tensor(gamma), torch.tensor(beta),
                       training=True, eps=1e-5).numpy()
    np.testing.assert_allclose(batchnorm_numpy(x, gamma=gamma, beta=beta), ref, rtol=1e-9, atol=1e-9)
    plain = batchnorm_numpy(x)
    axes = (0,) + tuple(range(2, len(shape)))
    np.testing.assert_allclose(plain.mean(axis=axes), 0, atol=1e-9)
    np.testing.assert_allclose(plain.std(axis=axes), 1, atol=1e-3)


def test_conv_output_size_matches_torch_shapes():
    for n, k, s, p, d in itertools.product([5, 8, 11], [1, 2, 3, 4], [1, 2, 3], [0, 1, 2], [1, 2]):
        if d * (k - 1) + 1 > n + 2 * p:
            with pytest.raises(ValueError, match="larger than the padded input"):
                conv_output_size(n, k, s, p, d)
            continue
        out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p,
                       dilation=d)
        assert out.shape[-1] == conv_output_size(n, k, s, p, d), (n, k, s, p, d)


def test_conv_transpose_output_size_matches_torch_shapes():
    for n, k, s, p in itertools.product([1, 2, 4, 7], [1, 2, 3, 4], [1, 2, 3], [0, 1]):
        for op in range(s):
            if (n - 1) * s - 2 * p + k + op <= 0:
                continue
            out = F.conv_transpose2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s,
                                     padding=p, output_padding=op)
            assert out.shape[-1] == conv_transpose_output_size(n, k, s, p, op), (n, k, s, p, op)


def test_dcgan_generator_ladder():
    sizes = [conv_transpose_output_size(1, 4, 1, 0)]
    while sizes[-1] < 64:
        sizes.append(conv_transpose_output_size(sizes[-1], 4, 2, 1))
    assert sizes == [4, 8, 16, 32, 64]


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="channels"):
        conv2d_numpy(np.zeros((2, 4, 4)), np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="padding_mode"):
        conv2d_numpy(np.zeros((4, 4)), np.zeros((2, 2)), padding=1, padding_mode="circular")
    with pytest.raises(ValueError, match="reflect padding"):
        conv2d_numpy(np.zeros((3, 3)), np.zeros((2, 2)), padding=3, padding_mode="reflect")
    with pytest.raises(ValueError, match="stride"):
        conv_output_size(5, 3, 0, 0)
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose_output_size(4, 4, 2, 1, output_padding=2)
    with pytest.raises(ValueError, match="batch axis"):
        batchnorm_numpy(np.zeros(3))


@pytest.mark.parametrize("n,k,s,p,op", [(3, 4, 2, 1, 0), (3, 3, 2, 0, 0), (4, 3, 2, 1, 1),
                                        (2, 2, 2, 0, 0), (5, 5, 3, 2, 1)])
def test_stamp_counts_are_the_transposed_conv_of_ones(n, k, s, p, op):
    ones = torch.ones(1, 1, n, n, dtype=torch.float64)
    ref = F.conv_transpose2d(ones, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s,
                             padding=p, output_padding=op)[0, 0].numpy()
    counts = stamp_counts(n, k, s, p, op)
    assert counts.dtype.kind == "i" and counts.shape == ref.shape
    np.testing.assert_array_equal(counts, ref)


def test_stamp_counts_show_even_and_uneven_overlap():
    # No overlap: every output pixel gets exactly one stamp.
    assert set(np.unique(stamp_counts(3, 2, 2))) == {1}
    # DCGAN's layer (k=4, s=2, p=1): corners 1, edges 2, all of the interior 4 -- even overlap.
    dcgan = stamp_counts(4, 4, 2, 1)
    assert dcgan[0, 0] == 1 and dcgan[0, 3] == 2 and (dcgan[1:-1, 1:-1] == 4).all()
    # k=3, s=2: the interior alternates 1, 2, 4 stamps -- uneven overlap, a checkerboard.
    inner = stamp_counts(5, 3, 2)[2:-2, 2:-2]
    assert set(np.unique(inner)) == {1, 2, 4}
    np.testing.assert_array_equal(inner[:2, :2], [[4, 2], [2, 1]])
    # Without cropping, the counts add up to one k x k stamp per input cell.
    assert stamp_counts(4, 3, 2).sum() == 4 * 4 * 3 * 3
