"""The README's "Use from Python" example runs as written."""

from __future__ import annotations

import doctest
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_the_readme_python_example_runs() -> None:
    text = README.read_text()
    section = text[text.index("## Use from Python") :]
    section = section[: section.index("\n## ", 1) if "\n## " in section[1:] else len(section)]
    parser = doctest.DocTestParser()
    test = parser.get_doctest(section, {}, "README.md: Use from Python", str(README), 0)
    assert len(test.examples) >= 10  # the example is there, not an empty section
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} README examples failed (see above)"
