"""The reference code an assignment asks the student to write, absent from the kernel.

:data:`REFERENCE_CODE` lists, per assignment, the modules that implement what the
student must write. While a submission is graded they do not exist where the
student's answers run: the bubblewrap sandbox hides their files (and their
compiled copies) under empty file systems (:func:`course_utils.grading.isolation.bwrap_prefix`),
the ``unshare`` sandbox does the same in a mount namespace of its own, and the
kernel starts with :class:`Refuse` first on ``sys.meta_path``, so that every form of
import (``import``, ``importlib``, ``__import__("tensor" + "flow")``, a default
argument) fails at once with a message that says what to write. The hook only words
the failure; without it the files are still not there.

``python -m course_utils.grading.absent ASSIGNMENT -f CONNECTION_FILE`` starts an
IPython kernel with the hook installed (what the sandboxed kernel manager runs).
"""

from __future__ import annotations

import importlib.abc
import sys

#: assignment -> (its short name, what the student writes, the modules that must be absent).
REFERENCE_CODE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "a1_arithmetic": ("A1", "conv_output_size, transposed_output_size, the size and receptive-field tables, "
                            "rf_step and the parameter counts",
                      ("course_utils.arithmetic", "course_utils.receptive_field", "course_utils.params")),
    "a2_numpy_layers": ("A2", "conv_forward, conv_backward, maxpool_forward/backward and "
                              "batchnorm_forward/backward in numpy",
                        ("course_utils.ops", "tensorflow", "scipy")),
    # A3's network is the student's; its size and receptive-field table is worked out by hand.
    "a3_depthwise": ("A3", "the output sizes and receptive fields of your network",
                     ("course_utils.grading.a3", "course_utils.receptive_field", "course_utils.rf_probe",
                      "course_utils.spec", "course_utils.spec_core", "course_utils.spec_lists",
                      "course_utils.spec_keras", "course_utils.arithmetic")),
}

#: The messages of the imports refused in this process (the grader quotes the last one).
REFUSED: list[str] = []


def absent_modules(assignment: str) -> tuple[str, ...]:
    return REFERENCE_CODE.get(assignment, ("", "", ()))[2]


def hidden_entries(folder: str, assignment: str, package_dir: str) -> set[str]:
    """The entries of ``folder`` to hide for ``assignment``: the files and compiled copies of
    its absent course modules when ``folder`` is the package (or its ``__pycache__``), the
    distributions of its absent top-level packages when it is a site folder."""
    import fnmatch
    import os

    names = os.listdir(folder)
    patterns: list[str] = []
    for module in absent_modules(assignment):
        top, _, rest = module.partition(".")
        if top == "course_utils" and rest:
            parent, _, leaf = rest.rpartition(".")
            home = os.path.join(package_dir, *parent.split(".")) if parent else package_dir
            if folder == home:
                patterns += [leaf, f"{leaf}.py"]
            elif folder == os.path.join(home, "__pycache__"):
                patterns.append(f"{leaf}.*.pyc")
        elif not rest and folder != package_dir:
            patterns += [top, f"{top}.py", f"{top}.libs", f"{top}-*", f"{top}_*", f"{top}.*.so"]
    return {name for name in names if any(fnmatch.fnmatchcase(name, p) for p in patterns)}


def module_folders(assignment: str, package_dir: str) -> list[str]:
    """The folders of the package that hold absent course modules of ``assignment`` (and
    their ``__pycache__``), parents first."""
    import os

    folders: list[str] = []
    for module in absent_modules(assignment):
        top, _, rest = module.partition(".")
        if top == "course_utils" and rest:
            parent = rest.rpartition(".")[0]
            home = os.path.join(package_dir, *parent.split(".")) if parent else package_dir
            for folder in (home, os.path.join(home, "__pycache__")):
                if folder not in folders:
                    folders.append(folder)
    return sorted(folders, key=lambda f: f.count(os.sep))


def message(assignment: str, module: str) -> str:
    label, what, _ = REFERENCE_CODE[assignment]
    return (f"{label} asks you to write {what} yourself: {module} is not available while your answers "
            "are graded (write it with numpy and plain Python)")


class Refuse(importlib.abc.MetaPathFinder):
    """Fails the import of an absent module (and of anything inside it) with :func:`message`."""

    def __init__(self, assignment: str):
        self.assignment = assignment
        self.modules = absent_modules(assignment)

    def find_spec(self, fullname, path=None, target=None):
        for module in self.modules:
            if fullname == module or fullname.startswith(module + "."):
                text = message(self.assignment, module)
                REFUSED.append(text)
                raise ModuleNotFoundError(text, name=fullname)
        return None


def install(assignment: str) -> None:
    if absent_modules(assignment) and not any(isinstance(f, Refuse) for f in sys.meta_path):
        for module in list(sys.modules):
            if any(module == m or module.startswith(m + ".") for m in absent_modules(assignment)):
                del sys.modules[module]
        sys.meta_path.insert(0, Refuse(assignment))


def main() -> None:
    from course_utils.grading import absent  # this module under its own name, not __main__

    absent.install(sys.argv.pop(1))
    if sys.path and sys.path[0] == "":  # as ipykernel_launcher does
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
