from __future__ import annotations

import pytest

from bench.errors import StatisticsError
from bench.scoring.options import StatisticsOptions


@pytest.mark.parametrize(("options", "message"), [
    ({"resamples": 99}, r"'StatisticsOptions\.resamples' \(--resamples\) must be an integer in \[100, 1000000000\], got an integer 99\."),
    ({"resamples": True}, r"'StatisticsOptions\.resamples' \(--resamples\) must be an integer in \[100, 1000000000\], got a boolean"),
    ({"level": 1.0}, r"'StatisticsOptions\.level' \(--level\) must be a number in \(0, 1\), got a float 1\.0\."),
    ({"seed": True}, r"'StatisticsOptions\.seed' must be an integer in \[0, 9223372036854775807\], got a boolean True\."),
    ({"seed": -1}, r"'StatisticsOptions\.seed' must be an integer in \[0, 9223372036854775807\], got an integer -1\."),
    ({"method": "basic"}, r"'StatisticsOptions\.method' \(--method\) must be one of auto, studentized, BCa, percentile; got 'basic'\."),
    ({"permutations": 5}, r"'StatisticsOptions\.permutations' \(--permutations\) must be an integer in \[100, 1000000000\], got an integer 5\."),
    ({"kinds": ("worst",)}, r"'StatisticsOptions\.kinds\[0\]' \(--gaps\) must be one of id_ood, .*; got 'worst'\. "
                            r"Did you mean 'best_worst'\?"),
    ({"kinds": "id_ood"}, r"'StatisticsOptions\.kinds' \(--gaps\) must be an array of 0-5 items"),
])
def test_bad_options_are_named_in_the_schema_form(options: dict, message: str) -> None:
    with pytest.raises(StatisticsError, match=message):
        StatisticsOptions(**options)


def test_method_is_case_insensitive_and_kinds_become_a_tuple() -> None:
    options = StatisticsOptions(method="bca", kinds=["spread"])  # type: ignore[arg-type]
    assert (options.method, options.kinds) == ("BCa", ("spread",))
