"""How the e5 backend batches its windows (:class:`themekit.embed.e5.E5Embedder`): padded
lengths, rows per batch, and the plan that keeps a text's vector independent of the texts
embedded with it."""

from __future__ import annotations

from collections.abc import Sequence

#: Padded tokens per forward batch on a CPU. Measured on mixed SIB-200/NHS/AnnoMI segments
#: (1 core, bf16): 8,192 (batches of 64) ran at 0.42x the speed of 1,024, because a batch is
#: padded to its longest window and attention grows with its square (benchmarks/RESULTS.md).
CPU_BATCH_TOKENS = 1024
GPU_BATCH_TOKENS = 16384
#: Every batch is padded to a multiple of this many tokens. Each distinct (batch, length)
#: shape makes PyTorch/oneDNN build and keep kernels and buffers of its own, so with exact
#: lengths resident memory grew by ~10 KiB a segment over a 100,000-segment run
#: (benchmarks/RESULTS.md, issue 15).
PAD_MULTIPLE = 8
#: ... and longer windows to a coarser step: at most 1/PAD_FRACTION of the power of two at or
#: above their length (8 to 64 tokens, 16 to 128, 32 to 256, 64 to 512: 20 lengths in all).
#: Since a batch holds one padded length, fewer lengths means fewer short batches and
#: shapes (0: every length to a multiple of :data:`PAD_MULTIPLE`, 64 lengths).
PAD_FRACTION = 8
MAX_POSITIONS = 512  # BERT: 512 positions from 0
#: Part of the embedder id: batches hold one padded length (:func:`plan_batches`), so a
#: text's vector does not depend on its batch mates. Vectors cached before this was so were
#: computed with whatever texts shared their call and are not reused.
BATCHING = "one-length-r1"
#: Texts per ``encode`` call from :func:`themekit.embed.engine.embed_texts` (its
#: ``min_batch_size``): every call ends each of its lengths in a short batch, so larger calls
#: run fewer, fuller batches. A text's vector is the same in a call of any size.
CALL_TEXTS = 1024
#: Each distinct (rows, length) shape keeps ~1.8 MiB of oneDNN kernels and buffers: short
#: batches are run at a power of two rows (:func:`padded_rows`, same vectors). Counted on the
#: 100,000 texts of benchmarks/end_to_end.py: 95 shapes and 4,551 batches (4.05 M padded
#: tokens) with batches padded to their longest and calls of 64 texts, 90 shapes and 3,991
#: batches (3.68 M) with one padded length a batch, these lengths and calls of 1,024.


def padded_length(length: int) -> int:
    """``length`` rounded up to its step, at most :data:`MAX_POSITIONS` (and never below
    ``length``): the step is :data:`PAD_MULTIPLE`, or 1/:data:`PAD_FRACTION` of the power of
    two at or above ``length`` where that is coarser."""
    step = PAD_MULTIPLE
    if PAD_FRACTION:
        step = max(step, (1 << max(length - 1, 0).bit_length()) // PAD_FRACTION)
    return max(length, min(-(-length // step) * step, MAX_POSITIONS))


def padded_rows(rows: int, full: int) -> int:
    """Rows a batch of ``rows`` windows is run with: ``rows`` rounded up to a power of two, at
    most ``full`` (what its length allows) and never below ``rows``. The rows added repeat a
    real one and are dropped; each row's vector does not depend on the others in its batch."""
    return max(rows, min(1 << max(rows - 1, 0).bit_length(), full))


def batch_rows(longest: int, batch_size: int, max_batch_tokens: int) -> int:
    """Rows a batch whose longest window has ``longest`` tokens may hold."""
    return max(1, min(batch_size, max_batch_tokens // max(padded_length(longest), 1)))


def plan_batches(lengths: Sequence[int], batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Indices of ``lengths`` in batches: longest first, each at most ``batch_size`` items and
    ``max_batch_tokens`` padded tokens (its longest length, rounded by :func:`padded_length`,
    times its size; a single item longer than the budget is a batch of its own). A batch holds
    items of **one padded length** only, so every item runs at the shape its own length gives:
    its vector is then the same, bit for bit, whatever other texts share the call, in whatever
    order (in bf16 a window padded to a longer batch mate's length came out up to 1e-3 away,
    and which texts share a call depends on what the embedding cache already holds)."""
    order = sorted(range(len(lengths)), key=lambda w: -lengths[w])
    batches, k = [], 0
    while k < len(order):
        length = padded_length(lengths[order[k]])
        size = batch_rows(lengths[order[k]], batch_size, max_batch_tokens)
        end = min(k + size, len(order))
        while padded_length(lengths[order[end - 1]]) != length:
            end -= 1
        batches.append(order[k:end])
        k = end
    return batches
