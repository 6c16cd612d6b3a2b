from __future__ import annotations

import inspect

import bench.errors as errors


def test_every_error_derives_from_bench_error_and_is_drawn_in_the_tree() -> None:
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if obj.__module__ == errors.__name__]
    for cls in classes:
        assert cls.__name__ in errors.__doc__, cls
        if issubclass(cls, Warning):
            assert issubclass(cls, errors.BenchWarning)
        elif issubclass(cls, KeyboardInterrupt):  # Ctrl-C stays a KeyboardInterrupt: no 'except Exception' stops it
            assert cls is errors.RunInterrupted
        else:
            assert issubclass(cls, errors.BenchError)
    assert set(errors.__all__) == {c.__name__ for c in classes}


def test_unknown_name_error_message_is_not_quoted() -> None:
    assert str(errors.UnknownNameError("Unknown x 'y'.")) == "Unknown x 'y'."
