"""How `make test` shares the work among its workers (tests/conftest.py's ``work_group``): a file
stays on one worker unless conftest.py splits it, and the files it splits exist."""
from pathlib import Path

from conftest import SPLIT, work_group

ROOT = Path(__file__).resolve().parents[1]


def test_the_files_split_exist():
    for path in SPLIT:
        assert (ROOT / path).is_file(), f"conftest.SPLIT names {path}, which is not there"


def test_a_file_is_one_unit_unless_split():
    assert work_group("tests/test_units.py::test_a") == work_group("tests/test_units.py::test_b[x-1]") \
        == "tests/test_units.py"
    a11y = ("tests/test_browser_a11y.py::test_projector_sizes_keep_the_result_in_view_and_presentation_mode"
            "_enlarges[1280x720]")
    assert work_group(a11y) == a11y != work_group(a11y.replace("1280x720", "1024x768"))
    docs = "tests/test_docs.py::test_example_runs"
    assert work_group(f"{docs}[cli.md-sh-line34]") == work_group(f"{docs}[cli.md-python]") == \
        "tests/test_docs.py::cli.md" != work_group(f"{docs}[README.md-sh-line67]")
    assert work_group("tests/test_docs.py::test_the_examples_are_found") == "tests/test_docs.py"
