"""Streaming video metrics; importing this package registers them in ``benchmark.registry.METRICS``.

Explicit imports, no entry points: a new metric module is added to the list below.
"""

from benchmark.metrics.base import MetricValue, VideoMetric, mean_ci  # noqa: F401
from benchmark.metrics import psnr, ssim, fcs  # noqa: F401  (register "psnr", "ssim", "fcs")
from benchmark.metrics.fcs import FrameConsistencyScore  # noqa: F401
from benchmark.metrics.psnr import PeakSignalNoiseRatio  # noqa: F401
from benchmark.metrics.ssim import StructuralSimilarity  # noqa: F401
from benchmark.metrics import fvd  # noqa: F401,E402  (registers "fvd"; networks load lazily on construction)
from benchmark.metrics.functional.frechet import frechet_distance  # noqa: F401,E402
from benchmark.metrics.fvd import FrechetVideoDistance  # noqa: F401,E402
from benchmark.metrics import inception_score  # noqa: F401,E402  (registers "is_frame", "fid_frame")
from benchmark.metrics import mcs  # noqa: F401,E402  (registers "mcs"; VGG16 loads on construction)
from benchmark.metrics import lpips  # noqa: F401,E402  (registers "lpips"; AlexNet loads on construction)
from benchmark.metrics import video_is  # noqa: F401,E402  (registers "is_video"; C3D loads on construction)
from benchmark.metrics import vgg_cosine  # noqa: F401,E402  (registers "vgg_cosine"; VGG16 loads on construction)
from benchmark.metrics import diversity  # noqa: F401,E402  (registers "diversity", "diversity_l1")
from benchmark.metrics import likelihood  # noqa: F401,E402  (registers "bits_per_dim": likelihood models only)
from benchmark.metrics import shapes  # noqa: F401,E402  (registers "fvd_shapes", "is_shapes", "factors_shapes")
