"""Looks inside jars with python3's zipfile: the stack has python3 but neither unzip nor a JVM,
and detect runs on the plain stack.

  jar.py main-class JAR        prints the manifest's Main-Class; exit 1 when it has none
  jar.py has-class JAR CLASS   exit 0 when JAR holds CLASS (a.b.C → a/b/C.class)
  jar.py executable DIR...     prints the executable jars (with a Main-Class) directly in DIRs
"""
import glob
import os
import sys
import zipfile


def main_class(path):
    try:
        with zipfile.ZipFile(path) as jar:
            manifest = jar.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    # Manifest lines are wrapped at 72 bytes: a line starting with one space continues the last.
    lines = []
    for line in manifest.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.startswith(" ") and lines:
            lines[-1] += line[1:]
        else:
            lines.append(line)
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "main-class" and value.strip():
            return value.strip()
    return None


def has_class(path, cls):
    try:
        with zipfile.ZipFile(path) as jar:
            jar.getinfo(cls.replace(".", "/") + ".class")
            return True
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def executable(dirs):
    found = []
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*.jar"))):
            base = os.path.basename(path)
            # Maven's side artifacts and the shade plugin's pre-shading copy are never the app.
            if base.endswith(("-sources.jar", "-javadoc.jar", "-tests.jar")) or base.startswith("original-"):
                continue
            if os.path.isfile(path) and main_class(path):
                found.append(path)
    return found


def main(argv):
    if len(argv) >= 2 and argv[0] == "main-class":
        cls = main_class(argv[1])
        if cls is None:
            return 1
        print(cls)
        return 0
    if len(argv) == 3 and argv[0] == "has-class":
        return 0 if has_class(argv[1], argv[2]) else 1
    if len(argv) >= 2 and argv[0] == "executable":
        found = executable(argv[1:])
        for path in found:
            print(path)
        return 0 if found else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
