# The base image when the operator opts into registry images: Python from the
# registry's python:3.11-slim, msgpack from the package index, and the handler.
# The context is this runtime folder.
FROM python:3.11-slim
RUN python3 -m pip install --no-cache-dir --disable-pip-version-check --no-input "msgpack>=1.0,<2"
COPY handler.py /opt/tinyfaas/handler.py
ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TINYFAAS_PORT=8000 TINYFAAS_FN_DIR=/fn
WORKDIR /fn
ENTRYPOINT ["python3", "-u", "/opt/tinyfaas/handler.py"]
