#!/usr/bin/env python3
"""Writes vendor/napgreeting-1.0.0-py3-none-any.whl, the tiny package this example depends on.

A wheel is a zip of the package plus a dist-info folder (METADATA, WHEEL, and RECORD with each
file's sha256), so the standard library is enough. Fixed timestamps and order make the wheel the
same bytes every time: re-running it leaves git with nothing to commit.
"""
import base64
import hashlib
import os
import zipfile

NAME, VERSION = "napgreeting", "1.0.0"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"

FILES = {
    f"{NAME}/__init__.py": f'''"""A greeting, from a package that comes as a vendored wheel."""
__version__ = "{VERSION}"


def greeting(name="nap"):
    return f"Hello from {{name}}! (napgreeting {{__version__}})"
''',
    f"{DIST_INFO}/METADATA": f"""Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: A greeting for nap's python-wheel example
Requires-Python: >=3.7
""",
    f"{DIST_INFO}/WHEEL": """Wheel-Version: 1.0
Generator: nap make-wheel.py
Root-Is-Purelib: true
Tag: py3-none-any
""",
}


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "vendor", f"{NAME}-{VERSION}-py3-none-any.whl")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    entries = {path: text.encode() for path, text in FILES.items()}
    record = "\n".join([record_line(p, d) for p, d in entries.items()] + [f"{DIST_INFO}/RECORD,,"]) + "\n"
    entries[f"{DIST_INFO}/RECORD"] = record.encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as whl:
        for path, data in entries.items():
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            whl.writestr(info, data)
    print(out)


if __name__ == "__main__":
    main()
