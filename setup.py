import re
from pathlib import Path

# The build backend is declared in pyproject.toml; this file holds the package's metadata.
from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent

setup(
    name="tap-helpscout",
    version=re.search(r'VERSION = "(.+)"', (HERE / "tap_helpscout" / "version.py").read_text()).group(1),
    description="Singer tap for Help Scout (Mailbox API 2.0): conversations, threads, customers, "
                "mailboxes, users, teams, workflows and happiness ratings",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["tap_helpscout", "tap_helpscout.*"]),
    # Shipped in the wheel (tests/integration/test_packaging.py checks): the schemas, and the logging
    # configuration that logs.py points singer-python's reload at.
    package_data={"tap_helpscout": ["schemas/*.json", "logging.conf"]},
    install_requires=[
        "singer-python==6.8.*",
        # 2.32.4: CVE-2024-47081 (netrc credentials sent for the wrong host). 2.33 needs Python 3.10.
        "requests>=2.32.4,<3",
        # The decompression-bomb fixes of the streaming API the tap reads bodies with: 2.6.0
        # (GHSA-2xpw-w6gg-jr37, GHSA-gm62-xv2j-4w53), 2.6.3 (GHSA-38jv-5279-wg99), 2.7.0
        # (GHSA-mf9v-mfxr-j63j), which needs Python 3.10.
        "urllib3>=2.7; python_version>='3.10'",
        "urllib3>=2.6.3; python_version<'3.10'",
        "backoff==2.2.*",           # singer-python pins 2.2.1
        "pytz",
    ],
    # setuptools: tests build the package without build isolation, and venvs on Python 3.12+
    # come without it; 70.1 builds wheels without the `wheel` package. pytest-xdist: the Makefile
    # runs the tests on several workers (-n, --dist loadgroup). pytest 9.2 changed how node IDs
    # are stored, and pytest-xdist 3.8's loadgroup then silently stops grouping the tests marked
    # xdist_group (pytest-dev/pytest-xdist#1386): below 9.2 until a release of xdist fixes it.
    extras_require={"test": ["pytest>=7,<9.2", "pytest-timeout", "pytest-xdist>=3", "setuptools>=70.1"]},
    entry_points={"console_scripts": ["tap-helpscout=tap_helpscout:main"]},
)
