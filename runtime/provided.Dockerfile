# The `provided` runtime base: kfn_runtime serves the AWS Lambda Runtime API to the function's
# own `$LAMBDA_TASK_ROOT/bootstrap` (any language). A function image adds its language and code:
#   FROM ghcr.io/kfn-dev/kfn-runtime-provided:0.1.0
#   COPY --chmod=555 bootstrap /var/task/bootstrap
# (a static binary, or an interpreter copied from a builder stage). Build from the repository
# root: make images.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/kfn \
 && PIP_CONSTRAINT=/tmp/requirements.lock /opt/kfn/bin/pip install --no-cache-dir --only-binary=:all: \
        --no-compile --disable-pip-version-check aiohttp uvloop \
 && /opt/kfn/bin/pip uninstall --yes pip
COPY runtime/kfn_runtime /opt/kfn/lib/python3.11/site-packages/kfn_runtime
# Bytecode compiled here: the root filesystem is read-only and PYTHONDONTWRITEBYTECODE is set, so
# without it every start would compile every module again (bench/run pyc: 0.93 → 0.50 s). Hash-checked
# .pyc files stay valid whatever mtimes the copy into the final stage gives the sources.
RUN /opt/kfn/bin/python -m compileall -q --invalidation-mode unchecked-hash /opt/kfn/lib

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/kfn/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LAMBDA_TASK_ROOT=/var/task \
    KFN_RUNTIME_PORT=8080 \
    KFN_RUNTIME_KIND=provided
COPY --from=build /opt/kfn /opt/kfn
WORKDIR /var/task
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["python", "-m", "kfn_runtime"]
