FROM @BUILDER@ AS deps
@LABELS@
COPY fn/requirements.txt /tmp/requirements.txt
RUN python3 -m pip install --no-cache-dir --disable-pip-version-check --no-input --retries 0 --timeout 15 --target /deps -r /tmp/requirements.txt

FROM @BASE@
@LABELS@
COPY --from=deps /deps /deps
COPY fn/ /fn/
