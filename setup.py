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
    # Shipped in the wheel (tests/test_packaging.py checks): the schemas, and the logging
    # configuration that logs.py points singer-python's reload at.
    package_data={"tap_helpscout": ["schemas/*.json", "logging.conf"]},
    install_requires=[
        "singer-python==6.8.*",
        # HTTPS trust roots for the standard library's http.client (transport.py says why the
        # tap does not use requests).
        "certifi",
        "backoff==2.2.*",
        "pytz",
    ],
    # setuptools: tests build the package without build isolation, and venvs on Python 3.12+
    # come without it; 70.1 builds wheels without the `wheel` package. The tests talk to the
    # emulator with requests.
    extras_require={"test": ["pytest>=7", "pytest-timeout", "setuptools>=70.1", "requests>=2.31,<3"]},
    entry_points={"console_scripts": ["tap-helpscout=tap_helpscout:main"]},
)
