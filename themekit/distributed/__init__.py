"""Running a job beyond one machine.

:mod:`themekit.distributed.ray_engine` runs the embedding (and, for corpora larger than
``execution.sample_size``, the assignment of segments to themes) on a Ray cluster, writing the
same embedding cache shards as the local engine; :mod:`themekit.distributed.sampling` draws the
stratified sample the themes are fitted on; :mod:`themekit.distributed.stream` assigns and
describes the other segments over the cache shards, so their vectors never reach the driver.
Nothing here imports Ray until it is used.
"""

from themekit.distributed.sampling import stratified_sample

__all__ = ["stratified_sample"]
