# The image of the grading cluster's scheduler and workers (docs/grading-cluster.md):
# the course package and the libraries of the instructor's .venv, bubblewrap, the datasets.
# Build it from the commit you grade with, at the repository's root:
#   docker build -f docker/grader-worker.Dockerfile -t registry.example.edu/course/grader:COMMIT .
# No solutions, gradebooks or credentials are needed in it: each task carries the template
# of its assignment, and the instructor's machine alone writes the gradebook.
FROM python:3.11-slim-bookworm

# bubblewrap: the kernel sandbox; util-linux: prlimit and setpriv; procps: kill_user's /proc walk;
# dataset-fashion-mnist: the offline dataset A3 is evaluated on (course setup links it).
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap util-linux procps tini \
 && (apt-get install -y --no-install-recommends dataset-fashion-mnist || true) \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /course
COPY pyproject.toml README.md ./
COPY course_utils ./course_utils
RUN python -m pip install --no-cache-dir --disable-pip-version-check -e ".[cpu,grade]"
# The datasets where the grader finds them (COURSE_QUICK, COURSE_OFFLINE and COURSE_DATASET
# come with each task, as the instructor's machine has them). Whether bubblewrap works is
# checked by each worker: one whose sandbox fails grades nothing and says so.
RUN course setup || true

# Each submission runs as a kernel uid of its own (61000+), so the worker runs as root;
# one thread per worker: a task is one submission's grading processes.
ENTRYPOINT ["tini", "--"]
CMD ["dask", "worker", "tcp://dask-scheduler:8786", "--nthreads", "1"]
