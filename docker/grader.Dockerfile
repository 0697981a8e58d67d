# The grading image: labkit, the course sources, Playwright and Debian's Chromium, so the
# browser checks of 03, 10 and 12 run in a real browser (never as a simulation).
#
#   docker build -f docker/grader.Dockerfile -t labkit-grader .
#   docker run --rm --network none -v "$PWD/submissions:/in:ro" -v "$PWD/out:/out" \
#     labkit-grader grade /in --out /out/gradebook.csv --jobs 2
#
# Also the image of a Dask worker for `labkit grade --cluster` (INSTRUCTORS.md):
#   docker run --rm --entrypoint dask labkit-grader worker tcp://SCHEDULER:8786
FROM python:3.11-slim-bookworm

# chromium: Debian's own build (a real package, not a snap stub); Playwright drives it
# through executable_path (labkit.browser finds /usr/bin/chromium), so no browser download.
# redis-server: the labs about shared state (11) start one.
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-liberation redis-server \
 && rm -rf /var/lib/apt/lists/*

ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    LABKIT_CHROMIUM=/usr/bin/chromium \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /course
COPY pyproject.toml README.md LICENSE ./
COPY labkit ./labkit
COPY course ./course
# [grading]: Dask's `distributed`, for --cluster; playwright: the browser checks.
RUN pip install '.[grading]' 'playwright>=1.45' \
 && useradd --create-home grader \
 && python -c "from labkit.browser import find_chromium, playwright_installed; \
assert playwright_installed() and find_chromium() == '/usr/bin/chromium'"

# labkit grade finds the course in ./course (the working directory).
USER grader
ENTRYPOINT ["labkit"]
CMD ["grade", "--help"]
