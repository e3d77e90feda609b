"""The soak's verdict: a steady server passes, a leaking one fails."""

from voicebot.bench.soak import Sample, SoakResult, bounded, trend


def run(rss: list[float], fds: list[int], settled_fds: int) -> SoakResult:
    samples = [Sample(i * 60.0, r, f, 20, 8) for i, (r, f) in enumerate(zip(rss, fds, strict=True))]
    return SoakResult(len(rss), 8, 100, 0, samples, Sample(len(rss) * 60.0, rss[-1], settled_fds, 20, 0))


def test_trend_is_the_least_squares_slope():
    assert trend([(0, 1), (1, 3), (2, 5)]) == 2.0
    assert trend([(0, 5)]) == 0.0


def test_warm_up_growth_then_flat_is_bounded():
    checks = bounded(run([500, 600, 700, 701, 701, 701, 702, 701, 701], [16, 40, 41, 40, 41, 40, 41, 40, 40], 17))
    assert checks["rss_bounded"] and checks["fds_returned"] and checks["threads_returned"]


def test_steady_growth_is_a_leak():
    checks = bounded(run([500 + 10 * i for i in range(10)], [16] * 10, 16))
    assert not checks["rss_bounded"] and checks["rss_mb_per_min_second_half"] == 10.0


def test_descriptors_not_given_back_are_a_leak():
    assert not bounded(run([500] * 5, [16, 40, 60, 80, 100], 90))["fds_returned"]
