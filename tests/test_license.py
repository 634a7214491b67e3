"""The `license` question: each choice renders its LICENSE and a pyproject.toml that builds."""

import subprocess
import sys
import zipfile
from email.parser import Parser

import pytest
from conftest import DATA

REFERENCE = DATA / "licenses"
AUTHOR = {"author_name": "Ada  Lovelace\nJr", "copyright_year": "2024"}  # written on one line
HOLDER = "Ada Lovelace Jr"
FIELDS = {  # the reference texts' fields to fill in
    "<year>": "2024",
    "<copyright holders>": HOLDER,
    "<owner>": HOLDER,
    "[yyyy]": "2024",
    "[name of copyright owner]": HOLDER,
}


def words(text):
    """The text with its line breaks and runs of spaces as single spaces (wrapping differs)."""
    return " ".join(text.split())


def filled_in(licence):
    text = (REFERENCE / f"{licence}.txt").read_text(encoding="utf-8")
    for field, value in FIELDS.items():
        text = text.replace(field, value)
    return text


def built_wheel(project, tmp_path):
    """pip builds the project's wheel as `pip install` would -> its METADATA and LICENSE."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=project,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        return Parser().parsestr(archive.read(metadata).decode()), archive.read(licence).decode()


LICENCES = {  # the answer -> the SPDX expression in the package metadata
    "MIT": "MIT",
    "Apache-2.0": "Apache-2.0",
    "BSD-3-Clause": "BSD-3-Clause",
    "proprietary": "LicenseRef-Proprietary",
}


@pytest.mark.parametrize("licence", list(LICENCES))
def test_each_licence_renders_its_standard_text_with_year_and_author(render, licence):
    project = render({"license": licence, **AUTHOR}, train_model=False)
    text = (project / "LICENSE").read_text(encoding="utf-8")
    if licence == "proprietary":
        assert text.startswith(f"Copyright (c) 2024 {HOLDER}. All rights reserved.\n")
        assert "without the copyright holder's prior written permission" in text
    else:
        assert words(text) == words(filled_in(licence))


@pytest.mark.slow  # builds a wheel: pip fetches setuptools>=77 into an isolated environment
@pytest.mark.parametrize("licence", list(LICENCES))
def test_each_licence_is_in_the_package_pip_builds(render, tmp_path, licence):
    project = render({"license": licence, **AUTHOR}, train_model=False)
    metadata, packaged_licence = built_wheel(project, tmp_path)
    assert metadata["License-Expression"] == LICENCES[licence]
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert packaged_licence == (project / "LICENSE").read_text(encoding="utf-8")
    private = "Private :: Do Not Upload" in (metadata.get_all("Classifier") or [])
    assert private == (licence == "proprietary")  # PyPI refuses it: no upload by mistake
