"""The curated surface: __all__ is sorted, complete and importable."""

from __future__ import annotations

import bird_recordings as br


def test_all_is_sorted_and_unique() -> None:
    assert list(br.__all__) == sorted(set(br.__all__), key=str)


def test_every_public_name_resolves_and_has_a_docstring() -> None:
    for name in br.__all__:
        obj = getattr(br, name)
        if name == "__version__":
            assert isinstance(obj, str)
            continue
        assert obj.__doc__, f"{name} has no docstring"


def test_no_public_name_is_left_out() -> None:
    public = {
        name
        for name, value in vars(br).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith(br.__name__)
    }
    assert public <= set(br.__all__) | {"emulator", "cli"}
